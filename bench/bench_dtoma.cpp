// Benchmarks of DToMA (ALGORITHMS §3.6, §5.3): D1 quadtree on a 16-frame 24×24×1024 video, D2 selection at
// LLaVA-1.5 shape [32][40][576], D3 one decode step at 32 heads × 576 tokens.
//
// Floors:
//  * D1 — "one read of the frame tokens per tree level", i.e. (max_depth+1) reads of F·h·w·C floats: the
//    cost of the recursive definition in its O(n·C) form (§5.3: ≤ (max_depth+1)·h·w·C per frame). vtr
//    forms the unit-vector sums bottom-up (leaves once, inner cells from their children), so it reads each
//    token about once and can beat this floor; "/floor1" gives the single-read floor for comparison.
//    Random tokens are the worst case: almost nothing merges, every cell down to max_depth is tested.
//  * D2 — one read of the [32][40][576] probabilities (the head-mean, row-mean reduction is memory-bound).
//  * D3 — one read of the [32][576] attention row.
#include "bench_util.hpp"

#include <vtr/methods/dtoma.hpp>

#include <vector>

namespace {

using vtr::index_t;

constexpr index_t frames = 16, grid = 24, feat = 1024, max_depth = 3;
constexpr index_t heads = 32, rows = 40, cols = 576;

void d1_quadtree(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(static_cast<std::size_t>(frames * grid * grid * feat), 3, -1.0f, 1.0f);
  const vtr::dtoma::quadtree q({0.8f, max_depth});
  const vtr::dtoma::quadtree::inputs in{vtr::matrix_view<const float>(x.data(), {frames * grid * grid, feat}), frames, grid, grid};
  vtr::workspace ws(q.workspace_bytes(frames, grid, grid, feat));
  vtr::plan p;
  for (auto _ : state) {
    vtr::raise_if_error(q.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.counters["out_tokens"] = static_cast<double>(p.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * x.size() * sizeof(float)));
}
BENCHMARK(d1_quadtree)->Name("dtoma.quadtree/video16_24x24x1024")->Unit(benchmark::kMicrosecond);

void d1_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(static_cast<std::size_t>(frames * grid * grid * feat), 3);
  for (auto _ : state) {
    for (index_t level = 0; level <= max_depth; ++level) {
      Eigen::Map<const Eigen::VectorXf> v(x.data(), static_cast<Eigen::Index>(x.size()));
      float s = v.sum();
      benchmark::DoNotOptimize(s);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (max_depth + 1) * x.size() * sizeof(float)));
}
BENCHMARK(d1_floor)->Name("dtoma.quadtree/video16_24x24x1024/floor")->Unit(benchmark::kMicrosecond);

void d1_floor1(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(static_cast<std::size_t>(frames * grid * grid * feat), 3);
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(d1_floor1)->Name("dtoma.quadtree/video16_24x24x1024/floor1")->Unit(benchmark::kMicrosecond);

void d2_select(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(static_cast<std::size_t>(heads * rows), cols, 5);
  const auto rel = vtr_bench::random_floats(cols, 6);
  const vtr::dtoma::select sel;
  vtr::dtoma::select::inputs in;
  in.attn = vtr::ops::attention_input::from_probs({a.data(), {heads, rows, cols}});
  in.relevance = vtr::view_of(rel);
  vtr::workspace ws(1 << 16);
  vtr::plan p;
  for (auto _ : state) {
    vtr::raise_if_error(sel.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a.size() * sizeof(float)));
}
BENCHMARK(d2_select)->Name("dtoma.select/llava15_h32_q40_n576")->Unit(benchmark::kMicrosecond);

void d2_floor(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(static_cast<std::size_t>(heads * rows), cols, 5);
  vtr_bench::floor_read(state, a.data(), a.size());
}
BENCHMARK(d2_floor)->Name("dtoma.select/llava15_h32_q40_n576/floor")->Unit(benchmark::kMicrosecond);

void d3_step(benchmark::State& state) {
  // Every token used (probabilities above the 0.1 threshold somewhere): nothing is evicted, so the tracked
  // set stays at 576 and each iteration measures the same full step.
  auto a = vtr_bench::random_floats(static_cast<std::size_t>(heads * cols), 7, 0.0f, 0.05f);
  for (index_t j = 0; j < cols; ++j) a[static_cast<std::size_t>((j % heads) * cols + j)] = 0.5f;
  vtr::dtoma::usage_tracker t(cols);
  const vtr::matrix_view<const float> v(a.data(), {heads, cols});
  for (auto _ : state) {
    auto ev = t.step(v);
    benchmark::DoNotOptimize(ev.data_handle());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a.size() * sizeof(float)));
}
BENCHMARK(d3_step)->Name("dtoma.usage_step/llava15_h32_n576")->Unit(benchmark::kMicrosecond);

void d3_floor(benchmark::State& state) {
  const auto a = vtr_bench::random_floats(static_cast<std::size_t>(heads * cols), 7);
  vtr_bench::floor_read(state, a.data(), a.size());
}
BENCHMARK(d3_floor)->Name("dtoma.usage_step/llava15_h32_n576/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
