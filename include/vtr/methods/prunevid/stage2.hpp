// vtr — PruneVid stage 2, question-guided pruning at decoder layer K (ALGORITHMS §3.5.3; Visual-AI/PruneVid
// @b12600c pv-cache.py:119-202, pv-llama.py:446-514): score each video token by the max over heads, then
// over every post-video query row, of its attention; keep ⌊n·α⌋ per stage-1 group (the static group of each
// segment, and each frame of its dynamic group); the sequence [prefix | kept video | suffix] continues from
// layer K + 1, and the K/V rows of layers 0…K are gathered the same way.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/plan.hpp"
#include "../../core/stage.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/attention.hpp"
#include "../../ops/attention_input.hpp"
#include "../../ops/reduce.hpp"
#include "../../ops/topk.hpp"
#include "../../simd/simd.hpp"
#include "segments.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace prunevid {

/// Which attention map the scores read (§3.5.3 "Attention map"). Only matters for the Q/K form: with
/// probabilities the engine hands over whatever map it has.
enum class attention_source {
  /// Upstream: softmax(Q·Kᵀ/√d) from q/k WITHOUT RoPE and WITHOUT any mask — every row's softmax spans all
  /// L keys, including tokens after it (pv-llama.py:446-449). The engine passes unrotated q and k.
  no_pos_no_mask,
  /// A documented variant for engines that only have the layer's own map: causal mask (and whatever RoPE
  /// the engine applied to the q/k it passes). Kept indices may differ from upstream.
  standard,
};

/// Defaults = the paper settings (`scripts/eval.sh`, ALGORITHMS §3.5.4).
struct stage2_params {
  /// α: each group keeps ⌊double(n)·α⌋ tokens (clamped to n); tiny groups keep 0 (§3.5.5).
  double alpha = 0.4;
  /// K, the decoder layer whose attention is read (MVBench/VideoMME/EgoSchema 10, VCG-Bench 5). The library
  /// does not run layers; it tells the engine that the plan applies to the hidden states after layer K and
  /// to the K/V caches of layers 0…K.
  index_t layer = 10;
  attention_source source = attention_source::no_pos_no_mask;
};

class stage2 {
 public:
  using params_type = stage2_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  /// Known from the stage-1 metadata before any attention exists (§1.5).
  static constexpr bool count_is_static = true;

