// Media layouts (multi-image, LLaVA-NeXT anyres, video), budgets, per-unit plans combined into one sequence
// plan, and batch apply (core/media.hpp, core/batch.hpp, policies/media_topk.hpp).
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/batch.hpp>
#include <vtr/core/media.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>
#include <vtr/policies/media_topk.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <limits>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;
namespace media = vtr::media;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool same_plan(const vtr::plan& a, const vtr::plan& b) {
  return a.input_rows == b.input_rows && a.origin == b.origin && a.offsets == b.offsets && a.sources == b.sources &&
         a.weights == b.weights && a.divisors == b.divisors;
}

std::vector<float> random_floats(std::mt19937& rng, index_t n) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

// text 2 | base 2×2 | tiles 1×2 of 2×2 (a 2×4 map, one newline per row) | text 1:
//   0-1 text; 2-5 base; 6,7 tile0 {0,1}; 8,9 tile1 {0,1}; 10 newline; 11,12 tile0 {2,3}; 13,14 tile1 {2,3};
//   15 newline; 16 text.
media::layout small_anyres() {
  media::anyres_spec a;
  a.tile_rows = 1;
  a.tile_cols = 2;
  a.grid_h = a.grid_w = 2;
  media::layout lay;
  lay.text(2).anyres(a).text(1);
  return lay;
}

