// vtr — one SparseVLM prune event at a sparse layer ℓ (ALGORITHMS §3.2.4-§3.2.8).
//
//   score[j] = mean_h mean_{r ∈ R} A_ℓ[h][text_start + r][v_start + j]        (§3.2.4; v2: see below)
//   k        = min(table[retained][ℓ], v_num − 1)       (v1.5, v2)   | rank rule (v1, §3.2.7)
//   keep     = topk(score, k), ascending
//   recycling (v1, v1.5; §3.2.5): pruned = the rest, ascending; m = ⌊0.3·|pruned|⌋ + 1 of them in score
//            order; their layer-ℓ OUTPUT rows are DPC-kNN clustered (k = M = c = ⌊m/10⌋ + 1) and each
//            cluster becomes Σx / (count + 1e-6)
//   v2 / SparseVLM+ (§3.2.8): A ← A / G (RoPE-only score matrix, unguarded), then the 14 heads with the
//            largest rater→visual total are averaged instead of all heads; no recycling.
//
// The event returns a plan over the current visual span (input_rows = v_num): the kept rows in
// ascending order (origin = visual index), then the c cluster rows (origin = plan::appended, sources =
// the recycled visual indices). The new visual span is exactly that plan's rows (§3.2.6); the caller
// applies it to the layer-ℓ output rows of the visual span (vtr::apply) or expands it over the whole
// sequence with sparsevlm::sequence_plan. Positions: dense renumbering (v1, v1.5) or the original ids
// of the kept tokens (v2, a pure selection plan) — §1.4.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/plan.hpp"
#include "../../core/stage.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/attention.hpp"
#include "../../ops/attention_input.hpp"
#include "../../ops/cluster.hpp"
#include "../../ops/rank.hpp"
#include "../../ops/reduce.hpp"
#include "../../ops/rope.hpp"
#include "../../ops/topk.hpp"
#include "params.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace sparsevlm {

/// Optional extra outputs of one event.
struct event_details {
  std::vector<float> scores;        ///< [v_num] the rater score of every current visual token
  std::vector<index_t> kept;        ///< [k] kept visual indices, ascending
  std::vector<index_t> recycled;    ///< [m] recycled visual indices, descending score (§0.3)
  ops::dpc_result clusters;         ///< DPC of the recycled rows: labels [m] and centers [c] index `recycled`
  std::vector<index_t> heads;       ///< v2: the priority heads, rank order
  index_t rank = -1;                ///< v1: rank_f32 of the rater × visual score block
  event_counts counts{};            ///< v_num, k, pruned, m, c, after
  plan cluster_plan{};              ///< scratch: the §2.8 cluster-mean plan over the recycled rows
};

/// What the engine supplies at the sparse layer (ALGORITHMS §1.2, §1.3).
struct event_inputs {
  /// Layer ℓ's attention (causal + RoPE, 1/√d_h), either form:
  ///  (a) probabilities [H][Nt][v_num]: the text rows (every token after the image, text-relative) ×
  ///      the current visual columns — a strided view into the engine's [H][L][L] matrix is fine;
  ///      only the rater rows are read;
  ///  (b) q [Nt][H][d] of the text rows with their absolute sequence positions, and k [keys][H_kv][d]
  ///      of every key in sequence order (visual key j is row v_start + j); only the rater rows are
  ///      recomputed (§2.1).
  ops::attention_input attn{};
  /// Rater set R (text-relative, strictly ascending), from select_raters on the layer-0 inputs.
  vector_view<const index_t> raters{};
  /// [v_num][D] layer-ℓ OUTPUT rows of the current visual tokens (recycling; unused by v2).
  matrix_view<const float> hidden_vis{};
  /// DPC density jitter (§0.10): empty (none) or at least m values in [0, 1); the first m are used.
  vector_view<const float> jitter{};
  index_t layer = 2;    ///< the decoder layer ℓ (selects the keep-table column)
  index_t v_start = 0;  ///< P: sequence index of visual token 0 (form (b) key columns, v2 default positions)
  index_t v_num = 0;    ///< current visual count
  /// v2 only: RoPE position ids of the visual tokens [v_num] and of the text rows [Nt]. Empty: dense,
  /// v_start + j and v_start + v_num + r.
  vector_view<const index_t> vis_positions{};
  vector_view<const index_t> text_positions{};
};


