// vtr — row accumulation kernels: y += a·x, y += x, and the sum of unit-normalised rows.
//
// These are the building blocks of the O(n·C) mean-cosine test of the DToMA quadtree
// (ALGORITHMS §3.6.2: hS = ‖Σ_i u_i‖² / n² with u_i = x_i / max(‖x_i‖, 1e-8)): the leaves of the tree
// sum their tokens' unit vectors once (add_scaled_rows), every inner cell adds its children's sums,
// each tested as it is added (squared_norm_and_add). All of them are
// memory-bound streams over one row (ALGORITHMS §5.4), so one SIMD loop each, fp32 throughout (§0.6).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/rows.hpp"
#include "../simd/simd.hpp"
#include "similarity.hpp"

#include <algorithm>
#include <cmath>

VTR_NAMESPACE_BEGIN
namespace ops {

/// ALGORITHMS §0.7 / §3.6.2: the cosine eps on a single vector's norm (the O(n·C) form of the quadtree).
inline constexpr float unit_norm_eps = 1e-8f;

namespace ref {
/// y[i] += a·x[i].
inline void add_scaled(float* y, const float* x, float a, index_t n) noexcept {
  for (index_t i = 0; i < n; ++i) y[i] += a * x[i];
}
/// y[i] += x[i].
inline void add_to(float* y, const float* x, index_t n) noexcept {
  for (index_t i = 0; i < n; ++i) y[i] += x[i];
}
/// out = Σ_r x[r] / max(‖x[r]‖, eps) over all rows of x (out: [C]).
inline void unit_row_sum(const matrix_view<const float>& x, float eps, float* out) {
  const index_t c = x.extent(1);
  std::fill(out, out + c, 0.0f);
  for (index_t r = 0; r < x.extent(0); ++r) {
    const float* row = x.row(r);
    double s = 0;
    for (index_t i = 0; i < c; ++i) s += double(row[i]) * double(row[i]);
    const float d = std::max(static_cast<float>(std::sqrt(s)), eps);
    for (index_t i = 0; i < c; ++i) out[i] += row[i] / d;
  }
}
}  // namespace ref

/// y[0, n) += a·x[0, n) (fused multiply-add where the arch has it). x and y must not overlap partially.
/// Start: y is taken as +0 instead of being read — the same bits as zero-filling y first, in one pass.
/// read_next: the row the caller reads next (n floats), requested into L2 meanwhile. A caller that reads
/// each row twice (its norm, then this pass from L1) otherwise leaves memory idle during this pass.
template <class Arch = simd::default_arch, bool Start = false>
void add_scaled(float* y, const float* x, float a, index_t n, const float* read_next = nullptr) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const B va(a);
  const auto acc = [y](index_t i) { return Start ? B(0.0f) : simd::load<float, Arch>(y + i); };
  index_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    if (read_next) simd::prefetch_next<2 * L>(read_next + i);
    simd::store<float, Arch>(y + i, simd::fma(va, simd::load<float, Arch>(x + i), acc(i)));
    simd::store<float, Arch>(y + i + L, simd::fma(va, simd::load<float, Arch>(x + i + L), acc(i + L)));
  }
  for (; i + L <= n; i += L) simd::store<float, Arch>(y + i, simd::fma(va, simd::load<float, Arch>(x + i), acc(i)));
  if (i < n) {  // the last partial vector takes the same fma: its bits cannot depend on how a compiler
                // contracts or vectorises a scalar tail
    const auto tail = static_cast<std::size_t>(n - i);
    const B yt = Start ? B(0.0f) : simd::load_partial<Arch>(y + i, tail, 0.0f);
    simd::store_partial<Arch>(y + i, simd::fma(va, simd::load_partial<Arch>(x + i, tail, 0.0f), yt), tail);
  }
}

