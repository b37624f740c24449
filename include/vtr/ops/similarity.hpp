// vtr — similarity, normalisation and distance kernels (ALGORITHMS §0.7, §5.2, §5.4).
//
// Vector kernels (dot, squared_norm, cosine) are SIMD over a contiguous row; the matrix forms (gram,
// cross_dot, cosine_matrix, pairwise_distances) are compute-bound and go through Eigen's GEMM / SYRK
// (ALGORITHMS §5.4: "use GEMM or a symmetric rank-k update, not per-pair loops").
#pragma once

#include "../config.hpp"
#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/half.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../simd/simd.hpp"
#include "convert.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

VTR_NAMESPACE_BEGIN
namespace ops {

/// ALGORITHMS §0.7: the cosine clamp is on the product of squared norms, eps² = (1e-8)² (torch 1.13).
inline constexpr float cosine_eps_squared = 1e-16f;
/// ALGORITHMS §0.7: F.normalize's default eps.
inline constexpr float normalize_eps = 1e-12f;

// ---------------------------------------------------------------------------------------------------
// Scalar references (the tests compare every SIMD kernel against these).
namespace ref {

inline float dot(const float* a, const float* b, index_t n) noexcept {
  float s = 0.0f;
  for (index_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
inline float squared_norm(const float* a, index_t n) noexcept { return dot(a, a, n); }

/// x·y / sqrt(max(‖x‖²‖y‖², 1e-16)); a zero vector gives 0 (ALGORITHMS §0.7).
inline float cosine(const float* a, const float* b, index_t n) noexcept {
  const float w12 = dot(a, b, n), w1 = squared_norm(a, n), w2 = squared_norm(b, n);
  return w12 / std::sqrt(std::max(w1 * w2, cosine_eps_squared));
}

inline void l2_normalize_rows(const matrix_view<const float>& x, float eps, const matrix_view<float>& out) {
  for (index_t i = 0; i < x.extent(0); ++i) {
    const float d = std::max(std::sqrt(squared_norm(x.row(i), x.extent(1))), eps);
    for (index_t c = 0; c < x.extent(1); ++c) out(i, c) = x(i, c) / d;
  }
}

inline void cross_dot(const matrix_view<const float>& a, const matrix_view<const float>& b,
                      const matrix_view<float>& out) {
  for (index_t i = 0; i < a.extent(0); ++i)
    for (index_t j = 0; j < b.extent(0); ++j) out(i, j) = dot(a.row(i), b.row(j), a.extent(1));
}

inline void gram(const matrix_view<const float>& x, const matrix_view<float>& out) { cross_dot(x, x, out); }

inline void cosine_matrix(const matrix_view<const float>& a, const matrix_view<const float>& b,
                          const matrix_view<float>& out) {
  for (index_t i = 0; i < a.extent(0); ++i)
    for (index_t j = 0; j < b.extent(0); ++j) out(i, j) = cosine(a.row(i), b.row(j), a.extent(1));
}

/// ‖xi − xj‖·scale by the direct sum of squared differences (the exact form; D[i][i] = 0).
inline void pairwise_distances(const matrix_view<const float>& x, const matrix_view<float>& out, float scale) {
  const index_t n = x.extent(0), c = x.extent(1);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (index_t k = 0; k < c; ++k) {
        const float d = x(i, k) - x(j, k);
        s += d * d;
      }
      out(i, j) = i == j ? 0.0f : std::sqrt(s) * scale;
    }
}

}  // namespace ref

// ---------------------------------------------------------------------------------------------------
// SIMD vector kernels on contiguous rows.

/// Σ a[i]·b[i] over n contiguous elements. T and U are float, vtr::float16 or vtr::bfloat16 (each side
/// on its own: e.g. an fp32 query against bf16 keys); half values are widened on load, the sum is fp32,
/// so the result equals dot() of the float-converted rows bit for bit.
template <class Arch = simd::default_arch, class T, class U>
float dot(const T* a, const U* b, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  // Four independent accumulators hide the FMA latency.
  B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
  index_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = simd::fma(simd::load_as_float<Arch>(a + i), simd::load_as_float<Arch>(b + i), s0);
    s1 = simd::fma(simd::load_as_float<Arch>(a + i + L), simd::load_as_float<Arch>(b + i + L), s1);
    s2 = simd::fma(simd::load_as_float<Arch>(a + i + 2 * L), simd::load_as_float<Arch>(b + i + 2 * L), s2);
    s3 = simd::fma(simd::load_as_float<Arch>(a + i + 3 * L), simd::load_as_float<Arch>(b + i + 3 * L), s3);
  }
  for (; i + L <= n; i += L) s0 = simd::fma(simd::load_as_float<Arch>(a + i), simd::load_as_float<Arch>(b + i), s0);
  float s = simd::reduce_add<float, Arch>((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) s += to_float(a[i]) * to_float(b[i]);
  return s;
}

/// ‖a‖² over n contiguous elements (float, float16 or bfloat16; fp32 sum).
template <class Arch = simd::default_arch, class T>
float squared_norm(const T* a, index_t n) noexcept {
  return dot<Arch>(a, a, n);
}

/// ALGORITHMS §0.7 cosine: x·y / sqrt(max(‖x‖²‖y‖², 1e-16)); a zero vector has cosine 0. Element types
/// as for dot().
template <class Arch = simd::default_arch, class T, class U>
float cosine(const T* a, const U* b, index_t n) noexcept {
  const float w12 = dot<Arch>(a, b, n), w1 = squared_norm<Arch>(a, n), w2 = squared_norm<Arch>(b, n);
  return w12 / std::sqrt(std::max(w1 * w2, cosine_eps_squared));
}

namespace detail {
/// out[0..n) = in[0..n) / d, bit for bit (F.normalize divides; §0.7), without the divider where the arch
/// has a fused multiply-add: y = 1/d rounded once, q = in·y, then twice q += (in − q·d)·y. Each remainder
/// in − q·d is exact in one fma, and a correction from a quotient within an ulp or two returns the
/// correctly rounded one (Markstein's theorem; the second step covers q = in·y being up to 1.5 ulp off).
/// The theorem needs no overflow or underflow, so divisors outside [2^-40, 2^40] and vectors holding a
/// zero (the sign of −0), a value outside [2^-80, 2^80], an infinity or a NaN divide. Checked against the
/// division on 4·10^8 random pairs over those ranges, and in tests. (A division per element cost 1.6×
/// the memory floor at 9216×4096 with streamed stores; these corrections, 1.3×.)
/// Stream: non-temporal stores from the first aligned element of out (call simd::stream_fence() after).
/// read_next: the row the caller reads next (n floats), requested into L2 while this one is written.
template <class Arch, bool Stream = false>
void divide_row(const float* in, float d, float* out, index_t n, const float* read_next = nullptr) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  index_t i = 0;
  if constexpr (Stream) {
    for (; i < n && reinterpret_cast<std::uintptr_t>(out + i) % (L * sizeof(float)) != 0; ++i) out[i] = in[i] / d;
  }
  const auto put = [&](index_t at, const B& q) {
    if constexpr (Stream) simd::store_stream<Arch>(out + at, q);
    else simd::store<float, Arch>(out + at, q);
  };
  const B vd(d);
  if constexpr (simd::native_fma<Arch>) {
    if (d >= 0x1p-40f && d <= 0x1p40f) {
      const B vy(1.0f / d), tiny(0x1p-80f), huge(0x1p80f);
      for (; i + L <= n; i += L) {
        if (read_next) simd::prefetch_next<L>(read_next + i);
        const B a = simd::load<float, Arch>(in + i);
        const B m = simd::abs(a);
        B q;
        if (simd::mask_bits((m < tiny) | (m > huge) | (m != m))) {
          q = a / vd;
        } else {
          q = a * vy;
          q = simd::fma(simd::fma(-q, vd, a), vy, q);
          q = simd::fma(simd::fma(-q, vd, a), vy, q);
        }
        put(i, q);
      }
    }
  }
  for (; i + L <= n; i += L) put(i, simd::load<float, Arch>(in + i) / vd);
  for (; i < n; ++i) out[i] = in[i] / d;
}

/// Accepts an output that is either exactly the input (in place) or disjoint from it.
template <class T, class U>
status expect_same_or_disjoint(const char* out_name, const matrix_view<T>& out, const char* in_name,
                               const matrix_view<U>& in) {
  if (static_cast<const void*>(out.data_handle()) == static_cast<const void*>(in.data_handle()) &&
      out.extents() == in.extents() && out.strides() == in.strides())
    return {};
  return expect_no_alias(out_name, out, in_name, in);
}

template <class T>
status expect_finite(const char* name, const matrix_view<const T>& x) {
  for (index_t i = 0; i < x.extent(0); ++i) {
    const T* r = x.row(i);
    for (index_t c = 0; c < x.extent(1); ++c)
      if (!std::isfinite(r[c]))
        return fail("argument '", name, "' ", shape_of(x), " has a non-finite value at [", i, ", ", c, "]");
  }
  return {};
}

/// The error for a row whose squared norm came out non-finite: a NaN/inf element (named by position),
/// or finite values so large that the squared norm overflows float. The kernels detect this from norms
/// or distances they compute anyway, so the full element scan runs only on the error path.
inline status non_finite_row_error(const char* name, const matrix_view<const float>& x, index_t row) {
  VTR_TRY(expect_finite(name, x));
  return fail("argument '", name, "' ", shape_of(x), ": the squared norm of row ", row, " overflows float");
}

/// Upper bound of sizeof(squared_norm_copy<Arch>) over the archs (workspace sizing).
inline constexpr std::size_t squared_norm_copy_max_bytes = 256;

/// A gather that also yields the row's squared norm, resumable over column chunks: copy() moves the next
/// chunk of the row to dst and adds its squares into two lane-wise accumulators, finish() sums them and
/// the scalar tail. Chunks of a multiple of 2·lanes columns (all but the last) leave the accumulators
/// exactly where one pass over the whole row would, so the norm has the same bits however it is chunked.
template <class Arch>
struct squared_norm_copy {
  using B = simd::batch<float, Arch>;
  static constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  B s0 = B(0.0f), s1 = B(0.0f);

