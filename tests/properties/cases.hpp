// Random valid inputs for every method entry point, shared by the cross-method property tests and the
// concurrency test. A case owns its tensors and knows what its plan must satisfy (DESIGN §2.2, §3):
// the static count, the bounds of a data-dependent one, whether origins ascend, whether the rows
// partition the input (merging methods) or use each input row at most once.
#pragma once

#include <vtr/core/apply.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/fitprune.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/methods/sparsevlm.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/policies/frame_dedup.hpp>
#include <vtr/policies/frame_gate.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace vtr_props {

using vtr::index_t;

/// Storage a case's views point into (stable addresses: a deque of vectors).
struct storage {
  std::deque<std::vector<float>> floats;
  std::deque<std::vector<index_t>> ints;
  std::deque<vtr::prunevid::stage1::details> pv_meta;

  std::vector<float>& random(std::mt19937& rng, index_t n, float lo = 0.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> u(lo, hi);
    floats.emplace_back(static_cast<std::size_t>(n));
    for (auto& x : floats.back()) x = u(rng);
    return floats.back();
  }
  /// Values on a coarse grid: many exact ties, which the total order must break the same way every time.
  std::vector<float>& ties(std::mt19937& rng, index_t n) {
    std::uniform_int_distribution<int> u(0, 7);
    floats.emplace_back(static_cast<std::size_t>(n));
    for (auto& x : floats.back()) x = static_cast<float>(u(rng)) / 8.0f;
    return floats.back();
  }
  std::vector<index_t>& ids(std::vector<index_t> v) {
    ints.push_back(std::move(v));
    return ints.back();
  }
};

struct method_case {
  std::string name;
  index_t input_rows = 0;
  index_t expected = -1;               ///< static count (count_is_static), else −1
  index_t lower = 0, upper = -1;       ///< bounds of a data-dependent count (upper −1 = none)
  bool ascending = true;               ///< non-appended origins strictly ascending
  bool partition = false;              ///< every input row is a source of exactly one output row
  std::function<vtr::status(vtr::plan&, vtr::workspace&)> run;
  std::shared_ptr<storage> data;
};

inline index_t pick(std::mt19937& rng, index_t lo, index_t hi) {
  return std::uniform_int_distribution<index_t>(lo, hi)(rng);
}

template <class T>
T value_of(vtr::result<T> r) {
  if (!r.ok()) throw std::logic_error("cases.hpp: a count of a valid case failed: " + r.error().message());
  return std::move(r).value();
}

/// Attention for a prefill-layer method: probabilities [H][rows][keys] or Q/K (the form picked at random).
inline vtr::ops::attention_input random_attention(std::mt19937& rng, storage& s, index_t heads, index_t rows, index_t keys,
                                                  bool ties = false, int form = 0 /* 0 any, 1 probs, 2 Q/K */) {
  if (form == 1 || (form == 0 && pick(rng, 0, 2) != 0)) {
    auto& p = ties ? s.ties(rng, heads * rows * keys) : s.random(rng, heads * rows * keys);
    return vtr::ops::attention_input::from_probs({p.data(), {heads, rows, keys}});
  }
  const index_t d = pick(rng, 1, 8), hkv = heads % 2 == 0 && pick(rng, 0, 1) ? heads / 2 : heads;
  auto& q = s.random(rng, rows * heads * d, -1.0f, 1.0f);
  auto& k = s.random(rng, keys * hkv * d, -1.0f, 1.0f);
  std::vector<index_t> pos;
  for (index_t i = 0; i < rows; ++i) pos.push_back(std::max<index_t>(0, keys - rows + i));
  auto& pv = s.ids(std::move(pos));
  return vtr::ops::attention_input::from_qk({q.data(), {rows, heads, d}}, {k.data(), {keys, hkv, d}}, vtr::view_of(std::as_const(pv)));
}

