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
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

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

/// [4][N] planar layout with a leading 1-D row (engines that store position ids as [4][B][N] put the plain
/// sequence positions first and the (t, h, w) planes after them). Planes 1…3 are gathered exactly as
/// mrope_gather does; plane 0 keeps the survivors' original ids (`text_row = policy::original`) or is
/// renumbered start, start + 1, … (`policy::dense`). Returns the text offset of the triples (max + 1).
/// Nothing is written on error.
inline result<std::int64_t> try_mrope_gather4(const plan& p, const matrix_view<const std::int64_t>& pos4,
                                              const matrix_view<std::int64_t>& out4, policy text_row = policy::original,
                                              std::int64_t start = 0) {
  VTR_TRY(validate_plan(p));
  VTR_TRY(expect_shape("pos4", pos4, {4, p.input_rows}));
  VTR_TRY(expect_shape("out4", out4, {4, p.size()}));
  VTR_TRY(expect_no_alias("out4", out4, "pos4", pos4));
  auto top = try_mrope_gather(p, pos4.subrows(1, 3), mrope_layout::planar, out4.subrows(1, 3));
  if (!top) return top;
  for (index_t r = 0; r < p.size(); ++r) out4(0, r) = text_row == policy::dense ? start + r : pos4(0, p.origin[r]);
  return top;
}
inline std::int64_t mrope_gather4(const plan& p, const matrix_view<const std::int64_t>& pos4,
                                  const matrix_view<std::int64_t>& out4, policy text_row = policy::original,
                                  std::int64_t start = 0) {
  return try_mrope_gather4(p, pos4, out4, text_row, start).value();
}

/// One run of a Qwen2-VL-style M-RoPE sequence: `text` text tokens, then a media grid of grid_t × grid_h ×
/// grid_w tokens in (t, h, w) raster order (sizes after the spatial merge; all three 0 = no media).
struct mrope_block {
  index_t text = 0;
  index_t grid_t = 0;
  index_t grid_h = 0;
  index_t grid_w = 0;
  /// Temporal scale of a video (Qwen2.5-VL): temporal patch i gets t = trunc(float(i)·seconds_per_grid·
  /// tokens_per_second), computed in fp32 as the reference's float tensor product. seconds_per_grid is
  /// temporal_patch_size / fps, tokens_per_second the vision config's (2). Qwen2-VL and images: 1 and 1,
  /// which gives t = i exactly.
  float seconds_per_grid = 1.0f;
  float tokens_per_second = 1.0f;
};

/// The M-RoPE (t, h, w) triples of an unreduced sequence, as Qwen2-VL / Qwen2.5-VL's rope index computes
/// them: a text token takes (p, p, p) with p = one past the largest component emitted so far (0 at the
/// start); a media block starts at that same offset s and its token (i, y, x) takes (s + t(i), s + y, s + x);
/// the text after it starts at the block's largest component + 1. `out` is [N][3] (rows) or [3][N] (planar;
/// for [4][N] pass planes 1…3) with N = Σ text + grid_t·grid_h·grid_w. Returns the next position (largest
/// component + 1; 0 for an empty sequence): the first decode position. Nothing is written on error.
inline result<std::int64_t> try_mrope_index(const vector_view<const mrope_block>& blocks, mrope_layout layout,
                                            const matrix_view<std::int64_t>& out) {
  VTR_TRY(validate_view("blocks", blocks));
  index_t n = 0;
  for (index_t b = 0; b < blocks.extent(0); ++b) {
    const mrope_block& k = blocks(b);
    if (k.text < 0 || k.grid_t < 0 || k.grid_h < 0 || k.grid_w < 0)
      return fail("blocks[", b, "] has a negative size (text ", k.text, ", grid ", k.grid_t, "x", k.grid_h, "x", k.grid_w, ")");
    const bool none = k.grid_t == 0 && k.grid_h == 0 && k.grid_w == 0;
    if (!none && (k.grid_t == 0 || k.grid_h == 0 || k.grid_w == 0))
      return fail("blocks[", b, "] has the empty media grid ", k.grid_t, "x", k.grid_h, "x", k.grid_w,
                  "; a block without media has grid 0x0x0");
    if (!(k.seconds_per_grid >= 0.0f) || !std::isfinite(k.seconds_per_grid) || !(k.tokens_per_second >= 0.0f) ||
        !std::isfinite(k.tokens_per_second))
      return fail("blocks[", b, "] has seconds_per_grid = ", k.seconds_per_grid, ", tokens_per_second = ",
                  k.tokens_per_second, "; both must be finite and >= 0");
    const index_t limit = std::numeric_limits<index_t>::max();
    if (!vtr::detail::product_fits(k.grid_t, k.grid_h) || !vtr::detail::product_fits(k.grid_t * k.grid_h, k.grid_w) ||
        k.text > limit - n || k.grid_t * k.grid_h * k.grid_w > limit - n - k.text)
      return fail("blocks[", b, "] makes the sequence longer than index_t can count");
    n += k.text + k.grid_t * k.grid_h * k.grid_w;
  }
  const bool rows = layout == mrope_layout::rows;
  VTR_TRY(expect_shape("out", out, rows ? std::array<index_t, 2>{n, 3} : std::array<index_t, 2>{3, n}));
  // The t index of the last temporal patch must fit an int64 before anything is written.
  for (index_t b = 0; b < blocks.extent(0); ++b) {
    const mrope_block& k = blocks(b);
    if (k.grid_t > 0 && static_cast<float>(k.grid_t - 1) * k.seconds_per_grid * k.tokens_per_second > 4.0e18f)
      return fail("blocks[", b, "]: the temporal index of ", k.grid_t, " temporal patches overflows int64");
  }
  auto put = [&](index_t i, std::int64_t t, std::int64_t h, std::int64_t w) {
    (rows ? out(i, 0) : out(0, i)) = t;
    (rows ? out(i, 1) : out(1, i)) = h;
    (rows ? out(i, 2) : out(2, i)) = w;
  };
  std::int64_t next = 0;
  index_t i = 0;
  for (index_t b = 0; b < blocks.extent(0); ++b) {
    const mrope_block& k = blocks(b);
    for (index_t j = 0; j < k.text; ++j, ++next) put(i++, next, next, next);
    if (k.grid_t == 0) continue;
    const std::int64_t s = next;
    const bool unit_step = k.seconds_per_grid == 1.0f && k.tokens_per_second == 1.0f;
    std::int64_t top = s;
    for (index_t t = 0; t < k.grid_t; ++t) {
      // fp32 as the reference's float tensor: (i · seconds_per_grid) · tokens_per_second, truncated.
      const std::int64_t ti =
          unit_step ? static_cast<std::int64_t>(t)
                    : static_cast<std::int64_t>((static_cast<float>(t) * k.seconds_per_grid) * k.tokens_per_second);
      for (index_t y = 0; y < k.grid_h; ++y)
        for (index_t x = 0; x < k.grid_w; ++x) put(i++, s + ti, s + y, s + x);
      top = std::max(top, s + ti);
    }
    top = std::max({top, s + static_cast<std::int64_t>(k.grid_h - 1), s + static_cast<std::int64_t>(k.grid_w - 1)});
    next = top + 1;
  }
  return next;
}

}  // namespace positions
VTR_NAMESPACE_END
