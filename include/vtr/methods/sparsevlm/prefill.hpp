// vtr — the SparseVLM driver for one prefill (ALGORITHMS §3.2.6 pseudocode): it carries the rater set,
// the spans and the position ids across the sparse layers (2, 6, 15; v1 also 19) and runs each event.
//
//   sparsevlm::prefill run{{}, /*prefix=*/35, /*n_visual=*/576, /*n_text=*/40};
//   run.select_raters(x0, ws);                         // layer-0 input embeddings [L, D]
//   for (ℓ = 0…31) {
//     Y = layer_ℓ(X, run.positions());                  // engine
//     if (run.is_sparse_layer(ℓ)) {
//       auto vis = run.prune(ℓ, attn_ℓ, Y.visual_rows, jitter, ws);   // plan over the visual span
//       X = [Y.prefix | apply(vis, Y.visual_rows) | Y.suffix]        // or sparsevlm::sequence_plan(vis, P, Nt)
//     } else X = Y;
//   }
#pragma once

#include "layer.hpp"
#include "raters.hpp"

#include <numeric>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace sparsevlm {

/// Where the visual tokens sit in the current sequence: [prefix | v_num visual | n_text text].
struct spans {
  index_t prefix = 0;  ///< P (v_start); never changes
  index_t v_num = 0;   ///< current visual count
  index_t n_text = 0;  ///< every token after the image; never pruned
  index_t text_start() const noexcept { return prefix + v_num; }
  index_t length() const noexcept { return prefix + v_num + n_text; }
};

template <version V>
class basic_prefill {
 public:
  using layer_type = basic_layer<V>;
  using params_type = prune_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  static constexpr bool count_is_static = layer_type::count_is_static;

  basic_prefill() = default;
  /// Starts a prefill with the given spans (throws vtr::invalid_input on bad spans or parameters).
  basic_prefill(params_type p, index_t prefix, index_t n_visual, index_t n_text) { raise_if_error(try_reset(std::move(p), prefix, n_visual, n_text)); }

  /// Starts over for a new prefill (capacity of the internal buffers is kept).
  status try_reset(params_type p, index_t prefix, index_t n_visual, index_t n_text) {
    VTR_TRY(detail::check_params(V, p));
    if (prefix < 0 || n_visual < 0 || n_text < 0)
      return fail("spans prefix = ", prefix, ", n_visual = ", n_visual, ", n_text = ", n_text, " must be >= 0");
    layer_ = layer_type(std::move(p));
    spans_ = {prefix, n_visual, n_text};
    raters_.clear();
    has_raters_ = false;
    last_layer_ = -1;
    positions_.resize(static_cast<std::size_t>(spans_.length()));
    std::iota(positions_.begin(), positions_.end(), index_t(0));
    return {};
  }

  const params_type& params() const noexcept { return layer_.params(); }
  const spans& current() const noexcept { return spans_; }
  /// The rater set in use (text-relative, ascending).
  const std::vector<index_t>& raters() const noexcept { return raters_; }
  /// Position ids of the current sequence: 0…L−1 for v1/v1.5 (dense renumbering after every event),
  /// the original ids of the survivors for v2 (§1.4).
  const std::vector<index_t>& positions() const noexcept { return positions_; }
  static constexpr bool is_sparse_layer(index_t layer_idx) noexcept { return sparsevlm::is_sparse_layer(V, layer_idx); }

  /// §3.2.3 from the layer-0 input sequence x0 [L, D] (L = the current length, before any event).
  template <class Arch = simd::default_arch>
  status try_select_raters(matrix_view<const float> x0, workspace& ws) {
    VTR_TRY(expect_shape("x0", x0, {spans_.length(), -1}));
    std::vector<index_t> r;
    r.swap(raters_);
    const status s = sparsevlm::try_select_raters<Arch>(x0, spans_.prefix, spans_.v_num, r, ws);
    raters_.swap(r);
    if (!s) return s;
    has_raters_ = true;
    return check_raters_now();
  }
  template <class Arch = simd::default_arch>
  void select_raters(matrix_view<const float> x0, workspace& ws) { raise_if_error(try_select_raters<Arch>(x0, ws)); }

  /// Uses a rater set computed elsewhere (strictly ascending text-relative indices).
  status try_set_raters(vector_view<const index_t> r) {
    VTR_TRY(validate_view("raters", r));
    index_t n = 0;
    if (r.extent(0) > 0 || layer_.params().on_empty_raters == empty_raters::error)
      VTR_TRY(detail::check_raters(r, spans_.n_text, layer_.params().on_empty_raters, n));
    raters_.assign(r.data_handle(), r.data_handle() + r.extent(0));
    if (r.stride(0) != 1)
      for (index_t i = 0; i < r.extent(0); ++i) raters_[static_cast<std::size_t>(i)] = r(i);
    has_raters_ = true;
    return check_raters_now();
  }
  void set_raters(vector_view<const index_t> r) { raise_if_error(try_set_raters(r)); }

