// Benchmarks of core/apply, core/kv and ops::gather_rows (ALGORITHMS §2.11, §5.2): a selection plan's
// gather, a merge plan, in-place compaction of the hidden states and of one layer's K/V cache — all
// memory-bound, each against a memcpy of the bytes it must move (the merge against a read of its input and a
// write of its output).
#include "bench_util.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/half.hpp>
#include <vtr/core/kv.hpp>
#include <vtr/ops/topk.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace {

using vtr::index_t;
using vtr_bench::dims;

// ---------------------------------------------------------------------------------------------------
// Gather `kept` of `rows` rows × dim (every fourth row, or every third for Qwen's 0.333): a selection
// plan through vtr::apply, and the same rows through ops::gather_rows. Floor: memcpy of the kept bytes.

struct gather_case {
  index_t rows, dim, kept;
  std::vector<index_t> index() const {
    std::vector<index_t> idx(static_cast<std::size_t>(kept));
    const index_t step = rows / kept;
    for (index_t i = 0; i < kept; ++i) idx[static_cast<std::size_t>(i)] = i * step + 1;
    return idx;
  }
};

std::shared_ptr<const std::vector<float>> features(index_t rows, index_t dim) {
  return vtr_bench::shared_floats(std::size_t(rows * dim), 1);
}

