// vtr — the one place that includes xsimd (DESIGN §2.6). A thin compatibility layer over xsimd
// 8.1 … 13: the names the kernels use stay the same whichever xsimd the user has.
#pragma once

#include "../config.hpp"
#include "../core/half.hpp"

// GCC 12 reports a false -Wuninitialized inside AVX-512 intrinsics that start from an "undefined"
// register (xsimd's max/min among them) once they are inlined into the half-precision folds. GCC checks
// the pragma state where the intrinsics are declared, so the suppression wraps the inclusion of
// <immintrin.h>; it is effective when a vtr header is the first to include it in a translation unit
// (core/eigen.hpp does the same around Eigen). vtr's own AVX-512 intrinsics below avoid the pattern.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define VTR_SIMD_X86 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

VTR_NAMESPACE_BEGIN
namespace simd {

/// The instruction set chosen by the compiler flags (-msse4.2, -mavx2 -mfma, -mavx512f …).
using default_arch = xsimd::default_arch;

template <class T, class Arch = default_arch>
using batch = xsimd::batch<T, Arch>;
template <class T, class Arch = default_arch>
using batch_bool = xsimd::batch_bool<T, Arch>;

/// Lanes of T per register for Arch.
template <class T, class Arch = default_arch>
inline constexpr std::size_t lanes = batch<T, Arch>::size;

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
/// The x86 levels the library is built and tested for.
using sse4_2 = xsimd::sse4_2;
using avx2 = xsimd::fma3<xsimd::avx2>;
using avx512 = xsimd::avx512bw;
#endif

template <class Arch>
constexpr const char* arch_name() noexcept {
  return Arch::name();
}

template <class T, class Arch>
batch<T, Arch> load(const T* p) noexcept {
  return batch<T, Arch>::load_unaligned(p);
}
template <class T, class Arch>
void store(T* p, const batch<T, Arch>& b) noexcept {
  b.store_unaligned(p);
}

/// The n < lanes floats at p as a batch, the remaining lanes set to fill; nothing past p + n is read.
/// Lets a loop's last partial vector take the same vector path as the others (a fill that is neutral
/// for the operation: −inf for a max or an exp, 0 for a sum).
template <class Arch>
batch<float, Arch> load_partial(const float* p, std::size_t n, float fill) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>)
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << n) - 1u), p);
#endif
  alignas(64) float tmp[batch<float, Arch>::size];
  for (std::size_t i = 0; i < batch<float, Arch>::size; ++i) tmp[i] = i < n ? p[i] : fill;
  return batch<float, Arch>::load_aligned(tmp);
}
/// Stores the first n < lanes lanes of b to p; nothing past p + n is written.
template <class Arch>
void store_partial(float* p, const batch<float, Arch>& b, std::size_t n) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), b);
    return;
  }
#endif
  alignas(64) float tmp[batch<float, Arch>::size];
  b.store_aligned(tmp);
  std::copy(tmp, tmp + n, p);
}

/// Asks for the cache line at p ahead of its use (a hint: no fault, no effect on results); Write: the
/// line is about to be written, so it is fetched for ownership. For accesses the hardware prefetchers do
/// not predict, e.g. many rows far apart read or written in step.
template <bool Write = false>
VTR_ALWAYS_INLINE void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, Write ? 1 : 0, 3);
#elif defined(VTR_SIMD_X86)
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
#else
  (void)p;
#endif
}

/// Asks for the lines of p[0, n) into L2 (not L1: for a row read next while the loop issuing this
/// works on another in L1), one request per 64-byte line; n is a loop's compile-time step.
template <std::size_t N>
VTR_ALWAYS_INLINE void prefetch_next(const float* p) noexcept {
  for (std::size_t k = 0; k < N; k += 16) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p + k, 0, 2);
#elif defined(VTR_SIMD_X86)
    _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T1);
#else
    (void)p;
#endif
  }
}

