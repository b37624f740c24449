// SparseVLM (ALGORITHMS §3.2): rater selection, one prune event (v1.5, v1, v2), the per-prefill driver,
// the §3.2.10 edge cases and the §3.2.11 conformance examples. The golden cases run in test_golden.
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/methods/sparsevlm.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace sv = vtr::sparsevlm;
using vtr::index_t;

namespace {

std::vector<float> random_floats(std::size_t n, std::mt19937& rng, float lo = 0.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// §3.2.11 setup: P = 2, Nv = 6, Nt = 3, H = 2, D = 4, raters {0, 2}, Y[t] = [4t, 4t+1, 4t+2, 4t+3].
struct t_setup {
  index_t P = 2, v = 6, nt = 3, H = 2, D = 4;
  std::vector<float> attn, hidden;
  std::vector<index_t> raters{0, 2};
  explicit t_setup(const std::vector<float>& scores) {
    attn.assign(static_cast<std::size_t>(H * nt * v), 0.9f);  // the non-rater row must be ignored
    for (index_t h = 0; h < H; ++h)
      for (index_t r : raters)
        for (index_t j = 0; j < v; ++j) attn[static_cast<std::size_t>((h * nt + r) * v + j)] = scores[static_cast<std::size_t>(j)];
    for (index_t j = 0; j < v; ++j)
      for (index_t c = 0; c < D; ++c) hidden.push_back(static_cast<float>(4 * (P + j) + c));
  }
  sv::event_inputs inputs() const {
    sv::event_inputs in;
    in.attn = vtr::ops::attention_input::from_probs({attn.data(), {H, nt, v}});
    in.raters = vtr::view_of(raters);
    in.hidden_vis = {hidden.data(), {v, D}};
    in.layer = 2;
    in.v_start = P;
    in.v_num = v;
    return in;
  }
};

sv::prune_params table_321() {
  sv::prune_params p;
  p.keep_table = std::array<index_t, 3>{3, 2, 1};
  return p;
}

void check_plan_shape(const vtr::plan& p, index_t v_num, index_t k) {
  REQUIRE(vtr::validate_plan(p).ok());
  REQUIRE(p.input_rows == v_num);
  for (index_t r = 0; r < k; ++r) {
    CHECK(p.origin[r] >= 0);
    CHECK(p.origin[r] < v_num);
    if (r > 0) CHECK(p.origin[r] > p.origin[r - 1]);
  }
  for (index_t r = k; r < p.size(); ++r) CHECK(p.origin[r] == vtr::plan::appended);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Raters (§3.2.3)

TEST_CASE("sparsevlm raters: T4 one rater, T4b all equal gives the empty set", "[sparsevlm]") {
  vtr::workspace ws;
  const std::vector<float> vis = {1, 0};
  const std::vector<float> text = {2, 0, 0, 0, -2, 0};
  std::vector<float> s;
  std::vector<index_t> r;
  REQUIRE(sv::try_select_raters(vtr::matrix_view<const float>(vis.data(), {1, 2}), {text.data(), {3, 2}}, r, ws, &s).ok());
  CHECK(r == std::vector<index_t>{0});
  CHECK(s[0] == Approx(0.867).epsilon(1e-3));
  CHECK(s[1] == Approx(0.117).epsilon(1e-2));
  const std::vector<float> same = {1, 1, 1, 1, 1, 1};
  REQUIRE(sv::try_select_raters(vtr::matrix_view<const float>(vis.data(), {1, 2}), {same.data(), {3, 2}}, r, ws).ok());
  CHECK(r.empty());
  // Nt = 1 always gives R = ∅ (s_0 = 1 = mean).
  REQUIRE(sv::try_select_raters(vtr::matrix_view<const float>(vis.data(), {1, 2}), {text.data(), {1, 2}}, r, ws).ok());
  CHECK(r.empty());
}

TEST_CASE("sparsevlm raters: matches a double-precision reference on random embeddings", "[sparsevlm]") {
  std::mt19937 rng(11);
  vtr::workspace ws;
  for (index_t nt : {2, 7, 17, 40}) {
    const index_t nv = 57, d = 33;
    const auto vis = random_floats(static_cast<std::size_t>(nv * d), rng, -0.5f, 0.5f);
    const auto text = random_floats(static_cast<std::size_t>(nt * d), rng, -0.5f, 0.5f);
    std::vector<double> s(static_cast<std::size_t>(nt), 0.0);
    for (index_t i = 0; i < nv; ++i) {
      std::vector<double> z(static_cast<std::size_t>(nt));
      double m = -1e300, tot = 0;
      for (index_t t = 0; t < nt; ++t) {
        double a = 0;
        for (index_t c = 0; c < d; ++c) a += double(vis[std::size_t(i * d + c)]) * text[std::size_t(t * d + c)];
        z[std::size_t(t)] = a;
        m = std::max(m, a);
      }
      for (auto& x : z) tot += (x = std::exp(x - m));
      for (index_t t = 0; t < nt; ++t) s[std::size_t(t)] += z[std::size_t(t)] / tot / double(nv);
    }
    const double mean = std::accumulate(s.begin(), s.end(), 0.0) / double(nt);
    std::vector<index_t> want;
    bool near_tie = false;
    for (index_t t = 0; t < nt; ++t) {
      if (s[std::size_t(t)] > mean) want.push_back(t);
      near_tie |= std::abs(s[std::size_t(t)] - mean) < 1e-6;
    }
    if (near_tie) continue;
    std::vector<index_t> got;
    REQUIRE(sv::try_select_raters(vtr::matrix_view<const float>(vis.data(), {nv, d}), {text.data(), {nt, d}}, got, ws).ok());
    CHECK(got == want);
  }
}

TEST_CASE("sparsevlm raters: errors name the argument", "[sparsevlm]") {
  vtr::workspace ws;
  std::vector<float> a(8, 1.0f), b(9, 1.0f);
  std::vector<index_t> r{7};
  auto st = sv::try_select_raters(vtr::matrix_view<const float>(a.data(), {2, 4}), {b.data(), {3, 3}}, r, ws);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "'text'"));
  CHECK(r == std::vector<index_t>{7});  // untouched on error
  st = sv::try_select_raters(vtr::matrix_view<const float>(a.data(), {0, 4}), {b.data(), {0, 4}}, r, ws);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "'vis'"));
}