/// One prune event. V selects the upstream code (ALGORITHMS §0.1); `layer` is v1.5 (the default).
template <version V>
class basic_layer {
 public:
  using params_type = prune_params;
  using details = event_details;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  /// v1's count depends on the rank of the score matrix (§1.5); the table versions know it from shapes.
  static constexpr bool count_is_static = V != version::v1;
  static constexpr version variant = V;

  basic_layer() = default;
  explicit basic_layer(params_type p) : p_(std::move(p)) {}
  const params_type& params() const noexcept { return p_; }

  /// The counts of the event at `layer` on v_num visual tokens (§1.5): k, m, c and `after`, the visual
  /// count the following layers see. v1 (data-dependent) is an error: use kept_count_bound.
  result<event_counts> counts(index_t v_num, index_t layer_idx) const {
    VTR_TRY(detail::check_params(V, p_));
    if (v_num < 0) return fail("argument 'v_num' = ", v_num, " must be >= 0");
    if (V == version::v1)
      return fail("SparseVLM v1's keep count depends on the rank of the score matrix (count_is_static = false); ",
                  "use kept_count_bound");
    auto entry = detail::table_entry(V, p_, layer_idx);
    if (!entry) return entry.error();
    if (v_num == 0) return counts_for(0, 0, false);  // §3.2.10: nothing to prune
    const index_t k = std::min(entry.value(), v_num - 1);
    return counts_for(v_num, k, V != version::v2);
  }

  /// Visual tokens after the event (k + c for v1.5, k for v2; v_num = 0 stays 0). Shapes only (§1.5).
  result<index_t> kept_count(index_t v_num, index_t layer_idx) const {
    auto c = counts(v_num, layer_idx);
    if (!c) return c.error();
    return c.value().after;
  }

  /// An upper bound of the visual count after the event, for every version (v1: v_num — an event keeps
  /// at most v_num − 1 and recycles at least one cluster, or keeps all).
  result<index_t> kept_count_bound(index_t v_num, index_t layer_idx) const {
    VTR_TRY(detail::check_params(V, p_));
    if (v_num < 0) return fail("argument 'v_num' = ", v_num, " must be >= 0");
    if (!is_sparse_layer(V, layer_idx)) return detail::bad_layer(V, layer_idx);
    if (V == version::v1) return v_num;
    return kept_count(v_num, layer_idx);
  }

  /// What the engine supplies at the sparse layer (event_inputs).
  using inputs = event_inputs;

  /// Runs the event. On error nothing is written to `out` or `extra`.
  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, plan& out, workspace& ws, details* extra = nullptr) const;

  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra));
    return p;
  }

 private:
  params_type p_{};
};

using layer = basic_layer<version::v1_5>;     ///< SparseVLM v1.5 (library default)
using layer_v1 = basic_layer<version::v1>;    ///< SparseVLM v1, rank rule
using layer_plus = basic_layer<version::v2>;  ///< SparseVLM+ (v2), opt-in