/// Stores four registers as four adjacent columns: dst[i][col + c] = r_c[i] for the lanes i < rows and
/// the columns c < width (rows ≤ lanes, width ≤ 4); nothing else is written. For a GEMM kernel that
/// holds one output column per register and one output row per lane: the block is transposed in
/// registers (two unpack steps) and each row's four values go out as one 16-byte store.
template <class Arch>
VTR_ALWAYS_INLINE void store_columns4(const batch<float, Arch>& r0, const batch<float, Arch>& r1, const batch<float, Arch>& r2,
                                      const batch<float, Arch>& r3, float* const* dst, std::ptrdiff_t col, std::size_t rows,
                                      std::size_t width) noexcept {
  constexpr std::size_t L = batch<float, Arch>::size;
#if defined(VTR_SIMD_X86) && defined(__SSE2__)
  if (width == 4) {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      const __m512 t0 = _mm512_unpacklo_ps(r0, r1), t1 = _mm512_unpackhi_ps(r0, r1);
      const __m512 t2 = _mm512_unpacklo_ps(r2, r3), t3 = _mm512_unpackhi_ps(r2, r3);
      const __m512 u[4] = {_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2))),
                           _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2))),
                           _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3))),
                           _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)))};
      if (rows == L) {
        for (int m = 0; m < 4; ++m) {
          _mm_storeu_ps(dst[m] + col, _mm512_castps512_ps128(u[m]));
          _mm_storeu_ps(dst[4 + m] + col, _mm512_extractf32x4_ps(u[m], 1));
          _mm_storeu_ps(dst[8 + m] + col, _mm512_extractf32x4_ps(u[m], 2));
          _mm_storeu_ps(dst[12 + m] + col, _mm512_extractf32x4_ps(u[m], 3));
        }
      } else {
        alignas(64) float q[4][L];
        for (int m = 0; m < 4; ++m) _mm512_store_ps(q[m], u[m]);
        for (std::size_t i = 0; i < rows; ++i) _mm_storeu_ps(dst[i] + col, _mm_load_ps(&q[i % 4][(i / 4) * 4]));
      }
      return;
    }
#endif
#if defined(__AVX__)
    if constexpr (L == 8 && std::is_base_of_v<xsimd::avx, Arch>) {
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      const __m256 u[4] = {_mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))),
                           _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))),
                           _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3))),
                           _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)))};
      for (std::size_t i = 0; i < rows; ++i)
        _mm_storeu_ps(dst[i] + col, i < 4 ? _mm256_castps256_ps128(u[i]) : _mm256_extractf128_ps(u[i - 4], 1));
      return;
    }
#endif
    if constexpr (L == 4 && std::is_base_of_v<xsimd::sse2, Arch>) {
      const __m128 t0 = _mm_unpacklo_ps(r0, r1), t1 = _mm_unpackhi_ps(r0, r1);
      const __m128 t2 = _mm_unpacklo_ps(r2, r3), t3 = _mm_unpackhi_ps(r2, r3);
      const __m128 u[4] = {_mm_movelh_ps(t0, t2), _mm_movehl_ps(t2, t0), _mm_movelh_ps(t1, t3), _mm_movehl_ps(t3, t1)};
      for (std::size_t i = 0; i < rows; ++i) _mm_storeu_ps(dst[i] + col, u[i]);
      return;
    }
  }
#endif
  alignas(64) float tile[4][L];
  r0.store_aligned(tile[0]);
  r1.store_aligned(tile[1]);
  r2.store_aligned(tile[2]);
  r3.store_aligned(tile[3]);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t c = 0; c < width; ++c) dst[i][col + static_cast<std::ptrdiff_t>(c)] = tile[c][i];
}

// ---------------------------------------------------------------------------------------------------
// Half-precision loads: L consecutive float / float16 / bfloat16 values converted to one fp32 batch.
// The conversion is exact (every half value is a float), so a kernel that loads through load_as_float
// gives bit-identical results on half data and on the same data converted to float first.

