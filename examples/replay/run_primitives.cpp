// Runners for the shared primitives: dpc_knn.cluster, tome.bipartite, prunevid.refine, fastv.select
// (golden README "Method ids"; ALGORITHMS §2.8, §2.7, §2.10, §3.1).
#include "replay.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/plan.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/ops/cluster.hpp>
#include <vtr/ops/merge.hpp>
#include <vtr/ops/reduce.hpp>
#include <vtr/ops/topk.hpp>
#include <vtr/methods/fastv.hpp>

#include <cmath>

namespace vtr::replay {

namespace {
/// Output rows of a plan applied to a [N, C] float matrix.
std::vector<float> apply_rows(const plan& p, const matrix_view<const float>& x) {
  std::vector<float> out(static_cast<std::size_t>(p.size() * x.extent(1)));
  apply(p, x, matrix_view<float>(out.data(), {p.size(), x.extent(1)}));
  return out;
}

}  // namespace

// dpc_knn.cluster — ALGORITHMS §2.8. in: x [N, C], jitter [N] (optional). params: variant ("prunevid":
// plain mean, eps 0; "sparsevlm": k = cluster_num, sum/(count + 1e-6)), cluster_num, k.
outcome run_dpc_knn_cluster(const test_case& tc) {
  const std::string variant = get_string(tc.params, "variant", "prunevid");
  if (variant != "prunevid" && variant != "sparsevlm")
    throw case_error("param \"variant\" must be \"prunevid\" or \"sparsevlm\", got \"" + variant + "\"");
  const bool sparsevlm = variant == "sparsevlm";
  const index_t clusters = get_int(tc.params, "cluster_num");
  const index_t k = sparsevlm ? clusters : get_int(tc.params, "k");  // SparseVLM passes k = c (§2.8 table)
  const float eps = sparsevlm ? 1e-6f : 0.0f;
  const auto x = input_floats<2>(tc, "x");
  typed_input<float, 1> jitter;
  if (has_input(tc, "jitter")) jitter = input_floats<1>(tc, "jitter");
  return guarded([&](outcome& o) {
    workspace ws;
    ops::dpc_params p;
    p.clusters = clusters;
    p.k = k;
    ops::dpc_result r;
    ops::dpc_knn(x.view, p, jitter.view, r, ws);
    plan merge;
    ops::make_cluster_plan(view_of(std::as_const(r.labels)), static_cast<index_t>(r.centers.size()), eps, merge);
    put(o, "labels", r.labels);
    put(o, "centers", r.centers);
    put(o, "merged", apply_rows(merge, x.view), {merge.size(), x.view.extent(1)});
    put(o, "density", r.density);
    put(o, "score", r.score);
  });
}

// tome.bipartite — ALGORITHMS §2.7. in: metric [N, C], x [N, D], size [N] (optional, default 1).
// params: r, class_token. The index lists are given only when the clamped r is > 0.
outcome run_tome_bipartite(const test_case& tc) {
  const index_t r = get_int(tc.params, "r");
  const bool class_token = get_bool(tc.params, "class_token", false);
  const bool distill_token = get_bool(tc.params, "distill_token", false);
  const auto metric = input_floats<2>(tc, "metric");
  const auto x = input_floats<2>(tc, "x");
  typed_input<float, 1> size;
  if (has_input(tc, "size")) size = input_floats<1>(tc, "size");
  return guarded([&](outcome& o) {
    raise_if_error(expect_shape("x", x.view, {metric.view.extent(0), -1}));
    workspace ws;
    ops::tome_result t;
    ops::tome_bipartite(metric.view, r, class_token, distill_token, size.view, t, ws);
    put(o, "x_merged", apply_rows(t.merge, x.view), {t.merge.size(), x.view.extent(1)});
    put(o, "size_merged", t.sizes);
    if (ops::tome_effective_r(metric.view.extent(0), r, class_token, distill_token) > 0) {
      put(o, "unm_idx", t.unm_idx);
      put(o, "src_idx", t.src_idx);
      put(o, "dst_idx", t.dst_idx);
    }
  });
}

// prunevid.refine — ALGORITHMS §2.10. in: labels [T] (int). out: refined [T], segment_lengths [S].
outcome run_prunevid_refine(const test_case& tc) {
  const auto labels = input_indices<1>(tc, "labels");
  return guarded([&](outcome& o) {
    std::vector<index_t> refined(static_cast<std::size_t>(labels.view.extent(0)));
    ops::refine_clusters(labels.view, view_of(refined));
    put(o, "refined", refined);
    put(o, "segment_lengths", ops::segment_lengths(view_of(std::as_const(refined))));
  });
}

// fastv.select — ALGORITHMS §3.1.1, through vtr::fastv::select. in: attn_last [H, L] (the last prompt row
// at layer K−1). params: start, n_img, variant "hf" (r: fraction dropped, n = round_half_even(n_img·(1 − r)))
// or "orig" (rank: absolute count, clamped to n_img).
outcome run_fastv_select(const test_case& tc) {
  const index_t start = get_int(tc.params, "start");
  const index_t n_img = get_int(tc.params, "n_img");
  const std::string variant = get_string(tc.params, "variant", "hf");
  if (variant != "hf" && variant != "orig")
    throw case_error("param \"variant\" must be \"hf\" or \"orig\", got \"" + variant + "\"");
  fastv::select_params p;
  if (variant == "hf") {
    p.rule = fastv::count_rule::ratio;
    p.ratio = get_double(tc.params, "r");
  } else {
    p.rule = fastv::count_rule::rank;
    p.rank = get_int(tc.params, "rank");
  }
  const auto attn = input_floats<2>(tc, "attn_last");
  return guarded([&](outcome& o) {
    const index_t heads = attn.view.extent(0), len = attn.view.extent(1);
    // [H, L] → [H][1][L]: one query row (the last prompt token).
    fastv::select::inputs in;
    in.attention = ops::attention_input::from_probs(
        tensor_view<const float, 3>(attn.view.data_handle(), {heads, 1, len}, {attn.view.stride(0), attn.view.stride(0), 1}));
    in.image_start = start;
    in.image_count = n_img;
    workspace ws;
    fastv::select::details d;
    const plan keep = fastv::select(p).plan(in, ws, &d);
    put(o, "kept_image_rel", d.kept_image_rel);
    put(o, "keep_idx", keep.origin);
    put(o, "image_scores", d.image_scores);
  });
}

}  // namespace vtr::replay