// text 1 | base 2×2 | 2×2 tiles of 2×2 (a 4×4 map) unpadded for an 8×4 image to map rows [1, 3) | text 1:
//   0 text; 1-4 base; 5,6 tile(0,0) {2,3}; 7,8 tile(0,1) {2,3}; 9 newline; 10,11 tile(1,0) {0,1};
//   12,13 tile(1,1) {0,1}; 14 newline; 15 text.
media::layout unpadded_anyres() {
  media::anyres_spec a;
  a.grid_h = a.grid_w = 2;
  a.keep = media::anyres_unpad(8, 4, 4, 4);
  media::layout lay;
  lay.text(1).anyres(a).text(1);
  return lay;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Layouts

TEST_CASE("media layout: LLaVA-NeXT anyres token counts") {
  // 672×672: base 24×24 + 2×2 tiles → 576 + 48·(48 + 1) = 2928 tokens, 48 of them newlines.
  media::layout a;
  a.anyres({});
  CHECK(a.size() == 2928);
  CHECK(a.newline_tokens() == 48);
  CHECK(a.visual_tokens() == 5 * 576);
  REQUIRE(a.units().size() == 5);
  CHECK(a.units()[0].kind == media::span_kind::base);
  CHECK(a.units()[4].tile_row == 1);
  CHECK(a.units()[4].tile_col == 1);

  // 640×480 on 2×2 tiles: the 48×48 map is unpadded to rows [6, 42) → 576 + 36·49 = 2340.
  const media::unpad_region r = media::anyres_unpad(640, 480, 48, 48);
  CHECK(r.row0 == 6);
  CHECK(r.rows == 36);
  CHECK(r.col0 == 0);
  CHECK(r.cols == 48);
  media::anyres_spec s;
  s.keep = r;
  media::layout b;
  b.anyres(s);
  CHECK(b.size() == 2340);
  // A tall image unpads columns; a 10×7 image on a 4×4 map: ⌊7·0.4⌋ = 2 rows of padding split 1 / 1.
  const auto tall = media::anyres_unpad(4, 8, 4, 4);
  CHECK((tall.row0 == 0 && tall.rows == 4 && tall.col0 == 1 && tall.cols == 2));
  const auto odd = media::anyres_unpad(10, 7, 4, 4);
  CHECK((odd.row0 == 1 && odd.rows == 2));

  // Base only: the base then one newline token. "spatial" (no newline) and "nobase" variants.
  media::anyres_spec base_only;
  base_only.tile_rows = base_only.tile_cols = 0;
  CHECK(media::layout().anyres(base_only).size() == 577);
  media::anyres_spec spatial;
  spatial.newline = false;
  CHECK(media::layout().anyres(spatial).size() == 5 * 576);
  media::anyres_spec nobase;
  nobase.base = false;
  CHECK(media::layout().anyres(nobase).size() == 48 * 49);
}

TEST_CASE("media layout: anyres spans walk the tiled map row by row") {
  const media::layout lay = small_anyres();
  REQUIRE(lay.size() == 17);
  struct want_span {
    media::span_kind kind;
    index_t begin, count, unit, first;
  };
  using K = media::span_kind;
  const std::vector<want_span> want = {{K::text, 0, 2, -1, 0},  {K::base, 2, 4, 0, 0},    {K::tile, 6, 2, 1, 0},
                                       {K::tile, 8, 2, 2, 0},   {K::newline, 10, 1, -1, 0}, {K::tile, 11, 2, 1, 2},
                                       {K::tile, 13, 2, 2, 2},  {K::newline, 15, 1, -1, 0}, {K::text, 16, 1, -1, 0}};
  REQUIRE(lay.spans().size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const media::span& s = lay.spans()[i];
    CHECK(s.kind == want[i].kind);
    CHECK(s.begin == want[i].begin);
    CHECK(s.count == want[i].count);
    CHECK(s.unit == want[i].unit);
    if (s.unit >= 0) CHECK(s.unit_first == want[i].first);
  }
  CHECK(lay.units()[1].rows == std::vector<index_t>{6, 7, 11, 12});
  CHECK(lay.units()[2].rows == std::vector<index_t>{8, 9, 13, 14});
  REQUIRE(lay.items().size() == 1);
  CHECK(lay.items()[0].begin == 2);
  CHECK(lay.items()[0].end == 16);
  CHECK(lay.items()[0].visual == 12);
  CHECK(lay.items()[0].newlines == 2);

  const media::layout u = unpadded_anyres();
  REQUIRE(u.size() == 16);
  CHECK(u.units()[1].rows == std::vector<index_t>{-1, -1, 5, 6});
  CHECK(u.units()[3].rows == std::vector<index_t>{10, 11, -1, -1});
  CHECK(u.units()[1].present == 2);
  CHECK(u.visual_tokens() == 12);
  CHECK(u.newline_tokens() == 2);
}

TEST_CASE("media layout: multi-image prompts and image + video mixes") {
  const media::layout m = media::multi_image(5, {{2, 2}, {1, 3}, {3, 1}}, 2, 4);
  // 5 + 4 + 2 + 3 + 2 + 3 + 4 = 23 rows, three image items of one unit each.
  CHECK(m.size() == 23);
  REQUIRE(m.items().size() == 3);
  CHECK(m.items()[1].begin == 11);
  CHECK(m.items()[2].begin == 16);
  CHECK(m.text_tokens() == 13);

  media::layout v;
  v.text(3).video(4, 2, 3).text(1).image(2, 2).text(2);
  REQUIRE(v.items().size() == 2);
  CHECK(v.items()[0].kind == media::item_kind::video);
  CHECK(v.items()[0].units == 4);
  CHECK(v.units()[2].kind == media::span_kind::frame);
  CHECK(v.units()[2].index == 2);
  CHECK(v.units()[2].rows.front() == 3 + 12);
  CHECK(v.size() == 3 + 24 + 1 + 4 + 2);
  CHECK(v.describe_unit(2) == "unit 2 (frame 2 of video item 0)");

  // Errors name the arguments and leave the layout as it was.
  media::layout e;
  e.text(2);
  auto s = e.try_image(0, 3);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'grid_h'"));
  CHECK(e.size() == 2);
  CHECK_THROWS_AS(e.video(0, 2, 2), vtr::invalid_input);
  media::anyres_spec bad;
  bad.keep.row0 = 40;
  bad.keep.rows = 10;
  s = e.try_anyres(bad);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'keep'"));
  CHECK(e.size() == 2);
  CHECK_FALSE(media::try_multi_image(1, {{2, 2}, {2, -1}}, 1, 1).ok());
  CHECK(contains(media::try_multi_image(1, {{2, 2}, {2, -1}}, 1, 1).error().message(), "image 1"));
  CHECK_FALSE(media::try_anyres_unpad(0, 4, 4, 4).ok());
}

// ---------------------------------------------------------------------------------------------------------
// Budgets

TEST_CASE("media budgets: largest-remainder split, hand-computed") {
  // 10 over [4, 4, 4]: 3.33 each → 3, 3, 3 + one left → the lowest index of the tied remainders.
  CHECK(media::split_budget(10, {4, 4, 4}) == std::vector<index_t>{4, 3, 3});
  // 5 over [1, 2, 7]: 0.5, 1.0, 3.5 → 0, 1, 3 with remainders 5, 0, 5 (·/10) → the tie goes to index 0.
  CHECK(media::split_budget(5, {1, 2, 7}) == std::vector<index_t>{1, 1, 3});
  // 7 over [5, 1, 4]: 3.5, 0.7, 2.8 → 3, 0, 2 (left 2) → remainders .5 .7 .8 → indices 2 then 1.
  CHECK(media::split_budget(7, {5, 1, 4}) == std::vector<index_t>{3, 1, 3});
  // Clamped to the sizes; zero sizes get zero.
  CHECK(media::split_budget(100, {2, 0, 5}) == std::vector<index_t>{2, 0, 5});
  CHECK(media::split_budget(3, {0, 0}) == std::vector<index_t>{0, 0});
  CHECK(media::split_budget(0, {4, 4}) == std::vector<index_t>{0, 0});
  std::vector<index_t> w = {1, -2}, out(2, 9);
  auto s = media::try_split_budget(1, vtr::view_of(std::as_const(w)), vtr::view_of(out));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'w'"));
  CHECK(out == std::vector<index_t>{9, 9});
  CHECK_THROWS_AS(media::split_budget(-1, {1}), vtr::invalid_input);
}

TEST_CASE("media budgets: random splits add up and stay within one of the exact quota") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    const auto n = static_cast<index_t>(rng() % 9 + 1);
    std::vector<index_t> w(static_cast<std::size_t>(n));
    for (auto& x : w) x = static_cast<index_t>(rng() % 600);
    const index_t sum = std::accumulate(w.begin(), w.end(), index_t(0));
    const auto total = static_cast<index_t>(rng() % static_cast<unsigned>(sum + 50 + 1));
    const auto out = media::split_budget(total, w);
    const index_t t = std::min(total, sum);
    CHECK(std::accumulate(out.begin(), out.end(), index_t(0)) == t);
    for (index_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      CHECK(out[k] <= w[k]);
      if (sum > 0) {
        const double exact = static_cast<double>(t) * static_cast<double>(w[k]) / static_cast<double>(sum);
        CHECK(static_cast<double>(out[k]) > exact - 1.0);
        CHECK(static_cast<double>(out[k]) < exact + 1.0);
      }
    }
  }
}