/// y[0, n) += a[0]·x[0]; then += a[1]·x[1]; … over `count` rows, in one pass over y: each step is the
/// step of add_scaled (vector body and tail alike), so the bits are those of `count` add_scaled calls in
/// turn. Start: y is taken as +0 instead of being read (as add_scaled's Start). read_next: `next_rows`
/// rows of n floats, `next_stride` floats apart, that the caller reads next, requested into L2 meanwhile
/// (as add_scaled's read_next).
template <class Arch = simd::default_arch, bool Start = false>
void add_scaled_rows(float* y, const float* const* x, const float* a, index_t count, index_t n,
                     const float* read_next = nullptr, index_t next_rows = 0, index_t next_stride = 0) noexcept {
  simd::scaled_rows_pass<Arch, Start, false>(y, x, a, count, n, 1.0f, read_next, next_rows, next_stride);
}

/// add_scaled_rows, then y[i] /= d, in the same pass: the bits of the two in turn, without reading and
/// writing y again (a mean of rows that fit one call).
template <class Arch = simd::default_arch, bool Start = false>
void add_scaled_rows_divide(float* y, const float* const* x, const float* a, index_t count, index_t n, float d) noexcept {
  simd::scaled_rows_pass<Arch, Start, true>(y, x, a, count, n, d);
}

/// y[0, n) += x[0, n).
template <class Arch = simd::default_arch>
void add_to(float* y, const float* x, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  index_t i = 0;
  for (; i + L <= n; i += L) {
    const B s = simd::load<float, Arch>(y + i) + simd::load<float, Arch>(x + i);
    simd::store<float, Arch>(y + i, s);
  }
  for (; i < n; ++i) y[i] += x[i];
}

/// Returns ‖x‖² with the bits of squared_norm(x, n) and, in the same pass, adds x to y (Copy: y = x).
/// For a sum that is tested and then folded into another while it is in cache.
template <class Arch = simd::default_arch, bool Copy = false>
float squared_norm_and_add(float* y, const float* x, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const auto fold = [y, x](index_t i) {
    const B v = simd::load<float, Arch>(x + i);
    simd::store<float, Arch>(y + i, Copy ? v : simd::load<float, Arch>(y + i) + v);
    return v;
  };
  B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);  // squared_norm's (dot's) accumulators, in its order
  index_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    const B v0 = fold(i), v1 = fold(i + L), v2 = fold(i + 2 * L), v3 = fold(i + 3 * L);
    s0 = simd::fma(v0, v0, s0);
    s1 = simd::fma(v1, v1, s1);
    s2 = simd::fma(v2, v2, s2);
    s3 = simd::fma(v3, v3, s3);
  }
  for (; i + L <= n; i += L) {
    const B v = fold(i);
    s0 = simd::fma(v, v, s0);
  }
  float s = simd::reduce_add<float, Arch>((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) {
    s += x[i] * x[i];
    y[i] = Copy ? x[i] : y[i] + x[i];
  }
  return s;
}

/// Rows squared_norms_and_add_rows takes in one call.
inline constexpr index_t norms_and_add_max_rows = 8;

