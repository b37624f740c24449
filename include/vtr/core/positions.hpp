// vtr — position ids after a reduction (ALGORITHMS §1.4, §2.11 "positions utility").
//
// Methods differ in how the survivors are numbered: FastV, Fit&Prune, PruneVid stage 2 and SparseVLM+
// keep the ORIGINAL ids (with gaps); SparseVLM v1/v1.5 and VScan stage 2 (LLaVA) renumber DENSELY; Qwen
// engines keep the original M-RoPE (t, h, w) triples of the survivors. These helpers produce each form
// from a plan.
#pragma once

#include "apply.hpp"
#include "plan.hpp"
#include "tensor_view.hpp"

#include <algorithm>
#include <cstdint>

VTR_NAMESPACE_BEGIN
namespace positions {

/// How a method numbers the tokens that survive (ALGORITHMS §1.4).
enum class policy {
  original,  ///< the kept tokens keep their original ids (gaps allowed; RoPE tables must reach max+1)
  dense,     ///< 0 … n−1 over the reduced sequence
};

/// out[i] = start + i.
inline void dense(const vector_view<std::int64_t>& out, std::int64_t start = 0) noexcept {
  for (index_t i = 0; i < out.extent(0); ++i) out(i) = start + i;
}

/// out[r] = pos[origin[r]] for every output row of `p`. Appended rows have no original id: such plans
/// need policy::dense (an error here says so).
inline status try_gather(const plan& p, const vector_view<const std::int64_t>& pos, const vector_view<std::int64_t>& out) {
  VTR_TRY(validate_plan(p));
  VTR_TRY(expect_shape("pos", pos, {p.input_rows}));
  VTR_TRY(expect_shape("out", out, {p.size()}));
  VTR_TRY(expect_no_alias("out", out, "pos", pos));
  if (p.appended_rows() > 0)
    return fail("the plan appends ", p.appended_rows(), " rows that have no original position; number them with "
                "positions::dense (the method's position policy) instead");
  for (index_t r = 0; r < p.size(); ++r) out(r) = pos(p.origin[r]);
  return {};
}
inline void gather(const plan& p, const vector_view<const std::int64_t>& pos, const vector_view<std::int64_t>& out) {
  raise_if_error(try_gather(p, pos, out));
}

/// Layouts engines use for M-RoPE position triples (Qwen2-VL / Qwen2.5-VL).
enum class mrope_layout {
  rows,    ///< [N][3]: (t, h, w) per token
  planar,  ///< [3][N] (or [4][N] with a leading text row, as some engines store it: pass the 3 planes)
};

/// Gathers the (t, h, w) triples of the kept tokens of a selection plan, in `layout` for both input and
/// output, and returns the text offset that follows the media: max over the gathered components + 1
/// (Qwen2-VL's rule for the first text position after a media block); 0 when the plan keeps no token.
inline result<std::int64_t> try_mrope_gather(const plan& p, const matrix_view<const std::int64_t>& triples,
                                             mrope_layout layout, const matrix_view<std::int64_t>& out) {
  VTR_TRY(validate_plan(p));
  if (p.appended_rows() > 0)
    return fail("the plan appends ", p.appended_rows(), " rows that have no original M-RoPE triple");
  const bool rows = layout == mrope_layout::rows;
  VTR_TRY(expect_shape("triples", triples, rows ? std::array<index_t, 2>{p.input_rows, 3} : std::array<index_t, 2>{3, p.input_rows}));
  VTR_TRY(expect_shape("out", out, rows ? std::array<index_t, 2>{p.size(), 3} : std::array<index_t, 2>{3, p.size()}));
  VTR_TRY(expect_no_alias("out", out, "triples", triples));
  std::int64_t top = -1;
  for (index_t r = 0; r < p.size(); ++r)
    for (index_t c = 0; c < 3; ++c) {
      const std::int64_t v = rows ? triples(p.origin[r], c) : triples(c, p.origin[r]);
      (rows ? out(r, c) : out(c, r)) = v;
      top = std::max(top, v);
    }
  return top + 1;
}
inline std::int64_t mrope_gather(const plan& p, const matrix_view<const std::int64_t>& triples, mrope_layout layout,
                                 const matrix_view<std::int64_t>& out) {
  return try_mrope_gather(p, triples, layout, out).value();
}

}  // namespace positions
VTR_NAMESPACE_END
