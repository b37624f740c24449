// Fit&Prune (ALGORITHMS §3.3, §5.3). One inference deletion event and one calibration step; the dominant
// step of both is the max-over-heads reduction of the visual + suffix rows against the visual columns —
// a memory-bound read of H·(n+N_t)·n floats — so the floor is floor_read of the same bytes, and
// "/dominant" is that reduction alone (the self term over the visual rows and the cross term over the
// suffix rows: two ops::reduce_attention calls, as the method makes them).
//   fitprune.layer/llava15_h32_616x576       key 60, layer 2 (89 deleted), [32][576+40][576] = 45.4 MB
//   fitprune.layer/llava_next_h8_2920x2880   LLaVA-NeXT 2880 visual tokens; 8 heads instead of 32 to keep
//                                            the map at 269 MB (32 heads would be 1.08 GB). Time scales
//                                            linearly with the head count.
//   fitprune.layer/qwen25vl_h28_1048x1008    Qwen2.5-VL 1008 visual tokens, 28 heads (118 MB)
//   fitprune.fit_step/llava15_h32_616x576    the calibration criterion at one layer for one α
#include "bench_util.hpp"

#include <vtr/methods/fitprune.hpp>

#include <string>
#include <vector>

namespace {

using vtr::index_t;
constexpr index_t n_text = 40;

struct layer_case {
  index_t heads, n, prefix;
};

struct layer_data {
  layer_case c;
  std::shared_ptr<const std::vector<float>> attn;
  explicit layer_data(const layer_case& lc)
      : c(lc),
        attn(vtr_bench::shared_probabilities(static_cast<std::size_t>(lc.heads * (lc.n + n_text)), static_cast<std::size_t>(lc.n),
                                             5)) {}
  vtr::tensor_view<const float, 3> view() const { return {attn->data(), {c.heads, c.n + n_text, c.n}}; }
  vtr::fitprune::layer::inputs inputs(index_t layer) const {
    vtr::fitprune::layer::inputs in;
    in.attn = vtr::ops::attention_input::from_probs(view());
    in.n_visual = c.n;
    in.n_suffix = n_text;
    in.layer_index = layer;
    in.prefix = c.prefix;
    return in;
  }
};

void run_layer(benchmark::State& state, layer_case c) {
  const layer_data d(c);
  const auto in = d.inputs(2);  // key 60, layer 2: 89 deletions
  const vtr::fitprune::layer step;
  vtr::workspace ws;
  vtr::plan p;
  for (auto _ : state) {
    vtr::raise_if_error(step.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(d.attn->size() * sizeof(float)));
}

void run_floor(benchmark::State& state, layer_case c) {
  const layer_data d(c);
  vtr_bench::floor_read(state, d.attn->data(), d.attn->size());
}

/// The two reductions of the scores alone: self = mean over the visual rows, cross = sum (inference) or
/// mean (calibration) over the suffix rows, both of the max over heads.
void run_dominant(benchmark::State& state, layer_case c, vtr::ops::row_reduce cross) {
  const layer_data d(c);
  const auto p = d.view();
  const vtr::tensor_view<const float, 3> vis(p.data_handle(), {c.heads, c.n, c.n}, p.strides());
  const vtr::tensor_view<const float, 3> suf(p.data_handle() + c.n * p.stride(1), {c.heads, n_text, c.n}, p.strides());
  std::vector<float> self(static_cast<std::size_t>(c.n)), cr(static_cast<std::size_t>(c.n));
  vtr::workspace ws;
  for (auto _ : state) {
    vtr::ops::reduce_attention(vis, vtr::ops::head_reduce::max, vtr::ops::row_reduce::mean, vtr::view_of(self), ws);
    vtr::ops::reduce_attention(suf, vtr::ops::head_reduce::max, cross, vtr::view_of(cr), ws);
    benchmark::DoNotOptimize(self.data());
    benchmark::DoNotOptimize(cr.data());
    benchmark::ClobberMemory();
  }
}

void fit_step(benchmark::State& state, layer_case c) {
  const layer_data d(c);
  vtr::fitprune::layer_attention la;
  la.attn = vtr::ops::attention_input::from_probs(d.view());
  la.n_visual = c.n;
  la.n_suffix = n_text;
  vtr::workspace ws;
  vtr::fitprune::layer_weights w;
  vtr::raise_if_error(vtr::fitprune::try_layer_weights(la, w, ws));
  vtr::fitprune::step_result r;
  for (auto _ : state) {
    vtr::raise_if_error(vtr::fitprune::try_fit_step(la, 0.5, w.cross, w.self, r, ws));
    benchmark::DoNotOptimize(r.intersection.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(d.attn->size() * sizeof(float)));
}

VTR_BENCH_REGISTER(register_fitprune) {
  using namespace vtr_bench;
  const auto name = [](const char* step, const char* tag, layer_case c) {
    return shape_name(step, tag, "h" + std::to_string(c.heads) + "_" + dims(c.n + n_text, c.n));
  };
  for (const auto& [tag, c] : {std::pair{llava15.tag, layer_case{32, 576, llava15.prefix}},
                               std::pair{llava_next.tag, layer_case{8, 2880, llava_next.prefix}},
                               std::pair{qwen25vl.tag, layer_case{28, 1008, qwen25vl.prefix}}}) {
    const std::string n = name("fitprune.layer", tag, c);
    add_step(n, method_overhead, run_layer, c);
    add_floor(n, run_floor, c);
    add_dominant(n, run_dominant, c, vtr::ops::row_reduce::sum);
  }
  const layer_case c{32, 576, llava15.prefix};
  const std::string n = name("fitprune.fit_step", llava15.tag, c);
  add_step(n, method_overhead, fit_step, c);
  add_floor(n, run_floor, c);
  add_dominant(n, run_dominant, c, vtr::ops::row_reduce::mean);
}

}  // namespace