TEST_CASE("media budgets: over images and over the base and tiles of each image") {
  // Two images — anyres (2880 visual tokens, 48 newlines) and a 24×24 one — and a 4-frame video.
  media::layout lay;
  lay.text(10).anyres({}).text(5).image(24, 24).text(3).video(4, 12, 12).text(20);
  REQUIRE(lay.items().size() == 3);
  CHECK(lay.visual_tokens() == 2880 + 576 + 576);

  const media::budgets b = media::budgets_total(lay, 1000);
  CHECK(b.total() == 1000);
  // Items in proportion 2880 : 576 : 576 of 4032 → 714.29, 142.86, 142.86 → 714, 143, 143 (two
  // remainders tie at .857: both get one).
  CHECK(b.per_item == std::vector<index_t>{714, 143, 143});
  // The anyres image's 714 over 5 crops of 576: 142.8 each → 142 × 5 + 4 to the first four.
  CHECK(std::vector<index_t>(b.per_unit.begin(), b.per_unit.begin() + 5) == std::vector<index_t>{143, 143, 143, 143, 142});
  CHECK(b.per_unit[5] == 143);
  // The video's 143 over 4 frames of 144: 35.75 → 35 × 4 + 3.
  CHECK(std::vector<index_t>(b.per_unit.begin() + 6, b.per_unit.end()) == std::vector<index_t>{36, 36, 36, 35});
  for (std::size_t i = 0; i < lay.items().size(); ++i) {
    const media::item& it = lay.items()[i];
    index_t sum = 0;
    for (index_t u = it.first_unit; u < it.first_unit + it.units; ++u) sum += b.per_unit[static_cast<std::size_t>(u)];
    CHECK(sum == b.per_item[i]);
  }

  // A keep ratio: ⌊0.25·4032⌋ = 1008, split the same way; newlines are never in a budget.
  const media::budgets r = media::budgets_ratio(lay, 0.25);
  CHECK(r.total() == 1008);
  CHECK(r.per_item == std::vector<index_t>{720, 144, 144});
  CHECK(media::budgets_ratio(lay, 2.0).total() == lay.visual_tokens());

  // Same T per crop (VScan on LLaVA-NeXT), clamped to a unit's tokens.
  const media::budgets u = media::budgets_uniform(lay, 160);
  CHECK(u.per_unit == std::vector<index_t>{160, 160, 160, 160, 160, 160, 144, 144, 144, 144});
  CHECK(u.per_item == std::vector<index_t>{800, 160, 576});

  // Per-item budgets given, split over units; user-given per-unit budgets, checked.
  const media::budgets pi = media::budgets_per_item(lay, {100, 50, 4});
  CHECK(std::vector<index_t>(pi.per_unit.begin() + 6, pi.per_unit.end()) == std::vector<index_t>{1, 1, 1, 1});
  auto bad = media::try_budgets_given(lay, {1, 2, 3});
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error().message(), "'per_unit' has 3 budgets; the layout has 10 units"));
  std::vector<index_t> too_many(10, 1);
  too_many[7] = 145;
  bad = media::try_budgets_given(lay, too_many);
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error().message(), "unit 7 (frame 1 of video item 2)"));
  CHECK_FALSE(media::try_budgets_per_item(lay, {3000, 0, 0}).ok());
  CHECK_FALSE(media::try_budgets_ratio(lay, -0.5).ok());

  // Unpadded tiles weigh what they keep in the sequence.
  const media::layout up = unpadded_anyres();
  CHECK(media::budgets_ratio(up, 0.5).per_unit == std::vector<index_t>{2, 1, 1, 1, 1});
}

// ---------------------------------------------------------------------------------------------------------
// Combining unit plans

TEST_CASE("media combine: one contiguous image gives select_in_sequence / embed_in_sequence exactly") {
  media::layout lay;
  lay.text(3).image(2, 3).text(2);
  const index_t kept[] = {1, 4};
  vtr::plan want;
  vtr::select_in_sequence(3, 6, 2, kept, 2, want);
  CHECK(same_plan(media::combine(lay, {vtr::plan::select(6, {1, 4})}), want));

  // A merging unit plan with an appended row: the appended row follows the image, before the suffix.
  vtr::plan m;
  m.reset(6);
  const index_t g1[] = {1, 0, 2}, g2[] = {4, 5}, g3[] = {3, 0};
  const float w1[] = {1.0f, 0.5f, 0.5f};
  m.add_merge(1, g1, 3, w1, 2.0f);
  m.add_merge(4, g2, 2, nullptr, 2.0f);
  m.add_merge(vtr::plan::appended, g3, 2, nullptr, 2.0f);
  const vtr::plan got = media::combine(lay, {m});
  CHECK(same_plan(got, vtr::embed_in_sequence(m, 3, 2)));
  CHECK(got.origin == std::vector<index_t>{0, 1, 2, 4, 7, vtr::plan::appended, 9, 10});
}

