// FastV (ALGORITHMS §3.1): counts, edge cases, both attention forms, properties, golden cases through the
// library API.
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/io/npy.hpp>
#include <vtr/methods/fastv.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;

namespace {

std::vector<float> random_probs(index_t heads, index_t keys, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  std::vector<float> p(static_cast<std::size_t>(heads * keys));
  for (index_t h = 0; h < heads; ++h) {
    double s = 0;
    for (index_t j = 0; j < keys; ++j) s += (p[std::size_t(h * keys + j)] = d(rng));
    for (index_t j = 0; j < keys; ++j) p[std::size_t(h * keys + j)] = static_cast<float>(p[std::size_t(h * keys + j)] / s);
  }
  return p;
}

vtr::ops::attention_input probs_row(const std::vector<float>& p, index_t heads, index_t keys) {
  return vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(p.data(), {heads, 1, keys}, {keys, keys, 1}));
}

vtr::fastv::select ratio_method(double r) {
  vtr::fastv::select_params p;
  p.ratio = r;
  return vtr::fastv::select(p);
}

// The spec written out: head mean of the row, top-n by (score desc, index asc), union with the rest.
std::vector<index_t> reference_keep(const std::vector<float>& p, index_t heads, index_t keys, index_t start, index_t n_img,
                                    index_t n_keep) {
  std::vector<float> s(static_cast<std::size_t>(n_img));
  for (index_t j = 0; j < n_img; ++j) {
    double acc = 0;
    for (index_t h = 0; h < heads; ++h) acc += p[std::size_t(h * keys + start + j)];
    s[std::size_t(j)] = static_cast<float>(acc / double(heads));
  }
  std::vector<index_t> keep;
  for (index_t i = 0; i < start; ++i) keep.push_back(i);
  for (index_t j : vtr::ops::ref::topk(s, n_keep, vtr::ops::order::ascending)) keep.push_back(start + j);
  for (index_t i = start + n_img; i < keys; ++i) keep.push_back(i);
  return keep;
}

}  // namespace

TEST_CASE("fastv: round_half_even is Python's round", "[fastv]") {
  using vtr::fastv::round_half_even;
  CHECK(round_half_even(2.5) == 2.0);
  CHECK(round_half_even(3.5) == 4.0);
  CHECK(round_half_even(0.5) == 0.0);
  CHECK(round_half_even(1.5) == 2.0);
  CHECK(round_half_even(2.4999) == 2.0);
  CHECK(round_half_even(2.5001) == 3.0);
  CHECK(round_half_even(288.0) == 288.0);
}

TEST_CASE("fastv: kept counts (ALGORITHMS §3.1.3 examples)", "[fastv]") {
  CHECK(ratio_method(0.5).kept_image_count(5).value() == 2);    // round(2.5) = 2
  CHECK(ratio_method(0.75).kept_image_count(10).value() == 2);  // round(2.5) = 2
  CHECK(ratio_method(0.5).kept_image_count(7).value() == 4);    // round(3.5) = 4
  CHECK(ratio_method(0.5).kept_count(651, 576).value() == 363);
  CHECK(ratio_method(0.0).kept_image_count(24).value() == 24);
  CHECK(ratio_method(1.0).kept_image_count(24).value() == 0);
  vtr::fastv::select_params p;
  p.rule = vtr::fastv::count_rule::rank;
  p.rank = 144;
  CHECK(vtr::fastv::select(p).kept_image_count(576).value() == 144);
  CHECK(vtr::fastv::select(p).kept_image_count(100).value() == 100);  // clamped to N_img
  CHECK(vtr::fastv::select(p).kept_count(611, 576).value() == 611 - 576 + 144);
}