// ---------------------------------------------------------------------------------------------------
// One event: §3.2.11 conformance examples and §3.2.10 edge cases

TEST_CASE("sparsevlm event T1: kept [1,3,4], token 0 recycled alone, new order and positions", "[sparsevlm]") {
  t_setup t({0.10f, 0.30f, 0.05f, 0.31f, 0.20f, 0.04f});
  const sv::layer step(table_321());
  vtr::workspace ws;
  sv::event_details d;
  const vtr::plan p = step.plan(t.inputs(), ws, &d);
  check_plan_shape(p, 6, 3);
  CHECK(d.kept == std::vector<index_t>{1, 3, 4});
  CHECK(d.recycled == std::vector<index_t>{0});
  CHECK(d.counts.pruned == 3);
  CHECK(d.counts.m == 1);
  CHECK(d.counts.c == 1);
  REQUIRE(p.size() == 4);
  CHECK(p.size() == step.kept_count(6, 2).value());
  std::vector<float> out(static_cast<std::size_t>(4 * 4));
  vtr::apply(p, vtr::matrix_view<const float>(t.hidden.data(), {6, 4}), vtr::matrix_view<float>(out.data(), {4, 4}));
  for (int c = 0; c < 4; ++c) CHECK(out[std::size_t(12 + c)] == Approx((8.0f + float(c)) / (1.0f + 1e-6f)).epsilon(1e-7));
  // The whole sequence: original ids [0, 1, 3, 5, 6, (merged), 8, 9, 10] (visual j is id 2 + j).
  const vtr::plan seq = sv::sequence_plan(p, 2, 3);
  REQUIRE(seq.size() == 9);
  const std::vector<index_t> want = {0, 1, 3, 5, 6, vtr::plan::appended, 8, 9, 10};
  CHECK(seq.origin == want);
  const auto [b, e] = seq.sources_of(5);
  REQUIRE(e - b == 1);
  CHECK(*b == 2);
}