TEST_CASE("media combine: anyres crops, newline tokens kept, ascending sequence order") {
  const media::layout lay = small_anyres();
  // base keeps 3; tile (0,0) merges 0 into 1 and keeps 2; tile (0,1) keeps 3 and appends a mean of 0 and 1.
  vtr::plan t0;
  t0.reset(4);
  const index_t s01[] = {1, 0};
  t0.add_merge(1, s01, 2, nullptr, 2.0f);
  t0.add_copy(2);
  vtr::plan t1 = vtr::plan::select(4, {3});
  const index_t a01[] = {0, 1};
  t1.add_merge(vtr::plan::appended, a01, 2, nullptr, 2.0f);
  const vtr::plan p = media::combine(lay, {vtr::plan::select(4, {3}), t0, t1});
  // Rows: text 0, 1; base 3 → 5; tile0 1 → 7 (sources 7, 6); newline 10; tile0 2 → 11; tile1 3 → 14, then
  // tile1's appended row (its last token is row 14; sources 8, 9); newline 15; text 16.
  CHECK(p.origin == std::vector<index_t>{0, 1, 5, 7, 10, 11, 14, vtr::plan::appended, 15, 16});
  REQUIRE_FALSE(p.is_selection());
  CHECK(p.sources == std::vector<index_t>{0, 1, 5, 7, 6, 10, 11, 14, 8, 9, 15, 16});
  CHECK(p.divisors == std::vector<float>{1, 1, 1, 2, 1, 1, 1, 2, 1, 1});
  REQUIRE(vtr::validate_plan(p).ok());

  // Applied to the sequence: newline rows come through unchanged.
  std::vector<float> x(17 * 2), y(static_cast<std::size_t>(p.size() * 2));
  std::iota(x.begin(), x.end(), 0.0f);
  vtr::apply(p, vtr::matrix_view<const float>(x.data(), {17, 2}), vtr::matrix_view<float>(y.data(), {p.size(), 2}));
  CHECK(y[4 * 2] == 20.0f);   // newline row 10
  CHECK(y[3 * 2] == 13.0f);   // (14 + 12) / 2: tile0 tokens 1 and 0 (rows 7, 6)
  CHECK(y[7 * 2] == 17.0f);   // (16 + 18) / 2: rows 8, 9

  // Selections stay selections; identity plans give the identity.
  const vtr::plan id = media::combine(lay, media::identity_plans(lay));
  CHECK(id.is_selection());
  CHECK(id.size() == 17);
  CHECK(id.origin.back() == 16);
}

TEST_CASE("media combine: unpadded tokens — dropped rows, and the three merge-term rules") {
  const media::layout lay = unpadded_anyres();
  auto plans = media::identity_plans(lay);
  // Tile (0,0) has tokens 2, 3 in the sequence (rows 5, 6). Its plan keeps 0 (unpadded: dropped) and merges
  // token 0 (unpadded) and 3 into 2.
  vtr::plan t;
  t.reset(4);
  t.add_copy(0);
  const index_t src[] = {2, 0, 3};
  t.add_merge(2, src, 3, nullptr, 3.0f);
  plans[1] = t;

  vtr::plan out = vtr::plan::select(1, {0});
  auto s = media::try_combine(lay, plans, out);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "unit 1 (tile (0, 0) of anyres image item 0)"));
  CHECK(contains(s.message(), "unpadding"));
  CHECK(out.input_rows == 1);  // untouched

  media::combine_options opt;
  opt.terms = media::merge_terms::drop_absent;
  media::combine_report rep;
  const vtr::plan d = media::combine(lay, plans, opt, &rep);
  // Tile (0,0)'s row for token 0, and the identity plans' rows for the 2 unpadded tokens of each other tile.
  CHECK(rep.dropped_rows == 1 + 3 * 2);
  CHECK(rep.dropped_terms == 1);
  // Row for token 2 (row 5): sources rows 5, 6 and divisor 3 − 1 = 2: the mean over what is in the sequence.
  const auto it = std::find(d.origin.begin(), d.origin.end(), index_t(5));
  REQUIRE(it != d.origin.end());
  const auto r = static_cast<std::size_t>(it - d.origin.begin());
  CHECK(d.divisors[r] == 2.0f);
  CHECK(std::vector<index_t>(d.sources.begin() + d.offsets[r], d.sources.begin() + d.offsets[r + 1]) == std::vector<index_t>{5, 6});
  CHECK(d.size() == 16 - 1);  // token 3 of tile (0,0) (row 6) is merged away

  opt.terms = media::merge_terms::ignore;
  const vtr::plan g = media::combine(lay, plans, opt);
  CHECK(g.is_selection());
  CHECK(g.kept() == std::vector<index_t>{0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15});
}

TEST_CASE("media combine: errors name the argument and the unit") {
  const media::layout lay = small_anyres();
  vtr::plan out;
  auto s = media::try_combine(lay, std::vector<vtr::plan>(2), out);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "argument 'unit_plans' has 2 plans; the layout has 3 units"));
  auto plans = media::identity_plans(lay);
  plans[2] = vtr::plan::select(3, {0});
  s = media::try_combine(lay, plans, out);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "unit_plans[2] for unit 2 (tile (0, 1) of anyres image item 0) has input_rows 3, expected 4"));
  plans[2] = vtr::plan::select(4, {1, 1});
  s = media::try_combine(lay, plans, out);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "origin 1 in rows 0 and 1"));
  media::combine_options present;
  present.space = media::unit_space::present;
  plans = media::identity_plans(lay);
  CHECK_FALSE(media::try_combine(unpadded_anyres(), media::identity_plans(unpadded_anyres()), out, present).ok());
  CHECK(media::try_combine(unpadded_anyres(), media::identity_plans(unpadded_anyres(), media::unit_space::present), out, present).ok());
  CHECK(out.size() == 16);

  // run_units names the unit whose function failed and writes nothing.
  std::vector<vtr::plan> got(1);
  s = media::try_run_units(
      lay, [](index_t u, const media::unit&, vtr::plan& p) -> vtr::status {
        if (u == 1) return vtr::fail("no scores");
        p = vtr::plan::select(4, {});
        return {};
      },
      got);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "unit 1 (tile (0, 0) of anyres image item 0): no scores");
  CHECK(got.size() == 1);
}