  void copy(const float* src, float* dst, index_t n) noexcept {
    VTR_ASSERT(tail_n == 0);  // a chunk with a scalar tail must be the last (tail_src holds < L values)
    B a0 = s0, a1 = s1;  // in registers: the stores to dst could alias the members
    index_t i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      const B a = simd::load<float, Arch>(src + i), b = simd::load<float, Arch>(src + i + L);
      simd::store<float, Arch>(dst + i, a);
      simd::store<float, Arch>(dst + i + L, b);
      a0 = simd::fma(a, a, a0);
      a1 = simd::fma(b, b, a1);
    }
    for (; i + L <= n; i += L) {
      const B a = simd::load<float, Arch>(src + i);
      simd::store<float, Arch>(dst + i, a);
      a0 = simd::fma(a, a, a0);
    }
    s0 = a0;
    s1 = a1;
    for (; i < n; ++i) {  // only in the last chunk
      dst[i] = src[i];
      tail_src[tail_n++] = src[i];
    }
  }
  float finish() const noexcept {
    float s = simd::reduce_add<float, Arch>(s0 + s1);
    for (index_t i = 0; i < tail_n; ++i) s += tail_src[i] * tail_src[i];
    return s;
  }

 private:
  float tail_src[L] = {};
  index_t tail_n = 0;
};

/// dst[0..n) = src[0..n) and returns Σ src² (one pass: a gather that also yields the norm).
template <class Arch>
float copy_squared_norm(const float* src, float* dst, index_t n) noexcept {
  squared_norm_copy<Arch> acc;
  acc.copy(src, dst, n);
  return acc.finish();
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// Row normalisation.

/// out[i] = x[i] / max(‖x[i]‖, eps) (F.normalize, ALGORITHMS §0.7). out may be x itself (same view) or a
/// disjoint buffer of the same shape.
template <class Arch = simd::default_arch>
status try_l2_normalize_rows(const matrix_view<const float>& x, float eps, const matrix_view<float>& out) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(expect_shape("out", out, {x.extent(0), x.extent(1)}));
  VTR_TRY(detail::expect_same_or_disjoint("out", out, "x", x));
  if (!(eps >= 0.0f) || !std::isfinite(eps)) return fail("argument 'eps' must be finite and >= 0 (got ", eps, ")");
  const index_t c = x.extent(1);
  const bool stream = out.data_handle() != x.data_handle() &&
                      static_cast<std::size_t>(x.extent(0)) * static_cast<std::size_t>(c) * sizeof(float) >= simd::streaming_store_bytes;
  // The next row is requested while this one is divided: the norm pass then reads it from L2, not from
  // L3 or memory (576×4096, cache-resident: 1.64× memcpy without the requests, 1.13× with them).
  for (index_t i = 0; i < x.extent(0); ++i) {
    const float d = std::max(std::sqrt(squared_norm<Arch>(x.row(i), c)), eps);
    const float* next = i + 1 < x.extent(0) ? x.row(i + 1) : nullptr;
    if (stream) detail::divide_row<Arch, true>(x.row(i), d, out.row(i), c, next);
    else detail::divide_row<Arch>(x.row(i), d, out.row(i), c, next);
  }
  if (stream) simd::stream_fence();
  return {};
}
template <class Arch = simd::default_arch>
void l2_normalize_rows(const matrix_view<const float>& x, float eps, const matrix_view<float>& out) {
  raise_if_error(try_l2_normalize_rows<Arch>(x, eps, out));
}

namespace detail {
/// Half rows: widen each row into out, then normalise it there — the same norm and divisions as the
/// float overload on the converted rows (bit-identical), with the half input read once.
template <class Arch, class T>
status l2_normalize_half_rows(const matrix_view<const T>& x, float eps, const matrix_view<float>& out) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(expect_shape("out", out, {x.extent(0), x.extent(1)}));
  VTR_TRY(expect_no_alias("out", out, "x", x));
  if (!(eps >= 0.0f) || !std::isfinite(eps)) return fail("argument 'eps' must be finite and >= 0 (got ", eps, ")");
  const index_t c = x.extent(1);
  for (index_t i = 0; i < x.extent(0); ++i) {
    float* o = out.row(i);
    convert_row<Arch>(x.row(i), o, c);
    const float d = std::max(std::sqrt(squared_norm<Arch>(o, c)), eps);
    divide_row<Arch>(o, d, o, c);
  }
  return {};
}
}  // namespace detail

