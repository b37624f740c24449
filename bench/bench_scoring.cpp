// Benchmarks of the scoring and selection kernels (ops/reduce, ops/attention, ops/topk) at LLaVA-1.5
// shapes (ALGORITHMS §5.2, §5.4): 32 heads, 576 visual tokens, 40 suffix rows, 651 keys, d_h = 128.
#include "bench_util.hpp"

#include <vtr/ops/attention.hpp>
#include <vtr/ops/reduce.hpp>
#include <vtr/ops/topk.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

namespace {

using vtr::index_t;
namespace ops = vtr::ops;

constexpr index_t heads = 32, rows = 40, cols = 576, keys = 651, dh = 128;

// ---------------------------------------------------------------------------------------------------
// reduce_attention over [32][40][576] (2.95 MB of fp32): floor = one read of the same bytes.

template <ops::head_reduce H, ops::row_reduce R>
void reduce_step(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(heads * rows, cols);
  const vtr::tensor_view<const float, 3> v(a.data(), {heads, rows, cols});
  std::vector<float> out(cols);
  vtr::workspace ws;
  for (auto _ : state) {
    ops::reduce_attention(v, H, R, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a.size() * sizeof(float)));
}

// The literal definition: per column, per row, reduce the heads, then reduce the rows.
template <ops::head_reduce H, ops::row_reduce R>
void reduce_naive(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(heads * rows, cols);
  std::vector<float> out(cols);
  for (auto _ : state) {
    for (index_t c = 0; c < cols; ++c) {
      float acc = R == ops::row_reduce::max ? -1e30f : 0.0f;
      for (index_t r = 0; r < rows; ++r) {
        float hv = H == ops::head_reduce::max ? -1e30f : 0.0f;
        for (index_t h = 0; h < heads; ++h) {
          const float x = a[std::size_t((h * rows + r) * cols + c)];
          hv = H == ops::head_reduce::max ? std::max(hv, x) : hv + x;
        }
        if (H == ops::head_reduce::mean) hv /= float(heads);
        acc = R == ops::row_reduce::max ? std::max(acc, hv) : acc + hv;
      }
      out[std::size_t(c)] = R == ops::row_reduce::mean ? acc / float(rows) : acc;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void reduce_floor(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(heads * rows, cols);
  vtr_bench::floor_read(state, a.data(), a.size());
}

#define VTR_REDUCE_BENCH(tag, H, R)                                                                      \
  BENCHMARK(reduce_step<H, R>)->Name("reduce_attention." tag "/llava15_32x40x576")->Unit(benchmark::kMicrosecond); \
  BENCHMARK(reduce_floor)->Name("reduce_attention." tag "/llava15_32x40x576/floor")->Unit(benchmark::kMicrosecond); \
  BENCHMARK(reduce_naive<H, R>)->Name("reduce_attention." tag "/llava15_32x40x576/naive")->Unit(benchmark::kMicrosecond);

VTR_REDUCE_BENCH("mean_mean", ops::head_reduce::mean, ops::row_reduce::mean)
VTR_REDUCE_BENCH("max_max", ops::head_reduce::max, ops::row_reduce::max)
VTR_REDUCE_BENCH("maxheads_sumrows", ops::head_reduce::max, ops::row_reduce::sum)

// ---------------------------------------------------------------------------------------------------
// column_mean over [576][576] (Fit&Prune self term, §2.3 colmean_block).

void colmean_step(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(cols, cols);
  const vtr::matrix_view<const float> v(a.data(), {cols, cols});
  std::vector<float> out(cols);
  for (auto _ : state) {
    ops::column_mean(v, vtr::view_of(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(colmean_step)->Name("column_mean/llava15_576x576")->Unit(benchmark::kMicrosecond);

void colmean_floor(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(cols, cols);
  vtr_bench::floor_read(state, a.data(), a.size());
}
BENCHMARK(colmean_floor)->Name("column_mean/llava15_576x576/floor")->Unit(benchmark::kMicrosecond);

void colmean_naive(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(cols, cols);
  std::vector<float> out(cols);
  for (auto _ : state) {
    for (index_t c = 0; c < cols; ++c) {
      float s = 0;
      for (index_t r = 0; r < cols; ++r) s += a[std::size_t(r * cols + c)];
      out[std::size_t(c)] = s / float(cols);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(colmean_naive)->Name("column_mean/llava15_576x576/naive")->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------------------
// attention_rows: 1 or 40 query rows × 651 keys × 32 heads × d 128 (§2.1). Floor: Eigen GEMM of the same
// shape per head (the logits alone).

template <index_t n>
void attn_step(benchmark::State& state) {
  const auto q = vtr_bench::random_floats(std::size_t(n * heads * dh), 1, -1.0f, 1.0f);
  const auto k = vtr_bench::random_floats(std::size_t(keys * heads * dh), 2, -1.0f, 1.0f);
  std::vector<float> out(std::size_t(heads * n * keys));
  std::vector<index_t> pos(static_cast<std::size_t>(n));
  std::iota(pos.begin(), pos.end(), keys - n);  // the last n prompt rows
  const vtr::tensor_view<const float, 3> qv(q.data(), {n, heads, dh}), kv(k.data(), {keys, heads, dh});
  const vtr::tensor_view<float, 3> ov(out.data(), {heads, n, keys});
  vtr::workspace ws;
  for (auto _ : state) {
    ops::attention_rows(qv, kv, vtr::view_of(pos), {}, ov, ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(attn_step<1>)->Name("attention_rows/llava15_1x651x32x128")->Unit(benchmark::kMicrosecond);
BENCHMARK(attn_step<40>)->Name("attention_rows/llava15_40x651x32x128")->Unit(benchmark::kMicrosecond);

template <index_t n>
void attn_floor(benchmark::State& state) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<M> a, b, c;
  for (index_t h = 0; h < heads; ++h) {
    a.push_back(M::Random(n, dh));
    b.push_back(M::Random(keys, dh));
    c.push_back(M(n, keys));
  }
  for (auto _ : state) {
    for (index_t h = 0; h < heads; ++h) c[std::size_t(h)].noalias() = a[std::size_t(h)] * b[std::size_t(h)].transpose();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(attn_floor<1>)->Name("attention_rows/llava15_1x651x32x128/floor")->Unit(benchmark::kMicrosecond);
BENCHMARK(attn_floor<40>)->Name("attention_rows/llava15_40x651x32x128/floor")->Unit(benchmark::kMicrosecond);

// Naive: dot products and a scalar softmax per row (one row only: 40 rows take ~0.1 s per iteration).
template <index_t n>
void attn_naive(benchmark::State& state) {
  const auto q = vtr_bench::random_floats(std::size_t(n * heads * dh), 1, -1.0f, 1.0f);
  const auto k = vtr_bench::random_floats(std::size_t(keys * heads * dh), 2, -1.0f, 1.0f);
  std::vector<float> out(std::size_t(heads * n * keys));
  const float scale = 1.0f / std::sqrt(float(dh));
  for (auto _ : state) {
    for (index_t h = 0; h < heads; ++h)
      for (index_t r = 0; r < n; ++r) {
        float* z = out.data() + (h * n + r) * keys;
        const index_t vis = keys - n + r + 1;
        float m = -1e30f;
        for (index_t j = 0; j < vis; ++j) {
          float s = 0;
          for (index_t t = 0; t < dh; ++t) s += q[std::size_t((r * heads + h) * dh + t)] * k[std::size_t((j * heads + h) * dh + t)];
          z[j] = s * scale;
          m = std::max(m, z[j]);
        }
        float tot = 0;
        for (index_t j = 0; j < vis; ++j) tot += (z[j] = std::exp(z[j] - m));
        for (index_t j = 0; j < vis; ++j) z[j] /= tot;
        for (index_t j = vis; j < keys; ++j) z[j] = 0;
      }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(attn_naive<1>)->Name("attention_rows/llava15_1x651x32x128/naive")->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------------------
// topk: n = 576 (one image) and 2880 (five frames / anyres crops), k = n/4, ascending output.
// Naive: std::stable_sort of all indices by score, take k, sort them.

template <index_t n>
void topk_step(benchmark::State& state) {
  const index_t k = n / 4;
  const auto s = vtr_bench::random_floats(std::size_t(n), 3);
  std::vector<index_t> out(static_cast<std::size_t>(k));
  vtr::workspace ws;
  for (auto _ : state) {
    ops::topk(vtr::view_of(s), k, ops::order::ascending, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(topk_step<576>)->Name("topk/llava15_n576_k144")->Unit(benchmark::kMicrosecond);
BENCHMARK(topk_step<2880>)->Name("topk/n2880_k720")->Unit(benchmark::kMicrosecond);

template <index_t n>
void topk_rank_step(benchmark::State& state) {
  const index_t k = n / 4;
  const auto s = vtr_bench::random_floats(std::size_t(n), 3);
  std::vector<index_t> out(static_cast<std::size_t>(k));
  vtr::workspace ws;
  for (auto _ : state) {
    ops::topk(vtr::view_of(s), k, ops::order::by_rank, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(topk_rank_step<2880>)->Name("topk.by_rank/n2880_k720")->Unit(benchmark::kMicrosecond);

template <index_t n>
void topk_naive(benchmark::State& state) {
  const index_t k = n / 4;
  const auto s = vtr_bench::random_floats(std::size_t(n), 3);
  std::vector<index_t> idx(static_cast<std::size_t>(n));
  for (auto _ : state) {
    std::iota(idx.begin(), idx.end(), index_t(0));
    std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) { return s[std::size_t(a)] > s[std::size_t(b)]; });
    std::sort(idx.begin(), idx.begin() + k);
    benchmark::DoNotOptimize(idx.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(topk_naive<576>)->Name("topk/llava15_n576_k144/naive")->Unit(benchmark::kMicrosecond);
BENCHMARK(topk_naive<2880>)->Name("topk/n2880_k720/naive")->Unit(benchmark::kMicrosecond);

}  // namespace
