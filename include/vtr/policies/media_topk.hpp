// vtr — generic policy: per-unit top-k over one score per sequence token, with per-unit budgets (multi-image
// prompts, LLaVA-NeXT anyres crops, video frames; core/media.hpp).
//
// The FastV-style selection (ALGORITHMS §3.1 scoring: head mean of the last prompt token's attention) made
// budget-aware: instead of one top-k over one image span, every unit of the layout (image, base, tile, frame)
// keeps its own top budget[u] of its tokens in the sequence by score (ties → lower index, §0.4). Text and
// newline tokens are always kept. Under its own neutral name: it is not FastV (ALGORITHMS §4 rule) — FastV's
// own count rule is one image span, vtr::fastv::select.
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/media.hpp"
#include "../core/plan.hpp"
#include "../core/stage.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../ops/attention_input.hpp"
#include "../ops/reduce.hpp"
#include "../ops/topk.hpp"
#include "keep_ratio_topk.hpp"

#include <algorithm>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace policies {

struct media_topk_params {
  /// Reducers for attention inputs (§2.2 then §2.3); ignored for caller scores. FastV: mean over heads of
  /// one query row.
  ops::head_reduce heads = ops::head_reduce::mean;
  ops::row_reduce rows = ops::row_reduce::mean;
  /// Masking when attention is recomputed from Q/K (§2.1): causal by default.
  ops::attention_mode mode{};
};

class media_topk {
 public:
  using params_type = media_topk_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  static constexpr bool count_is_static = true;

  media_topk() = default;
  explicit media_topk(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// One score per sequence token: caller scores [L], or attention [H][rows][L] (or Q/K) over the L keys
  /// (visual_begin = 0 and visual_count = −1 or L: every key is a sequence token).
  struct inputs : detail::score_source {};

  /// Rows of the plan: L − visual tokens + Σ budgets (pure).
  static result<index_t> kept_count(const media::layout& lay, const std::vector<index_t>& unit_budgets) {
    VTR_TRY(check_budgets(lay, unit_budgets));
    index_t k = lay.size() - lay.visual_tokens();
    for (index_t b : unit_budgets) k += b;
    return k;
  }

  /// Selection plan over the L sequence rows: text and newline rows, and each unit's top unit_budgets[u]
  /// tokens, ascending. `unit_plans`, when given, receives the per-unit plans (unit_space::present).
  /// Nothing is written on error.
  status try_plan(const media::layout& lay, const std::vector<index_t>& unit_budgets, const inputs& in, vtr::plan& out,
                  workspace& ws, std::vector<vtr::plan>* unit_plans = nullptr) const {
    VTR_TRY(check_budgets(lay, unit_budgets));
    auto nres = detail::source_count(in);
    if (!nres) return nres.error();
    const index_t n = nres.value();
    if (n != lay.size())
      return fail("the scores cover ", n, " tokens; the layout's sequence has ", lay.size());
    workspace::scope sc(ws);
    float* s = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    VTR_TRY(detail::resolve_scores(in, n, p_.heads, p_.rows, p_.mode, ws, s));
    const auto& units = lay.units();
    index_t most = 1;
    for (const media::unit& u : units) most = std::max(most, u.present);
    float* us = ws.take<float>(static_cast<std::size_t>(most));
    index_t* top = ws.take<index_t>(static_cast<std::size_t>(most));
    std::vector<vtr::plan> per(units.size());
    for (std::size_t u = 0; u < units.size(); ++u) {
      index_t m = 0;
      for (index_t q : units[u].rows)
        if (q != media::unit::absent) us[m++] = s[q];
      const index_t k = unit_budgets[u];
      auto got = ops::try_topk(vector_view<const float>(us, {m}), k, ops::order::ascending, vector_view<index_t>(top, {k}), ws);
      if (!got) return fail(lay.describe_unit(static_cast<index_t>(u)), ": ", got.error().message());
      per[u] = vtr::plan::select(m, std::vector<index_t>(top, top + k));
    }
    media::combine_options opt;
    opt.space = media::unit_space::present;
    VTR_TRY(media::try_combine(lay, per, out, opt));
    if (unit_plans) *unit_plans = std::move(per);
    return {};
  }

  vtr::plan plan(const media::layout& lay, const std::vector<index_t>& unit_budgets, const inputs& in, workspace& ws,
                 std::vector<vtr::plan>* unit_plans = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan(lay, unit_budgets, in, p, ws, unit_plans));
    return p;
  }

 private:
  static status check_budgets(const media::layout& lay, const std::vector<index_t>& b) {
    auto r = media::try_budgets_given(lay, b);
    if (!r) return r.error();
    return {};
  }
  params_type p_{};
};

}  // namespace policies
VTR_NAMESPACE_END