/// The same on float16 / bfloat16 rows, written as fp32 into a disjoint `out` of the same shape.
template <class Arch = simd::default_arch>
status try_l2_normalize_rows(const matrix_view<const float16>& x, float eps, const matrix_view<float>& out) {
  return detail::l2_normalize_half_rows<Arch>(x, eps, out);
}
template <class Arch = simd::default_arch>
status try_l2_normalize_rows(const matrix_view<const bfloat16>& x, float eps, const matrix_view<float>& out) {
  return detail::l2_normalize_half_rows<Arch>(x, eps, out);
}
template <class Arch = simd::default_arch>
void l2_normalize_rows(const matrix_view<const float16>& x, float eps, const matrix_view<float>& out) {
  raise_if_error(try_l2_normalize_rows<Arch>(x, eps, out));
}
template <class Arch = simd::default_arch>
void l2_normalize_rows(const matrix_view<const bfloat16>& x, float eps, const matrix_view<float>& out) {
  raise_if_error(try_l2_normalize_rows<Arch>(x, eps, out));
}

// ---------------------------------------------------------------------------------------------------
// Matrix forms (Eigen GEMM / SYRK). Eigen may take its own packing buffers for large products; vtr's
// own scratch comes from the workspace.

/// out[i][j] = a[i]·b[j] (A·Bᵀ, a GEMM). a: [M, C], b: [N, C], out: [M, N].
template <class Arch = simd::default_arch>
status try_cross_dot(const matrix_view<const float>& a, const matrix_view<const float>& b,
                     const matrix_view<float>& out) {
  VTR_TRY(validate_view("a", a));
  VTR_TRY(expect_shape("b", b, {-1, a.extent(1)}));
  VTR_TRY(expect_shape("out", out, {a.extent(0), b.extent(0)}));
  VTR_TRY(expect_no_alias("out", out, "a", a));
  VTR_TRY(expect_no_alias("out", out, "b", b));
  if (out.empty()) return {};
  auto o = as_eigen(out);
  if (a.extent(1) == 0) {
    o.setZero();
    return {};
  }
  o.noalias() = as_eigen(a) * as_eigen(b).transpose();
  return {};
}
template <class Arch = simd::default_arch>
void cross_dot(const matrix_view<const float>& a, const matrix_view<const float>& b, const matrix_view<float>& out) {
  raise_if_error(try_cross_dot<Arch>(a, b, out));
}