namespace detail {

/// Validated view of the attention block the scores read: A[h][i][j] over `nrows` rows, where row i is
/// text row rows[i] (or i itself when rows is empty), and the v_num visual columns.
struct score_block {
  tensor_view<const float, 3> attn{};
  vector_view<const index_t> rows{};      // empty = every row of attn
  vector_view<const index_t> text_ids{};  // the text row of each block row (empty = identity)
  index_t nrows = 0;
};

inline status check_raters(const vector_view<const index_t>& raters, index_t n_text, empty_raters policy, index_t& count) {
  VTR_TRY(validate_view("raters", raters));
  const index_t n = raters.extent(0);
  for (index_t i = 0; i < n; ++i) {
    if (raters(i) < 0 || raters(i) >= n_text)
      return fail("argument 'raters'[", i, "] = ", raters(i), " is outside the ", n_text, " text rows");
    if (i > 0 && raters(i) <= raters(i - 1))
      return fail("argument 'raters' must be strictly ascending (as select_raters returns it): raters[", i - 1,
                  "] = ", raters(i - 1), ", raters[", i, "] = ", raters(i));
  }
  if (n == 0) {
    if (policy == empty_raters::error)
      return fail("argument 'raters' is empty: no text token rates the visual tokens (all s_t equal, or one text ",
                  "token), so every score would be NaN (ALGORITHMS §3.2.3); set params.on_empty_raters = ",
                  "empty_raters::use_all_text to let every text row rate");
    if (n_text == 0)
      return fail("argument 'raters' is empty and there are no text rows (Nt = 0): nothing can rate the visual tokens");
    count = n_text;
    return {};
  }
  count = n;
  return {};
}

/// Writes the §3.2.8 step 1-2 scores (v2) given the raw block: corrected copy, priority heads, mean.
template <class Arch>
status v2_scores(const prune_params& p, const score_block& b, const vector_view<const index_t>& text_pos,
                 const vector_view<const index_t>& vis_pos, float* score, std::vector<index_t>* heads_out, workspace& ws) {
  const index_t H = b.attn.extent(0), R = b.nrows, v = b.attn.extent(2);
  workspace::scope sc(ws);
  // Positions of the rated rows.
  index_t* rpos = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(R, 1)));
  for (index_t i = 0; i < R; ++i) rpos[i] = text_pos(b.text_ids.extent(0) ? b.text_ids(i) : i);
  float* g = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(R * v, 1)));
  VTR_TRY(ops::try_rope_gravity(vector_view<const index_t>(rpos, {R}), vis_pos, p.head_dim, p.rope_base,
                                matrix_view<float>(g, {R, v}), ws));
  // Step 1: A / G elementwise (unguarded, as upstream), only on the rater rows × visual columns.
  float* c = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(H * R * v, 1)));
  for (index_t h = 0; h < H; ++h)
    for (index_t i = 0; i < R; ++i) {
      const float* a = b.attn.data_handle() + h * b.attn.stride(0) + (b.rows.extent(0) ? b.rows(i) : i) * b.attn.stride(1);
      float* o = c + (h * R + i) * v;
      const float* gi = g + i * v;
      for (index_t j = 0; j < v; ++j) o[j] = a[j] / gi[j];
    }
  const tensor_view<const float, 3> corrected(c, {H, R, v});
  // Step 2: the priority heads (largest rater→visual total, §0.4 ties), averaged in their rank order.
  const index_t nh = std::min(p.priority_heads, H);
  index_t* heads = ws.take<index_t>(static_cast<std::size_t>(nh));
  auto got = ops::try_top_heads<Arch>(corrected, {}, nh, vector_view<index_t>(heads, {nh}), ws);
  if (!got) return fail("the gravity-corrected attention (SparseVLM+, ALGORITHMS §3.2.8) ", got.error().message());
  float* sel = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(nh * R * v, 1)));
  for (index_t t = 0; t < nh; ++t) std::memcpy(sel + t * R * v, c + heads[t] * R * v, sizeof(float) * static_cast<std::size_t>(R * v));
  VTR_TRY(ops::try_reduce_attention<Arch>(tensor_view<const float, 3>(sel, {nh, R, v}), ops::head_reduce::mean,
                                          ops::row_reduce::mean, vector_view<float>(score, {v}), ws));
  if (heads_out) heads_out->assign(heads, heads + nh);
  return {};
}

}  // namespace detail