TEST_CASE("media layout: sizes past index_t or past any allocation fail cleanly (fuzz regressions)") {
  // Each of these threw std::length_error, ran out of memory or overflowed a signed sum before the fix
  // (fuzz/corpus/media/regress-media-*).
  constexpr index_t huge = std::numeric_limits<index_t>::max();
  media::layout lay;
  REQUIRE(lay.try_text(3).ok());
  auto s = lay.try_image(huge - 3, 1);  // the sequence fits index_t; its rows fit no vector
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "more than a layout can hold"));
  s = lay.try_video(index_t(1) << 62, 1, 1);  // 2^62 units
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "more than a layout can hold"));
  media::anyres_spec a;  // 2x2 tiles of 24x24: a 48x48 map
  a.keep.row0 = std::numeric_limits<index_t>::min();  // "to the end" from a far-negative origin
  s = lay.try_anyres(a);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "origin"));
  a.keep = {0, -1, 0, -1};
  a.tile_rows = 1;
  a.tile_cols = 1;
  a.grid_h = 1;
  a.grid_w = huge;  // kept columns + 1 newline overflow
  a.base = false;
  s = lay.try_anyres(a);
  REQUIRE_FALSE(s.ok());
  CHECK(lay.size() == 3);  // nothing was added by the failed pieces
  CHECK(lay.units().empty());

  // Past 2^53 the unpad product rounds; the region must still lie inside the map.
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 2000; ++trial) {
    const index_t iw = 1 + static_cast<index_t>(rng() % 40), ih = 1 + static_cast<index_t>(rng() % 40);
    const index_t mw = (index_t(1) << 52) + static_cast<index_t>(rng() % (index_t(1) << 58));
    // map_h just around mw·ih/iw, so that the wide/tall test and the product sit at the rounding edge
    const index_t mh = std::max<index_t>(1, static_cast<index_t>(static_cast<double>(mw) * static_cast<double>(ih) / static_cast<double>(iw)) + static_cast<index_t>(rng() % 5) - 2);
    auto r = media::try_anyres_unpad(iw, ih, mh, mw);
    REQUIRE(r.ok());
    const media::unpad_region u = r.value();
    CAPTURE(iw, ih, mh, mw, u.row0, u.rows, u.col0, u.cols);
    CHECK(u.row0 >= 0);
    CHECK(u.col0 >= 0);
    CHECK(u.rows >= 0);
    CHECK(u.cols >= 0);
    CHECK(u.rows <= mh - u.row0);
    CHECK(u.cols <= mw - u.col0);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Methods per unit

TEST_CASE("media + keep_ratio_topk per unit and media_topk with budgets: hand-computed") {
  const media::layout lay = unpadded_anyres();
  // Scores per sequence row: base (rows 1-4) 4 3 2 1; tile (0,0) (5, 6) 5 6; tile (0,1) (7, 8) 8 7;
  // tile (1,0) (10, 11) 1 2; tile (1,1) (12, 13) 3 3 (tie → lower index).
  const std::vector<float> scores = {0, 4, 3, 2, 1, 5, 6, 8, 7, 0, 1, 2, 3, 3, 0, 0};
  const std::vector<index_t> want = {0, 1, 2, 6, 7, 9, 11, 12, 14, 15};

  // keep_ratio_topk (ratio 0.5) run on each unit's tokens in the sequence.
  vtr::workspace ws;
  const vtr::policies::keep_ratio_topk half{{0.5}};
  const auto plans = media::run_units(lay, [&](index_t u, const media::unit&, vtr::plan& p) -> vtr::status {
    std::vector<float> us;
    VTR_TRY(media::try_unit_values(lay, u, vtr::view_of(scores), us));
    vtr::policies::keep_ratio_topk::inputs in;
    in.scores = vtr::view_of(std::as_const(us));
    return half.try_plan(in, p, ws);
  });
  media::combine_options opt;
  opt.space = media::unit_space::present;
  CHECK(media::combine(lay, plans, opt).kept() == want);

  // The same through media_topk with the ratio's budgets (2, 1, 1, 1, 1).
  const media::budgets b = media::budgets_ratio(lay, 0.5);
  vtr::policies::media_topk top;
  vtr::policies::media_topk::inputs in;
  in.scores = vtr::view_of(scores);
  const vtr::plan p = top.plan(lay, b.per_unit, in, ws);
  CHECK(p.kept() == want);
  CHECK(p.size() == vtr::policies::media_topk::kept_count(lay, b.per_unit).value());
  CHECK(media::unit_values(lay, 3, vtr::view_of(scores)) == std::vector<float>{1, 2});  // tile (1,0): rows 10, 11
  CHECK_THROWS_AS(media::unit_values(lay, 5, vtr::view_of(scores)), vtr::invalid_input);

  // Multi-image: image 0 (rows 1-3) keeps 2, image 1 (rows 5, 6) keeps 1.
  media::layout two;
  two.text(1).image(1, 3).text(1).image(1, 2).text(1);
  const std::vector<float> s2 = {9, 0.1f, 0.5f, 0.3f, 9, 0.2f, 0.7f, 9};
  in.scores = vtr::view_of(s2);
  CHECK(top.plan(two, {2, 1}, in, ws).kept() == std::vector<index_t>{0, 2, 3, 4, 6, 7});
  // Errors: scores of the wrong length, budgets out of range.
  vtr::plan out;
  in.scores = vtr::view_of(scores);
  auto s = top.try_plan(two, {2, 1}, in, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "16 tokens; the layout's sequence has 8"));
  in.scores = vtr::view_of(s2);
  CHECK_FALSE(top.try_plan(two, {4, 1}, in, out, ws).ok());
}