namespace detail {
/// Lower triangle of X·Xᵀ by Eigen's symmetric rank-k update (half the MACs of a GEMM), then mirrored.
inline void gram_unchecked(const matrix_view<const float>& x, const matrix_view<float>& out) {
  auto o = as_eigen(out);
  o.setZero();
  if (x.extent(1) == 0 || x.extent(0) == 0) return;
  o.template selfadjointView<Eigen::Lower>().rankUpdate(as_eigen(x));
  const index_t n = x.extent(0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = i + 1; j < n; ++j) out(i, j) = out(j, i);
}
}  // namespace detail

/// out = X·Xᵀ (symmetric, both triangles written). x: [N, C], out: [N, N].
template <class Arch = simd::default_arch>
status try_gram(const matrix_view<const float>& x, const matrix_view<float>& out) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(expect_shape("out", out, {x.extent(0), x.extent(0)}));
  VTR_TRY(expect_no_alias("out", out, "x", x));
  detail::gram_unchecked(x, out);
  return {};
}
template <class Arch = simd::default_arch>
void gram(const matrix_view<const float>& x, const matrix_view<float>& out) {
  raise_if_error(try_gram<Arch>(x, out));
}

namespace detail {
/// Turns dot products into §0.7 cosines given the rows' squared norms: out[i][j] / sqrt(max(na2[i]·nb2[j],
/// eps²)). Every step is one IEEE operation, so the SIMD lanes and the scalar tail give the same bits.
template <class Arch>
void dots_to_cosines(const float* na2, const float* nb2, const matrix_view<float>& out) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const index_t n = out.extent(1);
  const B eps(cosine_eps_squared);
  for (index_t i = 0; i < out.extent(0); ++i) {
    float* r = out.row(i);
    const B a(na2[i]);
    index_t j = 0;
    for (; j + L <= n; j += L) {
      const B den = simd::sqrt(simd::max(a * simd::load<float, Arch>(nb2 + j), eps));
      simd::store<float, Arch>(r + j, simd::load<float, Arch>(r + j) / den);
    }
    for (; j < n; ++j) r[j] = r[j] / std::sqrt(std::max(na2[i] * nb2[j], cosine_eps_squared));
  }
}
}  // namespace detail

