// Shared helpers for vtr's benchmarks.
//
// Naming convention (bench_main.cpp's table relies on it): every measured step registers
//   "<step>/<shape>"          the vtr kernel or method,
//   "<step>/<shape>/floor"    the floor for the same bytes/FLOPs measured in the same run (a read or
//                             memcpy of the same bytes for memory-bound steps; Eigen GEMM/SYRK for
//                             GEMM-bound ones), and optionally
//   "<step>/<shape>/naive"    a plain scalar implementation.
// The table prints each step's time and the ratios time/floor and time/naive. Steps at the reference
// shapes put the shape tag first in <shape> — "llava15…" (576 visual tokens, L = 651) or "llava_next…"
// (2880 visual tokens) — and the table adds their cost as a percentage of one decoder layer's prefill
// at that shape ("decoder_layer/llava15", "decoder_layer/llava_next", bench_layer.cpp). Benchmarks run with one
// thread; every registration should use ->Unit(benchmark::kMicrosecond).
#pragma once

#include <benchmark/benchmark.h>

#include <vtr/core/eigen.hpp>  // Eigen, with vtr's GCC-12 AVX-512 warning suppression

#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

namespace vtr_bench {

/// Uniform [lo, hi) floats from a fixed seed (benchmarks are reproducible).
inline std::vector<float> random_floats(std::size_t n, unsigned seed = 1, float lo = 0.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

/// Random softmax rows: `rows` rows of `cols` positive values summing to 1.
inline std::vector<float> random_probabilities(std::size_t rows, std::size_t cols, unsigned seed = 1) {
  auto v = random_floats(rows * cols, seed, 0.0f, 1.0f);
  for (std::size_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::size_t c = 0; c < cols; ++c) s += v[r * cols + c];
    for (std::size_t c = 0; c < cols; ++c) v[r * cols + c] = static_cast<float>(v[r * cols + c] / s);
  }
  return v;
}

/// Memory floor: read `n` floats once (a vectorised sum the compiler cannot drop).
inline void floor_read(benchmark::State& state, const float* p, std::size_t n) {
  for (auto _ : state) {
    Eigen::Map<const Eigen::VectorXf> v(p, static_cast<Eigen::Index>(n));
    float s = v.sum();
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * sizeof(float)));
}

/// Memory floor: copy `bytes` from src to dst.
inline void floor_memcpy(benchmark::State& state, void* dst, const void* src, std::size_t bytes) {
  for (auto _ : state) {
    std::memcpy(dst, src, bytes);
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

/// GEMM floor: C[m×n] = A[m×k]·B[n×k]ᵀ in fp32 through Eigen (row-major, as the kernels use it).
inline void floor_gemm_abt(benchmark::State& state, Eigen::Index m, Eigen::Index n, Eigen::Index k) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  M a = M::Random(m, k), b = M::Random(n, k), c(m, n);
  for (auto _ : state) {
    c.noalias() = a * b.transpose();
    benchmark::DoNotOptimize(c.data());
  }
}

/// SYRK floor: the lower triangle of X·Xᵀ for X[n×k] through Eigen's rank update.
inline void floor_syrk(benchmark::State& state, Eigen::Index n, Eigen::Index k) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  M x = M::Random(n, k);
  Eigen::MatrixXf c(n, n);
  for (auto _ : state) {
    c.setZero();
    c.selfadjointView<Eigen::Lower>().rankUpdate(x);
    benchmark::DoNotOptimize(c.data());
  }
}

}  // namespace vtr_bench
