// vtr — Fit&Prune inference: per-layer deletion of visual tokens (ALGORITHMS §3.3.1-§3.3.3, §3.3.6).
//
// At every decoder layer ℓ with recipe[ℓ] > 0 (prefill only, n > 0), after layer ℓ's attention ran on all
// current tokens:
//   Â       = max over heads                                   (§2.2)
//   cross_j = Σ_{suffix rows t} Â[t][j]        (not divided)   (§2.3 sum_rows)
//   self_j  = Σ_{visual rows i} Â[i][j] / n                   (§2.3 colmean_block)
//   delete  = bottomk(cross ⊙ self, recipe[ℓ]) in ascending-score order (ties → lower index, §0.4)
// The engine then drops the deleted rows of the attention output and of the residual, and runs o-proj and
// the MLP of ℓ on the survivors; survivors keep their ORIGINAL position ids (gathered, §3.3.3), which is
// what applying the returned plan to the position-id vector gives. K/V of layer ℓ keep every token that
// entered ℓ (deleted tokens still served as keys at ℓ).
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/plan.hpp"
#include "../../core/stage.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/topk.hpp"
#include "../../simd/simd.hpp"
#include "recipes.hpp"
#include "scores.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace fitprune {

/// Defaults are the reference's (§3.3.7): recipe key 60, the shipped TextVQA setting.
struct layer_params {
  /// Recipe key = calibration FLOPs-reduction target in percent (§3.3.4): 0, 10, 20, …, 90 or 55. An
  /// unknown key is an error (§2.5). Ignored when `recipe` is non-empty.
  int reduction = default_recipe_key;
  /// A caller-supplied recipe (deletion count per layer, e.g. from fitprune::fit), any number of layers.
  /// Entries must be ≥ 0. Overrides `reduction` when non-empty.
  std::vector<index_t> recipe{};
};

/// One Fit&Prune deletion event at decoder layer ℓ (ALGORITHMS §3.3.2).
class layer {
 public:
  using params_type = layer_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;   // cross uses the question/suffix rows
  static constexpr bool count_is_static = true;        // n − min(recipe[ℓ], n) visual tokens survive

  layer() = default;
  explicit layer(params_type p) : p_(std::move(p)) {}
  const params_type& params() const noexcept { return p_; }

  /// The recipe in use: the custom one or the table row of `reduction`. Errors: unknown key, negative entry.
  status try_recipe_view(vector_view<const index_t>& out) const {
    if (!p_.recipe.empty()) {
      for (std::size_t i = 0; i < p_.recipe.size(); ++i)
        if (p_.recipe[i] < 0)
          return fail("argument 'params.recipe'[", i, "] = ", p_.recipe[i], " is negative; a recipe holds deletion counts");
      out = view_of(p_.recipe);
      return {};
    }
    return fitprune::try_recipe(p_.reduction, out);
  }

  /// recipe[ℓ]: the deletion count requested at `layer_index`. Errors: as try_recipe_view, ℓ outside the recipe.
  result<index_t> deletions(index_t layer_index) const {
    vector_view<const index_t> r;
    VTR_TRY(try_recipe_view(r));
    if (layer_index < 0 || layer_index >= r.extent(0))
      return fail("argument 'layer_index' = ", layer_index, " is outside the recipe's ", r.extent(0), " layers");
    return r(layer_index);
  }

  /// Visual tokens left after layer ℓ: n − min(recipe[ℓ], n) (§1.5).
  result<index_t> visual_kept_count(index_t n_visual, index_t layer_index) const {
    if (n_visual < 0) return fail("argument 'n_visual' = ", n_visual, " must be non-negative");
    auto k = deletions(layer_index);
    if (!k) return k.error();
    return n_visual - std::min(k.value(), n_visual);
  }

  /// Rows of the plan: the whole current sequence minus the deleted visual tokens,
  /// prefix + n − min(recipe[ℓ], n) + n_suffix (§1.5).
  result<index_t> kept_count(index_t prefix, index_t n_visual, index_t n_suffix, index_t layer_index) const {
    if (prefix < 0 || n_suffix < 0)
      return fail("spans 'prefix' = ", prefix, ", 'n_suffix' = ", n_suffix, " must be non-negative");
    if (n_visual >= 0) VTR_TRY(detail::check_spans(layer_attention{{}, n_visual, n_suffix, prefix}));
    auto v = visual_kept_count(n_visual, layer_index);
    if (!v) return v.error();
    return prefix + v.value() + n_suffix;
  }