/// squared_norm_and_add over `count` ≤ norms_and_add_max_rows rows in one pass over y: norms[k] = ‖x[k]‖²
/// with the bits of squared_norm(x[k], n), and y += x[0], then += x[1], … with the bits of those adds in
/// turn (Start: y is taken as +0 instead of being read). For a sum over many contiguous rows (a frame's
/// mean): y is read and written once per `count` rows instead of once per row, which lets the rows stream
/// at the memory's pace (one row at a time ran at 1.25–1.6× a plain read of them on Zen 3). Eight rows:
/// sixteen ran slower, and four left part of the gain.
template <class Arch = simd::default_arch, bool Start = false>
void squared_norms_and_add_rows(float* y, const float* const* x, index_t count, index_t n, float* norms) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  constexpr index_t R = norms_and_add_max_rows;
  B s[R][4];  // each row's four accumulators, in squared_norm's (dot's) order
  for (index_t k = 0; k < count; ++k)
    for (auto& b : s[k]) b = B(0.0f);
  const auto start = [y](index_t i) { return Start ? B(0.0f) : simd::load<float, Arch>(y + i); };
  index_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    B y0 = start(i), y1 = start(i + L), y2 = start(i + 2 * L), y3 = start(i + 3 * L);
    for (index_t k = 0; k < count; ++k) {
      const float* r = x[k] + i;
      const B v0 = simd::load<float, Arch>(r), v1 = simd::load<float, Arch>(r + L);
      const B v2 = simd::load<float, Arch>(r + 2 * L), v3 = simd::load<float, Arch>(r + 3 * L);
      y0 = y0 + v0;
      y1 = y1 + v1;
      y2 = y2 + v2;
      y3 = y3 + v3;
      s[k][0] = simd::fma(v0, v0, s[k][0]);
      s[k][1] = simd::fma(v1, v1, s[k][1]);
      s[k][2] = simd::fma(v2, v2, s[k][2]);
      s[k][3] = simd::fma(v3, v3, s[k][3]);
    }
    simd::store<float, Arch>(y + i, y0);
    simd::store<float, Arch>(y + i + L, y1);
    simd::store<float, Arch>(y + i + 2 * L, y2);
    simd::store<float, Arch>(y + i + 3 * L, y3);
  }
  for (; i + L <= n; i += L) {
    B yv = start(i);
    for (index_t k = 0; k < count; ++k) {
      const B v = simd::load<float, Arch>(x[k] + i);
      yv = yv + v;
      s[k][0] = simd::fma(v, v, s[k][0]);
    }
    simd::store<float, Arch>(y + i, yv);
  }
  for (index_t k = 0; k < count; ++k) {
    float sk = simd::reduce_add<float, Arch>((s[k][0] + s[k][1]) + (s[k][2] + s[k][3]));
    for (index_t j = i; j < n; ++j) sk += x[k][j] * x[k][j];  // squared_norm's scalar tail
    norms[k] = sk;
  }
  for (; i < n; ++i) {
    float yi = Start ? 0.0f : y[i];
    for (index_t k = 0; k < count; ++k) yi = yi + x[k][i];
    y[i] = yi;
  }
}

/// 1 / max(‖x‖, eps) for one contiguous row — the scale that turns x into its unit vector (§3.6.2).
/// The reciprocal is taken once per row; rows are then accumulated with add_scaled.
template <class Arch = simd::default_arch>
float inverse_clamped_norm(const float* x, index_t n, float eps = unit_norm_eps) noexcept {
  return 1.0f / std::max(std::sqrt(squared_norm<Arch>(x, n)), eps);
}

/// out[0, C) += Σ_r x[r] / max(‖x[r]‖, eps) over the rows of x [R][C] (contiguous last dimension).
/// Unchecked kernel form for callers that validated their views.
template <class Arch = simd::default_arch>
void accumulate_unit_rows(const matrix_view<const float>& x, float eps, float* out) noexcept {
  const index_t c = x.extent(1);
  for (index_t r = 0; r < x.extent(0); ++r) {
    const float* row = x.row(r);
    add_scaled<Arch>(out, row, inverse_clamped_norm<Arch>(row, c, eps), c, r + 1 < x.extent(0) ? x.row(r + 1) : nullptr);
  }
}

/// out = Σ_r x[r] / max(‖x[r]‖, eps) (ALGORITHMS §3.6.2 O(n·C) form). x: [R][C]; out: [C], not
/// overlapping x; eps ≥ 0 and finite.
template <class Arch = simd::default_arch>
status try_unit_row_sum(const matrix_view<const float>& x, float eps, const vector_view<float>& out) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(expect_shape("out", out, {x.extent(1)}));
  VTR_TRY(expect_no_alias("out", out, "x", x));
  if (!(eps >= 0.0f) || !std::isfinite(eps)) return fail("argument 'eps' must be finite and >= 0 (got ", eps, ")");
  std::fill(out.data_handle(), out.data_handle() + out.extent(0), 0.0f);
  accumulate_unit_rows<Arch>(x, eps, out.data_handle());
  return {};
}
template <class Arch = simd::default_arch>
void unit_row_sum(const matrix_view<const float>& x, float eps, const vector_view<float>& out) {
  raise_if_error(try_unit_row_sum<Arch>(x, eps, out));
}

}  // namespace ops
VTR_NAMESPACE_END