  /// Visual count after the event at `layer_idx` from the current state (§1.5); a layer that is not sparse, or
  /// already passed, leaves it unchanged. v1 is data-dependent: an error (use kept_count_bound).
  result<index_t> kept_count(index_t layer_idx) const {
    if (!is_sparse_layer(layer_idx) || layer_idx <= last_layer_) return spans_.v_num;
    return layer_.kept_count(spans_.v_num, layer_idx);
  }
  result<index_t> kept_count_bound(index_t layer_idx) const {
    if (!is_sparse_layer(layer_idx) || layer_idx <= last_layer_) return spans_.v_num;
    return layer_.kept_count_bound(spans_.v_num, layer_idx);
  }

  /// Runs the event at sparse layer `layer_idx` on the current spans: attn as basic_layer::inputs::attn
  /// describes (text rows [Nt] of the current sequence; form (b) keys in current sequence order),
  /// hidden_vis = the layer's output rows of the current visual span [v_num, D], jitter as in inputs.
  /// Writes the plan over the visual span and advances the state (spans, positions). Layers must come in
  /// increasing order; on error the state and `out` are unchanged.
  template <class Arch = simd::default_arch>
  status try_prune(index_t layer_idx, const ops::attention_input& attn, matrix_view<const float> hidden_vis,
                   vector_view<const float> jitter, plan& out, workspace& ws, event_details* extra = nullptr) {
    if (!is_sparse_layer(layer_idx)) return detail::bad_layer(V, layer_idx);
    if (layer_idx <= last_layer_)
      return fail("layer ", layer_idx, " comes after the event already run at layer ", last_layer_,
                  ": SparseVLM's events run once each, in increasing layer order");
    if (!has_raters_)
      return fail("no rater set: call select_raters (layer-0 inputs) or set_raters before the first event");
    typename layer_type::inputs in;
    in.attn = attn;
    in.raters = view_of(raters_);
    in.hidden_vis = hidden_vis;
    in.jitter = jitter;
    in.layer = layer_idx;
    in.v_start = spans_.prefix;
    in.v_num = spans_.v_num;
    if (V == version::v2) {
      in.vis_positions = vector_view<const index_t>(positions_.data() + spans_.prefix, {spans_.v_num});
      in.text_positions = vector_view<const index_t>(positions_.data() + spans_.text_start(), {spans_.n_text});
    }
    plan p;
    p.origin.swap(out.origin);  // reuse the caller's capacity
    VTR_TRY(restore_on_error(layer_.template try_plan<Arch>(in, p, ws, extra), p, out));
    out = std::move(p);
    // Advance: v1/v1.5 renumber densely (§1.4); v2 keeps the original ids of the survivors.
    const index_t v_new = out.size();
    if (V == version::v2) {
      index_t w = spans_.prefix;
      for (index_t r = 0; r < v_new; ++r) positions_[static_cast<std::size_t>(w++)] = positions_[static_cast<std::size_t>(spans_.prefix + out.origin[r])];
      for (index_t t = 0; t < spans_.n_text; ++t)
        positions_[static_cast<std::size_t>(w++)] = positions_[static_cast<std::size_t>(spans_.text_start() + t)];
      positions_.resize(static_cast<std::size_t>(w));
    }
    spans_.v_num = v_new;
    if (V != version::v2) {
      positions_.resize(static_cast<std::size_t>(spans_.length()));
      std::iota(positions_.begin(), positions_.end(), index_t(0));
    }
    last_layer_ = layer_idx;
    return {};
  }
  template <class Arch = simd::default_arch>
  plan prune(index_t layer_idx, const ops::attention_input& attn, matrix_view<const float> hidden_vis, vector_view<const float> jitter,
             workspace& ws, event_details* extra = nullptr) {
    plan p;
    raise_if_error(try_prune<Arch>(layer_idx, attn, hidden_vis, jitter, p, ws, extra));
    return p;
  }

 private:
  static status restore_on_error(status s, plan& p, plan& out) {
    if (!s) p.origin.swap(out.origin);
    return s;
  }
  status check_raters_now() const {
    if (raters_.empty() && layer_.params().on_empty_raters == empty_raters::error)
      return fail("the rater set is empty: no text token rates the visual tokens (all s_t equal, or one text token), ",
                  "so every score would be NaN (ALGORITHMS §3.2.3); set params.on_empty_raters = ",
                  "empty_raters::use_all_text to let every text row rate");
    return {};
  }

  layer_type layer_{};
  spans spans_{};
  std::vector<index_t> raters_;
  bool has_raters_ = false;
  index_t last_layer_ = -1;
  std::vector<index_t> positions_;
};

using prefill = basic_prefill<version::v1_5>;     ///< SparseVLM v1.5 (library default)
using prefill_v1 = basic_prefill<version::v1>;    ///< v1, rank rule, layers 2, 6, 15, 19
using prefill_plus = basic_prefill<version::v2>;  ///< SparseVLM+ (v2)

}  // namespace sparsevlm
VTR_NAMESPACE_END