TEST_CASE("sparsevlm event T2: exact ties follow §0.4 (lower index first)", "[sparsevlm]") {
  t_setup t(std::vector<float>(6, 0.25f));
  vtr::workspace ws;
  sv::event_details d;
  (void)sv::layer(table_321()).plan(t.inputs(), ws, &d);
  CHECK(d.kept == std::vector<index_t>{0, 1, 2});
  CHECK(d.recycled == std::vector<index_t>{3});
}

TEST_CASE("sparsevlm event T3: a table value >= v_num is capped at v_num - 1", "[sparsevlm]") {
  t_setup t({0.10f, 0.30f, 0.05f, 0.31f, 0.20f, 0.04f});
  sv::prune_params p;
  p.keep_table = std::array<index_t, 3>{10, 10, 10};
  vtr::workspace ws;
  sv::event_details d;
  const vtr::plan pl = sv::layer(p).plan(t.inputs(), ws, &d);
  CHECK(d.kept == std::vector<index_t>{0, 1, 2, 3, 4});
  CHECK(d.recycled == std::vector<index_t>{5});
  CHECK(d.counts.c == 1);
  CHECK(pl.size() == 6);
}

TEST_CASE("sparsevlm event: v_num = 0 keeps everything, v_num = 1 recycles the token alone", "[sparsevlm]") {
  vtr::workspace ws;
  const sv::layer step;
  sv::event_inputs in;
  std::vector<float> none;
  std::vector<index_t> raters{0};
  in.attn = vtr::ops::attention_input::from_probs({none.data(), {2, 3, 0}});
  in.raters = vtr::view_of(raters);
  in.hidden_vis = {none.data(), {0, 4}};
  in.v_num = 0;
  vtr::plan p = vtr::plan::select(5, {1, 2});
  REQUIRE(step.try_plan(in, p, ws).ok());
  CHECK(p.size() == 0);
  CHECK(step.kept_count(0, 2).value() == 0);

  std::vector<float> a = {0.5f, 0.1f, 0.2f, 0.3f, 0.5f, 0.7f};  // [H=2][Nt=3][1]
  std::vector<float> x = {3, -1, 2, 8};
  in.attn = vtr::ops::attention_input::from_probs({a.data(), {2, 3, 1}});
  in.hidden_vis = {x.data(), {1, 4}};
  in.v_num = 1;
  sv::event_details d;
  p = step.plan(in, ws, &d);
  CHECK(d.kept.empty());
  CHECK(d.recycled == std::vector<index_t>{0});
  REQUIRE(p.size() == 1);
  CHECK(step.kept_count(1, 2).value() == 1);
  std::vector<float> y(4);
  vtr::apply(p, vtr::matrix_view<const float>(x.data(), {1, 4}), vtr::matrix_view<float>(y.data(), {1, 4}));
  for (int c = 0; c < 4; ++c) CHECK(y[std::size_t(c)] == x[std::size_t(c)] / (1.0f + 1e-6f));
}

TEST_CASE("sparsevlm event: R = empty is an error by default, all text rows on request", "[sparsevlm]") {
  t_setup t({0.10f, 0.30f, 0.05f, 0.31f, 0.20f, 0.04f});
  std::vector<index_t> none;
  auto in = t.inputs();
  in.raters = vtr::view_of(none);
  vtr::workspace ws;
  vtr::plan p = vtr::plan::select(3, {0, 2});
  const auto before = p.origin;
  auto st = sv::layer(table_321()).try_plan(in, p, ws);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "'raters'"));
  CHECK(p.origin == before);  // nothing written on error
  auto prm = table_321();
  prm.on_empty_raters = sv::empty_raters::use_all_text;
  sv::event_details d;
  REQUIRE(sv::layer(prm).try_plan(in, p, ws, &d).ok());
  // Rows 0 and 2 hold the T1 scores, row 1 holds 0.9: the mean over all three rows.
  CHECK(d.scores[0] == Approx((0.10 * 2 + 0.9) / 3));
  CHECK(d.kept == std::vector<index_t>{1, 3, 4});
}

