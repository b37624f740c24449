// vtr — Fit&Prune column terms shared by inference and calibration (ALGORITHMS §3.3.2, §3.3.5, §2.2, §2.3).
//
// Both parts read the same block of layer ℓ's attention: the query rows of the visual span and of the
// suffix (in that order, n + N_t rows) against the n visual key columns, reduced with MAX over heads
// first (§2.2: "mix attention map"; the order matters for max-heads/sum-rows), then per column:
//   cross_j = Σ_{suffix rows} Â[t][j]        (inference: not divided; calibration: / N_t)
//   self_j  = Σ_{visual rows} Â[i][j] / n    (§2.3 colmean_block)
// The attention arrives as probabilities [H][n+N_t][n] or as Q/K (§2.1), in which case the whole causal
// rows (prefix + visual + suffix keys) are recomputed for the softmax normaliser and the visual columns
// [P, P+n) are read from them.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/attention.hpp"
#include "../../ops/attention_input.hpp"
#include "../../ops/reduce.hpp"
#include "../../simd/simd.hpp"

#include <array>
#include <cmath>
#include <limits>

VTR_NAMESPACE_BEGIN
namespace fitprune {

/// Layer ℓ's attention as the engine hands it over, with the spans of the current sequence (§1.2).
///   * probabilities: attn.probs [H][n_visual + n_suffix][n_visual], post-softmax. Rows are the visual
///     query rows then the suffix rows; columns are the visual keys. An eager [H][L][L] map becomes this
///     view by offsetting the pointer to row P, column P (strides unchanged).
///   * Q/K (FlashAttention engines): attn.q [n_visual + n_suffix][H][d] (the same rows, after RoPE),
///     attn.k [prefix + n_visual + n_suffix][H_kv][d] (every current key, after RoPE) and
///     attn.q_positions = each row's index in the key sequence for the causal mask (may be left empty:
///     then row r sits at prefix + r, the prefill layout).
struct layer_attention {
  ops::attention_input attn{};
  index_t n_visual = 0;   ///< n: the visual tokens still present
  index_t n_suffix = 0;   ///< N_t: every token after the visual span
  index_t prefix = 35;    ///< P: tokens before the visual span (Q/K form only; §3.3.7 default 35)
};

namespace detail {

inline status check_spans(const layer_attention& a) {
  if (a.n_visual < 0 || a.n_suffix < 0 || a.prefix < 0)
    return fail("spans 'n_visual' = ", a.n_visual, ", 'n_suffix' = ", a.n_suffix, ", 'prefix' = ", a.prefix,
                " must be non-negative");
  // prefix + n + n_suffix is the sequence length every caller forms: it must fit index_t.
  if (a.n_visual > std::numeric_limits<index_t>::max() - a.n_suffix ||
      a.prefix > std::numeric_limits<index_t>::max() - a.n_visual - a.n_suffix)
    return fail("spans 'prefix' = ", a.prefix, ", 'n_visual' = ", a.n_visual, ", 'n_suffix' = ", a.n_suffix,
                " add up to more tokens than index_t can count");
  return {};
}

/// The [H][n+N_t][n] visual-column probabilities of `a`: the caller's view, or rows recomputed from Q/K
/// into workspace memory (valid until the caller's enclosing workspace::scope ends).
template <class Arch>
status resolve_visual_attention(const layer_attention& a, workspace& ws, tensor_view<const float, 3>& out) {
  VTR_TRY(check_spans(a));
  const index_t n = a.n_visual, rows = a.n_visual + a.n_suffix;
  if (a.attn.has_probs()) {
    VTR_TRY(expect_shape("attn", a.attn.probs, {-1, rows, n}));
    if (a.attn.probs.extent(0) < 1)
      return fail("argument 'attn' has shape ", shape_of(a.attn.probs), ": it needs at least one head");
    out = a.attn.probs;
    return {};
  }
  // Q/K: §2.1 with the causal mask and RoPE already applied by the engine (§1.2 Fit&Prune row).
  VTR_TRY(expect_shape("q", a.attn.q, {rows, -1, -1}));
  VTR_TRY(expect_shape("k", a.attn.k, {a.prefix + rows, -1, -1}));
  if (a.attn.q.extent(1) < 1) return fail("argument 'q' has shape ", shape_of(a.attn.q), ": it needs at least one head");
  ops::attention_input in = a.attn;
  if (in.q_positions.extent(0) == 0 && rows > 0) {
    index_t* pos = ws.take<index_t>(static_cast<std::size_t>(rows));
    for (index_t r = 0; r < rows; ++r) pos[r] = a.prefix + r;
    in.q_positions = vector_view<const index_t>(pos, {rows});
  }
  tensor_view<const float, 3> full;
  VTR_TRY(ops::try_resolve_attention<Arch>(in, ops::attention_mode{}, ws, full));
  out = tensor_view<const float, 3>(full.data_handle() + a.prefix * full.stride(2), {full.extent(0), rows, n},
                                    {full.stride(0), full.stride(1), full.stride(2)});
  return {};
}

/// How the cross term is normalised: inference sums the suffix rows, calibration averages them.
enum class cross_norm { sum, mean };

/// cross[0, n) and self[0, n) from the resolved block p [H][n+N_t][n]. The suffix rows are reduced as a
/// contiguous sub-block, so each probability is read once (the step is memory-bound, §5.2). N_t = 0
/// gives cross = 0 under cross_norm::sum (an empty sum, as upstream's slice). Error: a non-finite
/// result (the attention held NaN or ±inf).
template <class Arch>
status column_terms(const tensor_view<const float, 3>& p, index_t n, index_t n_suffix, cross_norm cn, float* cross,
                    float* self, workspace& ws) {
  if (n == 0) return {};
  const index_t H = p.extent(0);
  const std::array<index_t, 3> strides{p.stride(0), p.stride(1), p.stride(2)};
  const tensor_view<const float, 3> vis(p.data_handle(), {H, n, n}, strides);
  const tensor_view<const float, 3> suf(p.data_handle() + n * p.stride(1), {H, n_suffix, n}, strides);
  VTR_TRY(ops::try_reduce_attention<Arch>(vis, ops::head_reduce::max, ops::row_reduce::mean, vector_view<float>(self, {n}), ws));
  VTR_TRY(ops::try_reduce_attention<Arch>(suf, ops::head_reduce::max,
                                          cn == cross_norm::mean ? ops::row_reduce::mean : ops::row_reduce::sum,
                                          vector_view<float>(cross, {n}), ws));
  for (index_t j = 0; j < n; ++j)
    if (!std::isfinite(cross[j]) || !std::isfinite(self[j]))
      return fail("argument 'attn' (", H, " heads, ", n + n_suffix, " rows, ", n,
                  " visual columns) holds non-finite values: visual column ", j, " scores cross = ", cross[j], ", self = ", self[j]);
  return {};
}

}  // namespace detail
}  // namespace fitprune
VTR_NAMESPACE_END
