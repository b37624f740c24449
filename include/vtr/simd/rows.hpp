// vtr — the weighted sum of a few rows into one, in one pass: the kernel under ops::add_scaled_rows
// (ops/accumulate.hpp) and under the merged rows of vtr::apply (core/apply.hpp), which sits below ops.
#pragma once

#include "../config.hpp"
#include "simd.hpp"

#include <cstddef>

VTR_NAMESPACE_BEGIN
namespace simd {

/// Rows a caller should pass to scaled_rows_pass at once when the rows may lie at addresses equal modulo
/// 4 KiB (whole frames or rows of 4 KiB multiples apart): more of them than an 8-way L1 has ways evict each
/// other's lines before their second vector is read (measured: 16 rows a pass ran 1.2–1.3× slower than 8).
inline constexpr index_t rows_per_pass = 8;

/// y[0, n) = (Start ? +0 : y) + a[0]·x[0], then + a[1]·x[1], … over `count` rows, each step one simd::fma
/// per element (one rounding where the arch has FMA; a partial vector at the tail takes the same fma, so
/// the bits do not depend on how a compiler treats a scalar tail); Divide: each finished element is
/// divided by d before it is stored. One pass over y whatever `count`. read_next: `next_rows` rows of n
/// floats, `next_stride` floats apart, that the caller reads next, requested into L2 meanwhile.
template <class Arch, bool Start, bool Divide>
void scaled_rows_pass(float* y, const float* const* x, const float* a, index_t count, index_t n, float d,
                      const float* read_next = nullptr, index_t next_rows = 0, index_t next_stride = 0) noexcept {
  using B = batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(lanes<float, Arch>);
  constexpr index_t line = 16;  // floats per 64-byte line
  const B vd(d);
  const auto finish = [&vd](B s) { return Divide ? s / vd : s; };
  index_t i = 0;
  for (; i + L <= n; i += L) {
    if (read_next && i % line == 0)
      for (index_t k = 0; k < next_rows; ++k) simd::prefetch_next<line>(read_next + k * next_stride + i);
    B s = Start ? B(0.0f) : simd::load<float, Arch>(y + i);
    for (index_t k = 0; k < count; ++k) s = simd::fma(B(a[k]), simd::load<float, Arch>(x[k] + i), s);
    simd::store<float, Arch>(y + i, finish(s));
  }
  if (i < n) {  // a scalar tail here was vectorised over the rows by GCC from 8 rows on, its products
                // rounded apart from their sums: other bits
    const auto tail = static_cast<std::size_t>(n - i);
    B s = Start ? B(0.0f) : simd::load_partial<Arch>(y + i, tail, 0.0f);
    for (index_t k = 0; k < count; ++k) s = simd::fma(B(a[k]), simd::load_partial<Arch>(x[k] + i, tail, 0.0f), s);
    simd::store_partial<Arch>(y + i, finish(s), tail);
  }
}

}  // namespace simd
VTR_NAMESPACE_END
