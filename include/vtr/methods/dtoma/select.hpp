// vtr — DToMA D2: text-guided importance and pruning at LLM layer K, prefill (ALGORITHMS §3.6.3).
//
// Not a port of official code (DToMA has none, ALGORITHMS §3.6): the design notes' mechanism as the
// spec makes it exact. Also exported as vtr::policies::relevance_boost (methods/dtoma.hpp).
//
//   base_j       = mean_h mean_q A[h][q][j]        q = every row after the video, j = visual columns
//   importance_j = base_j · (text_boost if rel given and rel[j] ≥ text_ref_threshold else 1)
//   k            = min(n, max(1, ⌊keep_ratio·n⌋))   (§0.5: double product, floor)
//   keep         = topk(importance, k), ascending   (§0.4 ties → lower index)
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/plan.hpp"
#include "../../core/stage.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/attention_input.hpp"
#include "../../ops/reduce.hpp"
#include "../../ops/topk.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace dtoma {

/// ALGORITHMS §3.6.1 defaults for D2.
struct select_params {
  /// Fraction of the visual tokens kept (0.3 = the README's "70 % reduction"). ≥ 0; the count is
  /// min(n, max(1, ⌊keep_ratio·n⌋)).
  double keep_ratio = 0.3;
  /// Multiplier of the importance of tokens whose relevance reaches text_ref_threshold. Finite, ≥ 0.
  float text_boost = 2.0f;
  /// rel[j] ≥ this (inclusive) boosts token j.
  float text_ref_threshold = 0.7f;
  /// The layer whose attention is read (K = 2). Informational: the engine reads layer K and removes the
  /// tokens from layer K's output (§3.6.3 library default); the selection itself does not use it.
  index_t layer = 2;
};

/// DToMA D2. Plan over the n visual tokens (input_rows = n, origins = kept relative indices,
/// ascending). Engine policy (§1.4, §3.6.3 defaults): positions keep their original ids with gaps; KV of
/// layers ≤ K stays full, layers > K see the reduced set.
class select {
 public:
  using params_type = select_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  static constexpr bool count_is_static = true;

  select() = default;
  explicit select(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// min(n, max(1, ⌊keep_ratio·n⌋)) (§1.5); 0 for n = 0.
  result<index_t> kept_count(index_t n_visual) const {
    VTR_TRY(check_params());
    if (n_visual < 0) return fail("argument 'n_visual' must be >= 0 (got ", n_visual, ")");
    return count(n_visual);
  }

  struct inputs {
    /// Layer-K attention of the rows after the video: probabilities [H][N_q][keys], or Q rows
    /// [N_q][H][d] + K [keys][H_kv][d] + the rows' absolute positions (causal, with RoPE, §2.1).
    ops::attention_input attn{};
    /// The visual columns are keys [visual_begin, visual_begin + visual_count); visual_count = −1 means
    /// every key from visual_begin on (e.g. probabilities already restricted to the visual columns).
    index_t visual_begin = 0;
    index_t visual_count = -1;
    /// Optional caller relevance rel[j] ∈ [0, 1] per visual token (empty = no boost), e.g. the cosine of
    /// a text-query embedding with each token, or a detector mask (§3.6.3).
    vector_view<const float> relevance{};
  };
  struct details {
    std::vector<float> importance;  ///< [n] base · boost
  };

  status try_plan(const inputs& in, plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(check_params());
    const index_t keys = in.attn.keys();
    if (in.visual_begin < 0 || in.visual_begin > keys)
      return fail("argument 'visual_begin' = ", in.visual_begin, " is outside the attention's ", keys, " keys");
    const index_t n = in.visual_count < 0 ? keys - in.visual_begin : in.visual_count;
    if (n > keys - in.visual_begin)
      return fail("the visual span ", span_text{in.visual_begin, n}, " does not fit the attention's ", keys,
                  " keys");
    if (in.attn.rows() < 1)
      return fail("argument 'attn' has no query rows: D2 averages over the rows after the video (need >= 1)");
    const bool has_rel = in.relevance.extent(0) != 0 || in.relevance.data_handle() != nullptr;
    if (has_rel) {
      VTR_TRY(expect_shape("relevance", in.relevance, {n}));
      for (index_t j = 0; j < n; ++j)
        if (std::isnan(in.relevance(j))) return fail("argument 'relevance' has NaN at index ", j);
    }

    workspace::scope sc(ws);
    tensor_view<const float, 3> probs;
    VTR_TRY(ops::try_resolve_attention(in.attn, ops::attention_mode{}, ws, probs));
    // The visual columns of the probabilities (strides kept: no copy).
    const tensor_view<const float, 3> vis(probs.data_handle() + in.visual_begin, {probs.extent(0), probs.extent(1), n},
                                          probs.strides());
    float* imp = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    VTR_TRY(ops::try_reduce_attention(vis, ops::head_reduce::mean, ops::row_reduce::mean, vector_view<float>(imp, {n}), ws));
    if (has_rel)
      for (index_t j = 0; j < n; ++j)
        if (in.relevance(j) >= p_.text_ref_threshold) imp[j] *= p_.text_boost;
    for (index_t j = 0; j < n; ++j)
      if (std::isnan(imp[j])) return fail("argument 'attn' gives a NaN importance at visual column ", j);

    const index_t k = count(n);
    index_t* kept = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(k, 1)));
    auto got = ops::try_topk(vector_view<const float>(imp, {n}), k, ops::order::ascending, vector_view<index_t>(kept, {k}), ws);
    if (!got) return got.error();
    out.reset(n);
    out.origin.assign(kept, kept + k);
    if (extra) extra->importance.assign(imp, imp + n);
    return {};
  }

  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan(in, p, ws, extra));
    return p;
  }

 private:
  index_t count(index_t n) const noexcept {
    if (n <= 0) return 0;
    const double prod = static_cast<double>(n) * p_.keep_ratio;  // §0.5: one double product, floored
    const index_t f = prod >= static_cast<double>(n) ? n : static_cast<index_t>(std::floor(prod));
    return std::min(n, std::max<index_t>(1, f));
  }
  status check_params() const {
    if (!(p_.keep_ratio >= 0.0) || !std::isfinite(p_.keep_ratio))
      return fail("parameter 'keep_ratio' must be finite and >= 0 (got ", p_.keep_ratio, ")");
    if (!(p_.text_boost >= 0.0f) || !std::isfinite(p_.text_boost))
      return fail("parameter 'text_boost' must be finite and >= 0 (got ", p_.text_boost, ")");
    if (std::isnan(p_.text_ref_threshold)) return fail("parameter 'text_ref_threshold' must not be NaN");
    return {};
  }

  params_type p_{};
};

}  // namespace dtoma
VTR_NAMESPACE_END