TEST_CASE("sparsevlm event: input errors name the argument and write nothing", "[sparsevlm]") {
  t_setup t({0.10f, 0.30f, 0.05f, 0.31f, 0.20f, 0.04f});
  vtr::workspace ws;
  vtr::plan p = vtr::plan::select(2, {1});
  auto expect_error = [&](const sv::event_inputs& in, const sv::prune_params& prm, const std::string& part) {
    const auto st = sv::layer(prm).try_plan(in, p, ws);
    INFO(st.message());
    REQUIRE_FALSE(st.ok());
    CHECK(contains(st.message(), part));
    CHECK(p.origin == std::vector<index_t>{1});
  };
  auto in = t.inputs();
  in.v_num = 5;
  expect_error(in, table_321(), "attn.probs");
  in = t.inputs();
  in.layer = 3;
  expect_error(in, table_321(), "layer 3");
  in = t.inputs();
  std::vector<index_t> bad{0, 3};
  in.raters = vtr::view_of(bad);
  expect_error(in, table_321(), "'raters'");
  std::vector<index_t> unsorted{2, 0};
  in.raters = vtr::view_of(unsorted);
  expect_error(in, table_321(), "ascending");
  in = t.inputs();
  in.hidden_vis = {t.hidden.data(), {5, 4}};
  expect_error(in, table_321(), "'hidden_vis'");
  in = t.inputs();
  std::vector<float> j2(1, 0.5f);
  in.jitter = {j2.data(), {0}};
  sv::prune_params prm;  // table 192 → k = 5, m = 1: fine with an empty jitter; too short is not
  prm.keep_table = std::array<index_t, 3>{1, 1, 1};  // k = 1, pruned 5, m = 2
  in.jitter = {j2.data(), {1}};
  expect_error(in, prm, "'jitter'");
  sv::prune_params unknown;
  unknown.retained = 100;
  expect_error(t.inputs(), unknown, "params.retained");
  std::vector<float> nan_attn = t.attn;
  nan_attn[0] = std::nanf("");
  in = t.inputs();
  in.attn = vtr::ops::attention_input::from_probs({nan_attn.data(), {2, 3, 6}});
  expect_error(in, table_321(), "non-finite score");
}

TEST_CASE("sparsevlm counts: §1.5 formula and the §3.2.6 reference trace", "[sparsevlm]") {
  const sv::layer step;  // key 192: 300 / 200 / 110
  auto c2 = step.counts(576, 2).value();
  CHECK(c2.k == 300);
  CHECK(c2.pruned == 276);
  CHECK(c2.m == 83);
  CHECK(c2.c == 9);
  CHECK(c2.after == 309);
  auto c6 = step.counts(309, 6).value();
  CHECK((c6.k == 200 && c6.m == 33 && c6.c == 4 && c6.after == 204));
  auto c15 = step.counts(204, 15).value();
  CHECK((c15.k == 110 && c15.pruned == 94 && c15.m == 29 && c15.c == 3 && c15.after == 113));
  CHECK(35 + c15.after + 40 == 188);
  // v2: no recycling, its own table.
  sv::prune_params p;
  p.retained = 128;
  CHECK(sv::layer_plus(p).kept_count(576, 2).value() == 238);
  CHECK(sv::layer_plus(p).kept_count(238, 6).value() == 108);
  CHECK(sv::layer(p).kept_count(576, 2).value() == 303 + (int(0.3 * 273) + 1) / 10 + 1);
  // v1 is data-dependent.
  CHECK_FALSE(sv::layer_v1().kept_count(576, 2).ok());
  CHECK(sv::layer_v1().kept_count_bound(576, 19).value() == 576);
  CHECK_FALSE(step.kept_count(576, 19).ok());
  // The rank rule: truncation, the v_num − 1 cap, keep-all at full rank, negative values clamp to 0.
  CHECK(sv::rank_rule_keep(15, 576, 13.5, 0.0) == 202);
  CHECK(sv::rank_rule_keep(5, 576, 0.8, 0.0) == 4);
  CHECK(sv::rank_rule_keep(22, 300, 13.5, 0.0) == 297);
  CHECK(sv::rank_rule_keep(4, 4, 13.5, 0.0) == 4);
  CHECK(sv::rank_rule_keep(3, 40, 1.0, -10.0) == 0);
  STATIC_REQUIRE(sv::layer::count_is_static);
  STATIC_REQUIRE_FALSE(sv::layer_v1::count_is_static);
}

