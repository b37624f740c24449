// vtr — applying a plan to any tensor that shares the token axis (DESIGN §2.1, ALGORITHMS §2.11).
#pragma once

#include "../simd/rows.hpp"
#include "plan.hpp"
#include "tensor_view.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

VTR_NAMESPACE_BEGIN

/// Checks apply()'s arguments without touching anything.
template <class T, class U>
status check_apply(const plan& p, const matrix_view<T>& src, const matrix_view<U>& dst) {
  VTR_TRY(validate_plan(p));
  VTR_TRY(expect_shape("src", src, {p.input_rows, -1}));
  VTR_TRY(expect_shape("dst", dst, {p.size(), src.extent(1)}));
  VTR_TRY(expect_no_alias("dst", dst, "src", src));
  if (!std::is_floating_point_v<std::remove_const_t<T>> && !p.is_selection())
    return fail("the plan merges rows, which needs a floating-point tensor; 'src' holds integers (shape ",
                shape_of(src), "): apply it to positions as a selection of plan.kept() instead");
  return {};
}

/// Writes dst = plan(src). src: [input_rows, C]; dst: [plan.size(), C], not overlapping src.
/// Selection rows are exact copies; merged rows accumulate in the tensor's type (fp32 for float).
template <class T>
status try_apply(const plan& p, const matrix_view<const T>& src, const matrix_view<T>& dst) {
  VTR_TRY(check_apply(p, src, dst));
  const index_t cols = src.extent(1);
  for (index_t r = 0; r < p.size(); ++r) {
    T* out = dst.row(r);
    if (p.is_selection()) {
      std::memcpy(out, src.row(p.origin[r]), sizeof(T) * static_cast<std::size_t>(cols));
      continue;
    }
    const index_t b = p.offsets[r], e = p.offsets[r + 1];
    if (e - b == 1 && p.weights[b] == 1.0f && p.divisors[r] == 1.0f) {
      std::memcpy(out, src.row(p.sources[b]), sizeof(T) * static_cast<std::size_t>(cols));
      continue;
    }
    if constexpr (std::is_same_v<T, float>) {
      // (Σ w·x) / d in the order of the terms, one fma per term, in one pass over the output row per 8
      // terms (the first starts from zero, the last divides), so the row is written once for a merge of
      // up to 8 rows. The scalar passes below, one per term, ran at 1.4× a read of the rows with -O3 and
      // 7× without the compiler's vectorisation (-O2).
      constexpr index_t group = simd::rows_per_pass;
      const float* in[group];
      float w[group];
      const float d = p.divisors[r];
      for (index_t t0 = b; t0 < e; t0 += group) {
        const index_t nt = std::min(group, e - t0);
        for (index_t k = 0; k < nt; ++k) {
          in[k] = src.row(p.sources[t0 + k]);
          w[k] = p.weights[t0 + k];
        }
        const bool first = t0 == b, last = t0 + nt == e;
        using arch = simd::default_arch;
        if (first && last) simd::scaled_rows_pass<arch, true, true>(out, in, w, nt, cols, d);
        else if (first) simd::scaled_rows_pass<arch, true, false>(out, in, w, nt, cols, d);
        else if (last) simd::scaled_rows_pass<arch, false, true>(out, in, w, nt, cols, d);
        else simd::scaled_rows_pass<arch, false, false>(out, in, w, nt, cols, d);
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      // (Σ w·x) / d in the order of the terms; the first term initialises and the last one divides, so
      // the output row is written in as few passes as the term count allows (memory-bound, §5.4).
      const T d = static_cast<T>(p.divisors[r]);
      const T w0 = static_cast<T>(p.weights[b]);
      const T* in0 = src.row(p.sources[b]);
      if (e - b == 1) {
        for (index_t c = 0; c < cols; ++c) out[c] = (w0 * in0[c]) / d;
        continue;
      }
      for (index_t c = 0; c < cols; ++c) out[c] = w0 * in0[c];
      for (index_t t = b + 1; t + 1 < e; ++t) {
        const T w = static_cast<T>(p.weights[t]);
        const T* in = src.row(p.sources[t]);
        for (index_t c = 0; c < cols; ++c) out[c] += w * in[c];
      }
      const T wl = static_cast<T>(p.weights[e - 1]);
      const T* inl = src.row(p.sources[e - 1]);
      for (index_t c = 0; c < cols; ++c) out[c] = (out[c] + wl * inl[c]) / d;
    }
  }
  return {};
}

template <class T>
void apply(const plan& p, const matrix_view<const T>& src, const matrix_view<T>& dst) {
  raise_if_error(try_apply(p, src, dst));
}
template <class T>
void apply(const plan& p, const matrix_view<T>& src, const matrix_view<T>& dst) {
  raise_if_error(try_apply(p, matrix_view<const T>(src), dst));
}

/// Rank-1 form for per-token scalars (position ids, token sizes).
template <class T>
status try_apply(const plan& p, const vector_view<const T>& src, const vector_view<T>& dst) {
  const matrix_view<const T> s(src.data_handle(), {src.extent(0), 1}, {src.stride(0), 1});
  const matrix_view<T> d(dst.data_handle(), {dst.extent(0), 1}, {dst.stride(0), 1});
  return try_apply(p, s, d);
}
template <class T>
void apply(const plan& p, const vector_view<const T>& src, const vector_view<T>& dst) {
  raise_if_error(try_apply(p, src, dst));
}
template <class T>
void apply(const plan& p, const vector_view<T>& src, const vector_view<T>& dst) {
  raise_if_error(try_apply(p, vector_view<const T>(src), dst));
}

/// Compacts a selection plan in place: rows [0, plan.size()) of `x` become x[origin[r]]. Needs a
/// selection with strictly ascending origins (then src ≥ dst and moving rows in order is safe,
/// ALGORITHMS §2.11). Rows past plan.size() are left as they were.
template <class T>
status try_compact_in_place(const plan& p, const matrix_view<T>& x) {
  VTR_TRY(validate_plan(p));
  VTR_TRY(expect_shape("x", x, {p.input_rows, -1}));
  if (!p.is_selection()) return fail("compact_in_place needs a selection plan; this plan merges rows");
  for (index_t r = 1; r < p.size(); ++r)
    if (p.origin[r] <= p.origin[r - 1])
      return fail("compact_in_place needs ascending origins; plan row ", r, " has origin ", p.origin[r],
                  " after ", p.origin[r - 1]);
  const auto bytes = sizeof(T) * static_cast<std::size_t>(x.extent(1));
  for (index_t r = 0; r < p.size(); ++r)
    if (p.origin[r] != r) std::memmove(x.row(r), x.row(p.origin[r]), bytes);
  return {};
}
template <class T>
void compact_in_place(const plan& p, const matrix_view<T>& x) {
  raise_if_error(try_compact_in_place(p, x));
}

VTR_NAMESPACE_END
