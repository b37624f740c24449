// vtr-replay runners for DToMA (ALGORITHMS §3.6; no official code — the cases come from an independent
// NumPy implementation of the library's spec): "dtoma.quadtree", "dtoma.select", "dtoma.usage".
// Formats: tests/golden/README.md.
#include "replay.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/dtoma.hpp>

#include <vector>

namespace vtr::replay {

outcome run_dtoma_quadtree(const test_case& tc);
outcome run_dtoma_select(const test_case& tc);
outcome run_dtoma_usage(const test_case& tc);

// in: x [T,H,W,C]; params merge_threshold, max_depth. out: tokens [M,C], sizes [M], cells [M,5].
outcome run_dtoma_quadtree(const test_case& tc) {
  dtoma::quadtree_params p;
  p.merge_threshold = static_cast<float>(get_double(tc.params, "merge_threshold", 0.8));
  p.max_depth = get_int(tc.params, "max_depth", 3);
  auto x = input_floats<4>(tc, "x");
  return guarded([&](outcome& o) {
    const index_t F = x.view.extent(0), h = x.view.extent(1), w = x.view.extent(2), C = x.view.extent(3);
    dtoma::quadtree::inputs in;
    in.tokens = matrix_view<const float>(x.view.data_handle(), {F * h * w, C});
    in.frames = F;
    in.grid_h = h;
    in.grid_w = w;
    workspace ws;
    dtoma::quadtree::details det;
    const vtr::plan plan = dtoma::quadtree(p).plan(in, ws, &det);
    std::vector<float> tokens(static_cast<std::size_t>(plan.size() * C));
    vtr::apply(plan, in.tokens, matrix_view<float>(tokens.data(), {plan.size(), C}));
    std::vector<index_t> cells;
    for (const auto& c : det.cells) cells.insert(cells.end(), {c.t, c.r0, c.r1, c.c0, c.c1});
    put(o, "tokens", tokens, {plan.size(), C});
    put(o, "sizes", det.sizes);
    put(o, "cells", cells, {plan.size(), index_t(5)});
  });
}

// in: attn [H,Nq,Nv], optional rel [Nv]; params keep_ratio, text_boost, text_ref_threshold.
// out: kept (ascending), importance [Nv].
outcome run_dtoma_select(const test_case& tc) {
  dtoma::select_params p;
  p.keep_ratio = get_double(tc.params, "keep_ratio", 0.3);
  p.text_boost = static_cast<float>(get_double(tc.params, "text_boost", 2.0));
  p.text_ref_threshold = static_cast<float>(get_double(tc.params, "text_ref_threshold", 0.7));
  auto attn = input_floats<3>(tc, "attn");
  typed_input<float, 1> rel;
  if (has_input(tc, "rel")) rel = input_floats<1>(tc, "rel");
  return guarded([&](outcome& o) {
    dtoma::select::inputs in;
    in.attn = ops::attention_input::from_probs(attn.view);
    in.relevance = rel.view;
    workspace ws;
    dtoma::select::details det;
    const vtr::plan plan = dtoma::select(p).plan(in, ws, &det);
    put(o, "kept", plan.origin);
    put(o, "importance", det.importance);
  });
}

// in: attn_steps [I,H,Nv0] (step i over the original tokens; only the live ones are fed to the tracker);
// params usage_threshold, unused_threshold, min_keep. out: evicted_at [Nv0] (step 1..I or −1), count
// [Nv0] (at eviction or at the end), final_kept (ascending original ids).
outcome run_dtoma_usage(const test_case& tc) {
  dtoma::usage_params p;
  p.usage_threshold = static_cast<float>(get_double(tc.params, "usage_threshold", 0.1));
  p.unused_threshold = get_int(tc.params, "unused_threshold", 5);
  p.min_keep = get_int(tc.params, "min_keep", 1);
  auto steps = input_floats<3>(tc, "attn_steps");
  return guarded([&](outcome& o) {
    const index_t I = steps.view.extent(0), H = steps.view.extent(1), N0 = steps.view.extent(2);
    dtoma::usage_tracker tracker(N0, p);
    std::vector<index_t> evicted_at(static_cast<std::size_t>(N0), -1);
    std::vector<float> cur;
    for (index_t i = 0; i < I; ++i) {
      const auto ids = tracker.original_ids();
      const index_t n = ids.extent(0);
      cur.resize(static_cast<std::size_t>(H * n));
      for (index_t h = 0; h < H; ++h)
        for (index_t j = 0; j < n; ++j) cur[static_cast<std::size_t>(h * n + j)] = steps.view(i, h, ids(j));
      std::vector<index_t> before(ids.data_handle(), ids.data_handle() + n);
      const auto ev = tracker.step(matrix_view<const float>(cur.data(), {H, n}));
      for (index_t e = 0; e < ev.extent(0); ++e) evicted_at[static_cast<std::size_t>(before[static_cast<std::size_t>(ev(e))])] = i + 1;
    }
    const auto counts = tracker.counts();
    const auto kept = tracker.original_ids();
    put(o, "evicted_at", evicted_at);
    put(o, "count", std::vector<index_t>(counts.data_handle(), counts.data_handle() + counts.extent(0)));
    put(o, "final_kept", std::vector<index_t>(kept.data_handle(), kept.data_handle() + kept.extent(0)));
  });
}

}  // namespace vtr::replay