TEST_CASE("sparsevlm event: kept_count == plan size, indices ascending and in range (random)", "[sparsevlm]") {
  std::mt19937 rng(5);
  vtr::workspace ws;
  for (int trial = 0; trial < 24; ++trial) {
    const index_t v = std::uniform_int_distribution<index_t>(1, 700)(rng);
    const index_t nt = std::uniform_int_distribution<index_t>(2, 30)(rng), H = 3, D = 9;
    const index_t layer = sv::sparse_layer(sv::version::v1_5, trial % 3);
    const auto attn = random_floats(static_cast<std::size_t>(H * nt * v), rng);
    const auto hid = random_floats(static_cast<std::size_t>(v * D), rng, -1.0f, 1.0f);
    std::vector<index_t> raters;
    for (index_t r = 0; r < nt; r += 2) raters.push_back(r);
    sv::event_inputs in;
    in.attn = vtr::ops::attention_input::from_probs({attn.data(), {H, nt, v}});
    in.raters = vtr::view_of(raters);
    in.hidden_vis = {hid.data(), {v, D}};
    in.layer = layer;
    in.v_num = v;
    sv::prune_params p;
    p.retained = std::vector<index_t>{192, 128, 96, 64}[std::size_t(trial % 4)];
    sv::event_details d;
    const vtr::plan a = sv::layer(p).plan(in, ws, &d);
    CHECK(a.size() == sv::layer(p).kept_count(v, layer).value());
    check_plan_shape(a, v, d.counts.k);
    std::set<index_t> rec(d.recycled.begin(), d.recycled.end());
    CHECK(rec.size() == d.recycled.size());
    for (index_t j : d.kept) CHECK(rec.count(j) == 0);
    for (std::size_t i = 1; i < d.recycled.size(); ++i)
      CHECK(d.scores[std::size_t(d.recycled[i - 1])] >= d.scores[std::size_t(d.recycled[i])]);
    const vtr::plan b = sv::layer_plus(p).plan(in, ws);
    CHECK(b.size() == sv::layer_plus(p).kept_count(v, layer).value());
    CHECK(b.is_selection());
    const vtr::plan c = sv::layer_v1().plan(in, ws);
    CHECK(c.size() <= sv::layer_v1().kept_count_bound(v, layer).value());
  }
}

