// vtr — PruneVid stage 1, `merge_frames_dynamic` (ALGORITHMS §3.5.2; Visual-AI/PruneVid@b12600c
// pv-pllava.py:764-827): temporal segmentation by DPC-kNN on frame means + refine_clusters, the per-segment
// static/dynamic split, temporal averaging of static tokens and DPC-kNN spatial merges. Pre-LLM, runs once
// per video on the features fed to the LLM ([F][n_f][C], after projector and pooling).
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/parallel.hpp"
#include "../../core/plan.hpp"
#include "../../core/stage.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/cluster.hpp"
#include "../../ops/temporal.hpp"
#include "../../ops/topk.hpp"
#include "../../simd/simd.hpp"
#include "segments.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace prunevid {

/// Defaults = the paper settings (`scripts/eval.sh`, ALGORITHMS §3.5.4), not the code-level defaults of
/// configuration_pllava.py.
struct stage1_params {
  /// τ: a position is static when its mean pairwise cosine over the segment is > τ (strict).
  float tau = 0.8f;
  /// Temporal clusters M = ⌊double(F)·ratio⌋, clamped to [1, F] (library rule; upstream crashes on 0).
  double temporal_ratio = 0.25;
  /// Spatial clusters of a merged group of n tokens: ⌊double(n)·ratio⌋, clamped to [1, n].
  double cluster_ratio = 0.5;
  /// Neighbours of the temporal DPC-kNN (self included), clamped to F (upstream passes k = 7, :967).
  index_t k = 7;
  /// Neighbours of the spatial DPC-kNN calls (upstream hard-codes 7, :797, :808), clamped to n.
  index_t spatial_k = 7;
  /// A static group or a frame's dynamic group is merged only when it has MORE than this many tokens.
  index_t min_merge = 14;
};

class stage1 {
 public:
  using params_type = stage1_params;
  static constexpr vtr::stage stage = vtr::stage::projector;
  static constexpr bool is_query_conditioned = false;
  /// The output count depends on the data (segments, static masks): see kept_count_bound().
  static constexpr bool count_is_static = false;