  /// What the engine supplies at layer ℓ (§1.2, §1.3): the attention and the spans of the current
  /// (already reduced) sequence [prefix | n visual | n_suffix].
  struct inputs {
    ops::attention_input attn{};  ///< probs [H][n+N_t][n], or Q/K (see fitprune::layer_attention)
    index_t n_visual = 0;         ///< n: current visual count (upstream resets it to 576 per image)
    index_t n_suffix = 0;         ///< N_t: all tokens after the visual span
    index_t layer_index = 0;      ///< ℓ: decoder layer, indexes the recipe
    index_t prefix = 35;          ///< P: tokens before the visual span (§3.3.7 default 35)
  };

  /// Optional extra outputs. When the layer is skipped (recipe[ℓ] = 0 or n = 0) the score vectors are
  /// empty, deleted_rel is empty and kept_rel is 0…n−1.
  struct details {
    std::vector<index_t> deleted_rel;  ///< ascending-score order (§0.3 exception), relative to the visual span
    std::vector<index_t> kept_rel;     ///< survivors, ascending, relative to the visual span
    std::vector<float> cross;          ///< [n] Σ_suffix max_h A
    std::vector<float> self;           ///< [n] Σ_visual max_h A / n
    std::vector<float> score;          ///< [n] cross·self
  };

  /// Fills `out` with the survivors of the current sequence (input_rows = prefix + n + n_suffix), ascending:
  /// prefix rows, surviving visual rows, suffix rows. Applying it to hidden states, residual rows and
  /// position ids gives §3.3.3's gathered layout. Attention is not read when the layer is skipped.
  /// Errors (nothing written): unknown key / bad recipe, ℓ outside the recipe, negative spans, attention of
  /// the wrong shape, non-finite attention.
  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra = nullptr) const {
    auto kr = deletions(in.layer_index);
    if (!kr) return kr.error();
    const layer_attention la{in.attn, in.n_visual, in.n_suffix, in.prefix};
    VTR_TRY(detail::check_spans(la));
    const index_t n = in.n_visual, P = in.prefix, Nt = in.n_suffix;
    const index_t k = std::min(kr.value(), n);  // §3.3.8: recipe[ℓ] > n deletes all n

    workspace::scope sc(ws);
    index_t* del = nullptr;
    float *cross = nullptr, *self = nullptr, *score = nullptr;
    if (k > 0) {
      // §3.3.6: only layers with n > 0 and recipe[ℓ] > 0 read the attention.
      tensor_view<const float, 3> p;
      VTR_TRY(detail::resolve_visual_attention<Arch>(la, ws, p));
      cross = ws.take<float>(static_cast<std::size_t>(n));
      self = ws.take<float>(static_cast<std::size_t>(n));
      score = ws.take<float>(static_cast<std::size_t>(n));
      VTR_TRY(detail::column_terms<Arch>(p, n, Nt, detail::cross_norm::sum, cross, self, ws));
      for (index_t j = 0; j < n; ++j) score[j] = cross[j] * self[j];
      del = ws.take<index_t>(static_cast<std::size_t>(k));
      auto got = ops::try_bottomk(vector_view<const float>(score, {n}), k, ops::order::by_rank, vector_view<index_t>(del, {k}), ws);
      if (!got) return got.error();
    }

    // All checks passed: write the outputs.
    std::uint8_t* gone = ws.take<std::uint8_t>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    for (index_t j = 0; j < n; ++j) gone[j] = 0;
    for (index_t i = 0; i < k; ++i) gone[del[i]] = 1;
    out.reset(P + n + Nt);
    out.origin.reserve(static_cast<std::size_t>(P + n - k + Nt));
    for (index_t r = 0; r < P; ++r) out.add_copy(r);
    for (index_t j = 0; j < n; ++j)
      if (!gone[j]) out.add_copy(P + j);
    for (index_t t = 0; t < Nt; ++t) out.add_copy(P + n + t);
    if (extra) {
      extra->deleted_rel.assign(del, del + k);
      extra->kept_rel.clear();
      for (index_t j = 0; j < n; ++j)
        if (!gone[j]) extra->kept_rel.push_back(j);
      if (k > 0) {
        extra->cross.assign(cross, cross + n);
        extra->self.assign(self, self + n);
        extra->score.assign(score, score + n);
      } else {
        extra->cross.clear();
        extra->self.clear();
        extra->score.clear();
      }
    }
    return {};
  }

  /// Throwing form of try_plan (vtr::invalid_input).
  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra));
    return p;
  }

 private:
  params_type p_{};
};

}  // namespace fitprune
VTR_NAMESPACE_END