TEST_CASE("sparsevlm event: probabilities and Q/K give identical kept indices (v1.5, v1, v2)", "[sparsevlm]") {
  std::mt19937 rng(7);
  vtr::workspace ws;
  const index_t P = 5, v = 77, nt = 12, L = P + v + nt, H = 4, Hkv = 2, dh = 16, D = 8;
  const auto q = random_floats(static_cast<std::size_t>(nt * H * dh), rng, -1.0f, 1.0f);
  const auto k = random_floats(static_cast<std::size_t>(L * Hkv * dh), rng, -1.0f, 1.0f);
  const auto hid = random_floats(static_cast<std::size_t>(v * D), rng, -1.0f, 1.0f);
  std::vector<index_t> pos(static_cast<std::size_t>(nt));
  std::iota(pos.begin(), pos.end(), P + v);
  // Probabilities of the text rows over every key, then the [H][Nt][v] visual block as a strided view.
  std::vector<float> full(static_cast<std::size_t>(H * nt * L));
  vtr::ops::attention_rows(vtr::tensor_view<const float, 3>(q.data(), {nt, H, dh}), {k.data(), {L, Hkv, dh}},
                           vtr::view_of(pos), {}, vtr::tensor_view<float, 3>(full.data(), {H, nt, L}), ws);
  const vtr::tensor_view<const float, 3> block(full.data() + P, {H, nt, v}, {nt * L, L, 1});
  std::vector<index_t> raters{1, 4, 5, 9, 11};
  sv::event_inputs a;
  a.attn = vtr::ops::attention_input::from_probs(block);
  a.raters = vtr::view_of(raters);
  a.hidden_vis = {hid.data(), {v, D}};
  a.layer = 6;
  a.v_start = P;
  a.v_num = v;
  sv::event_inputs b = a;
  b.attn = vtr::ops::attention_input::from_qk({q.data(), {nt, H, dh}}, {k.data(), {L, Hkv, dh}}, vtr::view_of(pos));
  sv::prune_params p;
  p.keep_table = std::array<index_t, 3>{40, 30, 20};
  p.head_dim = dh;
  p.priority_heads = 3;
  p.scale = 2.5;
  auto same = [&](auto step) {
    typename decltype(step)::details da, db;
    const vtr::plan pa = step.plan(a, ws, &da), pb = step.plan(b, ws, &db);
    CHECK(pa.origin == pb.origin);
    CHECK(da.kept == db.kept);
    CHECK(da.recycled == db.recycled);
    for (std::size_t j = 0; j < da.scores.size(); ++j) CHECK(da.scores[j] == Approx(db.scores[j]).epsilon(1e-6));
  };
  same(sv::layer(p));
  same(sv::layer_v1(p));
  same(sv::layer_plus(p));
  // Only the rater rows matter: changing a non-rater q row changes nothing.
  auto q2 = q;
  for (index_t t = 0; t < H * dh; ++t) q2[std::size_t(2 * H * dh + t)] = 3.0f;
  sv::event_inputs c = b;
  c.attn = vtr::ops::attention_input::from_qk({q2.data(), {nt, H, dh}}, {k.data(), {L, Hkv, dh}}, vtr::view_of(pos));
  sv::event_details db, dc;
  (void)sv::layer(p).plan(b, ws, &db);
  (void)sv::layer(p).plan(c, ws, &dc);
  CHECK(db.scores == dc.scores);
}

TEST_CASE("sparsevlm v1: the rank rule reads the rank of the rater x visual block", "[sparsevlm]") {
  std::mt19937 rng(3);
  vtr::workspace ws;
  const index_t H = 2, nt = 6, v = 50, D = 4;
  // Rater rows 0, 2, 4 are combinations of two patterns: rank 2 → k = int(2·13.5) = 27.
  const auto u = random_floats(static_cast<std::size_t>(v), rng), w = random_floats(static_cast<std::size_t>(v), rng);
  std::vector<float> attn(static_cast<std::size_t>(H * nt * v), 0.5f);
  const float coef[3][2] = {{1, 0}, {0, 1}, {0.5f, 0.25f}};
  for (index_t h = 0; h < H; ++h)
    for (int i = 0; i < 3; ++i)
      for (index_t j = 0; j < v; ++j)
        attn[std::size_t((h * nt + 2 * i) * v + j)] = coef[i][0] * u[std::size_t(j)] + coef[i][1] * w[std::size_t(j)];
  const auto hid = random_floats(static_cast<std::size_t>(v * D), rng);
  std::vector<index_t> raters{0, 2, 4};
  sv::event_inputs in;
  in.attn = vtr::ops::attention_input::from_probs({attn.data(), {H, nt, v}});
  in.raters = vtr::view_of(raters);
  in.hidden_vis = {hid.data(), {v, D}};
  in.layer = 19;
  in.v_num = v;
  sv::event_details d;
  const vtr::plan p = sv::layer_v1().plan(in, ws, &d);
  CHECK(d.rank == 2);
  CHECK(d.counts.k == 27);
  CHECK(p.size() == 27 + d.counts.c);
  // Full rank == v_num: keep all, no recycling.
  in.v_num = 2;
  in.attn = vtr::ops::attention_input::from_probs({attn.data(), {H, nt, 2}, {nt * v, v, 1}});
  in.hidden_vis = {hid.data(), {2, D}};
  const vtr::plan all = sv::layer_v1().plan(in, ws, &d);
  CHECK(d.rank == 2);
  CHECK(all.origin == std::vector<index_t>{0, 1});
  CHECK(all.is_selection());
  // ops::matrix_rank against the double reference.
  const vtr::matrix_view<const float> m(attn.data(), {nt, v});
  CHECK(vtr::ops::matrix_rank(m) == vtr::ops::ref::matrix_rank(m));
}

