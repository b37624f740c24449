// SparseVLM v1.5 (ALGORITHMS §3.2, §5.3) at the LLaVA-1.5 shape: one prune event at layer 2 — 576 visual
// tokens, D = 4096, 32 heads, 40 text rows of which 20 rate, table 192 → 300 kept, m = 83 recycled into
// 9 clusters. Its two dominant steps and their floors:
//   scores     reading the rater rows of the attention (20 × 32 × 576 floats)  → floor_read
//   recycling  DPC-kNN on the 83 recycled rows of 4096 dims                      → SYRK 83 × 4096
#include "bench_util.hpp"

#include <vtr/methods/sparsevlm.hpp>

#include <vector>

namespace {

using vtr::index_t;
constexpr index_t heads = 32, n_text = 40, v = 576, dim = 4096;

struct event_data {
  std::vector<float> attn = vtr_bench::random_floats(static_cast<std::size_t>(heads * n_text * v), 3);
  std::vector<float> hidden = vtr_bench::random_floats(static_cast<std::size_t>(v * dim), 4, -1.0f, 1.0f);
  std::vector<index_t> raters;
  event_data() {
    for (index_t r = 0; r < n_text; r += 2) raters.push_back(r);
  }
  vtr::sparsevlm::event_inputs inputs() const {
    vtr::sparsevlm::event_inputs in;
    in.attn = vtr::ops::attention_input::from_probs({attn.data(), {heads, n_text, v}});
    in.raters = vtr::view_of(raters);
    in.hidden_vis = {hidden.data(), {v, dim}};
    in.layer = 2;
    in.v_start = 35;
    in.v_num = v;
    return in;
  }
};

void sparsevlm_event(benchmark::State& state) {
  const event_data d;
  const auto in = d.inputs();
  const vtr::sparsevlm::layer step;
  vtr::workspace ws;
  vtr::plan p;
  for (auto _ : state) {
    vtr::raise_if_error(step.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}
BENCHMARK(sparsevlm_event)->Name("sparsevlm.event/llava15_576x4096_h32_r20")->Unit(benchmark::kMicrosecond);

// Scores only: the rater-row read and its floor.
void sparsevlm_scores(benchmark::State& state) {
  const event_data d;
  vtr::workspace ws;
  std::vector<float> s(static_cast<std::size_t>(v));
  const vtr::tensor_view<const float, 3> a(d.attn.data(), {heads, n_text, v});
  for (auto _ : state) {
    vtr::ops::reduce_attention(a, vtr::ops::head_reduce::mean, vtr::ops::row_reduce::mean, vtr::view_of(s), ws,
                               vtr::view_of(d.raters));
    benchmark::DoNotOptimize(s.data());
  }
}
BENCHMARK(sparsevlm_scores)->Name("sparsevlm.scores/llava15_576_h32_r20")->Unit(benchmark::kMicrosecond);

void sparsevlm_scores_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(static_cast<std::size_t>(heads * 20 * v), 5);
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(sparsevlm_scores_floor)->Name("sparsevlm.scores/llava15_576_h32_r20/floor")->Unit(benchmark::kMicrosecond);

// Recycling: DPC-kNN on the m = 83 recycled rows (k = M = 9), floor = the SYRK of its distances.
void sparsevlm_recycle(benchmark::State& state) {
  const index_t m = 83;
  const auto x = vtr_bench::random_floats(static_cast<std::size_t>(m * dim), 6, -1.0f, 1.0f);
  vtr::ops::dpc_params p;
  p.clusters = 9;
  p.k = 9;
  vtr::ops::dpc_result r;
  vtr::workspace ws;
  for (auto _ : state) {
    vtr::ops::dpc_knn(vtr::matrix_view<const float>(x.data(), {m, dim}), p, {}, r, ws);
    benchmark::DoNotOptimize(r.labels.data());
  }
}
BENCHMARK(sparsevlm_recycle)->Name("sparsevlm.recycle_dpc/llava15_m83x4096_c9")->Unit(benchmark::kMicrosecond);

void sparsevlm_recycle_floor(benchmark::State& state) { vtr_bench::floor_syrk(state, 83, dim); }
BENCHMARK(sparsevlm_recycle_floor)->Name("sparsevlm.recycle_dpc/llava15_m83x4096_c9/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
