// Fit&Prune (ALGORITHMS §3.3, §5.3). One inference deletion event and one calibration step; the dominant
// step of both is the max-over-heads reduction of the visual + suffix rows against the visual columns —
// a memory-bound read of H·(n+N_t)·n floats — so the floor is floor_read of the same bytes.
//   fitprune.layer/llava15_h32_616x576      key 60, layer 2 (89 deleted), [32][576+40][576] = 45.4 MB
//   fitprune.layer/llava_next_h8_2920x2880  LLaVA-NeXT 2880 visual tokens; 8 heads instead of 32 to keep
//                                           the map at 269 MB (32 heads would be 1.08 GB). Time scales
//                                           linearly with the head count.
//   fitprune.fit_step/llava15_h32_616x576   the calibration criterion at one layer for one α
#include "bench_util.hpp"

#include <vtr/methods/fitprune.hpp>

#include <vector>

namespace {

using vtr::index_t;
constexpr index_t n_text = 40;

struct layer_data {
  index_t heads, n;
  std::vector<float> attn;
  layer_data(index_t h, index_t nv)
      : heads(h), n(nv), attn(vtr_bench::random_probabilities(static_cast<std::size_t>(h * (nv + n_text)), static_cast<std::size_t>(nv), 5)) {}
  vtr::tensor_view<const float, 3> view() const { return {attn.data(), {heads, n + n_text, n}}; }
  vtr::fitprune::layer::inputs inputs(index_t layer) const {
    vtr::fitprune::layer::inputs in;
    in.attn = vtr::ops::attention_input::from_probs(view());
    in.n_visual = n;
    in.n_suffix = n_text;
    in.layer_index = layer;
    in.prefix = 35;
    return in;
  }
};

void run_layer(benchmark::State& state, index_t heads, index_t n) {
  const layer_data d(heads, n);
  const auto in = d.inputs(2);  // key 60, layer 2: 89 deletions
  const vtr::fitprune::layer step;
  vtr::workspace ws;
  vtr::plan p;
  for (auto _ : state) {
    vtr::raise_if_error(step.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(d.attn.size() * sizeof(float)));
}
void run_floor(benchmark::State& state, index_t heads, index_t n) {
  const layer_data d(heads, n);
  vtr_bench::floor_read(state, d.attn.data(), d.attn.size());
}

void fitprune_layer_llava15(benchmark::State& state) { run_layer(state, 32, 576); }
void fitprune_layer_llava15_floor(benchmark::State& state) { run_floor(state, 32, 576); }
BENCHMARK(fitprune_layer_llava15)->Name("fitprune.layer/llava15_h32_616x576")->Unit(benchmark::kMicrosecond);
BENCHMARK(fitprune_layer_llava15_floor)->Name("fitprune.layer/llava15_h32_616x576/floor")->Unit(benchmark::kMicrosecond);

void fitprune_layer_next(benchmark::State& state) { run_layer(state, 8, 2880); }
void fitprune_layer_next_floor(benchmark::State& state) { run_floor(state, 8, 2880); }
BENCHMARK(fitprune_layer_next)->Name("fitprune.layer/llava_next_h8_2920x2880")->Unit(benchmark::kMicrosecond);
BENCHMARK(fitprune_layer_next_floor)->Name("fitprune.layer/llava_next_h8_2920x2880/floor")->Unit(benchmark::kMicrosecond);

void fitprune_fit_step(benchmark::State& state) {
  const layer_data d(32, 576);
  vtr::fitprune::layer_attention la;
  la.attn = vtr::ops::attention_input::from_probs(d.view());
  la.n_visual = d.n;
  la.n_suffix = n_text;
  vtr::workspace ws;
  vtr::fitprune::layer_weights w;
  vtr::raise_if_error(vtr::fitprune::try_layer_weights(la, w, ws));
  vtr::fitprune::step_result r;
  for (auto _ : state) {
    vtr::raise_if_error(vtr::fitprune::try_fit_step(la, 0.5, w.cross, w.self, r, ws));
    benchmark::DoNotOptimize(r.intersection.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(d.attn.size() * sizeof(float)));
}
void fitprune_fit_step_floor(benchmark::State& state) { run_floor(state, 32, 576); }
BENCHMARK(fitprune_fit_step)->Name("fitprune.fit_step/llava15_h32_616x576")->Unit(benchmark::kMicrosecond);
BENCHMARK(fitprune_fit_step_floor)->Name("fitprune.fit_step/llava15_h32_616x576/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