/// out[i][j] = cos(a[i], b[j]) with the §0.7 clamp (zero rows give 0). One GEMM plus the norms once.
template <class Arch = simd::default_arch>
status try_cosine_matrix(const matrix_view<const float>& a, const matrix_view<const float>& b,
                         const matrix_view<float>& out, workspace& ws) {
  VTR_TRY(try_cross_dot<Arch>(a, b, out));
  workspace::scope sc(ws);
  const index_t m = a.extent(0), n = b.extent(0), c = a.extent(1);
  float* na2 = ws.take<float>(static_cast<std::size_t>(m));
  float* nb2 = ws.take<float>(static_cast<std::size_t>(n));
  for (index_t i = 0; i < m; ++i) na2[i] = squared_norm<Arch>(a.row(i), c);
  for (index_t j = 0; j < n; ++j) nb2[j] = squared_norm<Arch>(b.row(j), c);
  detail::dots_to_cosines<Arch>(na2, nb2, out);
  return {};
}
template <class Arch = simd::default_arch>
void cosine_matrix(const matrix_view<const float>& a, const matrix_view<const float>& b, const matrix_view<float>& out,
                   workspace& ws) {
  raise_if_error(try_cosine_matrix<Arch>(a, b, out, ws));
}

// ---------------------------------------------------------------------------------------------------
// Pairwise Euclidean distances (DPC-kNN, ALGORITHMS §2.8 step 1).