TEST_CASE("fastv: invalid parameters and inputs are rejected, nothing written", "[fastv]") {
  std::mt19937 rng(3);
  const index_t H = 4, L = 40;
  const auto p = random_probs(H, L, rng);
  vtr::workspace ws;
  vtr::plan out = vtr::plan::select(3, {0, 1, 2});
  const auto untouched = out.origin;
  auto expect_error = [&](const vtr::fastv::select& m, const vtr::fastv::select::inputs& in, const std::string& needle) {
    vtr::fastv::select::details d;
    d.image_scores = {42.0f};
    const vtr::status s = m.try_plan(in, out, ws, &d);
    REQUIRE_FALSE(s.ok());
    INFO(s.message());
    CHECK(s.message().find(needle) != std::string::npos);
    CHECK(out.origin == untouched);
    CHECK(d.image_scores == std::vector<float>{42.0f});
    CHECK_THROWS_AS(m.plan(in, ws), vtr::invalid_input);
  };
  vtr::fastv::select::inputs in{probs_row(p, H, L), 5, 20};

  vtr::fastv::select_params k0;
  k0.layer = 0;  // §3.1.3: K = 0 is an error
  expect_error(vtr::fastv::select(k0), in, "layer");
  expect_error(ratio_method(1.5), in, "ratio");
  expect_error(ratio_method(-0.1), in, "ratio");
  vtr::fastv::select_params neg;
  neg.rule = vtr::fastv::count_rule::rank;
  neg.rank = -1;
  expect_error(vtr::fastv::select(neg), in, "rank");

  auto bad = in;
  bad.image_start = 30;  // 30 + 20 > 40
  expect_error(ratio_method(0.5), bad, "image_start");
  bad = in;
  bad.image_count = -1;
  expect_error(ratio_method(0.5), bad, "image_count");
  bad = in;
  bad.query_row = 1;  // only one row given
  expect_error(ratio_method(0.5), bad, "query_row");

  auto nan_p = p;
  nan_p[std::size_t(7)] = std::numeric_limits<float>::quiet_NaN();
  expect_error(ratio_method(0.5), vtr::fastv::select::inputs{probs_row(nan_p, H, L), 5, 20}, "NaN");
  CHECK_FALSE(vtr::fastv::select(k0).kept_count(10, 5).ok());
  CHECK_FALSE(ratio_method(0.5).kept_count(10, 11).ok());
}

TEST_CASE("fastv: R = 0 keeps all, R = 1 keeps no image token, ties go to the lower index", "[fastv]") {
  std::mt19937 rng(5);
  const index_t H = 3, L = 33, start = 5, n = 24;
  const auto p = random_probs(H, L, rng);
  vtr::workspace ws;
  const vtr::fastv::select::inputs in{probs_row(p, H, L), start, n};
  const vtr::plan all = ratio_method(0.0).plan(in, ws);
  std::vector<index_t> iota(static_cast<std::size_t>(L));
  std::iota(iota.begin(), iota.end(), index_t(0));
  CHECK(all.origin == iota);
  CHECK(all.is_selection());
  vtr::fastv::select::details d;
  const vtr::plan none = ratio_method(1.0).plan(in, ws, &d);
  CHECK(none.size() == L - n);
  CHECK(d.kept_image_rel.empty());
  CHECK(d.image_scores.size() == std::size_t(n));
  for (index_t o : none.origin) CHECK((o < start || o >= start + n));

  const std::vector<float> flat(static_cast<std::size_t>(H * L), 1.0f / float(L));
  const vtr::plan tied = ratio_method(0.5).plan({probs_row(flat, H, L), start, n}, ws, &d);
  std::vector<index_t> want(12);
  std::iota(want.begin(), want.end(), index_t(0));
  CHECK(d.kept_image_rel == want);
  CHECK(tied.size() == L - n + 12);
}

TEST_CASE("fastv: random shapes — count, order, reference, both attention forms", "[fastv]") {
  std::mt19937 rng(7);
  vtr::workspace ws;
  for (int trial = 0; trial < 40; ++trial) {
    const index_t H = 1 + index_t(rng() % 8), Hkv_div = (H % 2 == 0) ? 2 : 1, d = 1 + index_t(rng() % 17);
    const index_t L = 2 + index_t(rng() % 700);
    const index_t n = index_t(rng() % std::uint32_t(L)), start = index_t(rng() % std::uint32_t(L - n + 1));
    const double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto m = ratio_method(r);

    // Q/K form: the last row of the prefill attends every key.
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> q(static_cast<std::size_t>(H * d)), k(static_cast<std::size_t>(L * (H / Hkv_div) * d));
    for (auto& x : q) x = nd(rng);
    for (auto& x : k) x = nd(rng);
    std::vector<index_t> pos{L - 1};
    const vtr::tensor_view<const float, 3> qv(q.data(), {1, H, d}), kv(k.data(), {L, H / Hkv_div, d});
    const auto qk_in = vtr::ops::attention_input::from_qk(qv, kv, vtr::view_of(pos));
    // The same rows as probabilities.
    std::vector<float> probs(static_cast<std::size_t>(H * L));
    vtr::ops::attention_rows(qv, kv, vtr::view_of(pos), vtr::ops::attention_mode{}, vtr::tensor_view<float, 3>(probs.data(), {H, 1, L}), ws);

    vtr::fastv::select::details dp, dq;
    const vtr::plan a = m.plan({probs_row(probs, H, L), start, n}, ws, &dp);
    const vtr::plan b = m.plan({qk_in, start, n}, ws, &dq);
    INFO("trial " << trial << " H=" << H << " L=" << L << " start=" << start << " n=" << n << " r=" << r);
    CHECK(a.origin == b.origin);
    CHECK(a.size() == m.kept_count(L, n).value());
    CHECK(a.input_rows == L);
    CHECK(std::is_sorted(a.origin.begin(), a.origin.end()));
    CHECK(std::adjacent_find(a.origin.begin(), a.origin.end()) == a.origin.end());
    CHECK((a.origin.empty() || (a.origin.front() >= 0 && a.origin.back() < L)));
    CHECK(a.origin == reference_keep(probs, H, L, start, n, m.kept_image_count(n).value()));
    CHECK(vtr::validate_plan(a).ok());
  }
}

