// Benchmarks of DToMA (ALGORITHMS §3.6, §5.3): D1 quadtree on 16-frame 24×24×1024 (CLIP width), PLLaVA
// (16 × 12×12 × 4096) and 64-frame (64 × 12×12 × 4096) videos; D2 selection over the text rows' attention
// [32][40][N] at LLaVA-1.5 and the video shapes; D3 one decode step at 32 heads × N tracked tokens.
//
// Floors: one read of the bytes each step must read — D1 the frame tokens, D2 the [32][40][N]
// probabilities, D3 the [32][N] attention row. (§5.3 bounds D1 by (max_depth+1) reads, one per tree
// level; vtr forms the unit-vector sums bottom-up — leaves once, inner cells from their children — so it
// reads each token about once.) Random tokens are D1's worst case: almost nothing merges, every cell down
// to max_depth is tested.
// Dominant steps: D1 the unit-vector accumulation of every token (ops::accumulate_unit_rows over each
// frame: a norm and a scaled add per token); D2 the head-mean, row-mean reduction; D3 the max over heads.
#include "bench_util.hpp"

#include <vtr/methods/dtoma.hpp>
#include <vtr/ops/accumulate.hpp>

#include <string>
#include <vector>

namespace {

using vtr::index_t;
using vtr_bench::dims;

constexpr index_t max_depth = 3, heads = 32, rows = 40;

struct video_case {
  index_t frames, grid, feat;
  index_t tokens() const { return frames * grid * grid; }
};

std::shared_ptr<const std::vector<float>> tokens(const video_case& c) {
  return vtr_bench::shared_floats(static_cast<std::size_t>(c.tokens() * c.feat), 3, -1.0f, 1.0f);
}

void d1_quadtree(benchmark::State& state, video_case c) {
  const auto x = tokens(c);
  const vtr::dtoma::quadtree q({0.8f, max_depth});
  const vtr::dtoma::quadtree::inputs in{vtr::matrix_view<const float>(x->data(), {c.tokens(), c.feat}), c.frames, c.grid, c.grid};
  vtr::workspace ws(q.workspace_bytes(c.frames, c.grid, c.grid, c.feat));
  vtr::plan p;
  for (auto _ : state) {
    vtr::raise_if_error(q.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.counters["out_tokens"] = static_cast<double>(p.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * x->size() * sizeof(float)));
}

void d1_floor(benchmark::State& state, video_case c) {
  const auto x = tokens(c);
  vtr_bench::floor_read(state, x->data(), x->size());
}

void d1_dominant(benchmark::State& state, video_case c) {
  const auto x = tokens(c);
  const index_t n_f = c.grid * c.grid;
  std::vector<float> sum(static_cast<std::size_t>(c.feat));
  for (auto _ : state) {
    for (index_t t = 0; t < c.frames; ++t) {
      std::fill(sum.begin(), sum.end(), 0.0f);
      vtr::ops::accumulate_unit_rows(vtr::matrix_view<const float>(x->data() + t * n_f * c.feat, {n_f, c.feat}),
                                     vtr::ops::unit_norm_eps, sum.data());
    }
    benchmark::DoNotOptimize(sum.data());
    benchmark::ClobberMemory();
  }
}

// ---- D2: selection from the text rows' attention [H][N_q][n] ----

std::shared_ptr<const std::vector<float>> d2_probs(index_t n) {
  return vtr_bench::shared_probabilities(static_cast<std::size_t>(heads * rows), static_cast<std::size_t>(n), 5);
}

void d2_select(benchmark::State& state, index_t n) {
  const auto a = d2_probs(n);
  const auto rel = vtr_bench::shared_floats(static_cast<std::size_t>(n), 6);
  const vtr::dtoma::select sel;
  vtr::dtoma::select::inputs in;
  in.attn = vtr::ops::attention_input::from_probs({a->data(), {heads, rows, n}});
  in.relevance = vtr::vector_view<const float>(rel->data(), {n});
  vtr::workspace ws(1 << 16);
  vtr::plan p;
  for (auto _ : state) {
    vtr::raise_if_error(sel.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a->size() * sizeof(float)));
}

void d2_floor(benchmark::State& state, index_t n) {
  const auto a = d2_probs(n);
  vtr_bench::floor_read(state, a->data(), a->size());
}

void d2_dominant(benchmark::State& state, index_t n) {
  const auto a = d2_probs(n);
  std::vector<float> out(static_cast<std::size_t>(n));
  vtr::workspace ws;
  const vtr::tensor_view<const float, 3> v(a->data(), {heads, rows, n});
  for (auto _ : state) {
    vtr::ops::reduce_attention(v, vtr::ops::head_reduce::mean, vtr::ops::row_reduce::mean, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// ---- D3: one decode step over the [H][N] attention row of the tracked tokens ----

// Every token used (probabilities above the 0.1 threshold somewhere): nothing is evicted, so the tracked
// set stays at N and each iteration measures the same full step.
std::shared_ptr<const std::vector<float>> d3_row(index_t n) {
  return vtr_bench::cached<float>("dtoma-d3/" + std::to_string(n), [&] {
    auto a = vtr_bench::random_floats(static_cast<std::size_t>(heads * n), 7, 0.0f, 0.05f);
    for (index_t j = 0; j < n; ++j) a[static_cast<std::size_t>((j % heads) * n + j)] = 0.5f;
    return a;
  });
}

void d3_step(benchmark::State& state, index_t n) {
  const auto a = d3_row(n);
  vtr::dtoma::usage_tracker t(n);
  const vtr::matrix_view<const float> v(a->data(), {heads, n});
  for (auto _ : state) {
    auto ev = t.step(v);
    benchmark::DoNotOptimize(ev.data_handle());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a->size() * sizeof(float)));
}

void d3_floor(benchmark::State& state, index_t n) {
  const auto a = d3_row(n);
  vtr_bench::floor_read(state, a->data(), a->size());
}

void d3_dominant(benchmark::State& state, index_t n) {
  const auto a = d3_row(n);
  std::vector<float> out(static_cast<std::size_t>(n));
  vtr::workspace ws;
  const vtr::tensor_view<const float, 3> v(a->data(), {heads, 1, n});
  for (auto _ : state) {
    vtr::ops::reduce_attention(v, vtr::ops::head_reduce::max, vtr::ops::row_reduce::max, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

VTR_BENCH_REGISTER(register_dtoma) {
  using namespace vtr_bench;
  for (const auto& [tag, c] : {std::pair{"video16", video_case{16, 24, 1024}}, std::pair{pllava.tag, video_case{16, 12, 4096}},
                               std::pair{video64.tag, video_case{64, 12, 4096}}}) {
    const std::string n = shape_name("dtoma.quadtree", tag, dims(c.frames, c.grid, c.grid, c.feat));
    add_step(n, method_overhead, d1_quadtree, c);
    add_floor(n, d1_floor, c);
    add_dominant(n, d1_dominant, c);
  }
  for (const auto& [tag, n] : {std::pair{llava15.tag, llava15.visual}, std::pair{pllava.tag, pllava.tokens()},
                               std::pair{video64.tag, video64.tokens()}}) {
    const std::string name = shape_name("dtoma.select", tag, "h32_q40_n" + std::to_string(n));
    add_step(name, method_overhead, d2_select, n);
    add_floor(name, d2_floor, n);
    add_dominant(name, d2_dominant, n);
  }
  for (const auto& [tag, n] : {std::pair{llava15.tag, llava15.visual}, std::pair{pllava.tag, pllava.tokens()},
                               std::pair{video64.tag, video64.tokens()}}) {
    const std::string name = shape_name("dtoma.usage_step", tag, "h32_n" + std::to_string(n));
    add_step(name, method_overhead, d3_step, n);
    add_floor(name, d3_floor, n);
    add_dominant(name, d3_dominant, n);
  }
}

}  // namespace
