// Runners for PruneVid: prunevid.stage1 and prunevid.stage2 (golden README "Method ids"; ALGORITHMS §3.5).
// prunevid.refine's runner lives in run_primitives.cpp.
#include "replay.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/plan.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/prunevid.hpp>

#include <cstdint>

namespace vtr::replay {

// prunevid.stage1 — in: features [T, h·w, C], jitter [ΣN] (optional). params: T, h, w, tau,
// temporal_segment_ratio, cluster_ratio, k, min_merge. The merged tokens are the plan applied to the
// flattened features.
outcome run_prunevid_stage1(const test_case& tc) {
  prunevid::stage1_params p;
  p.tau = static_cast<float>(get_double(tc.params, "tau", 0.8));
  p.temporal_ratio = get_double(tc.params, "temporal_segment_ratio", 0.25);
  p.cluster_ratio = get_double(tc.params, "cluster_ratio", 0.5);
  p.k = get_int(tc.params, "k", 7);
  p.min_merge = get_int(tc.params, "min_merge", 14);
  const index_t frames = get_int(tc.params, "T"), h = get_int(tc.params, "h"), w = get_int(tc.params, "w");
  const auto x = input_floats<3>(tc, "features");
  typed_input<float, 1> jitter;
  if (has_input(tc, "jitter")) jitter = input_floats<1>(tc, "jitter");
  return guarded([&](outcome& o) {
    raise_if_error(expect_shape("features", x.view, {frames, h * w, -1}));
    workspace ws;
    prunevid::stage1::details d;
    const plan pl = prunevid::stage1(p).plan({x.view, jitter.view}, ws, &d);
    const index_t n = frames * h * w, c = x.view.extent(2);
    const matrix_view<const float> flat(x.view.data_handle(), {n, c});
    std::vector<float> merged(static_cast<std::size_t>(pl.size() * c));
    apply(pl, flat, matrix_view<float>(merged.data(), {pl.size(), c}));
    put(o, "merged", merged, {pl.size(), c});
    put(o, "static_sizes", d.static_sizes);
    put(o, "dynamic_sizes", d.dynamic_sizes);
    put(o, "window_sizes", d.window_sizes);
    put(o, "labels_refined", d.labels_refined);
    put(o, "static_mask", npy_array::from(d.static_mask.data(), {static_cast<index_t>(d.window_sizes.size()), h * w}));
  });
}

// prunevid.stage2 — in: attn [H, Nq, n_vid] (post-video rows × video keys), static_sizes, dynamic_sizes,
// window_sizes. params: alpha. Scores are the max over heads then rows; P = 0, suffix = Nq.
outcome run_prunevid_stage2(const test_case& tc) {
  prunevid::stage2_params p;
  p.alpha = get_double(tc.params, "alpha", 0.4);
  const auto attn = input_floats<3>(tc, "attn");
  const auto ss = input_indices<1>(tc, "static_sizes");
  const auto ds = input_indices<1>(tc, "dynamic_sizes");
  const auto ws_ = input_indices<1>(tc, "window_sizes");
  return guarded([&](outcome& o) {
    workspace ws;
    prunevid::stage2::inputs in;
    in.attention = ops::attention_input::from_probs(attn.view);
    in.segments = {ss.view, ds.view, ws_.view};
    in.prefix = 0;
    prunevid::stage2::details d;
    const plan pl = prunevid::stage2(p).plan(in, ws, &d);
    (void)pl;
    put(o, "kept_rel", d.kept_rel);
    put(o, "topk_concat", d.topk_concat);
    put(o, "scores", d.scores);
  });
}

}  // namespace vtr::replay