TEST_CASE("fastv: query_row picks one of several given rows; key_mask", "[fastv]") {
  std::mt19937 rng(9);
  const index_t H = 2, L = 30;
  const auto r0 = random_probs(H, L, rng), r1 = random_probs(H, L, rng);
  // [H][2][L]: row 0 = r0, row 1 = r1.
  std::vector<float> both(static_cast<std::size_t>(H * 2 * L));
  for (index_t h = 0; h < H; ++h)
    for (index_t j = 0; j < L; ++j) {
      both[std::size_t((h * 2 + 0) * L + j)] = r0[std::size_t(h * L + j)];
      both[std::size_t((h * 2 + 1) * L + j)] = r1[std::size_t(h * L + j)];
    }
  vtr::workspace ws;
  const auto m = ratio_method(0.5);
  const auto in2 = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(both.data(), {H, 2, L}));
  const vtr::plan last = m.plan({in2, 4, 20}, ws);
  const vtr::plan first = m.plan({in2, 4, 20, 0}, ws);
  CHECK(last.origin == m.plan({probs_row(r1, H, L), 4, 20}, ws).origin);
  CHECK(first.origin == m.plan({probs_row(r0, H, L), 4, 20}, ws).origin);
  std::vector<unsigned char> mask;
  vtr::fastv::select::key_mask(last, mask);
  CHECK(mask.size() == std::size_t(L));
  CHECK(std::count(mask.begin(), mask.end(), 1) == last.size());
}

TEST_CASE("fastv: golden cases through the library API", "[fastv][golden]") {
  namespace fs = std::filesystem;
  struct gcase {
    const char* name;
    index_t start, n_img;
    bool rank;
    double r;
    index_t rank_n;
  };
  const gcase cases[] = {{"llava_k2_r050", 35, 576, false, 0.5, 0},  {"orig_rank144", 35, 576, true, 0, 144},
                         {"r0_keep_all", 5, 24, false, 0.0, 0},      {"r1_keep_none", 5, 24, false, 1.0, 0},
                         {"round_half_even", 3, 5, false, 0.5, 0},   {"ties_all_equal", 5, 20, false, 0.5, 0}};
  vtr::workspace ws;
  for (const auto& c : cases) {
    const fs::path dir = fs::path(VTR_GOLDEN_DIR) / "fastv.select" / c.name;
    INFO(dir.string());
    const auto attn = vtr::read_npy(dir / "in_attn_last.npy");
    const auto v = attn.as_view<const float, 2>();
    const index_t H = v.extent(0), L = v.extent(1);
    vtr::fastv::select_params p;
    p.rule = c.rank ? vtr::fastv::count_rule::rank : vtr::fastv::count_rule::ratio;
    p.ratio = c.r;
    p.rank = c.rank_n;
    const vtr::fastv::select m(p);
    vtr::fastv::select::details d;
    const auto in = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(v.data_handle(), {H, 1, L}, {L, L, 1}));
    const vtr::plan plan = m.plan({in, c.start, c.n_img}, ws, &d);
    const auto want_keep = vtr::read_npy(dir / "out_keep_idx.npy").to_int64();
    const auto want_rel = vtr::read_npy(dir / "out_kept_image_rel.npy").to_int64();
    const auto want_scores = vtr::read_npy(dir / "out_image_scores.npy").to_float();
    CHECK(std::vector<std::int64_t>(plan.origin.begin(), plan.origin.end()) == want_keep);
    CHECK(std::vector<std::int64_t>(d.kept_image_rel.begin(), d.kept_image_rel.end()) == want_rel);
    REQUIRE(d.image_scores.size() == want_scores.size());
    for (std::size_t i = 0; i < want_scores.size(); ++i)
      CHECK(std::abs(d.image_scores[i] - want_scores[i]) <= 1e-6f + 1e-5f * std::abs(want_scores[i]));
  }
}