void apply_gather(benchmark::State& state, gather_case c) {
  const auto x = features(c.rows, c.dim);
  std::vector<float> y(std::size_t(c.kept * c.dim));
  const vtr::plan p = vtr::plan::select(c.rows, c.index());
  const vtr::matrix_view<const float> src(x->data(), {c.rows, c.dim});
  const vtr::matrix_view<float> dst(y.data(), {c.kept, c.dim});
  for (auto _ : state) {
    vtr::apply(p, src, dst);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

void gather_rows(benchmark::State& state, gather_case c) {
  const auto x = features(c.rows, c.dim);
  std::vector<float> y(std::size_t(c.kept * c.dim));
  const std::vector<index_t> idx = c.index();
  const vtr::matrix_view<const float> src(x->data(), {c.rows, c.dim});
  const vtr::matrix_view<float> dst(y.data(), {c.kept, c.dim});
  for (auto _ : state) {
    vtr::ops::gather_rows(src, vtr::view_of(idx), dst);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

void gather_naive(benchmark::State& state, gather_case c) {
  const auto x = features(c.rows, c.dim);
  std::vector<float> y(std::size_t(c.kept * c.dim));
  const std::vector<index_t> idx = c.index();
  for (auto _ : state) {
    for (index_t r = 0; r < c.kept; ++r)
      for (index_t j = 0; j < c.dim; ++j) y[std::size_t(r * c.dim + j)] = (*x)[std::size_t(idx[std::size_t(r)] * c.dim + j)];
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

void gather_floor(benchmark::State& state, gather_case c) { vtr_bench::floor_memcpy_n(state, std::size_t(c.kept * c.dim)); }

// ---------------------------------------------------------------------------------------------------
// A merge plan where every input row lands in one of rows/4 output rows (4 sources each): reads all rows.

vtr::plan merge4_plan(index_t rows) {
  vtr::plan p;
  p.reset(rows);
  for (index_t r = 0; r < rows / 4; ++r) {
    const index_t src[4] = {4 * r, 4 * r + 1, 4 * r + 2, 4 * r + 3};
    p.add_merge(4 * r, src, 4, nullptr, 4.0f);
  }
  return p;
}

void apply_merge(benchmark::State& state, index_t rows, index_t dim) {
  const auto x = features(rows, dim);
  std::vector<float> y(std::size_t(rows / 4 * dim));
  const vtr::plan p = merge4_plan(rows);
  const vtr::matrix_view<const float> s(x->data(), {rows, dim});
  const vtr::matrix_view<float> d(y.data(), {rows / 4, dim});
  for (auto _ : state) {
    vtr::apply(p, s, d);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

// Naive: the plan's CSR terms walked element by element.
void apply_merge_naive(benchmark::State& state, index_t rows, index_t dim) {
  const auto x = features(rows, dim);
  std::vector<float> y(std::size_t(rows / 4 * dim));
  const vtr::plan p = merge4_plan(rows);
  for (auto _ : state) {
    for (index_t r = 0; r < p.size(); ++r)
      for (index_t j = 0; j < dim; ++j) {
        float s = 0;
        for (index_t t = p.offsets[std::size_t(r)]; t < p.offsets[std::size_t(r + 1)]; ++t)
          s += p.weights[std::size_t(t)] * (*x)[std::size_t(p.sources[std::size_t(t)] * dim + j)];
        y[std::size_t(r * dim + j)] = s / p.divisors[std::size_t(r)];
      }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

void apply_merge_floor(benchmark::State& state, index_t rows, index_t dim) {
  vtr_bench::floor_read_write(state, std::size_t(rows * dim), std::size_t(rows / 4 * dim));
}

// ---------------------------------------------------------------------------------------------------
// In-place compaction after FastV at layer K (R = 0.5): [prefix | half the visual rows | text] of the
// sequence. Repeated iterations move the same rows again (the cost does not depend on the values).

vtr::plan fastv_like_plan(const vtr_bench::image_shape& s) {
  std::vector<index_t> kept;
  for (index_t i = 0; i < s.prefix; ++i) kept.push_back(i);
  for (index_t v : vtr_bench::spread_indices(s.visual, s.visual / 2)) kept.push_back(s.prefix + v);
  for (index_t i = s.prefix + s.visual; i < s.seq(); ++i) kept.push_back(i);
  return vtr::plan::select(s.seq(), kept);
}

/// Rows a compaction moves (every output row from the first whose origin differs).
index_t moved_rows(const vtr::plan& p) {
  index_t r = 0;
  while (r < p.size() && p.origin[std::size_t(r)] == r) ++r;
  return p.size() - r;
}

void compact_hidden(benchmark::State& state, vtr_bench::image_shape s) {
  const vtr::plan p = fastv_like_plan(s);
  std::vector<float> x(*features(s.seq(), s.dim));
  const vtr::matrix_view<float> xv(x.data(), {s.seq(), s.dim});
  for (auto _ : state) {
    vtr::compact_in_place(p, xv);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
}

void compact_hidden_naive(benchmark::State& state, vtr_bench::image_shape s) {
  const vtr::plan p = fastv_like_plan(s);
  std::vector<float> x(*features(s.seq(), s.dim));
  for (auto _ : state) {
    for (index_t r = 0; r < p.size(); ++r)
      for (index_t j = 0; j < s.dim; ++j) x[std::size_t(r * s.dim + j)] = x[std::size_t(p.origin[std::size_t(r)] * s.dim + j)];
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
}

void compact_hidden_floor(benchmark::State& state, vtr_bench::image_shape s) {
  vtr_bench::floor_memcpy_n(state, std::size_t(moved_rows(fastv_like_plan(s)) * s.dim));
}

// One layer's fp16 K and V caches, heads-major [1][H][L][d_h] (HF layout: each head's rows move
// separately). §5.2: 10.7 MB per layer at LLaVA-1.5.
void compact_kv(benchmark::State& state, vtr_bench::image_shape s) {
  const vtr::plan p = fastv_like_plan(s);
  const std::size_t n = std::size_t(s.kv_heads * s.seq() * s.head_dim);
  std::vector<vtr::float16> k(n, vtr::float16(0.5f)), v(n, vtr::float16(0.25f));
  const vtr::tensor_view<vtr::float16, 4> kv(k.data(), {1, s.kv_heads, s.seq(), s.head_dim});
  const vtr::tensor_view<vtr::float16, 4> vv(v.data(), {1, s.kv_heads, s.seq(), s.head_dim});
  for (auto _ : state) {
    vtr::kv::compact(p, vtr::kv::all_layers(), kv, vv);
    benchmark::DoNotOptimize(k.data());
    benchmark::ClobberMemory();
  }
}

void compact_kv_naive(benchmark::State& state, vtr_bench::image_shape s) {
  const vtr::plan p = fastv_like_plan(s);
  const std::size_t n = std::size_t(s.kv_heads * s.seq() * s.head_dim);
  std::vector<vtr::float16> k(n, vtr::float16(0.5f)), v(n, vtr::float16(0.25f));
  for (auto _ : state) {
    for (std::vector<vtr::float16>* c : {&k, &v})
      for (index_t h = 0; h < s.kv_heads; ++h) {
        vtr::float16* base = c->data() + h * s.seq() * s.head_dim;
        for (index_t r = 0; r < p.size(); ++r)
          for (index_t j = 0; j < s.head_dim; ++j) base[r * s.head_dim + j] = base[p.origin[std::size_t(r)] * s.head_dim + j];
      }
    benchmark::DoNotOptimize(k.data());
    benchmark::ClobberMemory();
  }
}

void compact_kv_floor(benchmark::State& state, vtr_bench::image_shape s) {
  // K and V: H heads × moved rows × d_h halves each, copied as floats (two halves per float).
  const std::size_t halves = 2 * std::size_t(s.kv_heads * moved_rows(fastv_like_plan(s)) * s.head_dim);
  vtr_bench::floor_memcpy_n(state, halves / 2);
}

VTR_BENCH_REGISTER(register_core) {
  using namespace vtr_bench;
  const auto gather = [](const char* tag, gather_case c) {
    const std::string n = shape_name("apply.gather", tag, dims(c.rows, c.dim) + "_to" + std::to_string(c.kept));
    add_step(n, memory_bound, apply_gather, c);
    add_floor(n, gather_floor, c);
    add_naive(n, gather_naive, c);
  };
  for (const image_shape& s : {llava15, llava_next}) gather(s.tag, {s.visual, s.dim, s.visual / 4});
  gather(qwen25vl.tag, {qwen25vl.visual, qwen25vl.dim, qwen25vl.visual / 3});
  for (const video_shape& s : {pllava, video64}) gather(s.tag, {s.tokens(), s.dim, s.tokens() / 4});

  {
    const gather_case c{llava15.visual, llava15.dim, llava15.visual / 4};
    const std::string n = shape_name("gather_rows", llava15.tag, dims(c.rows, c.dim) + "_to" + std::to_string(c.kept));
    add_step(n, memory_bound, gather_rows, c);
    add_floor(n, gather_floor, c);
    add_naive(n, gather_naive, c);
  }
  for (const image_shape& s : {llava15, qwen25vl}) {
    const std::string n = shape_name("apply.merge4", s.tag, dims(s.visual, s.dim) + "_to" + std::to_string(s.visual / 4));
    add_step(n, memory_bound, apply_merge, s.visual, s.dim);
    add_floor(n, apply_merge_floor, s.visual, s.dim);
    add_naive(n, apply_merge_naive, s.visual, s.dim);
  }
  for (const image_shape& s : {llava15, llava_next, qwen25vl}) {
    const std::string kept = std::to_string(fastv_like_plan(s).size());
    const std::string n = shape_name("compact_in_place", s.tag, dims(s.seq(), s.dim) + "_to" + kept);
    add_step(n, memory_bound, compact_hidden, s);
    add_floor(n, compact_hidden_floor, s);
    add_naive(n, compact_hidden_naive, s);
  }
  for (const image_shape& s : {llava15, llava_next, qwen25vl}) {
    const std::string n = shape_name("kv.compact_f16", s.tag, dims(2, s.kv_heads, s.seq(), s.head_dim) + "_to" +
                                                                  std::to_string(fastv_like_plan(s).size()));
    add_step(n, memory_bound, compact_kv, s);
    add_floor(n, compact_kv_floor, s);
    add_naive(n, compact_kv_naive, s);
  }
}

}  // namespace