namespace detail {
/// Scalar fallback: convert into an aligned buffer, then one load.
template <class Arch, class T>
batch<float, Arch> load_as_float_scalar(const T* p) noexcept {
  constexpr std::size_t L = batch<float, Arch>::size;
  alignas(64) float tmp[L];
  for (std::size_t i = 0; i < L; ++i) tmp[i] = to_float(p[i]);
  return batch<float, Arch>::load_aligned(tmp);
}

#if defined(VTR_SIMD_X86) && defined(__SSE2__)
/// Four binary16 values (zero-extended into 32-bit lanes) → float, with integer and float ops only
/// (for SSE levels without F16C). Exact, including subnormals, infinities and NaN payloads.
inline __m128 half4_to_float_sse2(__m128i h) noexcept {
  const __m128i sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
  __m128i em = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7fff)), 13);
  const __m128i exp = _mm_and_si128(em, _mm_set1_epi32(0x0f800000));
  em = _mm_add_epi32(em, _mm_set1_epi32((127 - 15) << 23));  // rebias
  // inf/NaN (exponent 31): rebias once more so the float exponent is 255.
  const __m128i infnan = _mm_cmpeq_epi32(exp, _mm_set1_epi32(0x0f800000));
  em = _mm_add_epi32(em, _mm_and_si128(infnan, _mm_set1_epi32((128 - 16) << 23)));
  // A NaN comes back quiet, as F16C's vcvtph2ps returns it (and float16::to_float).
  const __m128i nan = _mm_andnot_si128(_mm_cmpeq_epi32(em, _mm_set1_epi32(0x7f800000)), infnan);
  em = _mm_or_si128(em, _mm_and_si128(nan, _mm_set1_epi32(0x00400000)));
  // zero/subnormal (exponent 0): m·2^-24 = (2^-14 + m·2^-24) − 2^-14, both steps exact.
  const __m128i zden = _mm_cmpeq_epi32(exp, _mm_setzero_si128());
  const __m128 den = _mm_sub_ps(_mm_castsi128_ps(_mm_add_epi32(em, _mm_set1_epi32(1 << 23))),
                                _mm_castsi128_ps(_mm_set1_epi32(113 << 23)));
  const __m128i mag = _mm_or_si128(_mm_and_si128(zden, _mm_castps_si128(den)), _mm_andnot_si128(zden, em));
  return _mm_castsi128_ps(_mm_or_si128(mag, sign));
}
#endif
}  // namespace detail

/// Loads batch<float, Arch>::size consecutive elements of type T (float, vtr::float16 or vtr::bfloat16)
/// as fp32. float16 uses F16C (`vcvtph2ps`) where the arch and the compiler flags have it (AVX-512F
/// always does), integer ops on SSE levels without it, scalar code elsewhere; bfloat16 is a
/// zero-extension and a 16-bit shift (what AVX-512 BF16's own bf16→fp32 conversion is, too: that
/// extension adds no widening instruction, only fp32→bf16 and dot products).
template <class Arch, class T>
batch<float, Arch> load_as_float(const T* p) noexcept {
  using B = batch<float, Arch>;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>,
                "load_as_float reads float, vtr::float16 or vtr::bfloat16");
  if constexpr (std::is_same_v<T, float>) {
    return B::load_unaligned(p);
  } else {
#if defined(VTR_SIMD_X86)
    const void* v = p;
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch> && B::size == 16) {
      // The maskz forms with a full mask compile to the plain instructions; the unmasked intrinsics
      // start from an "undefined" register, on which GCC 12 raises a false -Wuninitialized wherever
      // <immintrin.h> was first included without a suppression.
      const __mmask16 all = 0xffff;
      const __m256i h = _mm256_loadu_si256(static_cast<const __m256i*>(v));
      if constexpr (std::is_same_v<T, float16>) return B(_mm512_maskz_cvtph_ps(all, h));
      else return B(_mm512_castsi512_ps(_mm512_maskz_slli_epi32(all, _mm512_maskz_cvtepu16_epi32(all, h), 16)));
    }
#endif
#if defined(__AVX2__)
    if constexpr (std::is_base_of_v<xsimd::avx2, Arch> && B::size == 8) {
      const __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(v));
      if constexpr (std::is_same_v<T, bfloat16>) {
        return B(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
      } else {
#if defined(__F16C__)
        return B(_mm256_cvtph_ps(h));
#else
        return detail::load_as_float_scalar<Arch>(p);
#endif
      }
    }