TEST_CASE("media_topk on FastV's scores equals FastV on a one-image prompt") {
  std::mt19937 rng(5);
  media::layout lay;
  lay.text(5).image(4, 4).text(3);
  const index_t L = lay.size(), H = 3;
  const auto attn = random_floats(rng, H * L);
  const vtr::tensor_view<const float, 3> probs(attn.data(), {H, 1, L});
  vtr::workspace ws;

  vtr::fastv::select fastv{{2, vtr::fastv::count_rule::ratio, 0.5}};
  vtr::fastv::select::inputs fin;
  fin.attention = vtr::ops::attention_input::from_probs(probs);
  fin.image_start = 5;
  fin.image_count = 16;
  const vtr::plan want = fastv.plan(fin, ws);

  vtr::policies::media_topk top;
  vtr::policies::media_topk::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(probs);  // head mean of the last row: FastV's scores
  const vtr::plan got = top.plan(lay, {fastv.kept_image_count(16).value()}, in, ws);
  CHECK(same_plan(got, want));

  // Two images and a per-image budget from one total: each image keeps its own top share.
  media::layout two;
  two.text(4).image(3, 3).text(2).image(2, 4).text(3);
  const auto attn2 = random_floats(rng, H * two.size());
  in.attn = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(attn2.data(), {H, 1, two.size()}));
  const media::budgets b = media::budgets_total(two, 9);  // 9 over 9 : 8 → 4.76, 4.24 → 5, 4
  CHECK(b.per_unit == std::vector<index_t>{5, 4});
  std::vector<vtr::plan> per;
  const vtr::plan p = top.plan(two, b.per_unit, in, ws, &per);
  CHECK(p.size() == two.size() - 17 + 9);
  CHECK(per[0].size() == 5);
  CHECK(per[1].size() == 4);
  CHECK(std::is_sorted(p.origin.begin(), p.origin.end()));
}

namespace {

// Features of the crop-major stream of an anyres image and the sequence rows packed from them (text and
// newline rows get their own values), as an engine would lay them out.
struct packed {
  std::vector<float> stream;  // [Σ tokens][D]
  std::vector<float> seq;     // [L][D]
};
packed pack(const media::layout& lay, index_t dim, std::mt19937& rng) {
  index_t n = 0;
  for (const auto& u : lay.units()) n += u.tokens();
  packed p;
  p.stream = random_floats(rng, n * dim);
  p.seq = random_floats(rng, lay.size() * dim);
  index_t off = 0;
  for (const auto& u : lay.units()) {
    for (index_t g = 0; g < u.tokens(); ++g) {
      const index_t q = u.rows[static_cast<std::size_t>(g)];
      if (q == media::unit::absent) continue;
      std::copy_n(p.stream.begin() + (off + g) * dim, dim, p.seq.begin() + q * dim);
    }
    off += u.tokens();
  }
  return p;
}

}  // namespace

