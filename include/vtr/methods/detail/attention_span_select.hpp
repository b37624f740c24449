// vtr — the selection FastV (ALGORITHMS §3.1.1) and VScan stage 2 (§3.4.5) share: score the tokens of one
// span of the sequence by the attention the query row(s) pay them, averaged over heads (§2.2) and rows
// (§2.3), keep the best n_keep (§0.4 order, ascending) and every token outside the span.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/plan.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/attention_input.hpp"
#include "../../ops/reduce.hpp"
#include "../../ops/topk.hpp"
#include "../../simd/simd.hpp"

#include <algorithm>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace detail {

/// Which query rows of the attention score the span.
struct query_rows_range {
  index_t first = 0;
  index_t count = 1;
};

/// Checks the attention views (probabilities, or Q and K) at the boundary.
inline status validate_attention_views(const ops::attention_input& a) {
  if (a.has_probs()) return validate_view("attention.probs", a.probs);
  VTR_TRY(validate_view("attention.q", a.q));
  return validate_view("attention.k", a.k);
}

/// Selection plan over the a.keys() sequence rows: the span [start, start + count) reduced to its n_keep
/// best-scored tokens (ascending), every other row kept. The caller has validated the span, the rows and
/// n_keep ≤ count. scores_out/kept_out (optional) receive the span's scores and the kept tokens relative
/// to start. Nothing is written on error.
template <class Arch>
status try_select_span_by_attention(const ops::attention_input& a, ops::attention_mode mode, query_rows_range rows,
                                    index_t start, index_t count, index_t n_keep, vtr::plan& out, workspace& ws,
                                    std::vector<float>* scores_out, std::vector<index_t>* kept_out) {
  workspace::scope sc(ws);
  tensor_view<const float, 3> probs;
  VTR_TRY(ops::try_resolve_attention<Arch>(a, mode, ws, probs));
  const index_t heads = probs.extent(0), L = probs.extent(2);
  const tensor_view<const float, 3> span(probs.data_handle() + rows.first * probs.stride(1) + start * probs.stride(2),
                                         {heads, rows.count, count},
                                         {probs.stride(0), probs.stride(1), probs.stride(2)});
  float* scores = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(count, 1)));
  const vector_view<float> sv(scores, {count});
  if (count > 0) VTR_TRY(ops::try_reduce_attention<Arch>(span, ops::head_reduce::mean, ops::row_reduce::mean, sv, ws));
  index_t* top = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(n_keep, 1)));
  auto got = ops::try_topk<Arch>(vector_view<const float>(sv), n_keep, ops::order::ascending,
                                 vector_view<index_t>(top, {n_keep}), ws);
  if (!got) return got.error();
  VTR_ASSERT(got.value() == n_keep);

  select_in_sequence(start, count, L - start - count, top, n_keep, out);
  if (scores_out) scores_out->assign(scores, scores + count);
  if (kept_out) kept_out->assign(top, top + n_keep);
  return {};
}

}  // namespace detail
VTR_NAMESPACE_END
