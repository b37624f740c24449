// Half-precision inputs: reduce_attention reading fp16/bf16 attention directly (widened to fp32 on load,
// fp32 folds) at the LLaVA-1.5 shape [32 heads][40 rows][576 cols], against its floor — one read of the
// same number of bytes (1.47 MB, half of the fp32 block) — and a scalar loop over the half values.
// Also the method-level conversion vtr::convert_rows (bf16 → fp32) of the image features, against a
// memcpy of the fp32 bytes it writes.
// vtr first: its headers wrap the first inclusion of <immintrin.h> in a suppression of GCC 12's false
// AVX-512 -Wuninitialized (simd/simd.hpp), which bench_util.hpp's Eigen include would otherwise preempt.
#include <vtr/core/half.hpp>
#include <vtr/ops/convert.hpp>
#include <vtr/ops/reduce.hpp>

#include "bench_util.hpp"

#include <algorithm>
#include <vector>

namespace {

using vtr::index_t;
namespace ops = vtr::ops;

constexpr index_t heads = 32, rows = 40, cols = 576;

template <class H>
std::vector<H> half_probabilities() {
  const auto a = vtr_bench::random_probabilities(heads * rows, cols);
  std::vector<H> h(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) h[i] = H(a[i]);
  return h;
}

template <class H, ops::head_reduce HR, ops::row_reduce RR>
void reduce_half_step(benchmark::State& state) {
  const auto a = half_probabilities<H>();
  const vtr::tensor_view<const H, 3> v(a.data(), {heads, rows, cols});
  std::vector<float> out(cols);
  vtr::workspace ws;
  for (auto _ : state) {
    ops::reduce_attention(v, HR, RR, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a.size() * sizeof(H)));
}

// The literal definition on half values: per column, per row, widen and reduce the heads, then the rows.
template <class H, ops::head_reduce HR, ops::row_reduce RR>
void reduce_half_naive(benchmark::State& state) {
  const auto a = half_probabilities<H>();
  std::vector<float> out(cols);
  for (auto _ : state) {
    for (index_t c = 0; c < cols; ++c) {
      float acc = RR == ops::row_reduce::max ? -1e30f : 0.0f;
      for (index_t r = 0; r < rows; ++r) {
        float hv = HR == ops::head_reduce::max ? -1e30f : 0.0f;
        for (index_t h = 0; h < heads; ++h) {
          const float x = vtr::to_float(a[std::size_t((h * rows + r) * cols + c)]);
          hv = HR == ops::head_reduce::max ? std::max(hv, x) : hv + x;
        }
        if (HR == ops::head_reduce::mean) hv /= float(heads);
        acc = RR == ops::row_reduce::max ? std::max(acc, hv) : acc + hv;
      }
      out[std::size_t(c)] = RR == ops::row_reduce::mean ? acc / float(rows) : acc;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// Floor: one read of the half block's bytes (as floats: half as many).
void reduce_half_floor(benchmark::State& state) {
  const auto f = vtr_bench::random_floats(std::size_t(heads * rows * cols) / 2);
  vtr_bench::floor_read(state, f.data(), f.size());
}

#define VTR_HALF_REDUCE_BENCH(type, tag, HR, RR)                                                                       \
  BENCHMARK(reduce_half_step<vtr::type, HR, RR>)->Name("reduce_attention_" #type "." tag "/llava15_32x40x576")        \
      ->Unit(benchmark::kMicrosecond);                                                                                 \
  BENCHMARK(reduce_half_floor)->Name("reduce_attention_" #type "." tag "/llava15_32x40x576/floor")                      \
      ->Unit(benchmark::kMicrosecond);                                                                                 \
  BENCHMARK(reduce_half_naive<vtr::type, HR, RR>)->Name("reduce_attention_" #type "." tag "/llava15_32x40x576/naive") \
      ->Unit(benchmark::kMicrosecond);

VTR_HALF_REDUCE_BENCH(bfloat16, "mean_mean", ops::head_reduce::mean, ops::row_reduce::mean)
VTR_HALF_REDUCE_BENCH(float16, "mean_mean", ops::head_reduce::mean, ops::row_reduce::mean)
VTR_HALF_REDUCE_BENCH(bfloat16, "max_max", ops::head_reduce::max, ops::row_reduce::max)

// ---------------------------------------------------------------------------------------------------
// convert_rows: bf16 image features [576][4096] → fp32 (4.7 MB read, 9.4 MB written). Floor: memcpy of
// the 9.4 MB written (it reads twice the bytes convert_rows reads, so the ratio is slightly flattering).

constexpr index_t feat_rows = 576, feat_dim = 4096;

void convert_step(benchmark::State& state) {
  const auto f = vtr_bench::random_floats(std::size_t(feat_rows * feat_dim), 3, -2.0f, 2.0f);
  std::vector<vtr::bfloat16> h(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) h[i] = vtr::bfloat16(f[i]);
  std::vector<float> out(f.size());
  const vtr::matrix_view<const vtr::bfloat16> in(h.data(), {feat_rows, feat_dim});
  const vtr::matrix_view<float> o(out.data(), {feat_rows, feat_dim});
  for (auto _ : state) {
    vtr::convert_rows(in, o);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * h.size() * sizeof(vtr::bfloat16)));
}

void convert_floor(benchmark::State& state) {
  const auto f = vtr_bench::random_floats(std::size_t(feat_rows * feat_dim), 3);
  std::vector<float> out(f.size());
  vtr_bench::floor_memcpy(state, out.data(), f.data(), f.size() * sizeof(float));
}

BENCHMARK(convert_step)->Name("convert_rows.bf16/llava15_576x4096")->Unit(benchmark::kMicrosecond);
BENCHMARK(convert_floor)->Name("convert_rows.bf16/llava15_576x4096/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
