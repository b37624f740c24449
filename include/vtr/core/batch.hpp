// vtr — applying per-sequence plans to a batch (ALGORITHMS §0.2: every method runs on one sequence; batched
// engines call it once per sequence and get ragged results with per-sequence counts).
//
// A batch is B independent sequences, each with its own layout and plan (plans[b].input_rows = its length,
// plans[b].size() = its reduced length). Two storage forms:
//   padded   [B][N][D]: sequence b occupies rows [0, input_rows_b) of slice b (N ≥ every input_rows_b);
//            the output [B][M][D] gets rows [0, size_b) of slice b (M ≥ every size_b); rows past a
//            sequence's length are padding: never read, never written.
//   ragged   [Σ N_b][D] with offsets (B + 1 entries, offsets[b + 1] − offsets[b] = input_rows_b); the output
//            is [≥ Σ size_b][D], sequences back to back, and its offsets are written alongside.
// Errors name the sequence index; every sequence is checked before anything is written.
#pragma once

#include "../config.hpp"
#include "apply.hpp"
#include "error.hpp"
#include "plan.hpp"
#include "tensor_view.hpp"

#include <algorithm>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace batch {

/// Reduced length of every sequence (plans[b].size()).
inline std::vector<index_t> kept_counts(const std::vector<plan>& plans) {
  std::vector<index_t> k;
  k.reserve(plans.size());
  for (const plan& p : plans) k.push_back(p.size());
  return k;
}

/// Offsets of the sequences stored back to back: [0, n_0, n_0 + n_1, …] (B + 1 entries), with n_b the
/// input length (`reduced` = false) or the reduced length (true).
inline std::vector<index_t> offsets(const std::vector<plan>& plans, bool reduced) {
  std::vector<index_t> o(1, 0);
  for (const plan& p : plans) o.push_back(o.back() + (reduced ? p.size() : p.input_rows));
  return o;
}

/// dst[b] = plans[b](src[b]) for a padded batch (see the file comment). Nothing is written on error.
template <class T>
status try_apply_padded(const std::vector<plan>& plans, const tensor_view<const T, 3>& src, const tensor_view<T, 3>& dst) {
  VTR_TRY(validate_view("src", src));
  VTR_TRY(validate_view("dst", dst));
  const index_t nb = static_cast<index_t>(plans.size());
  if (src.extent(0) != nb || dst.extent(0) != nb)
    return fail("arguments 'src' ", shape_of(src), " and 'dst' ", shape_of(dst), " must hold one sequence per plan (",
                nb, " plans)");
  if (dst.extent(2) != src.extent(2))
    return fail("argument 'dst' has shape ", shape_of(dst), ", expected [", nb, ", *, ", src.extent(2), "] (the width of 'src' ",
                shape_of(src), ")");
  VTR_TRY(expect_no_alias("dst", dst, "src", src));
  for (index_t b = 0; b < nb; ++b) {
    const plan& p = plans[static_cast<std::size_t>(b)];
    status s = validate_plan(p);
    if (!s.ok()) return fail("sequence ", b, ": ", s.message());
    if (p.input_rows > src.extent(1))
      return fail("sequence ", b, ": its plan reads ", p.input_rows, " rows but argument 'src' ", shape_of(src), " holds ",
                  src.extent(1), " per sequence");
    if (p.size() > dst.extent(1))
      return fail("sequence ", b, ": its plan writes ", p.size(), " rows but argument 'dst' ", shape_of(dst), " holds ",
                  dst.extent(1), " per sequence");
    s = check_apply(p, src[b].subrows(0, p.input_rows), dst[b].subrows(0, p.size()));
    if (!s.ok()) return fail("sequence ", b, ": ", s.message());
  }
  for (index_t b = 0; b < nb; ++b) {
    const plan& p = plans[static_cast<std::size_t>(b)];
    VTR_TRY(try_apply(p, matrix_view<const T>(src[b].subrows(0, p.input_rows)), matrix_view<T>(dst[b].subrows(0, p.size()))));
  }
  return {};
}
template <class T>
void apply_padded(const std::vector<plan>& plans, const tensor_view<const T, 3>& src, const tensor_view<T, 3>& dst) {
  raise_if_error(try_apply_padded(plans, src, dst));
}
template <class T>
void apply_padded(const std::vector<plan>& plans, const tensor_view<T, 3>& src, const tensor_view<T, 3>& dst) {
  raise_if_error(try_apply_padded(plans, tensor_view<const T, 3>(src), dst));
}

/// Ragged batch: sequence b is src rows [src_offsets[b], src_offsets[b + 1]); its reduced rows are written
/// back to back into dst and dst_offsets (B + 1 entries) receives where each starts. Nothing is written on
/// error.
template <class T>
status try_apply_ragged(const std::vector<plan>& plans, const matrix_view<const T>& src,
                        const vector_view<const index_t>& src_offsets, const matrix_view<T>& dst,
                        const vector_view<index_t>& dst_offsets) {
  const index_t nb = static_cast<index_t>(plans.size());
  VTR_TRY(validate_view("src", src));
  VTR_TRY(expect_shape("src_offsets", src_offsets, {nb + 1}));
  VTR_TRY(expect_shape("dst_offsets", dst_offsets, {nb + 1}));
  VTR_TRY(expect_shape("dst", dst, {-1, src.extent(1)}));
  VTR_TRY(expect_no_alias("dst", dst, "src", src));
  VTR_TRY(expect_no_alias("dst_offsets", dst_offsets, "src_offsets", src_offsets));
  if (src_offsets(0) != 0) return fail("argument 'src_offsets' must start at 0 (got ", src_offsets(0), ")");
  index_t total = 0;
  for (index_t b = 0; b < nb; ++b) {
    const plan& p = plans[static_cast<std::size_t>(b)];
    status s = validate_plan(p);
    if (!s.ok()) return fail("sequence ", b, ": ", s.message());
    const index_t lo = src_offsets(b), hi = src_offsets(b + 1);
    if (hi < lo || hi > src.extent(0))
      return fail("sequence ", b, ": rows [", lo, ", ", hi, ") (argument 'src_offsets') are not inside argument 'src' ",
                  shape_of(src));
    if (hi - lo != p.input_rows)
      return fail("sequence ", b, ": argument 'src_offsets' gives it ", hi - lo, " rows but its plan has input_rows ",
                  p.input_rows);
    if (p.size() > dst.extent(0) - total)
      return fail("sequence ", b, ": argument 'dst' ", shape_of(dst), " has no room for its ", p.size(),
                  " rows after the ", total, " rows of the sequences before it");
    s = check_apply(p, src.subrows(lo, hi - lo), dst.subrows(total, p.size()));
    if (!s.ok()) return fail("sequence ", b, ": ", s.message());
    total += p.size();
  }
  index_t at = 0;
  for (index_t b = 0; b < nb; ++b) {
    const plan& p = plans[static_cast<std::size_t>(b)];
    VTR_TRY(try_apply(p, src.subrows(src_offsets(b), p.input_rows), dst.subrows(at, p.size())));
    dst_offsets(b) = at;
    at += p.size();
  }
  dst_offsets(nb) = at;
  return {};
}
template <class T>
void apply_ragged(const std::vector<plan>& plans, const matrix_view<const T>& src, const vector_view<const index_t>& src_offsets,
                  const matrix_view<T>& dst, const vector_view<index_t>& dst_offsets) {
  raise_if_error(try_apply_ragged(plans, src, src_offsets, dst, dst_offsets));
}

}  // namespace batch
VTR_NAMESPACE_END