#endif
#if defined(__SSE2__)
    if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && B::size == 4) {
      const __m128i h = _mm_loadl_epi64(static_cast<const __m128i*>(v));  // 4 × 16 bits
      if constexpr (std::is_same_v<T, bfloat16>) {
        return B(_mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h)));  // h << 16 per lane
      } else {
#if defined(__F16C__)
        return B(_mm_cvtph_ps(h));
#else
        return B(detail::half4_to_float_sse2(_mm_unpacklo_epi16(h, _mm_setzero_si128())));
#endif
      }
    }
#endif
#endif
    return detail::load_as_float_scalar<Arch>(p);
  }
}

/// Whether load_bfloat16_split and interleave have a vector form for Arch (x86: SSE2 4-lane levels,
/// AVX2, AVX-512). Kernels that split bfloat16 rows check it and use load_as_float elsewhere.
template <class Arch>
inline constexpr bool has_bfloat16_split =
#if defined(VTR_SIMD_X86) && defined(__SSE2__)
    (std::is_base_of_v<xsimd::sse2, Arch> && batch<float, Arch>::size == 4)
#if defined(__AVX2__)
    || (std::is_base_of_v<xsimd::avx2, Arch> && batch<float, Arch>::size == 8)
#endif
#if defined(__AVX512F__)
    || std::is_base_of_v<xsimd::avx512f, Arch>
#endif
    ;
#else
    false;
#endif

/// The 2·lanes bfloat16 values at p as two fp32 batches, even[i] = p[2i] and odd[i] = p[2i + 1]: one
/// load and two bit operations per 2·lanes values (a bfloat16 is the high half of its float; x86 is
/// little-endian, so p[2i] is the low half of 32-bit word i), where load_as_float needs a zero-extension
/// (a cross-lane shuffle) and a shift per lanes values. A column fold can run on the halves apart and
/// put its result back in order once, with interleave. Requires has_bfloat16_split<Arch>.
template <class Arch>
VTR_ALWAYS_INLINE void load_bfloat16_split(const bfloat16* p, batch<float, Arch>& even, batch<float, Arch>& odd) noexcept {
  static_assert(has_bfloat16_split<Arch>, "load_bfloat16_split needs an x86 SIMD arch");
#if defined(VTR_SIMD_X86) && defined(__SSE2__)
  const void* v = p;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    const __m512i w = _mm512_loadu_si512(v);
    even = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    odd = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
    return;
  }
#endif
#if defined(__AVX2__)
  if constexpr (batch<float, Arch>::size == 8) {
    const __m256i w = _mm256_loadu_si256(static_cast<const __m256i*>(v));
    even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
    return;
  }
#endif
  if constexpr (batch<float, Arch>::size == 4) {
    const __m128i w = _mm_loadu_si128(static_cast<const __m128i*>(v));
    even = _mm_castsi128_ps(_mm_slli_epi32(w, 16));
    odd = _mm_castsi128_ps(_mm_and_si128(w, _mm_set1_epi32(static_cast<int>(0xffff0000u))));
  }
#endif
}

/// lo = (a[0], b[0], a[1], b[1], …) over the first half of the lanes, hi over the second: a full-width
/// zip (xsimd 8's zip_lo/zip_hi zip within each 128-bit lane). The inverse of load_bfloat16_split.
/// Requires has_bfloat16_split<Arch>.
template <class Arch>
VTR_ALWAYS_INLINE void interleave(const batch<float, Arch>& a, const batch<float, Arch>& b, batch<float, Arch>& lo,
                                  batch<float, Arch>& hi) noexcept {
  static_assert(has_bfloat16_split<Arch>, "interleave needs an x86 SIMD arch");
#if defined(VTR_SIMD_X86) && defined(__SSE2__)
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    lo = _mm512_permutex2var_ps(a, first, b);
    hi = _mm512_permutex2var_ps(a, second, b);
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (batch<float, Arch>::size == 8 && std::is_base_of_v<xsimd::avx, Arch>) {
    const __m256 l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);  // per 128-bit lane
    lo = _mm256_permute2f128_ps(l, h, 0x20);
    hi = _mm256_permute2f128_ps(l, h, 0x31);
    return;
  }
#endif
  if constexpr (batch<float, Arch>::size == 4) {
    lo = _mm_unpacklo_ps(a, b);
    hi = _mm_unpackhi_ps(a, b);
  }
