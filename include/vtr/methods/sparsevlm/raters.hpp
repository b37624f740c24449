// vtr — SparseVLM rater selection (ALGORITHMS §3.2.3; `msl.py:199-204` @b9619e6, `:216-220` @91fb6d9).
//
// Once per prefill, from the layer-0 input embeddings X (after the projector):
//   M   = softmax over the text axis of V·Tᵀ      (V = X[P : P+Nv], T = X[P+Nv :], raw dot products)
//   s_t = mean over the visual rows of M[·][t]
//   R   = { t : s_t > mean(s) }                   (strict; ascending text-relative indices)
// R can be empty (all s_t equal, and always when Nt = 1); the prune events decide what that means
// (params.on_empty_raters). Cost: one Nv × Nt × D GEMM.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/attention.hpp"
#include "../../ops/reduce.hpp"
#include "../../ops/similarity.hpp"
#include "../../ops/topk.hpp"

#include <vector>

VTR_NAMESPACE_BEGIN
namespace sparsevlm {

/// Bytes of workspace try_select_raters takes for Nv visual and Nt text rows.
inline std::size_t raters_workspace_bytes(index_t n_visual, index_t n_text) noexcept {
  const auto a = workspace::alignment;
  return sizeof(float) * static_cast<std::size_t>(n_visual * n_text + n_text) + 2 * a;
}

/// ALGORITHMS §3.2.3. vis: [Nv, D] and text: [Nt, D], the layer-0 input rows of the visual span and of
/// every token after it. Writes the rater set (ascending, relative to the text start; possibly empty) to
/// `raters` (resized; its capacity is reused). `text_scores`, when given, receives s [Nt].
/// Errors: D mismatch, Nv = 0 (no image: SparseVLM is inactive), non-finite affinities.
template <class Arch = simd::default_arch>
status try_select_raters(matrix_view<const float> vis, matrix_view<const float> text, std::vector<index_t>& raters,
                         workspace& ws, std::vector<float>* text_scores = nullptr) {
  VTR_TRY(validate_view("vis", vis));
  VTR_TRY(expect_shape("text", text, {-1, vis.extent(1)}));
  const index_t nv = vis.extent(0), nt = text.extent(0);
  if (nv == 0)
    return fail("argument 'vis' has shape ", shape_of(vis), ": rater selection needs at least one visual row (",
                "SparseVLM only acts on samples with an image)");
  workspace::scope sc(ws);
  float* s = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(nt, 1)));
  if (nt > 0) {
    // M = V·Tᵀ (one GEMM), then a row softmax over the Nt text columns (fp32, max subtracted, §0.6).
    float* mbuf = ws.take<float>(static_cast<std::size_t>(nv * nt));
    const matrix_view<float> m(mbuf, {nv, nt});
    VTR_TRY(ops::try_cross_dot<Arch>(vis, text, m));
    for (index_t i = 0; i < nv; ++i) {
      for (index_t t = 0; t < nt; ++t)
        if (!std::isfinite(mbuf[i * nt + t]))
          return fail("arguments 'vis' ", shape_of(vis), " and 'text' ", shape_of(text), " give a non-finite affinity at [",
                      i, ", ", t, "]");
      ops::detail::softmax_in_place<Arch>(mbuf + i * nt, nt);
    }
    // s_t = column mean over the Nv visual rows (§2.3 colmean_block).
    VTR_TRY(ops::try_column_mean<Arch>(matrix_view<const float>(m), vector_view<float>(s, {nt})));
  }
  // mean(s) (torch's fp32 mean: accumulate, divide, round to float once), then the strict threshold.
  double acc = 0.0;
  for (index_t t = 0; t < nt; ++t) acc += s[t];
  const float mean_s = nt > 0 ? static_cast<float>(acc / static_cast<double>(nt)) : 0.0f;
  const vector_view<const float> sv(s, {nt});
  std::vector<index_t> out;
  out.swap(raters);  // reuse the caller's capacity; nothing is written to it before success
  VTR_TRY(ops::try_threshold_select<Arch>(sv, mean_s, ops::threshold_cmp::greater, out));
  if (text_scores) text_scores->assign(s, s + nt);
  raters.swap(out);
  return {};
}

template <class Arch = simd::default_arch>
std::vector<index_t> select_raters(matrix_view<const float> vis, matrix_view<const float> text, workspace& ws) {
  std::vector<index_t> r;
  raise_if_error(try_select_raters<Arch>(vis, text, r, ws));
  return r;
}

/// The same rater rule from one layer-0 input sequence X [L, D] and its spans (P = prefix length, Nv
/// visual rows; text = every row after the image).
template <class Arch = simd::default_arch>
status try_select_raters(matrix_view<const float> x0, index_t prefix, index_t n_visual, std::vector<index_t>& raters,
                         workspace& ws) {
  VTR_TRY(validate_view("x0", x0));
  if (prefix < 0 || n_visual < 0 || prefix + n_visual > x0.extent(0))
    return fail("spans prefix = ", prefix, ", n_visual = ", n_visual, " do not fit the ", x0.extent(0), " rows of 'x0' ",
                shape_of(x0));
  const index_t ts = prefix + n_visual;
  return try_select_raters<Arch>(x0.subrows(prefix, n_visual), x0.subrows(ts, x0.extent(0) - ts), raters, ws);
}

}  // namespace sparsevlm
VTR_NAMESPACE_END