  stage1() = default;
  explicit stage1(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  struct inputs {
    /// [F][n_f][C]: frame-major, raster order inside a frame (ALGORITHMS §3.5.1), last dim contiguous.
    /// The plan's input rows are the flattened f·n_f + l.
    tensor_view<const float, 3> features{};
    /// Optional DPC density jitter u ∈ [0, 1) (§0.10), consumed in call order: the temporal call takes
    /// the first F values, then per segment in time order the static group (if merged) and each frame's
    /// dynamic group (if merged) take the next n values each. Empty = no jitter. It may be longer than
    /// what is consumed (jitter_bound() values always suffice); details::jitter_used says how many were.
    vector_view<const float> jitter{};
  };

  /// Everything besides the plan. Pass one to keep the segment metadata stage 2 needs.
  struct details {
    std::vector<index_t> static_sizes;   ///< [S] static tokens per segment, after any merge
    std::vector<index_t> dynamic_sizes;  ///< [S] W_s·(dynamic tokens per frame)
    std::vector<index_t> window_sizes;   ///< [S] frames per segment
    std::vector<index_t> first_frames;   ///< [S] first frame of each segment
    std::vector<index_t> temporal_labels;  ///< [F] DPC-kNN labels of the frame means (before refinement)
    std::vector<index_t> labels_refined;   ///< [F] after refine_clusters (§2.10)
    std::vector<std::uint8_t> static_mask;  ///< [S·n_f] row s: 1 where position l is static in segment s
    std::vector<token_info> tokens;         ///< [plan.size()] provenance of each output token
    index_t jitter_used = 0;                ///< values of inputs::jitter consumed (0 without jitter)
    index_t dpc_calls = 0;                  ///< DPC-kNN calls made (1 temporal + the spatial merges)

    /// The metadata stage 2 consumes (views into this object).
    segment_sizes sizes() const noexcept {
      return {view_of(static_sizes), view_of(dynamic_sizes), view_of(window_sizes)};
    }
  };

  /// Output tokens of one group of n tokens (§3.5.2 "token count"): n if n ≤ min_merge, else the cluster
  /// count clamp(⌊n·cluster_ratio⌋, 1, n).
  index_t group_output(index_t n) const noexcept {
    if (n <= p_.min_merge) return n;
    return std::max<index_t>(1, vtr::detail::clamp_count(static_cast<double>(n) * p_.cluster_ratio, n));  // clamp in double first
  }

  static constexpr index_t max_bound_tokens_per_frame = index_t(1) << 24;

  /// Upper bound of the output count for F frames of n_f tokens (the count itself depends on the data):
  /// a segment of W frames yields m(n_s) + W·m(n_f − n_s) ≤ W·max_{n_s}(m(n_s) + m(n_f − n_s)).
  result<index_t> kept_count_bound(index_t frames, index_t tokens_per_frame) const {
    VTR_TRY(check_params());
    if (frames < 1 || tokens_per_frame < 1)
      return fail("arguments 'frames' = ", frames, " and 'tokens_per_frame' = ", tokens_per_frame, " must be >= 1");
    // The bound walks every split of a frame: cap the frame size so that a shape-only count stays cheap
    // (2^24 tokens per frame is far beyond any encoder's grid).
    if (tokens_per_frame > max_bound_tokens_per_frame)
      return fail("argument 'tokens_per_frame' = ", tokens_per_frame, " is more than the ", max_bound_tokens_per_frame,
                  " tokens per frame kept_count_bound evaluates");
    index_t best = 0;
    for (index_t ns = 0; ns <= tokens_per_frame; ++ns)
      best = std::max(best, group_output(ns) + group_output(tokens_per_frame - ns));
    if (!vtr::detail::product_fits(frames, best))
      return fail("the bound for ", frames, " frames of ", tokens_per_frame, " tokens is more than index_t can count");
    return frames * best;
  }

  /// A jitter length that always suffices: F for the temporal call plus at most W·n_f per segment.
  static index_t jitter_bound(index_t frames, index_t tokens_per_frame) noexcept {
    return frames + frames * tokens_per_frame;
  }

  /// The plan over the F·n_f input rows (row f·n_f + l). Output rows, per segment in time order:
  /// [static group, then the dynamic group of each frame], merged groups in DPC cluster (centre rank)
  /// order, unmerged ones in raster order (§3.5.2 step 5). Every input row is a source of exactly one
  /// output row: a static row averages its positions over the segment's W frames (and, merged, over its
  /// cluster: Σ x / (W·|cluster|)); a dynamic row is a copy or a cluster mean within its frame.
  /// origin[r] is a REPRESENTATIVE input row — the DPC centre (or the token itself when unmerged), taken
  /// at the segment's first frame for static rows — so plan::select(F·n_f, plan.kept()) gives one row per
  /// output token for looking up e.g. M-RoPE (t, h, w) triples; the sources are the full provenance.
  /// Positions after stage 1 are simply consecutive (§1.4). Nothing is written to out/extra on error.
  /// `exec` (core/parallel.hpp; nullptr = serial) may run the frame means (per frame), the static masks
  /// (per segment) and the spatial DPC-kNN calls (one per merged group) concurrently; the plan, details and errors are bit-identical to
  /// the serial run (each call's jitter offset is fixed by the serial call order beforehand).
  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra = nullptr,
                  executor* exec = nullptr) const {
    VTR_TRY(check_params());
    const tensor_view<const float, 3>& x = in.features;
    VTR_TRY(validate_view("features", x));
    const index_t F = x.extent(0), nf = x.extent(1), C = x.extent(2);
    if (F < 1 || nf < 1 || C < 1)
      return fail("argument 'features' has shape ", shape_of(x), ": expected [F][n_f][C] with F, n_f, C >= 1");
    VTR_TRY(validate_view("jitter", in.jitter));
    for (index_t i = 0; i < in.jitter.extent(0); ++i)
      if (!(in.jitter(i) >= 0.0f && in.jitter(i) < 1.0f))
        return fail("argument 'jitter' ", shape_of(in.jitter), " must hold values in [0, 1); jitter[", i, "] = ", in.jitter(i));

    workspace::scope sc(ws);
    const std::size_t uF = static_cast<std::size_t>(F), unf = static_cast<std::size_t>(nf);
    // ---- Phase 1: every computation that can fail; results only in workspace memory. ----
    index_t* temporal = ws.take<index_t>(uF);
    index_t* refined = ws.take<index_t>(uF);
    index_t* seg_first = ws.take<index_t>(uF);
    index_t* seg_w = ws.take<index_t>(uF);
    index_t* seg_static = ws.take<index_t>(uF);           // static positions per segment
    std::uint8_t* mask = ws.take<std::uint8_t>(uF * unf);  // S·n_f, S ≤ F
    // One record per group, in emission order (per segment: static, then W dynamic): ≤ S + F ≤ 2F.
    group_rec* groups = ws.take<group_rec>(2 * uF);
    index_t* merged = ws.take<index_t>(2 * uF);  // the groups that run DPC-kNN, in emission order
    // Labels and centres of all merged groups (each input position appears in at most one group).
    index_t* labels = ws.take<index_t>(uF * unf);
    index_t* centres = ws.take<index_t>(uF * unf);
    // ‖x[f][l]‖² of every token, from the frame-mean pass: the static test then reads each row once.
    float* norms2 = ws.take<float>(uF * unf);
    // DPC results of the serial path / of worker slot 0, and of the other slots of a parallel executor
    // (empty, so nothing allocated, when serial).
    ops::dpc_result dr0;
    std::vector<ops::dpc_result> dr_more(static_cast<std::size_t>(vtr::detail::slot_count(exec) - 1));
    auto dr_of = [&](index_t slot) -> ops::dpc_result& { return slot == 0 ? dr0 : dr_more[static_cast<std::size_t>(slot - 1)]; };
    // One DPC-kNN call on the rows `sel` of `pts` (all of them when sel is empty) whose jitter, if any,
    // starts at `jitter_at` (the offset the serial order of calls gives it: §0.10 "consumed in call order",
    // precomputed so that the calls can run in any order).
    auto run_dpc = [&](const matrix_view<const float>& pts, const vector_view<const index_t>& sel, index_t clusters, index_t k,
                       index_t jitter_at, const char* what, ops::dpc_result& dr, workspace& w) -> status {
      const index_t n = sel.extent(0) ? sel.extent(0) : pts.extent(0);
      vector_view<const float> jit{};
      if (in.jitter.extent(0) != 0) {
        if (in.jitter.extent(0) < jitter_at + n)
          return fail("argument 'jitter' ", shape_of(in.jitter), " is too short: the ", what, " DPC-kNN call needs values [",
                      jitter_at, ", ", jitter_at + n, ")");
        jit = vector_view<const float>(in.jitter.data_handle() + jitter_at * in.jitter.stride(0), {n}, {in.jitter.stride(0)});
      }
      ops::dpc_params dp;
      dp.clusters = clusters;
      dp.k = k;
      const status st = ops::try_dpc_knn<Arch>(pts, dp, jit, dr, w, sel);
      if (!st.ok()) return fail("PruneVid stage 1, ", what, " DPC-kNN on ", n, " points of ", pts.extent(1), " features: ", st.message());
      return {};
    };

    // Step 1: frame means → temporal DPC-kNN (labels only) → refine_clusters → segments (§3.5.2).
    index_t jitter_at = 0, dpc_calls = 0;
    {
      workspace::scope s1(ws);
      float* means = ws.take<float>(uF * static_cast<std::size_t>(C));
      const matrix_view<float> mv(means, {F, C});
      // Frames are independent items (each mean is computed from its own frame alone, in the same order
      // as the whole-video kernel); the first non-finite mean is the lowest failing frame.
      auto frame_mean = [&](index_t f, index_t, workspace&) -> status {
        const tensor_view<const float, 3> one(x.data_handle() + f * x.stride(0), {1, nf, C}, x.strides());
        VTR_TRY(ops::try_frame_means<Arch>(one, mv.subrows(f, 1), matrix_view<float>(norms2 + f * nf, {1, nf})));
        return check_mean_finite(x, mv, f);
      };
      VTR_TRY(vtr::detail::run_items(exec, F, ws, frame_mean));
      const index_t m = std::max<index_t>(1, vtr::detail::clamp_count(static_cast<double>(F) * p_.temporal_ratio, F));
      VTR_TRY(run_dpc(matrix_view<const float>(mv), {}, m, p_.k, 0, "temporal", dr0, ws));
      if (in.jitter.extent(0) != 0) jitter_at = F;
      ++dpc_calls;
      std::copy(dr0.labels.begin(), dr0.labels.end(), temporal);
    }
    VTR_TRY(ops::try_refine_clusters(vector_view<const index_t>(temporal, {F}), vector_view<index_t>(refined, {F})));
    index_t S = 0;
    for (index_t f = 0; f < F;) {
      index_t e = f;
      while (e + 1 < F && refined[e + 1] == refined[f]) ++e;
      seg_first[S] = f;
      seg_w[S] = e - f + 1;
      ++S;
      f = e + 1;
    }
    auto segment = [&](index_t s) {
      return tensor_view<const float, 3>(x.data_handle() + seg_first[s] * x.stride(0), {seg_w[s], nf, C}, x.strides());
    };

    // Step 2 per segment (independent items: an executor may run them concurrently): the static mask.
    auto static_mask = [&](index_t s, index_t, workspace& w) -> status {
      const matrix_view<const float> seg_norms2(norms2 + seg_first[s] * nf, {seg_w[s], nf});
      auto ns_r = ops::try_static_mask<Arch>(segment(s), p_.tau, vector_view<std::uint8_t>(mask + s * nf, {nf}), w, {}, seg_norms2);
      if (!ns_r) return ns_r.error();
      seg_static[s] = ns_r.value();
      return {};
    };

    // The groups in emission order, with the label/centre/jitter offsets the serial order of DPC calls
    // gives them (a merged group of n tokens fills n labels, group_output(n) centres and n jitter values).
    index_t n_groups = 0, n_merged = 0, label_end = 0, centre_end = 0;
    auto add_group = [&](index_t s, index_t frame, index_t n) {
      group_rec g{n, n, -1, -1, s, frame, -1};
      if (n > p_.min_merge) {
        g.m = group_output(n);
        g.label_at = label_end;
        g.centre_at = centre_end;
        label_end += n;
        centre_end += g.m;
        if (in.jitter.extent(0) != 0) {
          g.jitter_at = jitter_at;
          jitter_at += n;
        }
        merged[n_merged++] = n_groups;
        ++dpc_calls;
      }
      groups[n_groups++] = g;
    };
    // Steps 3-4 per merged group (independent items): its rows — the temporal average of its static
    // positions, or one frame's dynamic rows — then DPC-kNN; labels and centres go to the group's offsets.
    auto merge_group = [&](index_t j, index_t slot, workspace& w) -> status {
      const group_rec& g = groups[merged[j]];
      workspace::scope s2(w);
      index_t* ps = w.take<index_t>(unf);
      index_t* pd = w.take<index_t>(unf);
      split_positions(vector_view<const std::uint8_t>(mask + g.segment * nf, {nf}), ps, pd);
      ops::dpc_result& dr = dr_of(slot);
      if (g.frame < 0) {  // static group: S[i] = mean_w X[w][ps[i]]
        const matrix_view<float> rows(w.take<float>(static_cast<std::size_t>(g.n) * static_cast<std::size_t>(C)), {g.n, C});
        VTR_TRY(ops::try_temporal_mean_rows<Arch>(segment(g.segment), vector_view<const index_t>(ps, {g.n}), rows));
        VTR_TRY(run_dpc(matrix_view<const float>(rows), {}, group_output(g.n), p_.spatial_k, g.jitter_at, "static-group", dr, w));
      } else {  // one frame's dynamic positions in raster order, read where they lie
        const matrix_view<const float> frame(x.data_handle() + g.frame * x.stride(0), {nf, C}, {x.stride(1), 1});
        VTR_TRY(run_dpc(frame, vector_view<const index_t>(pd, {g.n}), group_output(g.n), p_.spatial_k, g.jitter_at,
                        "dynamic-group", dr, w));
      }
      VTR_ASSERT(static_cast<index_t>(dr.centers.size()) == g.m && static_cast<index_t>(dr.labels.size()) == g.n);
      std::copy(dr.labels.begin(), dr.labels.end(), labels + g.label_at);
      std::copy(dr.centers.begin(), dr.centers.end(), centres + g.centre_at);
      return {};
    };
    // Steps 2-4 over batches of segments: the masks of a batch, then its merged groups. Serial, a batch is
    // one segment, so the group steps read its frames just after the static test brought them into the
    // cache, which a whole video outgrows (perf at 16×144×4096: copying the dynamic groups' rows fell from
    // 12 % to 9 % of the stage); an executor takes every segment in one batch, the most items at once.
    // Only the segments before a failed mask get groups, and their errors come first: the serial order.
    const index_t batch = exec && !exec->serial() ? S : 1;
    for (index_t s0 = 0; s0 < S; s0 += batch) {
      const index_t s1 = std::min(S, s0 + batch);
      index_t masks_done = s1 - s0;  // the batch's segments before its first failed mask
      const status mask_status = vtr::detail::run_items(
          exec, s1 - s0, ws, [&](index_t i, index_t slot, workspace& w) { return static_mask(s0 + i, slot, w); }, &masks_done);
      const index_t first = n_merged;
      for (index_t s = s0; s < s0 + masks_done; ++s) {
        add_group(s, -1, seg_static[s]);
        for (index_t w = 0; w < seg_w[s]; ++w) add_group(s, seg_first[s] + w, nf - seg_static[s]);
      }
      VTR_TRY(vtr::detail::run_items(exec, n_merged - first, ws,
                                     [&](index_t j, index_t slot, workspace& w) { return merge_group(first + j, slot, w); }));
      VTR_TRY(mask_status);
    }

    // ---- Phase 2: emit the plan and the metadata (cannot fail). ----
    out.reset(F * nf);
    out.origin.reserve(static_cast<std::size_t>(F * nf));
    if (extra) {
      extra->static_sizes.assign(static_cast<std::size_t>(S), 0);
      extra->dynamic_sizes.assign(static_cast<std::size_t>(S), 0);
      extra->window_sizes.assign(seg_w, seg_w + S);
      extra->first_frames.assign(seg_first, seg_first + S);
      extra->temporal_labels.assign(temporal, temporal + F);
      extra->labels_refined.assign(refined, refined + F);
      extra->static_mask.assign(mask, mask + S * nf);
      extra->tokens.clear();
      extra->jitter_used = jitter_at;
      extra->dpc_calls = dpc_calls;
    }
    index_t gi = 0;
    index_t* ps = ws.take<index_t>(unf);
    index_t* pd = ws.take<index_t>(unf);
    index_t* member = ws.take<index_t>(unf);
    index_t* start = ws.take<index_t>(unf + 1);
    index_t* src = ws.take<index_t>(uF * unf);
    for (index_t s = 0; s < S; ++s) {
      const index_t f0 = seg_first[s], W = seg_w[s];
      split_positions(vector_view<const std::uint8_t>(mask + s * nf, {nf}), ps, pd);
      // Static group.
      {
        const group_rec& g = groups[gi++];
        const index_t rows_before = out.size();
        if (g.label_at < 0) {
          for (index_t i = 0; i < g.n; ++i) {
            for (index_t w = 0; w < W; ++w) src[w] = (f0 + w) * nf + ps[i];
            emit(out, f0 * nf + ps[i], src, W, static_cast<float>(W));
          }
        } else {
          group_members(labels + g.label_at, g.n, g.m, member, start);
          for (index_t c = 0; c < g.m; ++c) {
            index_t t = 0;
            for (index_t w = 0; w < W; ++w)
              for (index_t j = start[c]; j < start[c + 1]; ++j) src[t++] = (f0 + w) * nf + ps[member[j]];
            emit(out, f0 * nf + ps[centres[g.centre_at + c]], src, t, static_cast<float>(t));
          }
        }
        if (extra) {
          extra->static_sizes[static_cast<std::size_t>(s)] = out.size() - rows_before;
          for (index_t r = rows_before; r < out.size(); ++r) extra->tokens.push_back({s, token_kind::static_token, f0, W});
        }
      }
      // Dynamic groups, frame by frame.
      for (index_t w = 0; w < W; ++w) {
        const group_rec& g = groups[gi++];
        const index_t base = (f0 + w) * nf, rows_before = out.size();
        if (g.label_at < 0) {
          for (index_t i = 0; i < g.n; ++i) {
            src[0] = base + pd[i];
            emit(out, base + pd[i], src, 1, 1.0f);
          }
        } else {
          group_members(labels + g.label_at, g.n, g.m, member, start);
          for (index_t c = 0; c < g.m; ++c) {
            index_t t = 0;
            for (index_t j = start[c]; j < start[c + 1]; ++j) src[t++] = base + pd[member[j]];
            emit(out, base + pd[centres[g.centre_at + c]], src, t, static_cast<float>(t));
          }
        }
        if (extra) {
          extra->dynamic_sizes[static_cast<std::size_t>(s)] += out.size() - rows_before;
          for (index_t r = rows_before; r < out.size(); ++r) extra->tokens.push_back({s, token_kind::dynamic_token, f0 + w, 1});
        }
      }
    }
    return {};
  }

  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr, executor* exec = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra, exec));
    return p;
  }

  status check_params() const {
    if (std::isnan(p_.tau)) return fail("stage1_params.tau is NaN");
    if (!(p_.temporal_ratio >= 0.0) || !std::isfinite(p_.temporal_ratio))
      return fail("stage1_params.temporal_ratio = ", p_.temporal_ratio, " must be finite and >= 0");
    if (!(p_.cluster_ratio >= 0.0) || !std::isfinite(p_.cluster_ratio))
      return fail("stage1_params.cluster_ratio = ", p_.cluster_ratio, " must be finite and >= 0");
    if (p_.k < 1) return fail("stage1_params.k = ", p_.k, " must be >= 1");
    if (p_.spatial_k < 1) return fail("stage1_params.spatial_k = ", p_.spatial_k, " must be >= 1");
    if (p_.min_merge < 0) return fail("stage1_params.min_merge = ", p_.min_merge, " must be >= 0");
    return {};
  }

 private:
  /// One group of phase 1: n tokens → m output rows; label_at/centre_at index the label and centre stores
  /// (−1: not merged); segment s, frame (−1 for the static group), jitter_at its first jitter value (−1: none).
  struct group_rec {
    index_t n, m, label_at, centre_at, segment, frame, jitter_at;
  };

  /// Static positions (ascending) into ps, dynamic ones into pd.
  static void split_positions(const vector_view<const std::uint8_t>& mk, index_t* ps, index_t* pd) noexcept {
    index_t a = 0, b = 0;
    for (index_t l = 0; l < mk.extent(0); ++l) {
      if (mk(l)) ps[a++] = l;
      else pd[b++] = l;
    }
  }

  /// Members of each cluster, ascending within a cluster: member[start[c] .. start[c+1]) (counting sort).
  static void group_members(const index_t* lab, index_t n, index_t m, index_t* member, index_t* start) noexcept {
    std::fill(start, start + m + 1, index_t(0));
    for (index_t i = 0; i < n; ++i) ++start[lab[i] + 1];
    for (index_t c = 0; c < m; ++c) start[c + 1] += start[c];
    for (index_t i = 0; i < n; ++i) member[start[lab[i]]++] = i;
    for (index_t c = m; c > 0; --c) start[c] = start[c - 1];
    start[0] = 0;
  }

  /// Appends one output row: a plain copy when it has one source and divisor 1, else a mean.
  static void emit(vtr::plan& out, index_t origin, const index_t* src, index_t count, float divisor) {
    if (count == 1 && divisor == 1.0f) out.add_copy(src[0]);
    else out.add_merge(origin, src, count, nullptr, divisor);
  }

  /// A non-finite mean of frame f means a non-finite input value (named) or a sum that overflows fp32.
  static status check_mean_finite(const tensor_view<const float, 3>& x, const matrix_view<float>& means, index_t f) {
    const index_t nf = x.extent(1), C = x.extent(2);
    for (index_t c = 0; c < C; ++c) {
      if (std::isfinite(means(f, c))) continue;
      for (index_t l = 0; l < nf; ++l)
        for (index_t cc = 0; cc < C; ++cc)
          if (!std::isfinite(x(f, l, cc)))
            return fail("argument 'features' ", shape_of(x), " has a non-finite value at [", f, ", ", l, ", ", cc, "]");
      return fail("argument 'features' ", shape_of(x), ": the frame sum of frame ", f, " overflows float32 at feature ", c);
    }
    return {};
  }

  params_type p_{};
};

}  // namespace prunevid
VTR_NAMESPACE_END