#endif
}

/// a·b + c (fused where the arch has FMA).
template <class T, class Arch>
batch<T, Arch> fma(const batch<T, Arch>& a, const batch<T, Arch>& b, const batch<T, Arch>& c) noexcept {
  return xsimd::fma(a, b, c);
}
/// Whether fma() is one fused instruction on Arch (one rounding). Without it xsimd computes a·b + c
/// with two roundings, and code that relies on an exact fused remainder must not use it.
template <class Arch>
inline constexpr bool native_fma = std::is_base_of<xsimd::avx512f, Arch>::value ||
                                   std::is_base_of<xsimd::fma3<xsimd::avx2>, Arch>::value ||
                                   std::is_base_of<xsimd::fma3<xsimd::sse4_2>, Arch>::value;
template <class T, class Arch>
batch<T, Arch> abs(const batch<T, Arch>& a) noexcept {
  return xsimd::abs(a);
}
template <class T, class Arch>
batch<T, Arch> max(const batch<T, Arch>& a, const batch<T, Arch>& b) noexcept {
  return xsimd::max(a, b);
}
template <class T, class Arch>
batch<T, Arch> min(const batch<T, Arch>& a, const batch<T, Arch>& b) noexcept {
  return xsimd::min(a, b);
}
template <class T, class Arch>
batch<T, Arch> exp(const batch<T, Arch>& a) noexcept {
  return xsimd::exp(a);
}
/// Correctly rounded, as std::sqrt.
template <class T, class Arch>
batch<T, Arch> sqrt(const batch<T, Arch>& a) noexcept {
  return xsimd::sqrt(a);
}

/// Non-temporal store of a float batch to p, which must be aligned to the batch's size: the line is
/// written without first being read into the cache (as memcpy does for large copies). For outputs far
/// larger than the cache; call stream_fence() once the streamed stores are done.
template <class Arch>
void store_stream(float* p, const batch<float, Arch>& b) noexcept {
#if defined(__SSE2__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
    _mm512_stream_ps(p, b);
  } else if constexpr (std::is_base_of<xsimd::avx, Arch>::value) {
    _mm256_stream_ps(p, b);
  } else if constexpr (std::is_base_of<xsimd::sse2, Arch>::value) {
    _mm_stream_ps(p, b);
  } else
#endif
  {
    b.store_aligned(p);
  }
}
/// Outputs at least this large are written with store_stream by the row kernels (l2_normalize_rows,
/// convert_rows): they cannot stay in the cache, and a normal store first reads every destination line
/// (l2_normalize_rows at 9216×4096 was 2.3× memcpy, convert_rows.bf16 1.7×).
inline constexpr std::size_t streaming_store_bytes = std::size_t(16) << 20;

/// Orders the streamed stores before later stores (an sfence on x86).
inline void stream_fence() noexcept {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

/// Horizontal sum: xsimd ≤ 8 calls it hadd, xsimd ≥ 9 reduce_add.
template <class T, class Arch>
T reduce_add(const batch<T, Arch>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_add(b);
#else
  return xsimd::hadd(b);
#endif
}

namespace detail {
#if defined(VTR_SIMD_X86) && defined(__AVX__)
/// Lane i = the sum of v[i]'s 8 lanes: hadd pairs, then pairs of pairs, then the two 128-bit halves.
VTR_ALWAYS_INLINE __m256 reduce_add_each8(const __m256* v) noexcept {
  const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
  // u0's low half holds the partial sums of rows 0-3 over their low 4 lanes, its high half over their
  // high 4 lanes; u1 likewise for rows 4-7.
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}
#endif
}  // namespace detail

/// Lane i of the result is the sum of rows[i]'s lanes, for i < lanes: a horizontal add of `lanes`
/// registers at once, transposing as it adds, for kernels that hold one dot product's lane-wise partial
/// sums per register. (Not xsimd 8's haddp: its AVX-512 form returns the sums in another lane order.)
template <class Arch>
VTR_ALWAYS_INLINE batch<float, Arch> reduce_add_each(const batch<float, Arch>* rows) noexcept {
  constexpr std::size_t L = batch<float, Arch>::size;
#if defined(VTR_SIMD_X86) && defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    __m256 h[16];  // each row's two 256-bit halves added: the same sum over 8 lanes
    for (int i = 0; i < 16; ++i)
      h[i] = _mm256_add_ps(_mm512_castps512_ps256(rows[i]), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(rows[i]), 1)));
    const __m256 lo = detail::reduce_add_each8(h), hi = detail::reduce_add_each8(h + 8);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
  }
