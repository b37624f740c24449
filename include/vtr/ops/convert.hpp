// vtr — half precision → fp32 row conversion (the method-level path for fp16/bf16 engines).
//
// The memory-bound scoring kernels read half-precision views natively and widen on load
// (ops::try_reduce_attention, ops::dot / squared_norm / cosine, ops::try_l2_normalize_rows): they read
// half the bytes and never materialise an fp32 copy. Everything else — the methods' plan() entry
// points, the GEMM-based similarity forms, merging — takes fp32 views; an engine that keeps hidden
// states in fp16/bf16 converts the rows a step needs with vtr::convert_rows into a scratch buffer
// first. The conversion is exact, so a method run on the converted rows sees exactly the values the
// engine holds.
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/half.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/simd.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

VTR_NAMESPACE_BEGIN

namespace ops {
namespace detail {
/// out[0..n) = float(in[0..n)), SIMD-widened (exact). Stream: non-temporal stores from the first aligned
/// element of out (call simd::stream_fence() after).
template <class Arch, bool Stream = false, class T>
void convert_row(const T* in, float* out, index_t n) noexcept {
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  index_t i = 0;
  if constexpr (Stream) {
    for (; i < n && reinterpret_cast<std::uintptr_t>(out + i) % (L * sizeof(float)) != 0; ++i) out[i] = to_float(in[i]);
    for (; i + L <= n; i += L) simd::store_stream<Arch>(out + i, simd::load_as_float<Arch>(in + i));
  }
  for (; i + 2 * L <= n; i += 2 * L) {
    simd::store<float, Arch>(out + i, simd::load_as_float<Arch>(in + i));
    simd::store<float, Arch>(out + i + L, simd::load_as_float<Arch>(in + i + L));
  }
  for (; i + L <= n; i += L) simd::store<float, Arch>(out + i, simd::load_as_float<Arch>(in + i));
  for (; i < n; ++i) out[i] = to_float(in[i]);
}

template <class Arch, class T>
status convert_rows_impl(const matrix_view<const T>& in, const matrix_view<float>& out) {
  VTR_TRY(validate_view("in", in));
  VTR_TRY(expect_shape("out", out, {in.extent(0), in.extent(1)}));
  VTR_TRY(expect_no_alias("out", out, "in", in));
  const bool stream = static_cast<std::size_t>(in.extent(0)) * static_cast<std::size_t>(in.extent(1)) * sizeof(float) >=
                      simd::streaming_store_bytes;
  for (index_t r = 0; r < in.extent(0); ++r) {
    if (stream) convert_row<Arch, true>(in.row(r), out.row(r), in.extent(1));
    else convert_row<Arch>(in.row(r), out.row(r), in.extent(1));
  }
  if (stream) simd::stream_fence();
  return {};
}
}  // namespace detail
}  // namespace ops

/// out[r][c] = float(in[r][c]) for a float16 or bfloat16 matrix (exact). in: [N, D] (rows may be
/// strided, each row contiguous); out: [N, D], disjoint from in. Errors: shape mismatch, overlap.
template <class Arch = simd::default_arch>
status try_convert_rows(const matrix_view<const float16>& in, const matrix_view<float>& out) {
  return ops::detail::convert_rows_impl<Arch>(in, out);
}
template <class Arch = simd::default_arch>
status try_convert_rows(const matrix_view<const bfloat16>& in, const matrix_view<float>& out) {
  return ops::detail::convert_rows_impl<Arch>(in, out);
}
template <class Arch = simd::default_arch>
void convert_rows(const matrix_view<const float16>& in, const matrix_view<float>& out) {
  raise_if_error(try_convert_rows<Arch>(in, out));
}
template <class Arch = simd::default_arch>
void convert_rows(const matrix_view<const bfloat16>& in, const matrix_view<float>& out) {
  raise_if_error(try_convert_rows<Arch>(in, out));
}

/// float → half rounding (round to nearest even; scalar — for tests, tools and engines writing half
/// buffers, not a hot path). in and out: same extents.
template <class H>
status try_round_rows(const matrix_view<const float>& in, const matrix_view<H>& out) {
  static_assert(is_half_v<H> && !std::is_const_v<H>, "round_rows writes vtr::float16 or vtr::bfloat16");
  VTR_TRY(validate_view("in", in));
  VTR_TRY(expect_shape("out", out, {in.extent(0), in.extent(1)}));
  VTR_TRY(expect_no_alias("out", out, "in", in));
  for (index_t r = 0; r < in.extent(0); ++r) {
    const float* s = in.row(r);
    H* d = out.row(r);
    for (index_t c = 0; c < in.extent(1); ++c) d[c] = H(s[c]);
  }
  return {};
}
template <class H>
void round_rows(const matrix_view<const float>& in, const matrix_view<H>& out) {
  raise_if_error(try_round_rows(in, out));
}

VTR_NAMESPACE_END