/// One random valid case of every method entry point.
inline std::vector<method_case> make_cases(std::mt19937& rng) {
  std::vector<method_case> cases;
  auto add = [&](method_case c) { cases.push_back(std::move(c)); };

  {  // FastV
    auto s = std::make_shared<storage>();
    vtr::fastv::select_params p;
    p.rule = pick(rng, 0, 1) ? vtr::fastv::count_rule::ratio : vtr::fastv::count_rule::rank;
    p.ratio = static_cast<double>(pick(rng, 0, 10)) / 10.0;
    p.rank = pick(rng, 0, 30);
    const vtr::fastv::select m(p);
    const index_t L = pick(rng, 1, 60), start = pick(rng, 0, L), n = pick(rng, 0, L - start);
    vtr::fastv::select::inputs in;
    in.attention = random_attention(rng, *s, pick(rng, 1, 4), pick(rng, 1, 3), L, pick(rng, 0, 1));
    in.image_start = start;
    in.image_count = n;
    add({"fastv", L, value_of(m.kept_count(L, n)), 0, -1, true, false,
         [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s});
  }
  {  // VScan stage 1 (LLaVA)
    auto s = std::make_shared<storage>();
    const index_t win = pick(rng, 1, 3), gh = win * pick(rng, 1, 4), gw = win * pick(rng, 1, 4), n = gh * gw;
    const index_t nw = (gh / win) * (gw / win);
    vtr::vscan::stage1_params p;
    p.window = win;
    p.budget = pick(rng, std::min(2 * nw, n), n + 2);  // ≥ 2·nW (one token per window) or ≥ N (passthrough)
    p.keep_weight = pick(rng, 0, 1) ? 1.0f : 2.5f;
    const vtr::vscan::stage1 m(p);
    const index_t D = pick(rng, 1, 9), H = pick(rng, 1, 3);
    auto& f = s->random(rng, n * D, -1.0f, 1.0f);
    auto& a = s->ties(rng, H * n);
    auto& b = s->random(rng, H * n);
    vtr::vscan::stage1::inputs in{{f.data(), {n, D}}, {a.data(), {H, n}}, {b.data(), {H, n}}, gh, gw};
    add({"vscan::stage1", n, value_of(m.kept_count(n, gh, gw)), 0, -1, true, true,
         [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s});
  }
  {  // VScan stage 1 (Qwen)
    auto s = std::make_shared<storage>();
    const index_t gh = pick(rng, 1, 9), gw = pick(rng, 1, 9), n = gh * gw;
    vtr::vscan::stage1_qwen_params p;
    p.window = pick(rng, 1, 4);
    p.ratio = std::max(0.2, static_cast<double>(pick(rng, 1, 10)) / 10.0);
    if (static_cast<index_t>(static_cast<double>(n) * p.ratio) < 1) p.ratio = 1.0;
    const vtr::vscan::stage1_qwen m(p);
    const index_t D = pick(rng, 1, 9);
    auto& ls = s->ties(rng, n);
    auto& gs = s->random(rng, n);
    auto& f = s->random(rng, n * D, -1.0f, 1.0f);
    vtr::vscan::stage1_qwen::inputs in{vtr::view_of(std::as_const(ls)), vtr::view_of(std::as_const(gs)), {f.data(), {n, D}}, gh, gw};
    add({"vscan::stage1_qwen", n, value_of(m.kept_count(gh, gw)), 0, -1, true, true,
         [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s});
  }
  {  // VScan stage 2
    auto s = std::make_shared<storage>();
    vtr::vscan::stage2_params p = pick(rng, 0, 1) ? vtr::vscan::stage2_params::llava() : vtr::vscan::stage2_params::qwen();
    p.keep = pick(rng, 0, 30);
    const vtr::vscan::stage2 m(p);
    const index_t L = pick(rng, 1, 60), start = pick(rng, 0, L), n = pick(rng, 0, L - start);
    vtr::vscan::stage2::inputs in;
    in.attention = random_attention(rng, *s, pick(rng, 1, 4), pick(rng, 1, 3), L, pick(rng, 0, 1));
    in.image_start = start;
    in.image_count = n;
    add({"vscan::stage2", L, value_of(m.kept_count(L, n)), 0, -1, true, false,
         [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s});
  }
  // SparseVLM: one event of each version at a random sparse layer.
  auto sparsevlm_case = [&](auto tag, const char* name) {
    using layer_t = decltype(tag);
    auto s = std::make_shared<storage>();
    vtr::sparsevlm::prune_params p;
    p.retained = std::vector<index_t>{192, 128, 96, 64}[static_cast<std::size_t>(pick(rng, 0, 3))];
    p.keep_table = std::array<index_t, 3>{pick(rng, 0, 30), pick(rng, 0, 20), pick(rng, 0, 10)};
    p.head_dim = 4;
    p.priority_heads = pick(rng, 1, 3);
    p.on_empty_raters = vtr::sparsevlm::empty_raters::use_all_text;
    const layer_t m(p);
    const index_t v = pick(rng, 0, 40), nt = pick(rng, 1, 6), H = pick(rng, 1, 3), D = pick(rng, 1, 6), P = pick(rng, 0, 4);
    vtr::sparsevlm::event_inputs in;
    in.layer = layer_t::variant == vtr::sparsevlm::version::v1 ? std::vector<index_t>{2, 6, 15, 19}[static_cast<std::size_t>(pick(rng, 0, 3))]
                                                             : std::vector<index_t>{2, 6, 15}[static_cast<std::size_t>(pick(rng, 0, 2))];
    in.v_num = v;
    in.v_start = P;
    if (pick(rng, 0, 1)) {
      auto& a = s->random(rng, H * nt * v);
      in.attn = vtr::ops::attention_input::from_probs({a.data(), {H, nt, v}});
    } else {
      const index_t keys = P + v + nt;
      auto& q = s->random(rng, nt * H * 4, -1.0f, 1.0f);
      auto& k = s->random(rng, keys * H * 4, -1.0f, 1.0f);
      std::vector<index_t> pos;
      for (index_t i = 0; i < nt; ++i) pos.push_back(P + v + i);
      auto& pv = s->ids(std::move(pos));
      in.attn = vtr::ops::attention_input::from_qk({q.data(), {nt, H, 4}}, {k.data(), {keys, H, 4}}, vtr::view_of(std::as_const(pv)));
    }
    std::vector<index_t> raters;
    for (index_t t = 0; t < nt; ++t)
      if (pick(rng, 0, 1)) raters.push_back(t);
    auto& rv = s->ids(std::move(raters));
    in.raters = vtr::view_of(std::as_const(rv));
    auto& h = s->random(rng, v * D, -1.0f, 1.0f);
    in.hidden_vis = {h.data(), {v, D}};
    auto& j = s->random(rng, v);
    if (pick(rng, 0, 1)) in.jitter = vtr::view_of(std::as_const(j));
    method_case c{name, v, -1, 0, v, true, false, [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s};
    if constexpr (layer_t::count_is_static) c.expected = value_of(m.kept_count(v, in.layer));
    add(std::move(c));
  };
  sparsevlm_case(vtr::sparsevlm::layer_v1{}, "sparsevlm::layer_v1");
  sparsevlm_case(vtr::sparsevlm::layer{}, "sparsevlm::layer");
  sparsevlm_case(vtr::sparsevlm::layer_plus{}, "sparsevlm::layer_plus");
  {  // Fit&Prune
    auto s = std::make_shared<storage>();
    vtr::fitprune::layer_params p;
    for (index_t l = 0; l < 4; ++l) p.recipe.push_back(pick(rng, 0, 30));
    const vtr::fitprune::layer m(p);
    vtr::fitprune::layer::inputs in;
    in.n_visual = pick(rng, 0, 30);
    in.n_suffix = pick(rng, 0, 5);
    in.prefix = pick(rng, 0, 5);
    in.layer_index = pick(rng, 0, 3);
    const index_t rows = in.n_visual + in.n_suffix;
    if (pick(rng, 0, 1) || rows == 0) {
      auto& a = s->random(rng, 2 * rows * in.n_visual);
      in.attn = vtr::ops::attention_input::from_probs({a.data(), {2, rows, in.n_visual}});
    } else {
      in.attn = random_attention(rng, *s, 2, rows, in.prefix + rows, false, 2);
      in.attn.q_positions = {};  // the layer derives the positions prefix + r
    }
    add({"fitprune::layer", in.prefix + rows, value_of(m.kept_count(in.prefix, in.n_visual, in.n_suffix, in.layer_index)), 0, -1,
         true, false, [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s});
  }
  {  // PruneVid stage 1, then stage 2 on its metadata
    auto s = std::make_shared<storage>();
    vtr::prunevid::stage1_params p;
    p.min_merge = pick(rng, 0, 6);
    p.temporal_ratio = 0.5;
    const vtr::prunevid::stage1 m(p);
    const index_t F = pick(rng, 1, 6), nf = pick(rng, 1, 12), C = pick(rng, 1, 6);
    auto& v = s->random(rng, F * nf * C, -1.0f, 1.0f);
    for (index_t f = 1; f < F; ++f)  // some positions static across frames
      for (index_t l = 0; l < nf; l += 2)
        std::copy_n(v.begin() + l * C, C, v.begin() + (f * nf + l) * C);
    vtr::prunevid::stage1::inputs in{{v.data(), {F, nf, C}}, {}};
    add({"prunevid::stage1", F * nf, -1, 1, value_of(m.kept_count_bound(F, nf)), false, true,
         [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s});

    auto s2 = std::make_shared<storage>();
    s2->pv_meta.emplace_back();
    vtr::workspace ws;
    vtr::plan tmp;
    if (!m.try_plan(in, tmp, ws, &s2->pv_meta.back()).ok()) throw std::logic_error("prunevid stage 1 failed on a valid case");
    const auto seg = s2->pv_meta.back().sizes();
    const index_t nv = tmp.size(), P = pick(rng, 0, 4), Nt = pick(rng, 1, 4);
    vtr::prunevid::stage2_params p2;
    p2.alpha = static_cast<double>(pick(rng, 0, 10)) / 10.0;
    const vtr::prunevid::stage2 m2(p2);
    vtr::prunevid::stage2::inputs in2;
    const bool all_keys = pick(rng, 0, 1) != 0;  // Q/K always covers every key; probabilities may be the video columns
    in2.attention = random_attention(rng, *s2, pick(rng, 1, 3), Nt, all_keys ? P + nv + Nt : nv, false, all_keys ? 0 : 1);
    in2.attention.q_positions = {};
    in2.segments = seg;
    in2.prefix = P;
    add({"prunevid::stage2", P + nv + Nt, value_of(m2.kept_count(P, Nt, seg)), 0, -1, true, false,
         [m2, in2](vtr::plan& o, vtr::workspace& w) { return m2.try_plan(in2, o, w); }, s2});
  }
  {  // DToMA D1 and D2
    auto s = std::make_shared<storage>();
    vtr::dtoma::quadtree_params p;
    p.merge_threshold = static_cast<float>(pick(rng, 0, 9)) / 10.0f;
    p.max_depth = pick(rng, 0, 4);
    const vtr::dtoma::quadtree m(p);
    const index_t F = pick(rng, 1, 3), h = pick(rng, 1, 7), w = pick(rng, 1, 7), C = pick(rng, 1, 5);
    auto& t = s->random(rng, F * h * w * C, 0.5f, 1.0f);  // positive: cosines often above the threshold
    vtr::dtoma::quadtree::inputs in{{t.data(), {F * h * w, C}}, F, h, w};
    add({"dtoma::quadtree", F * h * w, -1, F, F * h * w, false, true,
         [m, in](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, s});

    auto s2 = std::make_shared<storage>();
    vtr::dtoma::select_params p2;
    p2.keep_ratio = static_cast<double>(pick(rng, 0, 10)) / 10.0;
    const vtr::dtoma::select m2(p2);
    const index_t keys = pick(rng, 1, 50), vb = pick(rng, 0, keys - 1);
    vtr::dtoma::select::inputs in2;
    in2.attn = random_attention(rng, *s2, pick(rng, 1, 3), pick(rng, 1, 3), keys, true);
    in2.visual_begin = vb;
    auto& rel = s2->random(rng, keys - vb);
    if (pick(rng, 0, 1)) in2.relevance = vtr::view_of(std::as_const(rel));
    add({"dtoma::select", keys - vb, value_of(m2.kept_count(keys - vb)), 0, -1, true, false,
         [m2, in2](vtr::plan& o, vtr::workspace& ws) { return m2.try_plan(in2, o, ws); }, s2});
  }
  {  // Policies
    auto s = std::make_shared<storage>();
    const index_t F = pick(rng, 1, 6), nf = pick(rng, 1, 10), C = pick(rng, 1, 5);
    auto& x = s->random(rng, F * nf * C, -1.0f, 1.0f);
    for (index_t f = 1; f < F; f += 2) std::copy_n(x.begin() + (f - 1) * nf * C, nf * C, x.begin() + f * nf * C);
    const vtr::policies::consecutive_frame_dedup dd;
    vtr::policies::consecutive_frame_dedup::inputs di{{x.data(), {F * nf, C}}, F};
    add({"policies::consecutive_frame_dedup", F * nf, -1, value_of(dd.min_kept_count(F, nf)), value_of(dd.max_kept_count(F, nf)),
         true, false, [dd, di](vtr::plan& o, vtr::workspace& ws) { return dd.try_plan(di, o, ws); }, s});

    auto s2 = std::make_shared<storage>();
    vtr::policies::frame_gate_params gp;
    gp.frame_threshold = 0.4f;
    gp.per_frame_keep = static_cast<double>(pick(rng, 0, 10)) / 10.0;
    gp.min_frames = pick(rng, 0, 2);
    const vtr::policies::frame_gate g(gp);
    vtr::policies::frame_gate::inputs gi;
    if (pick(rng, 0, 1)) {
      auto& sc = s2->ties(rng, F * nf);
      gi.scores = vtr::view_of(std::as_const(sc));
    } else {
      gi.attn = random_attention(rng, *s2, pick(rng, 1, 3), pick(rng, 1, 3), F * nf);
    }
    gi.frames = F;
    add({"policies::frame_gate", F * nf, -1, value_of(g.min_kept_count(F * nf, F)), value_of(g.max_kept_count(F * nf, F)), true,
         false, [g, gi](vtr::plan& o, vtr::workspace& ws) { return g.try_plan(gi, o, ws); }, s2});

    auto s3 = std::make_shared<storage>();
    vtr::policies::keep_ratio_topk_params kp;
    kp.ratio = static_cast<double>(pick(rng, 0, 10)) / 10.0;
    const vtr::policies::keep_ratio_topk k(kp);
    vtr::policies::keep_ratio_topk::inputs ki;
    auto& sc = s3->ties(rng, F * nf);
    ki.scores = vtr::view_of(std::as_const(sc));
    ki.frames = F;
    add({"policies::keep_ratio_topk", F * nf, value_of(k.kept_count(F * nf, F)), 0, -1, true, false,
         [k, ki](vtr::plan& o, vtr::workspace& ws) { return k.try_plan(ki, o, ws); }, s3});
  }
  return cases;
}

}  // namespace vtr_props