TEST_CASE("media + VScan stage 1 per crop on an anyres image") {
  std::mt19937 rng(9);
  media::anyres_spec a;
  a.grid_h = a.grid_w = 12;  // 12×12 crops: 4 windows of 6×6
  media::layout lay;
  lay.text(3).anyres(a).text(4);
  const index_t dim = 8, H = 2, N = 144, B = 5;
  REQUIRE(lay.size() == 3 + 144 + 24 * 25 + 4);
  const packed f = pack(lay, dim, rng);
  const auto shallow = random_floats(rng, B * H * N), deep = random_floats(rng, B * H * N);
  const vtr::matrix_view<const float> stream(f.stream.data(), {B * N, dim});
  const vtr::tensor_view<const float, 3> sh(shallow.data(), {B, H, N}), dp(deep.data(), {B, H, N});
  vtr::workspace ws;

  // The same T for every crop (the reference): plan_crops over the stream, split into unit plans…
  const vtr::vscan::stage1 scan{{16}};
  const vtr::plan crops = scan.plan_crops({stream, sh, dp, 12, 12}, ws);
  auto plans = media::identity_plans(lay);
  media::split_stream(lay, lay.items()[0].first_unit, B, crops, plans);
  const vtr::plan from_stream = media::combine(lay, plans);
  // …equals running stage 1 on each unit.
  const auto per_unit = media::run_units(lay, [&](index_t u, const media::unit&, vtr::plan& p) -> vtr::status {
    return scan.try_plan({stream.subrows(u * N, N), sh[u], dp[u], 12, 12}, p, ws);
  });
  CHECK(same_plan(media::combine(lay, per_unit), from_stream));
  CHECK(from_stream.size() == 7 + 24 + 5 * 16);

  // Per-crop budgets: each crop its own T; the combined plan's values are each crop's merged rows, placed at
  // the kept tokens' sequence rows; text and newline rows pass through.
  const media::budgets b = media::budgets_given(lay, {40, 8, 16, 24, 32});
  const auto varied = media::run_units(lay, [&](index_t u, const media::unit&, vtr::plan& p) -> vtr::status {
    const vtr::vscan::stage1 s{{b.per_unit[static_cast<std::size_t>(u)]}};
    return s.try_plan({stream.subrows(u * N, N), sh[u], dp[u], 12, 12}, p, ws);
  });
  const vtr::plan seq = media::combine(lay, varied);
  CHECK(seq.size() == 7 + 24 + b.total());
  CHECK(std::is_sorted(seq.origin.begin(), seq.origin.end()));
  std::vector<float> out(static_cast<std::size_t>(seq.size() * dim));
  vtr::apply(seq, vtr::matrix_view<const float>(f.seq.data(), {lay.size(), dim}), vtr::matrix_view<float>(out.data(), {seq.size(), dim}));
  std::map<index_t, index_t> row_of;  // sequence row → output row
  for (index_t r = 0; r < seq.size(); ++r) row_of[seq.origin[static_cast<std::size_t>(r)]] = r;
  bool values_match = true;
  for (index_t u = 0; u < B; ++u) {
    const vtr::plan& p = varied[static_cast<std::size_t>(u)];
    std::vector<float> merged(static_cast<std::size_t>(p.size() * dim));
    vtr::apply(p, stream.subrows(u * N, N), vtr::matrix_view<float>(merged.data(), {p.size(), dim}));
    for (index_t r = 0; r < p.size(); ++r) {
      const index_t q = lay.units()[static_cast<std::size_t>(u)].rows[static_cast<std::size_t>(p.origin[static_cast<std::size_t>(r)])];
      const index_t o = row_of.at(q);
      values_match = values_match && std::equal(merged.begin() + r * dim, merged.begin() + (r + 1) * dim, out.begin() + o * dim);
    }
  }
  CHECK(values_match);
  for (const auto& s : lay.spans())
    if (s.kind == media::span_kind::newline)
      CHECK(std::equal(out.begin() + row_of.at(s.begin) * dim, out.begin() + (row_of.at(s.begin) + 1) * dim, f.seq.begin() + s.begin * dim));

  // Unpadded (a 12×7-pixel-shaped image keeps map rows [5, 19)): the merges reach tokens that are not in the
  // sequence — an error unless dropped, or ignored once the merges were applied in crop space.
  media::anyres_spec wide = a;
  wide.keep = media::anyres_unpad(12, 7, 24, 24);
  CHECK((wide.keep.row0 == 5 && wide.keep.rows == 14));
  media::layout lw;
  lw.text(3).anyres(wide).text(4);
  auto wplans = media::identity_plans(lw);
  media::split_stream(lw, 0, B, crops, wplans);
  vtr::plan o;
  auto st = media::try_combine(lw, wplans, o);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "unpadding"));
  media::combine_options drop;
  drop.terms = media::merge_terms::drop_absent;
  media::combine_report rep;
  const vtr::plan dropped = media::combine(lw, wplans, drop, &rep);
  CHECK(rep.dropped_rows > 0);
  CHECK(dropped.size() == 7 + 14 + (16 * 5 - rep.dropped_rows));  // the base loses nothing
  media::combine_options ign;
  ign.terms = media::merge_terms::ignore;
  const vtr::plan sel = media::combine(lw, wplans, ign);
  CHECK(sel.is_selection());
  CHECK(sel.kept() == dropped.kept());

  // split_stream errors: a row that crosses units, the wrong stream length.
  vtr::plan cross;
  cross.reset(B * N);
  const index_t xs[] = {0, 200};
  cross.add_merge(0, xs, 2, nullptr, 2.0f);
  st = media::try_split_stream(lay, 0, B, cross, plans);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "row 0 merges stream row 200 into unit 0 (base of anyres image item 0)"));
  st = media::try_split_stream(lay, 0, 4, crops, plans);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "input_rows 720"));
}

// ---------------------------------------------------------------------------------------------------------
// Batch