  stage2() = default;
  explicit stage2(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// One prefill of layout [prefix: P | video: n_vid | suffix: N_t] (§0.2), n_vid = Σ_s (static + dynamic).
  struct inputs {
    /// The post-video rows' attention (§1.2): probabilities [H][N_t][keys] with keys = n_vid (the video
    /// columns only) or L = P + n_vid + N_t (all keys); or q [N_t][H][d] and k [L][H_kv][d] to recompute
    /// them (unrotated for attention_source::no_pos_no_mask; positions may be left empty — the rows sit at
    /// P + n_vid + r).
    ops::attention_input attention{};
    /// Stage-1 metadata (stage1::details::sizes(), or the reference's three lists).
    segment_sizes segments{};
    /// P: tokens before the video.
    index_t prefix = 0;
    /// N_t: tokens after the video, all of them query rows; −1 = the attention's row count.
    index_t suffix = -1;
  };

  struct details {
    std::vector<index_t> kept_rel;        ///< kept video tokens, ascending, relative to the video start
    std::vector<index_t> topk_concat;     ///< the reference's selection order: group order, score order inside
    std::vector<float> scores;            ///< [n_vid] a_j = max_q max_h A[h][q][P + j]
    std::vector<ops::row_move> kv_moves;  ///< in-place compaction of a length-L axis (K/V of layers 0…K)
  };

  /// Kept video tokens: Σ_s min(⌊static_s·α⌋, static_s) + W_s·min(⌊d_s·α⌋, d_s), d_s = dynamic_s / W_s.
  result<index_t> kept_video_count(const segment_sizes& seg) const {
    VTR_TRY(check_params());
    auto total = detail::check_segments(seg);
    if (!total) return total.error();
    index_t k = 0;
    for (index_t s = 0; s < seg.segments(); ++s) {
      const index_t w = seg.window_sizes(s);
      k += group_keep(seg.static_sizes(s)) + w * group_keep(seg.dynamic_sizes(s) / w);
    }
    return k;
  }

  /// Rows of the plan: P + kept video tokens + N_t (§1.5).
  result<index_t> kept_count(index_t prefix, index_t suffix, const segment_sizes& seg) const {
    if (prefix < 0 || suffix < 0) return fail("arguments 'prefix' = ", prefix, " and 'suffix' = ", suffix, " must be >= 0");
    auto k = kept_video_count(seg);
    if (!k) return k.error();
    if (k.value() > std::numeric_limits<index_t>::max() - suffix || prefix > std::numeric_limits<index_t>::max() - (k.value() + suffix))
      return fail("'prefix' = ", prefix, ", ", k.value(), " kept video tokens and 'suffix' = ", suffix,
                  " add up to more tokens than index_t can count");
    return prefix + k.value() + suffix;
  }

  /// A selection plan over the whole sequence (L rows): [0, P) ++ (P + kept video, ascending) ++
  /// [P + n_vid, L) (pv-cache.py:175-182). Apply it to the hidden states after layer K, to the K/V rows of
  /// every layer 0…K (vtr::compact_in_place, or details::kv_moves) and to the position ids, which keep
  /// their ORIGINAL values with gaps (position_ids[index_list], §1.4; decode continues at the unpruned
  /// length). Nothing is written to out/extra on error.
  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(check_params());
    auto total = detail::check_segments(in.segments);
    if (!total) return total.error();
    const index_t nv = total.value(), P = in.prefix;
    if (P < 0) return fail("argument 'prefix' = ", P, " must be >= 0");
    const ops::attention_input& a = in.attention;
    const index_t rows = a.rows();
    const index_t Nt = in.suffix < 0 ? rows : in.suffix;
    if (rows != Nt)
      return fail("the attention has ", rows, " query rows but 'suffix' = ", Nt,
                  ": PruneVid reads every row after the video (pv-cache.py:163)");
    if (Nt < 1) return fail("no query rows after the video (suffix = ", Nt, "): the max over rows is undefined");
    if (nv > std::numeric_limits<index_t>::max() - Nt || P > std::numeric_limits<index_t>::max() - (nv + Nt))
      return fail("'prefix' = ", P, ", the ", nv, " video tokens and 'suffix' = ", Nt, " add up to more tokens than index_t can count");
    const index_t L = P + nv + Nt;

    workspace::scope sc(ws);
    tensor_view<const float, 3> probs{};
    index_t col0 = 0;
    if (a.has_probs()) {
      VTR_TRY(validate_view("attention probabilities", a.probs));
      const index_t keys = a.probs.extent(2);
      if (keys == L) col0 = P;
      else if (keys != nv)
        return fail("argument 'attention' probabilities have shape ", shape_of(a.probs), ": expected [H][", Nt, "][", nv,
                    "] (video columns) or [H][", Nt, "][", L, "] (all keys, P = ", P, ")");
      probs = a.probs;
    } else {
      if (a.k.extent(0) != L)
        return fail("argument 'attention' keys have shape ", shape_of(a.k), ": expected ", L, " keys (P = ", P,
                    " + video ", nv, " + suffix ", Nt, ")");
      ops::attention_input qa = a;
      ops::attention_mode mode;
      mode.causal = p_.source == attention_source::standard;
      if (mode.causal && qa.q_positions.extent(0) == 0) {
        index_t* pos = ws.take<index_t>(static_cast<std::size_t>(Nt));
        for (index_t r = 0; r < Nt; ++r) pos[r] = P + nv + r;
        qa.q_positions = vector_view<const index_t>(pos, {Nt});
      }
      VTR_TRY(ops::try_resolve_attention<Arch>(qa, mode, ws, probs));
      col0 = P;
    }
    if (probs.extent(0) < 1) return fail("argument 'attention' has shape ", shape_of(probs), ": it needs at least one head");

    // a_j = max over rows of (max over heads) — heads first (§2.2), the same for max∘max.
    float* scores = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(nv, 1)));
    const tensor_view<const float, 3> video(probs.data_handle() + col0, {probs.extent(0), Nt, nv}, probs.strides());
    VTR_TRY(ops::try_reduce_attention<Arch>(video, ops::head_reduce::max, ops::row_reduce::max, vector_view<float>(scores, {nv}), ws));

    // The groups of §3.5.3: per segment its static group, then each frame of its dynamic group.
    const index_t S = in.segments.segments();
    index_t n_groups = 0;
    // Frames without dynamic tokens give empty groups (they select nothing) and are not listed: W is the
    // caller's number, and only W·d ≤ n_vid bounds it, so the group count stays ≤ S + n_vid.
    for (index_t s = 0; s < S; ++s) n_groups += 1 + (in.segments.dynamic_sizes(s) > 0 ? in.segments.window_sizes(s) : 0);
    ops::topk_group* groups = ws.take<ops::topk_group>(static_cast<std::size_t>(std::max<index_t>(n_groups, 1)));
    {
      index_t g = 0, b = 0;
      for (index_t s = 0; s < S; ++s) {
        const index_t st = in.segments.static_sizes(s), w = in.segments.window_sizes(s), d = in.segments.dynamic_sizes(s) / w;
        groups[g++] = {b, st, group_keep(st)};
        b += st;
        if (d > 0)
          for (index_t f = 0; f < w; ++f, b += d) groups[g++] = {b, d, group_keep(d)};
      }
    }
    const vector_view<const ops::topk_group> gv(groups, {n_groups});
    const vector_view<const float> sv(scores, {nv});
    const index_t kv = ops::grouped_topk_count(gv);
    index_t* kept = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(kv, 1)));
    auto got = ops::try_grouped_topk(sv, gv, vector_view<index_t>(kept, {kv}), ws);
    if (!got) return got.error();
    // The selection order, only when asked for (pure bookkeeping; computed before anything is written).
    index_t* concat = nullptr;
    if (extra) {
      concat = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(kv, 1)));
      index_t at = 0;
      for (index_t g = 0; g < n_groups; ++g) {
        const ops::topk_group& gr = groups[g];
        auto r = ops::try_topk(sv.subrows(gr.begin, gr.size), gr.k, ops::order::by_rank,
                               vector_view<index_t>(concat + at, {kv - at}), ws);
        if (!r) return r.error();
        for (index_t i = 0; i < r.value(); ++i) concat[at + i] += gr.begin;
        at += r.value();
      }
    }

    // ---- emit ----
    select_in_sequence(P, nv, L - P - nv, kept, kv, out);
    if (extra) {
      extra->kept_rel.assign(kept, kept + kv);
      extra->topk_concat.assign(concat, concat + kv);
      extra->scores.assign(scores, scores + nv);
      ops::compaction_moves(view_of(std::as_const(out.origin)), L, extra->kv_moves);
    }
    return {};
  }

  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra));
    return p;
  }

  status check_params() const {
    if (!(p_.alpha >= 0.0) || !std::isfinite(p_.alpha))
      return fail("stage2_params.alpha = ", p_.alpha, " must be finite and >= 0");
    if (p_.layer < 0) return fail("stage2_params.layer = ", p_.layer, " must be >= 0");
    return {};
  }

 private:
  /// ⌊double(n)·α⌋ (Python int(n * alpha), §0.5), clamped to n (library rule for α > 1: upstream raises).
  index_t group_keep(index_t n) const noexcept {
    return vtr::detail::clamp_count(static_cast<double>(n) * p_.alpha, n);  // clamped in double: α may be huge
  }

  params_type p_{};
};

}  // namespace prunevid
VTR_NAMESPACE_END
