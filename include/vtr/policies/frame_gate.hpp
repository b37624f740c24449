// vtr — generic policy: gate frames by their text attention, then keep the top tokens of each kept frame
// (ALGORITHMS §4.7 `frame_gate`).
//
// The design notes' PruneVid "cross-modal" step, kept under a neutral name: upstream PruneVid has no
// frame-level threshold (ALGORITHMS §4.4). Defined by §4.7:
//   token_imp[f][l] = Σ_q attn[q][f][l]          (sum over the text rows; heads reduced first, default max)
//   frame_imp[f]    = mean_l token_imp[f][l]
//   kept frames     = { f : frame_imp[f] > τ_f } (strict); if fewer than min_frames pass, the top
//                     min(min_frames, F) frames by frame_imp (§0.4 ties → lower frame)
//   per kept frame  = keep_ratio_topk with k = ⌊n_f·per_frame_keep⌋ (grouped top-k), union ascending
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
#include "keep_ratio_topk.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace policies {

struct frame_gate_params {
  /// τ_f: a frame passes when its mean token importance is strictly above this.
  float frame_threshold = 0.3f;
  /// Fraction of each kept frame's tokens kept: k = ⌊n_f·per_frame_keep⌋ (the design notes'
  /// int(n_f·(1 − 0.75))). ≥ 0, clamped to n_f.
  double per_frame_keep = 0.25;
  /// At least this many frames are kept (the best ones) when too few pass the threshold. ≥ 0.
  index_t min_frames = 1;
  /// Reducers applied to attention inputs: over heads (default max, as §4.4's table) then over the text
  /// rows (default sum, §4.7's Σ_q). Ignored for caller token importances.
  ops::head_reduce heads = ops::head_reduce::max;
  ops::row_reduce rows = ops::row_reduce::sum;
  /// Masking when attention is recomputed from Q/K (§2.1).
  ops::attention_mode mode{};
};

/// Plan over the F·n_f visual tokens (input_rows = F·n_f): kept relative indices, ascending.
class frame_gate {
 public:
  using params_type = frame_gate_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  /// How many frames pass depends on the attention.
  static constexpr bool count_is_static = false;

  frame_gate() = default;
  explicit frame_gate(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// Bounds of the kept count: min(min_frames, F)·k_f … F·k_f with k_f = ⌊n_f·per_frame_keep⌋.
  result<index_t> min_kept_count(index_t n_visual, index_t frames) const {
    VTR_TRY(check_params());
    VTR_TRY(check_frames(n_visual, frames));
    return std::min(p_.min_frames, frames) * detail::ratio_count(n_visual / frames, p_.per_frame_keep);
  }
  result<index_t> max_kept_count(index_t n_visual, index_t frames) const {
    VTR_TRY(check_params());
    VTR_TRY(check_frames(n_visual, frames));
    return frames * detail::ratio_count(n_visual / frames, p_.per_frame_keep);
  }

  /// Token importances [F·n_f] from the caller (`scores`) or from attention (`attn`, visual span as in
  /// keep_ratio_topk), and the frame count F (the visual span is F equal frames, frame-major).
  struct inputs : detail::score_source {
    index_t frames = 1;
  };
  struct details {
    std::vector<index_t> kept_frames;     ///< ascending
    std::vector<float> frame_importance;  ///< [F]
    std::vector<float> token_importance;  ///< [F·n_f]
  };

  status try_plan(const inputs& in, plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(check_params());
    auto nres = detail::source_count(in);
    if (!nres) return nres.error();
    const index_t n = nres.value();
    VTR_TRY(check_frames(n, in.frames));
    const index_t F = in.frames, n_f = n / F;
    workspace::scope sc(ws);
    float* tok = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    VTR_TRY(detail::resolve_scores(in, n, p_.heads, p_.rows, p_.mode, ws, tok));

    float* fimp = ws.take<float>(static_cast<std::size_t>(F));
    for (index_t f = 0; f < F; ++f) {
      double s = 0;
      for (index_t l = 0; l < n_f; ++l) s += double(tok[f * n_f + l]);
      fimp[f] = n_f > 0 ? static_cast<float>(s / double(n_f)) : 0.0f;
    }
    index_t* frames_kept = ws.take<index_t>(static_cast<std::size_t>(F));
    index_t nk = 0;
    for (index_t f = 0; f < F; ++f)
      if (fimp[f] > p_.frame_threshold) frames_kept[nk++] = f;
    const index_t floor_frames = std::min(p_.min_frames, F);
    if (nk < floor_frames) {
      // §4.7 rule: too few pass — keep the best min_frames by frame importance (§0.4), ascending.
      auto got = ops::try_topk(vector_view<const float>(fimp, {F}), floor_frames, ops::order::ascending,
                               vector_view<index_t>(frames_kept, {floor_frames}), ws);
      if (!got) return got.error();
      nk = floor_frames;
    }
    const index_t k_f = detail::ratio_count(n_f, p_.per_frame_keep);
    auto* groups = ws.take<ops::topk_group>(static_cast<std::size_t>(std::max<index_t>(nk, 1)));
    for (index_t i = 0; i < nk; ++i) groups[i] = ops::topk_group{frames_kept[i] * n_f, n_f, k_f};
    const index_t k = nk * k_f;
    index_t* kept = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(k, 1)));
    auto got = ops::try_grouped_topk(vector_view<const float>(tok, {n}), vector_view<const ops::topk_group>(groups, {nk}),
                                     vector_view<index_t>(kept, {k}), ws);
    if (!got) return got.error();
    out.reset(n);
    out.origin.assign(kept, kept + k);
    if (extra) {
      extra->kept_frames.assign(frames_kept, frames_kept + nk);
      extra->frame_importance.assign(fimp, fimp + F);
      extra->token_importance.assign(tok, tok + n);
    }
    return {};
  }

  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan(in, p, ws, extra));
    return p;
  }

 private:
  status check_params() const {
    if (std::isnan(p_.frame_threshold)) return fail("parameter 'frame_threshold' must not be NaN");
    VTR_TRY(detail::check_ratio("per_frame_keep", p_.per_frame_keep));
    if (p_.min_frames < 0) return fail("parameter 'min_frames' must be >= 0 (got ", p_.min_frames, ")");
    return {};
  }
  static status check_frames(index_t n, index_t frames) {
    if (n < 0) return fail("argument 'n_visual' must be >= 0 (got ", n, ")");
    if (frames < 1) return fail("argument 'frames' must be >= 1 (got ", frames, ")");
    if (n == 0 && frames > 1)  // frames of zero tokens: F would only size scratch memory
      return fail("'frames' = ", frames, " frames of no visual tokens: an empty span is one frame");
    if (n % frames != 0) return fail("the ", n, " visual tokens do not split into 'frames' = ", frames, " equal frames");
    return {};
  }
  params_type p_{};
};

}  // namespace policies
VTR_NAMESPACE_END