/// How pairwise_distances evaluates ‖xi − xj‖.
enum class distance_form {
  /// torch.cdist's own choice: direct for N ≤ 25, Gram (matrix-multiply) form above (ALGORITHMS §0.6).
  automatic,
  /// √max(‖xi‖² + ‖xj‖² − 2·xi·xj, 0) from one SYRK: N²·C/2 MAC, ~1e-6 relative error (cancellation).
  gram,
  /// √Σ(xi − xj)², SIMD per pair: N²·C/2 MAC without GEMM blocking, exact to rounding.
  direct,
};

/// torch.cdist switches to its matrix-multiply path when either side has more than 25 rows.
inline constexpr index_t cdist_direct_max_rows = 25;

namespace detail {
template <class Arch>
float squared_distance(const float* a, const float* b, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  B s0(0.0f), s1(0.0f);
  index_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const B d0 = simd::load<float, Arch>(a + i) - simd::load<float, Arch>(b + i);
    const B d1 = simd::load<float, Arch>(a + i + L) - simd::load<float, Arch>(b + i + L);
    s0 = simd::fma(d0, d0, s0);
    s1 = simd::fma(d1, d1, s1);
  }
  for (; i + L <= n; i += L) {
    const B d0 = simd::load<float, Arch>(a + i) - simd::load<float, Arch>(b + i);
    s0 = simd::fma(d0, d0, s0);
  }
  float s = simd::reduce_add<float, Arch>(s0 + s1);
  for (; i < n; ++i) {
    const float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}
}  // namespace detail