TEST_CASE("sparsevlm v2: RoPE gravity matches the closed form; the correction changes the ranking", "[sparsevlm]") {
  vtr::workspace ws;
  for (index_t dh : {2, 16, 128}) {
    const std::vector<index_t> rows = {611, 640, 700}, cols = {0, 35, 300, 610};
    std::vector<float> g(rows.size() * cols.size());
    vtr::ops::rope_gravity(vtr::view_of(rows), vtr::view_of(cols), dh, 10000.0,
                           vtr::matrix_view<float>(g.data(), {3, 4}), ws);
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 4; ++j)
        CHECK(g[i * 4 + j] == Approx(vtr::ops::ref::rope_gravity(rows[i], cols[j], dh, 10000.0)).margin(2e-4 * double(dh)));
  }
  // Same position: G = (2/√d)·(d/2) = √d.
  std::vector<index_t> p0{7};
  float g0 = 0;
  vtr::ops::rope_gravity(vtr::view_of(p0), vtr::view_of(p0), 16, 10000.0, vtr::matrix_view<float>(&g0, {1, 1}), ws);
  CHECK(g0 == Approx(4.0f));
  // v2 on uniform attention: score_j = 1/G[·][j] averaged, so the ranking follows the RoPE decay.
  const index_t H = 2, nt = 2, v = 8;
  std::vector<float> attn(static_cast<std::size_t>(H * nt * v), 0.1f);
  std::vector<index_t> raters{0, 1};
  sv::event_inputs in;
  in.attn = vtr::ops::attention_input::from_probs({attn.data(), {H, nt, v}});
  in.raters = vtr::view_of(raters);
  in.layer = 2;
  in.v_start = 3;
  in.v_num = v;
  sv::prune_params p;
  p.head_dim = 8;
  p.keep_table = std::array<index_t, 3>{3, 3, 3};
  sv::event_details d;
  const vtr::plan pl = sv::layer_plus(p).plan(in, ws, &d);
  CHECK(pl.size() == 3);
  CHECK(d.heads == std::vector<index_t>{0, 1});
  for (index_t j = 0; j < v; ++j) {
    double want = 0;
    for (index_t r = 0; r < nt; ++r) want += 0.1 / vtr::ops::ref::rope_gravity(3 + v + r, 3 + j, 8, 10000.0) / double(nt);
    CHECK(d.scores[std::size_t(j)] == Approx(want).epsilon(1e-4));
  }
}

// ---------------------------------------------------------------------------------------------------
// The driver (§3.2.6 pseudocode)