#endif
#if defined(VTR_SIMD_X86) && defined(__AVX__)
  if constexpr (L == 8 && std::is_base_of_v<xsimd::avx, Arch>) {
    const __m256 v[8] = {rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], rows[6], rows[7]};
    return detail::reduce_add_each8(v);
  }
#endif
#if defined(VTR_SIMD_X86) && defined(__SSE3__)
  if constexpr (L == 4 && std::is_base_of_v<xsimd::sse3, Arch>)
    return _mm_hadd_ps(_mm_hadd_ps(rows[0], rows[1]), _mm_hadd_ps(rows[2], rows[3]));
#endif
  alignas(64) float sums[L];
  for (std::size_t i = 0; i < L; ++i) sums[i] = reduce_add(rows[i]);
  return batch<float, Arch>::load_aligned(sums);
}

namespace detail {
/// Whether reduce_extreme_in_registers covers batch<float, Arch> in this translation unit.
template <class Arch>
inline constexpr bool float_register_reduce =
#if defined(__AVX512F__)
    std::is_base_of_v<xsimd::avx512f, Arch> ||
#endif
#if defined(__AVX__)
    (std::is_base_of_v<xsimd::avx, Arch> && batch<float, Arch>::size == 8) ||
#endif
#if defined(__SSE2__)
    (std::is_base_of_v<xsimd::sse2, Arch> && batch<float, Arch>::size == 4) ||
#endif
    false;

/// Horizontal max (Max) or min of a float batch by halving it in registers: log2(lanes) dependent steps
/// instead of a spill and a scalar scan (xsimd 8 has no reduce_max/min), which matters where the result
/// heads a dependent chain, as a softmax's max does. Only for float_register_reduce<Arch>.
template <bool Max, class Arch>
float reduce_extreme_in_registers(const batch<float, Arch>& b) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) return Max ? _mm512_reduce_max_ps(b) : _mm512_reduce_min_ps(b);
#endif
#if defined(__SSE2__)
  auto op = [](__m128 x, __m128 y) { return Max ? _mm_max_ps(x, y) : _mm_min_ps(x, y); };
  auto finish128 = [&](__m128 m) {
    m = op(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(op(m, _mm_shuffle_ps(m, m, 1)));
  };
#if defined(__AVX__)
  if constexpr (batch<float, Arch>::size == 8) return finish128(op(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1)));
#endif
  if constexpr (batch<float, Arch>::size == 4) return finish128(b);
#endif
}

/// Horizontal max (Max) or min of any batch: in registers where covered, else a spill and a scan.
template <bool Max, class T, class Arch>
T reduce_extreme(const batch<T, Arch>& b) noexcept {
  if constexpr (std::is_same_v<T, float> && float_register_reduce<Arch>) {
    return reduce_extreme_in_registers<Max>(b);
  } else {
    alignas(64) T tmp[batch<T, Arch>::size];
    b.store_aligned(tmp);
    return Max ? *std::max_element(tmp, tmp + batch<T, Arch>::size) : *std::min_element(tmp, tmp + batch<T, Arch>::size);
  }
}
}  // namespace detail

/// Horizontal maximum / minimum. Which zero a tie of +0 and −0 gives is unspecified.
template <class T, class Arch>
T reduce_max(const batch<T, Arch>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_max(b);
#else
  return detail::reduce_extreme<true>(b);
#endif
}
template <class T, class Arch>
T reduce_min(const batch<T, Arch>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_min(b);
#else
  return detail::reduce_extreme<false>(b);
#endif
}

/// Lane mask as bits (bit i set when lane i is true).
template <class T, class Arch>
std::uint64_t mask_bits(const batch_bool<T, Arch>& m) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return static_cast<std::uint64_t>(m.mask());
#else
  // xsimd 8 has no mask(): read the register. Going through a bool array instead costs a store and a
  // loop that GCC's -O2 keeps rolled, which made top-k of 2880 3× slower than at -O3.