namespace detail {
/// The Gram form sums X·Xᵀ over the depth in chunks, one SYRK each. A single Eigen SYRK over the whole
/// depth packs panels that outgrow L2 at DPC's shapes: chunks of 256 columns measured 0.80× its time at
/// 83 × 4096 (standalone, both warm). Eigen packs a SYRK's [kc × N] panel on the stack up to
/// EIGEN_STACK_ALLOCATION_LIMIT and on the heap above it, and one heap panel per chunk costs page faults
/// (15 % of dpc_knn at 144 × 4096), so a chunk is at most as wide as that limit allows, in steps of 16;
/// where that is under 64 columns (N > 512 by default) one SYRK covers the whole depth.
inline constexpr index_t gram_depth_chunk_max = 256, gram_depth_chunk_min = 64;
inline index_t gram_depth_chunk(index_t n, index_t c) noexcept {
  const index_t fit = static_cast<index_t>(EIGEN_STACK_ALLOCATION_LIMIT / sizeof(float)) / std::max<index_t>(n, 1) / 16 * 16;
  if (fit < gram_depth_chunk_min) return std::max<index_t>(c, 1);
  return std::min({fit, gram_depth_chunk_max, std::max<index_t>(c, 1)});
}

/// The rows the distances are taken between: x's rows `rows[0..n)`, or its first n rows when rows is null.
struct point_rows {
  matrix_view<const float> x;
  const index_t* rows = nullptr;
  index_t n = 0;
  const float* operator()(index_t i) const noexcept { return x.row(rows ? rows[i] : i); }
};

/// Whether the Gram form wants a chunk buffer (gram_lower's buf) for n points of c features: always for
/// indexed rows, which are read where they lie, and for plain rows whenever the depth is chunked. Eigen
/// packs a compact [n × w] chunk faster than the same columns of rows a row stride apart (rows 16 KB apart
/// share L1 sets): copy included, 4–15 % less time at n = 16…144 × 4096, 1–3 % at 213 × 3584 and
/// 384 × 1024 (a standalone harness, median of 60 alternations). One SYRK over the whole depth (n > 512 by
/// default) would copy every row for nothing: 3–5 % slower there.
inline bool gram_copies_chunks(bool indexed, index_t n, index_t c) noexcept { return indexed || gram_depth_chunk(n, c) < c; }

/// out's lower triangle = X·Xᵀ (out zeroed first), summed over depth chunks of gram_depth_chunk columns.
/// With buf ([n × gram_depth_chunk(n, c)], see gram_copies_chunks; required for indexed rows) each chunk of
/// the rows is copied there first: the rows are read once, where they lie, and never gathered whole.
/// The copy changes no bit: Eigen packs the same values either way.
inline void gram_lower(const point_rows& p, const matrix_view<float>& out, float* buf) {
  using rows_map = Eigen::Map<const eigen_row_matrix<float>, Eigen::Unaligned, Eigen::OuterStride<>>;
  VTR_ASSERT(buf || !p.rows);
  auto o = as_eigen(out);
  o.setZero();
  const index_t n = p.n, c = p.x.extent(1), chunk = gram_depth_chunk(n, c);
  for (index_t c0 = 0; c0 < c; c0 += chunk) {
    const index_t w = std::min(chunk, c - c0);
    if (buf) {
      for (index_t i = 0; i < n; ++i) std::memcpy(buf + i * w, p(i) + c0, sizeof(float) * static_cast<std::size_t>(w));
      o.template selfadjointView<Eigen::Lower>().rankUpdate(rows_map(buf, n, w, Eigen::OuterStride<>(w)));
    } else {
      o.template selfadjointView<Eigen::Lower>().rankUpdate(rows_map(p(0) + c0, n, w, Eigen::OuterStride<>(p.x.stride(0))));
    }
  }
}

/// The distances between the points p (validated), in the given form (not automatic); buf as gram_lower's.
template <class Arch>
void pairwise_distances_of(const point_rows& p, const matrix_view<float>& out, float scale, distance_form form, float* buf) {
  const index_t n = p.n, c = p.x.extent(1);
  if (form == distance_form::direct) {
    for (index_t i = 0; i < n; ++i) {
      out(i, i) = 0.0f;
      for (index_t j = 0; j < i; ++j) {
        const float d = std::sqrt(squared_distance<Arch>(p(i), p(j), c)) * scale;
        out(i, j) = d;
        out(j, i) = d;
      }
    }
    return;
  }
  // Gram form: the lower triangle of X·Xᵀ; the diagonal holds ‖xi‖².
  if (n == 0) return;
  if (c == 0) {
    as_eigen(out).setZero();
    return;
  }
  gram_lower(p, out, buf);
  for (index_t i = 0; i < n; ++i) {
    const float ni = out(i, i);
    for (index_t j = 0; j < i; ++j) {
      const float d2 = std::max(ni + out(j, j) - 2.0f * out(i, j), 0.0f);
      out(i, j) = std::sqrt(d2) * scale;
    }
  }
  for (index_t i = 0; i < n; ++i) {
    out(i, i) = 0.0f;
    for (index_t j = i + 1; j < n; ++j) out(i, j) = out(j, i);
  }
}

inline distance_form resolve_form(distance_form form, index_t n) {
  return form != distance_form::automatic ? form : n > cdist_direct_max_rows ? distance_form::gram : distance_form::direct;
}

/// Checks `rows` against x's row count (every entry in range; repeats allowed).
inline status check_point_rows(const matrix_view<const float>& x, const vector_view<const index_t>& rows) {
  VTR_TRY(validate_view("rows", rows));
  for (index_t i = 0; i < rows.extent(0); ++i)
    if (rows(i) < 0 || rows(i) >= x.extent(0))
      return fail("argument 'rows'[", i, "] = ", rows(i), " is out of range for 'x' of shape ", shape_of(x));
  return {};
}
}  // namespace detail

namespace detail {
template <class Arch>
status pairwise_distances_plain(const matrix_view<const float>& x, const matrix_view<float>& out, float scale,
                                distance_form form, workspace* ws) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(expect_shape("out", out, {x.extent(0), x.extent(0)}));
  VTR_TRY(expect_no_alias("out", out, "x", x));
  if (!std::isfinite(scale)) return fail("argument 'scale' must be finite (got ", scale, ")");
  const index_t n = x.extent(0), c = x.extent(1);
  const distance_form f = resolve_form(form, n);
  if (!ws || f != distance_form::gram || !gram_copies_chunks(false, n, c)) {
    pairwise_distances_of<Arch>({x, nullptr, n}, out, scale, f, nullptr);
    return {};
  }
  workspace::scope sc(*ws);
  pairwise_distances_of<Arch>({x, nullptr, n}, out, scale, f, ws->take<float>(static_cast<std::size_t>(n * gram_depth_chunk(n, c))));
  return {};
}
}  // namespace detail

