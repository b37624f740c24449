// vtr-replay runners for SparseVLM (ALGORITHMS §3.2): "sparsevlm.raters" and "sparsevlm.layer".
// Formats: tests/golden/README.md.
#include "replay.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/sparsevlm.hpp>

#include <string>
#include <vector>

namespace vtr::replay {

outcome run_sparsevlm_raters(const test_case& tc);
outcome run_sparsevlm_layer(const test_case& tc);

// in: vis [Nv, d], text [Nt, d] (layer-0 input embeddings). out: raters (ascending; may be empty).
outcome run_sparsevlm_raters(const test_case& tc) {
  auto vis = input_floats<2>(tc, "vis");
  auto text = input_floats<2>(tc, "text");
  return guarded([&](outcome& o) {
    workspace ws;
    put(o, "raters", sparsevlm::select_raters(vis.view, text.view, ws));
  });
}

namespace {

template <sparsevlm::version V>
void run_event(const test_case& tc, const sparsevlm::prune_params& p, const sparsevlm::event_inputs& in,
               const matrix_view<const float>& hidden, outcome& o) {
  const sparsevlm::basic_layer<V> step(p);
  workspace ws;
  sparsevlm::event_details det;
  const vtr::plan plan = step.plan(in, ws, &det);
  if constexpr (V != sparsevlm::version::v1) {
    // The plan has exactly the rows kept_count promised (§1.5): a mismatch is a library bug.
    if (step.kept_count(in.v_num, in.layer).value() != plan.size())
      throw case_error(tc.name + ": kept_count disagrees with the plan size");
  }
  put(o, "scores", det.scores);
  put(o, "kept_rel", det.kept);
  if (V == sparsevlm::version::v1) put(o, "rank", std::vector<index_t>{det.rank});
  if (det.counts.c > 0) {
    put(o, "recycled_rel", det.recycled);
    put(o, "cluster_labels", det.clusters.labels);
    put(o, "cluster_centers", det.clusters.centers);
    // The merged rows through the public path: apply the event plan to the visual rows, take the tail.
    const index_t D = hidden.extent(1), rows = plan.size();
    std::vector<float> all(static_cast<std::size_t>(rows * D));
    vtr::apply(plan, hidden, matrix_view<float>(all.data(), {rows, D}));
    const index_t k = det.counts.k;
    put(o, "merged", std::vector<float>(all.begin() + k * D, all.end()), {rows - k, D});
  }
}

}  // namespace

// in: attn [H, Nt, v_num], raters [R], hidden_vis [v_num, D], jitter [m]; params variant, layer, v_num,
// head_dim and per variant retained / keep_table (v1.5, v2), scale / bias (v1), priority_heads, rope_base,
// text_pos_start, vis_pos_start (v2).
outcome run_sparsevlm_layer(const test_case& tc) {
  const std::string variant = get_string(tc.params, "variant", "v1.5");
  sparsevlm::prune_params p;
  p.retained = get_int(tc.params, "retained", 192);
  if (tc.params.contains("keep_table")) {
    const auto& t = tc.params.at("keep_table");
    if (!t.is_array() || t.size() != 3) throw case_error(tc.name + ": keep_table must be a list of 3 counts");
    p.keep_table = std::array<index_t, 3>{t[0].get<index_t>(), t[1].get<index_t>(), t[2].get<index_t>()};
  }
  p.scale = get_double(tc.params, "scale", 13.5);
  p.bias = get_double(tc.params, "bias", 0.0);
  p.priority_heads = get_int(tc.params, "priority_heads", 14);
  p.rope_base = get_double(tc.params, "rope_base", 10000.0);
  p.head_dim = get_int(tc.params, "head_dim", 128);
  const index_t v_num = get_int(tc.params, "v_num");
  auto attn = input_floats<3>(tc, "attn");
  auto raters = input_indices<1>(tc, "raters");
  auto hidden = input_floats<2>(tc, "hidden_vis");
  typed_input<float, 1> jitter;
  if (has_input(tc, "jitter")) jitter = input_floats<1>(tc, "jitter");
  // v2 position ids: contiguous from the given starts (README: text row r at text_pos_start + r).
  std::vector<index_t> vis_pos, text_pos;
  if (variant == "v2") {
    const index_t vs = get_int(tc.params, "vis_pos_start"), ts = get_int(tc.params, "text_pos_start");
    for (index_t j = 0; j < v_num; ++j) vis_pos.push_back(vs + j);
    for (index_t r = 0; r < attn.view.extent(1); ++r) text_pos.push_back(ts + r);
  }
  sparsevlm::event_inputs in;
  in.attn = ops::attention_input::from_probs(attn.view);
  in.raters = raters.view;
  in.hidden_vis = hidden.view;
  in.jitter = jitter.view;
  in.layer = get_int(tc.params, "layer");
  in.v_start = 0;  // the case's columns are the visual span
  in.v_num = v_num;
  in.vis_positions = view_of(vis_pos);
  in.text_positions = view_of(text_pos);
  return guarded([&](outcome& o) {
    if (variant == "v1.5") run_event<sparsevlm::version::v1_5>(tc, p, in, hidden.view, o);
    else if (variant == "v1") run_event<sparsevlm::version::v1>(tc, p, in, hidden.view, o);
    else if (variant == "v2") run_event<sparsevlm::version::v2>(tc, p, in, hidden.view, o);
    else throw case_error(tc.name + ": unknown SparseVLM variant '" + variant + "' (v1, v1.5, v2)");
  });
}

}  // namespace vtr::replay