#if defined(__SSE2__)
  // (Dispatch on the arch: vector register types cannot be compared as template arguments.)
  constexpr bool four_bytes = sizeof(T) == 4;
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {  // a k-mask register
    return static_cast<std::uint64_t>(m.data);
  } else if constexpr (std::is_base_of<xsimd::avx, Arch>::value && four_bytes && std::is_floating_point<T>::value) {
    return static_cast<std::uint64_t>(_mm256_movemask_ps(m.data));
  } else if constexpr (std::is_base_of<xsimd::avx, Arch>::value && four_bytes) {
    return static_cast<std::uint64_t>(_mm256_movemask_ps(_mm256_castsi256_ps(m.data)));
  } else if constexpr (std::is_base_of<xsimd::sse2, Arch>::value && four_bytes && std::is_floating_point<T>::value) {
    return static_cast<std::uint64_t>(_mm_movemask_ps(m.data));
  } else if constexpr (std::is_base_of<xsimd::sse2, Arch>::value && four_bytes) {
    return static_cast<std::uint64_t>(_mm_movemask_ps(_mm_castsi128_ps(m.data)));
  } else
#endif
  {
    alignas(64) bool tmp[batch<T, Arch>::size];
    m.store_aligned(tmp);
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < batch<T, Arch>::size; ++i) bits |= std::uint64_t(tmp[i]) << i;
    return bits;
  }
#endif
}

/// Appends base+i for every true lane i to `out` (stream compaction of a comparison); returns the new end.
template <class T, class Arch, class Index>
Index* compress_indices(const batch_bool<T, Arch>& m, Index base, Index* out) noexcept {
  std::uint64_t bits = mask_bits(m);
  while (bits) {
    const int i = __builtin_ctzll(bits);
    *out++ = base + static_cast<Index>(i);
    bits &= bits - 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Run-time CPU checks and dispatch (DESIGN §2.6; the CMake side is cmake/vtrDispatch.cmake).

#if defined(VTR_SIMD_X86)
namespace detail {
/// What the running x86 CPU and OS can execute. The OS part matters: a CPU with AVX(-512) under an OS
/// that does not save the YMM (ZMM, opmask) state must not run those instructions, which cpuid alone does
/// not tell (xsimd 8.x's available_architectures() does not check it).
struct x86_features {
  bool sse4_2 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512cd = false, avx512dq = false, avx512bw = false, avx512vl = false;
};

inline void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) noexcept {
#if defined(_MSC_VER) && !defined(__clang__)
  int x[4];
  __cpuidex(x, static_cast<int>(leaf), static_cast<int>(sub));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(x[i]);
#else
  r[0] = r[1] = r[2] = r[3] = 0;
  __get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]);
#endif
}

inline std::uint64_t xgetbv0() noexcept {
#if defined(_MSC_VER) && !defined(__clang__)
  return _xgetbv(0);
#else
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));  // inline asm: needs no -mxsave
  return (std::uint64_t(hi) << 32) | lo;
#endif
}

inline x86_features detect_x86() noexcept {
  x86_features f;
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 1) return f;
  cpuid(1, 0, r);
  f.sse4_2 = (r[2] >> 20) & 1u;
  const bool osxsave = (r[2] >> 27) & 1u;
  const bool cpu_avx = (r[2] >> 28) & 1u, cpu_fma = (r[2] >> 12) & 1u, cpu_f16c = (r[2] >> 29) & 1u;
  const std::uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_ymm = (xcr0 & 0x6u) == 0x6u;     // SSE and AVX state
  const bool os_zmm = (xcr0 & 0xe6u) == 0xe6u;   // + opmask, ZMM0-15 upper halves, ZMM16-31
  f.avx = cpu_avx && os_ymm;
  f.fma = f.avx && cpu_fma;
  f.f16c = f.avx && cpu_f16c;
  if (max_leaf >= 7) {
    cpuid(7, 0, r);
    f.avx2 = f.avx && ((r[1] >> 5) & 1u);
    const bool z = f.avx && os_zmm;
    f.avx512f = z && ((r[1] >> 16) & 1u);
    f.avx512dq = f.avx512f && ((r[1] >> 17) & 1u);
    f.avx512cd = f.avx512f && ((r[1] >> 28) & 1u);
    f.avx512bw = f.avx512f && ((r[1] >> 30) & 1u);
    f.avx512vl = f.avx512f && ((r[1] >> 31) & 1u);
  }
  return f;
}