TEST_CASE("batch apply: padded and ragged equal per-sequence apply") {
  std::mt19937 rng(3);
  const index_t D = 3;
  // Three sequences with their own layouts and plans.
  media::layout l0, l2;
  l0.text(2).image(2, 2).text(1);   // 7 rows
  const media::layout l1 = small_anyres();  // 17 rows
  l2.text(1).video(2, 1, 2).text(1);  // 6 rows
  vtr::plan p2m;
  p2m.reset(2);
  const index_t s01[] = {0, 1};
  p2m.add_merge(0, s01, 2, nullptr, 2.0f);
  const std::vector<vtr::plan> plans = {
      media::combine(l0, {vtr::plan::select(4, {0, 3})}),
      media::combine(l1, {vtr::plan::select(4, {1}), vtr::plan::select(4, {}), vtr::plan::select(4, {0, 3})}),
      media::combine(l2, {p2m, vtr::plan::select(2, {1})}),
  };
  CHECK(vtr::batch::kept_counts(plans) == std::vector<index_t>{5, 8, 4});
  CHECK(vtr::batch::offsets(plans, false) == std::vector<index_t>{0, 7, 24, 30});
  CHECK(vtr::batch::offsets(plans, true) == std::vector<index_t>{0, 5, 13, 17});

  const index_t B = 3, N = 17, M = 9;
  const auto src = random_floats(rng, B * N * D);
  std::vector<float> dst(static_cast<std::size_t>(B * M * D), -1.0f);
  const vtr::tensor_view<const float, 3> sv(src.data(), {B, N, D});
  vtr::batch::apply_padded(plans, sv, vtr::tensor_view<float, 3>(dst.data(), {B, M, D}));
  for (index_t b = 0; b < B; ++b) {
    const vtr::plan& p = plans[static_cast<std::size_t>(b)];
    std::vector<float> one(static_cast<std::size_t>(p.size() * D));
    vtr::apply(p, sv[b].subrows(0, p.input_rows), vtr::matrix_view<float>(one.data(), {p.size(), D}));
    CHECK(std::equal(one.begin(), one.end(), dst.begin() + b * M * D));
    // Rows past the sequence's reduced length are padding: untouched.
    CHECK(std::all_of(dst.begin() + b * M * D + p.size() * D, dst.begin() + (b + 1) * M * D, [](float v) { return v == -1.0f; }));
  }

  // Ragged: the same sequences back to back.
  std::vector<float> rag;
  for (index_t b = 0; b < B; ++b) rag.insert(rag.end(), src.begin() + b * N * D, src.begin() + (b * N + plans[static_cast<std::size_t>(b)].input_rows) * D);
  const auto in_off = vtr::batch::offsets(plans, false);
  std::vector<index_t> out_off(4, -1);
  std::vector<float> rdst(static_cast<std::size_t>(17 * D));
  vtr::batch::apply_ragged(plans, vtr::matrix_view<const float>(rag.data(), {30, D}), vtr::view_of(in_off),
                           vtr::matrix_view<float>(rdst.data(), {17, D}), vtr::view_of(out_off));
  CHECK(out_off == std::vector<index_t>{0, 5, 13, 17});
  for (index_t b = 0; b < B; ++b) {
    const auto k = static_cast<std::size_t>(b);
    CHECK(std::equal(rdst.begin() + out_off[k] * D, rdst.begin() + out_off[k + 1] * D, dst.begin() + b * M * D));
  }

  // Positions through the same per-sequence plans (integer rows: selections only, so seq 2 is rejected).
  std::vector<std::int64_t> ids(static_cast<std::size_t>(B * N)), idd(static_cast<std::size_t>(B * M), -1);
  std::iota(ids.begin(), ids.end(), std::int64_t(0));
  auto s = vtr::batch::try_apply_padded(plans, vtr::tensor_view<const std::int64_t, 3>(ids.data(), {B, N, 1}),
                                        vtr::tensor_view<std::int64_t, 3>(idd.data(), {B, M, 1}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "sequence 2: the plan merges rows"));
  CHECK(std::all_of(idd.begin(), idd.end(), [](std::int64_t v) { return v == -1; }));
}

TEST_CASE("batch apply: errors name the sequence and write nothing") {
  const std::vector<vtr::plan> plans = {vtr::plan::select(4, {0, 1}), vtr::plan::select(6, {5}), vtr::plan::select(2, {0, 1})};
  std::vector<float> src(3 * 5 * 2, 1.0f), dst(3 * 2 * 2, -1.0f);
  // Sequence 1 needs 6 rows; the padded tensor holds 5 per sequence.
  auto s = vtr::batch::try_apply_padded(plans, vtr::tensor_view<const float, 3>(src.data(), {3, 5, 2}),
                                        vtr::tensor_view<float, 3>(dst.data(), {3, 2, 2}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "sequence 1: its plan reads 6 rows but argument 'src' [3, 5, 2] holds 5 per sequence"));
  CHECK(std::all_of(dst.begin(), dst.end(), [](float v) { return v == -1.0f; }));
  // Wrong batch size, wrong width.
  s = vtr::batch::try_apply_padded(plans, vtr::tensor_view<const float, 3>(src.data(), {2, 5, 3}),
                                   vtr::tensor_view<float, 3>(dst.data(), {3, 2, 2}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "3 plans"));
  // Output too short for sequence 0's 2 rows.
  std::vector<float> big(3 * 6 * 2, 1.0f);
  s = vtr::batch::try_apply_padded(plans, vtr::tensor_view<const float, 3>(big.data(), {3, 6, 2}),
                                   vtr::tensor_view<float, 3>(dst.data(), {3, 1, 4}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'dst'"));

  // Ragged: offsets that disagree with sequence 1's plan.
  const std::vector<index_t> off = {0, 4, 9, 11};
  std::vector<index_t> out_off(4, -1);
  std::vector<float> rsrc(11 * 2, 1.0f), rdst(5 * 2, -1.0f);
  s = vtr::batch::try_apply_ragged(plans, vtr::matrix_view<const float>(rsrc.data(), {11, 2}), vtr::view_of(off),
                                   vtr::matrix_view<float>(rdst.data(), {5, 2}), vtr::view_of(out_off));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "sequence 1: argument 'src_offsets' gives it 5 rows but its plan has input_rows 6"));
  CHECK(out_off == std::vector<index_t>(4, -1));
  CHECK(std::all_of(rdst.begin(), rdst.end(), [](float v) { return v == -1.0f; }));
  // Too little room in dst for sequence 2.
  const std::vector<index_t> good = {0, 4, 10, 12};
  std::vector<float> rs2(12 * 2, 1.0f), small(4 * 2, -1.0f);
  s = vtr::batch::try_apply_ragged(plans, vtr::matrix_view<const float>(rs2.data(), {12, 2}), vtr::view_of(good),
                                   vtr::matrix_view<float>(small.data(), {4, 2}), vtr::view_of(out_off));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "sequence 2: argument 'dst' [4, 2] has no room for its 2 rows after the 3 rows"));
  CHECK_THROWS_AS(vtr::batch::apply_ragged(plans, vtr::matrix_view<const float>(rs2.data(), {12, 2}), vtr::view_of(good),
                                           vtr::matrix_view<float>(small.data(), {4, 2}), vtr::view_of(out_off)),
                  vtr::invalid_input);
}