/// out[i][j] = ‖x[i] − x[j]‖·scale; symmetric with an exactly-zero diagonal. x: [N, C], out: [N, N].
/// The Gram form clamps the squared distance at 0 before the square root. With a workspace the Gram form
/// copies each depth chunk of x there before its SYRK (detail::gram_copies_chunks: faster up to 512 rows;
/// pairwise_distances_workspace_bytes(N, C) of it); the bits are the same with or without.
template <class Arch = simd::default_arch>
status try_pairwise_distances(const matrix_view<const float>& x, const matrix_view<float>& out, float scale,
                              distance_form form = distance_form::automatic) {
  return detail::pairwise_distances_plain<Arch>(x, out, scale, form, nullptr);
}
template <class Arch = simd::default_arch>
status try_pairwise_distances(const matrix_view<const float>& x, const matrix_view<float>& out, float scale, workspace& ws,
                              distance_form form = distance_form::automatic) {
  return detail::pairwise_distances_plain<Arch>(x, out, scale, form, &ws);
}
template <class Arch = simd::default_arch>
void pairwise_distances(const matrix_view<const float>& x, const matrix_view<float>& out, float scale,
                        distance_form form = distance_form::automatic) {
  raise_if_error(try_pairwise_distances<Arch>(x, out, scale, form));
}
template <class Arch = simd::default_arch>
void pairwise_distances(const matrix_view<const float>& x, const matrix_view<float>& out, float scale, workspace& ws,
                        distance_form form = distance_form::automatic) {
  raise_if_error(try_pairwise_distances<Arch>(x, out, scale, ws, form));
}

/// The distances between the rows `rows` of x, read where they lie: out[i][j] = ‖x[rows[i]] − x[rows[j]]‖·scale,
/// out: [R, R]. Bit for bit pairwise_distances of the gathered rows, without the gather (the Gram form
/// copies one depth chunk of the selected rows at a time to ws).
template <class Arch = simd::default_arch>
status try_pairwise_distances(const matrix_view<const float>& x, const vector_view<const index_t>& rows,
                              const matrix_view<float>& out, float scale, workspace& ws,
                              distance_form form = distance_form::automatic) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(detail::check_point_rows(x, rows));
  const index_t n = rows.extent(0);
  VTR_TRY(expect_shape("out", out, {n, n}));
  VTR_TRY(expect_no_alias("out", out, "x", x));
  VTR_TRY(expect_no_alias("out", out, "rows", rows));
  if (!std::isfinite(scale)) return fail("argument 'scale' must be finite (got ", scale, ")");
  workspace::scope sc(ws);
  const distance_form f = detail::resolve_form(form, n);
  float* buf = f == distance_form::gram
                   ? ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n * detail::gram_depth_chunk(n, x.extent(1)), 1)))
                   : nullptr;
  detail::pairwise_distances_of<Arch>({x, rows.data_handle(), n}, out, scale, f, buf);
  return {};
}
/// Bytes of workspace try_pairwise_distances takes for n rows of `features` columns (one depth chunk of
/// the rows, for the Gram form; an upper bound for every form and for both overloads).
inline std::size_t pairwise_distances_workspace_bytes(index_t n, index_t features) noexcept {
  const auto floats = static_cast<std::size_t>(std::max<index_t>(n * detail::gram_depth_chunk(n, features), 1));
  return (sizeof(float) * floats + workspace::alignment - 1) / workspace::alignment * workspace::alignment;
}
template <class Arch = simd::default_arch>
void pairwise_distances(const matrix_view<const float>& x, const vector_view<const index_t>& rows,
                        const matrix_view<float>& out, float scale, workspace& ws,
                        distance_form form = distance_form::automatic) {
  raise_if_error(try_pairwise_distances<Arch>(x, rows, out, scale, ws, form));
}

}  // namespace ops
VTR_NAMESPACE_END