TEST_CASE("sparsevlm prefill: spans, counts and positions across layers 2, 6, 15", "[sparsevlm]") {
  std::mt19937 rng(9);
  vtr::workspace ws;
  const index_t P = 35, nv = 576, nt = 40, D = 16, H = 2;
  const index_t L0 = P + nv + nt;
  const auto x0 = random_floats(static_cast<std::size_t>(L0 * D), rng, -1.0f, 1.0f);
  sv::prefill run({}, P, nv, nt);
  vtr::plan p;
  // No raters yet: an error, not NaN.
  std::vector<float> tiny(1, 0.0f);
  auto st = run.try_prune(2, vtr::ops::attention_input::from_probs({tiny.data(), {1, nt, 0}}), {tiny.data(), {0, D}}, {}, p, ws);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "rater"));
  run.select_raters(vtr::matrix_view<const float>(x0.data(), {L0, D}), ws);
  REQUIRE_FALSE(run.raters().empty());
  const std::vector<index_t> want_after = {309, 204, 113};
  const std::vector<index_t> layers = {2, 6, 15};
  for (std::size_t e = 0; e < 3; ++e) {
    const index_t v = run.current().v_num, ell = layers[e];
    CHECK_FALSE(run.is_sparse_layer(ell + 1));
    CHECK(run.kept_count(ell + 1).value() == v);
    const index_t expect = run.kept_count(ell).value();
    CHECK(expect == want_after[e]);
    const auto attn = random_floats(static_cast<std::size_t>(H * nt * v), rng);
    const auto hid = random_floats(static_cast<std::size_t>(v * D), rng);
    p = run.prune(ell, vtr::ops::attention_input::from_probs({attn.data(), {H, nt, v}}), {hid.data(), {v, D}}, {}, ws);
    CHECK(p.size() == expect);
    CHECK(run.current().v_num == expect);
    CHECK(run.current().text_start() == P + expect);
    CHECK(static_cast<index_t>(run.positions().size()) == run.current().length());
    CHECK(run.positions().back() == run.current().length() - 1);  // dense renumbering
  }
  CHECK(run.current().length() == 188);
  // Out of order / repeated layers are rejected and leave the state alone.
  const auto attn = random_floats(static_cast<std::size_t>(H * nt * 113), rng);
  const auto hid = random_floats(static_cast<std::size_t>(113 * D), rng);
  st = run.try_prune(6, vtr::ops::attention_input::from_probs({attn.data(), {H, nt, 113}}), {hid.data(), {113, D}}, {}, p, ws);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "layer 6"));
  CHECK(run.current().v_num == 113);
  st = run.try_prune(19, vtr::ops::attention_input::from_probs({attn.data(), {H, nt, 113}}), {hid.data(), {113, D}}, {}, p, ws);
  REQUIRE_FALSE(st.ok());
}

TEST_CASE("sparsevlm prefill: v2 keeps the original position ids; empty raters policy", "[sparsevlm]") {
  std::mt19937 rng(4);
  vtr::workspace ws;
  const index_t P = 3, nv = 20, nt = 4, H = 2;
  sv::prune_params prm;
  prm.keep_table = std::array<index_t, 3>{10, 5, 2};
  prm.head_dim = 8;
  sv::prefill_plus run(prm, P, nv, nt);
  std::vector<index_t> r{0, 3};
  run.set_raters(vtr::view_of(r));
  std::vector<index_t> kept_ids;
  for (index_t ell : {2, 6, 15}) {
    const index_t v = run.current().v_num;
    const auto attn = random_floats(static_cast<std::size_t>(H * nt * v), rng, 0.01f, 1.0f);
    std::vector<index_t> before(run.positions().begin() + P, run.positions().begin() + P + v);
    const vtr::plan p = run.prune(ell, vtr::ops::attention_input::from_probs({attn.data(), {H, nt, v}}), {}, {}, ws);
    REQUIRE(p.is_selection());
    for (index_t i = 0; i < p.size(); ++i) CHECK(run.positions()[std::size_t(P + i)] == before[std::size_t(p.origin[i])]);
  }
  CHECK(run.current().v_num == 2);
  // Text keeps its original ids P + nv + t.
  CHECK(run.positions()[std::size_t(P + 2)] == P + nv);
  CHECK(run.positions().back() == P + nv + nt - 1);
  // An empty rater set: rejected by default.
  sv::prefill dflt({}, P, nv, nt);
  std::vector<index_t> none;
  CHECK_FALSE(dflt.try_set_raters(vtr::view_of(none)).ok());
  sv::prune_params all;
  all.on_empty_raters = sv::empty_raters::use_all_text;
  sv::prefill lenient(all, P, nv, nt);
  CHECK(lenient.try_set_raters(vtr::view_of(none)).ok());
}