inline const x86_features& x86() noexcept {
  static const x86_features f = detect_x86();
  return f;
}
}  // namespace detail
#endif

/// True when the running CPU and OS can execute code built for Arch with vtr's flags for it
/// (cmake/vtrDeveloper.cmake, cmake/vtrDispatch.cmake: AVX2 comes with FMA and F16C, AVX-512 with
/// F/CD/DQ/BW/VL) — for tests and dispatch.
template <class Arch>
bool cpu_supports() noexcept {
#if defined(VTR_SIMD_X86)
  const detail::x86_features& f = detail::x86();
  const bool avx512_common = f.avx2 && f.fma && f.f16c && f.avx512f;
  if constexpr (std::is_base_of_v<xsimd::avx512bw, Arch>) {
    return avx512_common && f.avx512cd && f.avx512dq && f.avx512bw && f.avx512vl;
  } else if constexpr (std::is_base_of_v<xsimd::avx512dq, Arch>) {
    return avx512_common && f.avx512cd && f.avx512dq;
  } else if constexpr (std::is_base_of_v<xsimd::avx512cd, Arch>) {
    return avx512_common && f.avx512cd;
  } else if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    return avx512_common;
  } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    return f.avx2 && f.fma && f.f16c;
  } else if constexpr (std::is_base_of_v<xsimd::avx, Arch>) {
    return f.avx;
  } else if constexpr (std::is_base_of_v<xsimd::sse4_2, Arch>) {
    return f.sse4_2;
  }
#endif
  const auto a = xsimd::available_architectures();
  return a.best >= Arch::version();
}

/// A list of architectures, best first (the order dispatch tries them in).
template <class... Archs>
struct arch_list {
  static constexpr std::size_t size = sizeof...(Archs);
};

namespace detail {
template <class F, class First, class... Rest>
decltype(auto) dispatch_from(F&& f) {
  if constexpr (sizeof...(Rest) == 0) {
    if (!cpu_supports<First>()) {
      std::fprintf(stderr, "vtr: this CPU supports none of the dispatched architectures (lowest: %s)\n",
                   First::name());
      std::abort();
    }
    return std::forward<F>(f)(First{});
  } else {
    if (cpu_supports<First>()) return std::forward<F>(f)(First{});
    return dispatch_from<F, Rest...>(std::forward<F>(f));
  }
}
template <class List>
struct dispatch_impl;
template <class... Archs>
struct dispatch_impl<arch_list<Archs...>> {
  static_assert(sizeof...(Archs) > 0, "vtr::simd::dispatch needs at least one architecture");
  template <class F>
  static decltype(auto) call(F&& f) {
    return dispatch_from<F, Archs...>(std::forward<F>(f));
  }
  static const char* best_name() noexcept {
    const char* const names[] = {Archs::name()...};
    const bool supported[] = {cpu_supports<Archs>()...};
    for (std::size_t i = 0; i < sizeof...(Archs); ++i)
      if (supported[i]) return names[i];
    return nullptr;
  }
};
}  // namespace detail

/// Calls f(Arch{}) with the first architecture of List (best first) that the running CPU and OS
/// support, and returns its result. f is typically a generic lambda calling a function template whose
/// instantiations live in per-arch translation units (vtr_add_dispatch). Aborts with a message when
/// none is supported (list a baseline such as sse4_2 last).
template <class List, class F>
decltype(auto) dispatch(F&& f) {
  return detail::dispatch_impl<List>::call(std::forward<F>(f));
}

/// The name of the architecture dispatch<List> picks on this machine, or nullptr when none.
template <class List>
const char* dispatch_name() noexcept {
  return detail::dispatch_impl<List>::best_name();
}

}  // namespace simd
VTR_NAMESPACE_END