template <version V>
template <class Arch>
status basic_layer<V>::try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra) const {
  // ---- validation (nothing is written before it all passes) ----
  VTR_TRY(detail::check_params(V, p_));
  if (!is_sparse_layer(V, in.layer)) return detail::bad_layer(V, in.layer);
  const index_t v = in.v_num;
  if (v < 0) return fail("argument 'v_num' = ", v, " must be >= 0");
  if (in.v_start < 0) return fail("argument 'v_start' = ", in.v_start, " must be >= 0");
  const ops::attention_input& at = in.attn;
  const bool probs = at.has_probs();
  index_t n_text = 0, heads = 0;
  if (probs) {
    VTR_TRY(expect_shape("attn.probs", at.probs, {-1, -1, v}));
    n_text = at.probs.extent(1);
    heads = at.probs.extent(0);
  } else {
    VTR_TRY(validate_view("attn.q", at.q));
    VTR_TRY(validate_view("attn.k", at.k));
    n_text = at.q.extent(0);
    heads = at.q.extent(1);
    VTR_TRY(expect_shape("attn.q_positions", at.q_positions, {n_text}));
    if (v > at.k.extent(0) || in.v_start > at.k.extent(0) - v)  // no overflow for a huge v_start
      return fail("the visual span ", span_text{in.v_start, v}, " does not fit the ", at.k.extent(0),
                  " keys of 'attn.k' ", shape_of(at.k));
    if (V == version::v2 && at.q.extent(2) != p_.head_dim)
      return fail("argument 'attn.q' ", shape_of(at.q), " has head dimension ", at.q.extent(2), " but params.head_dim = ",
                  p_.head_dim);
  }
  if (heads < 1) return fail("the attention has no heads (", probs ? "attn.probs" : "attn.q", " has 0 in its head dimension)");
  index_t n_rated = 0;
  VTR_TRY(detail::check_raters(in.raters, n_text, p_.on_empty_raters, n_rated));
  constexpr bool recycles = V != version::v2;
  if (recycles) VTR_TRY(expect_shape("hidden_vis", in.hidden_vis, {v, -1}));
  if (recycles && v > 0 && in.hidden_vis.extent(1) < 1)
    return fail("argument 'hidden_vis' has shape ", shape_of(in.hidden_vis), ": recycling needs at least one feature");
  VTR_TRY(validate_view("jitter", in.jitter));
  if (V == version::v2) {
    // The default positions run up to v_start + v_num + Nt − 1: they must fit index_t.
    if (v > std::numeric_limits<index_t>::max() - n_text || in.v_start > std::numeric_limits<index_t>::max() - (v + n_text))
      return fail("argument 'v_start' = ", in.v_start, " with ", v, " visual and ", n_text,
                  " text tokens gives positions beyond index_t");
    if (in.vis_positions.extent(0) != 0) VTR_TRY(expect_shape("vis_positions", in.vis_positions, {v}));
    if (in.text_positions.extent(0) != 0) VTR_TRY(expect_shape("text_positions", in.text_positions, {n_text}));
  }

  details local;
  details& d = extra ? *extra : local;
  if (v == 0) {  // §3.2.10: no visual tokens — keep everything (nothing), no recycling
    out.reset(0);
    d.scores.clear();
    d.kept.clear();
    d.recycled.clear();
    d.clusters = {};
    d.heads.clear();
    d.rank = V == version::v1 ? 0 : -1;
    d.counts = counts_for(0, 0, false);
    return {};
  }

  workspace::scope sc(ws);
  // ---- the attention block of the rating rows ----
  detail::score_block b;
  b.nrows = n_rated;
  const bool all_rows = in.raters.extent(0) == 0;
  b.text_ids = in.raters;
  if (probs) {
    b.attn = at.probs;
    b.rows = all_rows ? vector_view<const index_t>{} : in.raters;
  } else {
    // Recompute only the rating rows (§2.1): gather their q rows and positions, softmax over all keys,
    // then look at the visual columns.
    ops::attention_input sub = at;
    if (!all_rows) {
      const index_t H = at.q.extent(1), dh = at.q.extent(2);
      float* qb = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n_rated * H * dh, 1)));
      index_t* pb = ws.take<index_t>(static_cast<std::size_t>(n_rated));
      for (index_t i = 0; i < n_rated; ++i) {
        const index_t r = in.raters(i);
        for (index_t h = 0; h < H; ++h)
          std::memcpy(qb + (i * H + h) * dh, at.q.data_handle() + r * at.q.stride(0) + h * at.q.stride(1),
                      sizeof(float) * static_cast<std::size_t>(dh));
        pb[i] = at.q_positions(r);
      }
      sub = ops::attention_input::from_qk(tensor_view<const float, 3>(qb, {n_rated, H, dh}), at.k,
                                          vector_view<const index_t>(pb, {n_rated}));
    }
    tensor_view<const float, 3> full{};
    VTR_TRY(ops::try_resolve_attention<Arch>(sub, ops::attention_mode{}, ws, full));
    b.attn = tensor_view<const float, 3>(full.data_handle() + in.v_start, {full.extent(0), full.extent(1), v}, full.strides());
    b.rows = {};
  }

  // ---- scores ----
  float* score = ws.take<float>(static_cast<std::size_t>(v));
  const vector_view<float> sv(score, {v});
  index_t rank = -1;
  std::vector<index_t> heads_sel;
  if constexpr (V == version::v2) {
    // Position ids: given, or dense from the spans.
    index_t* vp = nullptr;
    index_t* tp = nullptr;
    vector_view<const index_t> vis_pos = in.vis_positions, text_pos = in.text_positions;
    if (vis_pos.extent(0) == 0) {
      vp = ws.take<index_t>(static_cast<std::size_t>(v));
      for (index_t j = 0; j < v; ++j) vp[j] = in.v_start + j;
      vis_pos = vector_view<const index_t>(vp, {v});
    }
    if (text_pos.extent(0) == 0) {
      tp = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(n_text, 1)));
      for (index_t r = 0; r < n_text; ++r) tp[r] = in.v_start + v + r;
      text_pos = vector_view<const index_t>(tp, {n_text});
    }
    VTR_TRY(detail::v2_scores<Arch>(p_, b, text_pos, vis_pos, score, &heads_sel, ws));
  } else if constexpr (V == version::v1) {
    // S = head-mean rows of the raters [|R|][v]; rank_f32(S); score = its column mean (score.py:27-31 @91fb6d9).
    float* s = ws.take<float>(static_cast<std::size_t>(n_rated * v));
    for (index_t i = 0; i < n_rated; ++i) {
      const index_t row = b.rows.extent(0) ? b.rows(i) : i;
      VTR_TRY(ops::try_reduce_attention<Arch>(b.attn, ops::head_reduce::mean, ops::row_reduce::mean,
                                              vector_view<float>(s + i * v, {v}), ws, vector_view<const index_t>(&row, {1})));
    }
    const matrix_view<const float> sm(s, {n_rated, v});
    auto r = ops::try_matrix_rank(sm);
    if (!r) return fail("the rater score block of 'attn' ", r.error().message());
    rank = r.value();
    VTR_TRY(ops::try_column_mean<Arch>(sm, sv));
  } else {
    VTR_TRY(ops::try_reduce_attention<Arch>(b.attn, ops::head_reduce::mean, ops::row_reduce::mean, sv, ws, b.rows));
  }
  for (index_t j = 0; j < v; ++j)
    if (!std::isfinite(score[j]))
      return fail("the attention gives a non-finite score (", score[j], ") for visual token ", j, " of ", v,
                  V == version::v2 ? " (SparseVLM+ divides by the RoPE-only scores unguarded, ALGORITHMS §3.2.8)" : "");

  // ---- keep count (§3.2.4 / §3.2.7) ----
  index_t k = 0;
  if constexpr (V == version::v1) {
    k = rank_rule_keep(rank, v, p_.scale, p_.bias);
  } else {
    k = std::min(detail::table_entry(V, p_, in.layer).value(), v - 1);
  }
  const event_counts cnt = counts_for(v, k, recycles && k < v);
  if (cnt.m > 0 && in.jitter.extent(0) != 0 && in.jitter.extent(0) < cnt.m)
    return fail("argument 'jitter' has shape ", shape_of(in.jitter), " but this event recycles m = ", cnt.m,
                " tokens: pass at least m values (or none)");

  // ---- selection ----
  index_t* keep = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(k, 1)));
  VTR_TRY(ops::try_topk(vector_view<const float>(score, {v}), k, ops::order::ascending, vector_view<index_t>(keep, {k}), ws)
              .error());

  // ---- recycling (§3.2.5) ----
  index_t* rec = nullptr;
  index_t* csrc = nullptr;
  if (cnt.m > 0) {
    const index_t np = cnt.pruned;
    index_t* pruned = ws.take<index_t>(static_cast<std::size_t>(np));
    float* pscore = ws.take<float>(static_cast<std::size_t>(np));
    for (index_t j = 0, t = 0, q = 0; j < v; ++j) {
      if (t < k && keep[t] == j) {
        ++t;
        continue;
      }
      pruned[q] = j;
      pscore[q++] = score[j];
    }
    rec = ws.take<index_t>(static_cast<std::size_t>(cnt.m));
    VTR_TRY(ops::try_topk(vector_view<const float>(pscore, {np}), cnt.m, ops::order::by_rank,
                          vector_view<index_t>(rec, {cnt.m}), ws)
                .error());
    for (index_t i = 0; i < cnt.m; ++i) rec[i] = pruned[rec[i]];
    // The points are the layer-ℓ output rows in that (score) order, which fixes DPC's candidate order
    // (§0.4); DPC reads them where they lie in hidden_vis.
    const vector_view<const index_t> rec_rows(rec, {cnt.m});
    ops::dpc_params dp;
    dp.clusters = cnt.c;
    dp.k = cnt.c;  // §2.8: SparseVLM's cluster_and_merge uses k = cluster count
    const vector_view<const float> jit =
        in.jitter.extent(0) ? in.jitter.subrows(0, cnt.m) : vector_view<const float>{};
    ops::dpc_result dres;
    dres.labels.swap(d.clusters.labels);  // reuse the caller's capacity
    dres.centers.swap(d.clusters.centers);
    dres.density.swap(d.clusters.density);
    dres.score.swap(d.clusters.score);
    const status st = ops::try_dpc_knn<Arch>(in.hidden_vis, dp, jit, dres, ws, rec_rows);
    if (!st) {
      dres.labels.swap(d.clusters.labels);
      dres.centers.swap(d.clusters.centers);
      dres.density.swap(d.clusters.density);
      dres.score.swap(d.clusters.score);
      return fail("recycling the ", cnt.m, " pruned rows of 'hidden_vis': ", st.message());
    }
    VTR_TRY(ops::try_make_cluster_plan(view_of(dres.labels), cnt.c, merge_eps, d.cluster_plan));
    d.clusters = std::move(dres);
    csrc = ws.take<index_t>(static_cast<std::size_t>(cnt.m));
    for (index_t i = 0; i < cnt.m; ++i) csrc[i] = rec[d.cluster_plan.sources[static_cast<std::size_t>(i)]];
  }

  // ---- outputs ----
  out.reset(v);
  out.origin.reserve(static_cast<std::size_t>(cnt.after));
  for (index_t i = 0; i < k; ++i) out.add_copy(keep[i]);
  for (index_t c = 0; c < cnt.c; ++c) {
    const index_t b0 = d.cluster_plan.offsets[static_cast<std::size_t>(c)];
    const index_t b1 = d.cluster_plan.offsets[static_cast<std::size_t>(c + 1)];
    out.add_merge(vtr::plan::appended, csrc + b0, b1 - b0, nullptr, d.cluster_plan.divisors[static_cast<std::size_t>(c)]);
  }
  if (extra) {
    d.scores.assign(score, score + v);
    d.kept.assign(keep, keep + k);
    if (rec) d.recycled.assign(rec, rec + cnt.m);
    else {
      d.recycled.clear();
      d.clusters.labels.clear();
      d.clusters.centers.clear();
      d.clusters.density.clear();
      d.clusters.score.clear();
    }
    d.heads = std::move(heads_sel);
    d.rank = rank;
    d.counts = cnt;
  }
  return {};
}

/// The event plan expanded over the whole sequence [prefix | visual span | suffix]: prefix rows, the
/// event's rows shifted by `prefix`, then the suffix rows (§3.2.6 re-assembly). Apply it to the layer-ℓ
/// output hidden states; for v2 (a pure selection) apply it to the position ids too.
inline status try_sequence_plan(const plan& visual, index_t prefix, index_t suffix, plan& out) {
  return try_embed_in_sequence(visual, prefix, suffix, out);
}
inline plan sequence_plan(const plan& visual, index_t prefix, index_t suffix) {
  plan p;
  raise_if_error(try_sequence_plan(visual, prefix, suffix, p));
  return p;
}

}  // namespace sparsevlm
VTR_NAMESPACE_END
