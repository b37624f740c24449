// vtr-replay runners for VScan (ALGORITHMS §3.4): "vscan.stage1", "vscan.stage1_qwen", "vscan.stage2".
// Formats: tests/golden/README.md.
#include "replay.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/vscan.hpp>

#include <vector>

namespace vtr::replay {

outcome run_vscan_stage1(const test_case& tc);
outcome run_vscan_stage1_qwen(const test_case& tc);
outcome run_vscan_stage2(const test_case& tc);

namespace {

/// Applies a plan to [rows][D] features into a fresh [plan.size()][D] buffer.
std::vector<float> apply_rows(const vtr::plan& p, const matrix_view<const float>& x) {
  std::vector<float> out(static_cast<std::size_t>(p.size() * x.extent(1)));
  vtr::apply(p, x, matrix_view<float>(out.data(), {p.size(), x.extent(1)}));
  return out;
}

}  // namespace

// in: attn_shallow [B,H,N], attn_deep [B,H,N], features [B,N,D]; params T, grid, window, global_ratio.
outcome run_vscan_stage1(const test_case& tc) {
  vscan::stage1_params p;
  p.budget = get_int(tc.params, "T");
  p.window = get_int(tc.params, "window", 6);
  p.global_ratio = get_double(tc.params, "global_ratio", 0.5);
  const index_t grid = get_int(tc.params, "grid", 24);
  auto shallow = input_floats<3>(tc, "attn_shallow");
  auto deep = input_floats<3>(tc, "attn_deep");
  auto feats = input_floats<3>(tc, "features");
  return guarded([&](outcome& o) {
    const index_t b = feats.view.extent(0), n = feats.view.extent(1), d = feats.view.extent(2);
    const vscan::stage1 scan(p);
    vscan::stage1::crops_inputs in;
    in.features = matrix_view<const float>(feats.view.data_handle(), {b * n, d});
    in.attn_shallow = shallow.view;
    in.attn_deep = deep.view;
    in.grid_h = grid;
    in.grid_w = grid;
    workspace ws;
    std::vector<vscan::stage1::details> det;
    const vtr::plan plan = scan.plan_crops(in, ws, &det);
    const index_t k = b > 0 ? plan.size() / b : 0;
    std::vector<index_t> kept, local, global, assign;
    for (index_t r = 0; r < plan.size(); ++r) kept.push_back(plan.origin[r] - (k > 0 ? r / k : 0) * n);  // crop-relative
    put(o, "kept_idx", kept, {b, k});
    put(o, "merged", apply_rows(plan, in.features), {b, k, d});
    if (k == n) return;  // passthrough: no local/global scan, nothing merged
    for (const auto& e : det) {
      local.insert(local.end(), e.local_idx.begin(), e.local_idx.end());
      global.insert(global.end(), e.global_idx.begin(), e.global_idx.end());
      assign.insert(assign.end(), e.assign.begin(), e.assign.end());
    }
    put(o, "local_idx", local, {b, static_cast<index_t>(local.size()) / b});
    put(o, "global_idx", global, {b, static_cast<index_t>(global.size()) / b});
    put(o, "assign", assign, {b, n - k});
  });
}

// in: attn_local [n], attn_global [n], embeds [n,D]; params merged_grid_h, merged_grid_w, ratio, window.
outcome run_vscan_stage1_qwen(const test_case& tc) {
  vscan::stage1_qwen_params p;
  p.ratio = get_double(tc.params, "ratio");
  p.window = get_int(tc.params, "window", 4);
  const index_t gh = get_int(tc.params, "merged_grid_h"), gw = get_int(tc.params, "merged_grid_w");
  auto loc = input_floats<1>(tc, "attn_local");
  auto glb = input_floats<1>(tc, "attn_global");
  auto emb = input_floats<2>(tc, "embeds");
  return guarded([&](outcome& o) {
    const vscan::stage1_qwen scan(p);
    vscan::stage1_qwen::inputs in;
    in.local_scores = loc.view;
    in.global_scores = glb.view;
    in.features = emb.view;
    in.grid_h = gh;
    in.grid_w = gw;
    workspace ws;
    vscan::stage1_qwen::details det;
    const vtr::plan plan = scan.plan(in, ws, &det);
    put(o, "local_idx", det.local_idx);
    put(o, "global_idx", det.global_idx);
    put(o, "keep_idx", plan.kept());
    put(o, "merged", apply_rows(plan, emb.view), {plan.size(), emb.view.extent(1)});
  });
}

// params img_start, n_visual, keep, form. form "probs": probs [H,S]; form "qk": q [H,hd] (row S−1), k [H,S,hd].
outcome run_vscan_stage2(const test_case& tc) {
  vscan::stage2_params p;
  p.keep = get_int(tc.params, "keep");
  const index_t img0 = get_int(tc.params, "img_start"), nv = get_int(tc.params, "n_visual");
  const std::string form = get_string(tc.params, "form", "probs");
  typed_input<float, 2> probs, q;
  typed_input<float, 3> k;
  if (form == "qk") {
    q = input_floats<2>(tc, "q");
    k = input_floats<3>(tc, "k");
  } else {
    probs = input_floats<2>(tc, "probs");
  }
  return guarded([&](outcome& o) {
    vscan::stage2::inputs in;
    std::vector<index_t> pos;
    if (form == "qk") {
      const index_t H = k.view.extent(0), S = k.view.extent(1), hd = k.view.extent(2);
      pos.assign(1, S - 1);
      in.attention = ops::attention_input::from_qk(
          tensor_view<const float, 3>(q.view.data_handle(), {1, q.view.extent(0), q.view.extent(1)}),
          // k is [H][S][hd]; the library reads keys as [S][H][hd]: the same data with swapped strides.
          tensor_view<const float, 3>(k.view.data_handle(), {S, H, hd}, {hd, S * hd, 1}), view_of(pos));
    } else {
      const index_t H = probs.view.extent(0), S = probs.view.extent(1);
      in.attention = ops::attention_input::from_probs(tensor_view<const float, 3>(probs.view.data_handle(), {H, 1, S}, {S, S, 1}));
    }
    in.image_start = img0;
    in.image_count = nv;
    const vscan::stage2 late(p);
    workspace ws;
    vscan::stage2::details det;
    (void)late.plan(in, ws, &det);
    put(o, "kept_rel", det.kept_rel);
    put(o, "scores", det.scores);
  });
}

}  // namespace vtr::replay
