// vtr — generic policy: keep the top ⌊n·ratio⌋ tokens by score (ALGORITHMS §4.7 `keep_ratio_topk`).
//
// A simplified idea kept from the design notes (SparseVLM, Fit&Prune and PruneVid `spatial_prune`), under a
// neutral name — it is none of those methods (ALGORITHMS §4 rule). Scores are either the caller's, or a
// text→visual attention [H][N_t][N_v] reduced with the selectable head and query-row reducers of §2.2 /
// §2.3 (default mean, mean). Per-frame use: with `frames` > 1 the visual span is F equal frames and each
// keeps its own ⌊n_f·ratio⌋ (grouped top-k, §2.4).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/plan.hpp"
#include "../core/stage.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../ops/attention_input.hpp"
#include "../ops/reduce.hpp"
#include "../ops/topk.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace policies {

namespace detail {

/// ⌊double(n)·ratio⌋ clamped to [0, n] (ALGORITHMS §0.5: one double product, floored).
inline index_t ratio_count(index_t n, double ratio) noexcept {
  if (n <= 0 || !(ratio > 0.0)) return 0;
  const double prod = static_cast<double>(n) * ratio;
  if (prod >= static_cast<double>(n)) return n;
  return static_cast<index_t>(std::floor(prod));
}

inline status check_ratio(const char* name, double r) {
  if (!(r >= 0.0) || !std::isfinite(r)) return fail("parameter '", name, "' must be finite and >= 0 (got ", r, ")");
  return {};
}

/// Where a policy's per-token scores come from: the caller's scores, or an attention block reduced over
/// heads and query rows, restricted to the visual key columns.
struct score_source {
  /// Caller scores [n] (used when non-empty / non-null).
  vector_view<const float> scores{};
  /// Otherwise: probabilities [H][rows][keys] or Q/K (§2.1); visual keys [visual_begin, visual_begin +
  /// visual_count), visual_count = −1 = every key from visual_begin on.
  ops::attention_input attn{};
  index_t visual_begin = 0;
  index_t visual_count = -1;

  bool has_scores() const noexcept { return scores.extent(0) != 0 || scores.data_handle() != nullptr; }
};

/// Number of visual tokens the source describes (validated).
inline result<index_t> source_count(const score_source& s) {
  if (s.has_scores()) {
    VTR_TRY(validate_view("scores", s.scores));
    return s.scores.extent(0);
  }
  const index_t keys = s.attn.keys();
  if (s.attn.heads() < 1 && keys == 0 && s.attn.rows() == 0)
    return fail("no scores given: pass 'scores' [n] or an attention input 'attn'");
  if (s.visual_begin < 0 || s.visual_begin > keys)
    return fail("argument 'visual_begin' = ", s.visual_begin, " is outside the attention's ", keys, " keys");
  const index_t n = s.visual_count < 0 ? keys - s.visual_begin : s.visual_count;
  if (n > keys - s.visual_begin)
    return fail("the visual span ", span_text{s.visual_begin, n}, " does not fit the attention's ", keys, " keys");
  return n;
}

/// Writes the n scores into out (workspace memory of the caller's scope). NaN scores are an error.
inline status resolve_scores(const score_source& s, index_t n, ops::head_reduce h, ops::row_reduce r,
                             ops::attention_mode mode, workspace& ws, float* out) {
  if (s.has_scores()) {
    for (index_t j = 0; j < n; ++j) out[j] = s.scores(j);
  } else {
    tensor_view<const float, 3> probs;
    VTR_TRY(ops::try_resolve_attention(s.attn, mode, ws, probs));
    const tensor_view<const float, 3> vis(probs.data_handle() + s.visual_begin, {probs.extent(0), probs.extent(1), n},
                                          probs.strides());
    VTR_TRY(ops::try_reduce_attention(vis, h, r, vector_view<float>(out, {n}), ws));
  }
  for (index_t j = 0; j < n; ++j)
    if (std::isnan(out[j])) return fail("score of visual token ", j, " is NaN; scores must not be NaN");
  return {};
}

}  // namespace detail

struct keep_ratio_topk_params {
  /// Fraction kept: k = ⌊double(n)·ratio⌋ (per frame when frames > 1). ≥ 0; clamped to n. The default
  /// is the design notes' Fit&Prune/SparseVLM setting (prune half).
  double ratio = 0.5;
  /// Reducers applied to attention inputs (§2.2 then §2.3); ignored for caller scores.
  ops::head_reduce heads = ops::head_reduce::mean;
  ops::row_reduce rows = ops::row_reduce::mean;
  /// Masking when attention is recomputed from Q/K (§2.1): causal by default.
  ops::attention_mode mode{};
};

/// Plan over the n visual tokens (input_rows = n): the kept relative indices, ascending.
class keep_ratio_topk {
 public:
  using params_type = keep_ratio_topk_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  static constexpr bool count_is_static = true;

  keep_ratio_topk() = default;
  explicit keep_ratio_topk(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// frames·⌊(n/frames)·ratio⌋ (§4.7); n must be a multiple of frames.
  result<index_t> kept_count(index_t n_visual, index_t frames = 1) const {
    VTR_TRY(detail::check_ratio("ratio", p_.ratio));
    VTR_TRY(check_frames(n_visual, frames));
    return frames * detail::ratio_count(n_visual / frames, p_.ratio);
  }

  struct inputs : detail::score_source {
    /// > 1: the visual span is `frames` equal consecutive frames, each keeps its own top-k.
    index_t frames = 1;
  };
  struct details {
    std::vector<float> scores;  ///< [n] the scores ranked
  };

  status try_plan(const inputs& in, plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(detail::check_ratio("ratio", p_.ratio));
    auto nres = detail::source_count(in);
    if (!nres) return nres.error();
    const index_t n = nres.value();
    VTR_TRY(check_frames(n, in.frames));
    workspace::scope sc(ws);
    float* s = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    VTR_TRY(detail::resolve_scores(in, n, p_.heads, p_.rows, p_.mode, ws, s));
    const index_t F = in.frames, n_f = n / F, k_f = detail::ratio_count(n_f, p_.ratio);
    auto* groups = ws.take<ops::topk_group>(static_cast<std::size_t>(F));
    for (index_t f = 0; f < F; ++f) groups[f] = ops::topk_group{f * n_f, n_f, k_f};
    const index_t k = F * k_f;
    index_t* kept = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(k, 1)));
    auto got = ops::try_grouped_topk(vector_view<const float>(s, {n}), vector_view<const ops::topk_group>(groups, {F}),
                                     vector_view<index_t>(kept, {k}), ws);
    if (!got) return got.error();
    out.reset(n);
    out.origin.assign(kept, kept + k);
    if (extra) extra->scores.assign(s, s + n);
    return {};
  }

  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan(in, p, ws, extra));
    return p;
  }

 private:
  static status check_frames(index_t n, index_t frames) {
    if (n < 0) return fail("argument 'n_visual' must be >= 0 (got ", n, ")");
    if (frames < 1) return fail("argument 'frames' must be >= 1 (got ", frames, ")");
    if (n == 0 && frames > 1)  // frames of zero tokens: F would only size scratch memory
      return fail("'frames' = ", frames, " frames of no visual tokens: an empty span is one frame");
    if (n % frames != 0)
      return fail("the ", n, " visual tokens do not split into 'frames' = ", frames, " equal frames");
    return {};
  }
  params_type p_{};
};

}  // namespace policies
VTR_NAMESPACE_END
