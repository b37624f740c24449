// ops/merge.hpp: nearest-kept merge (ALGORITHMS §2.6) and ToMe bipartite matching (ALGORITHMS §2.7).
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/io/npy.hpp>
#include <vtr/ops/merge.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;

namespace {

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<index_t> random_kept(index_t n, index_t k, unsigned seed) {
  std::vector<index_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), index_t(0));
  std::mt19937 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(k));
  std::sort(all.begin(), all.end());
  return all;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The integer value of "key": N in a small JSON text (enough for case.json params).
index_t json_int(const std::string& js, const std::string& key) {
  const auto at = js.find("\"" + key + "\":");
  REQUIRE(at != std::string::npos);
  return static_cast<index_t>(std::stoll(js.substr(at + key.size() + 3)));
}

std::filesystem::path golden_dir() {
  if (const char* e = std::getenv("VTR_GOLDEN_DIR")) return e;
  return VTR_GOLDEN_DIR;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// §2.6 nearest-kept merge

TEST_CASE("nearest_kept_merge: assignment matches the scalar argmax, merged rows the §2.6 formula") {
  vtr::workspace ws;
  const index_t dims[] = {1, 7, 15, 17, 576, 577};
  for (index_t d : dims) {
    for (index_t n : {index_t(1), index_t(7), index_t(40), index_t(120)}) {
      for (index_t k : {index_t(1), std::max<index_t>(1, n / 6), n}) {
        CAPTURE(d, n, k);
        const index_t pitch = d + 5;
        auto buf = random_vec(static_cast<std::size_t>(n * pitch), unsigned(d * 1000 + n * 10 + k));
        const vtr::matrix_view<const float> x(buf.data(), {n, d}, {pitch, 1});
        const auto kept = random_kept(n, k, unsigned(n + k));
        const float w = 1.5f;
        vtr::plan p;
        std::vector<index_t> assign;
        vtr::ops::nearest_kept_merge(x, vtr::view_of(kept), w, p, &assign, ws);
        REQUIRE(vtr::validate_plan(p).ok());
        REQUIRE(p.size() == k);
        REQUIRE(p.origin == kept);
        REQUIRE(static_cast<index_t>(assign.size()) == n - k);

        // Every pruned token goes to a kept slot of maximal reference cosine; exact-slot agreement
        // except on near-ties (different dot accumulation order).
        const auto want = vtr::ops::ref::nearest_kept_assign(x, kept);
        std::vector<char> is_kept(static_cast<std::size_t>(n), 0);
        for (index_t v : kept) is_kept[v] = 1;
        index_t q = 0;
        for (index_t pr = 0; pr < n; ++pr) {
          if (is_kept[pr]) continue;
          const float got_c = vtr::ops::ref::cosine(x.row(pr), x.row(kept[assign[q]]), d);
          const float want_c = vtr::ops::ref::cosine(x.row(pr), x.row(kept[want[q]]), d);
          REQUIRE(got_c >= want_c - 1e-6f);
          if (assign[q] != want[q]) REQUIRE(std::fabs(got_c - want_c) <= 1e-6f);
          ++q;
        }

        // Merged features via apply vs the formula.
        std::vector<float> merged(static_cast<std::size_t>(k * d));
        vtr::apply(p, x, vtr::matrix_view<float>(merged.data(), {k, d}));
        std::vector<double> acc(static_cast<std::size_t>(k * d), 0.0);
        std::vector<index_t> cnt(static_cast<std::size_t>(k), 0);
        for (index_t r = 0; r < k; ++r)
          for (index_t c = 0; c < d; ++c) acc[r * d + c] = w * x(kept[r], c);
        q = 0;
        for (index_t pr = 0; pr < n; ++pr) {
          if (is_kept[pr]) continue;
          const index_t r = assign[q++];
          ++cnt[r];
          for (index_t c = 0; c < d; ++c) acc[r * d + c] += x(pr, c);
        }
        for (index_t r = 0; r < k; ++r)
          for (index_t c = 0; c < d; ++c) {
            if (cnt[r] == 0) {
              REQUIRE(merged[r * d + c] == x(kept[r], c));  // exact copy
            } else {
              REQUIRE(merged[r * d + c] == Approx(acc[r * d + c] / (w + double(cnt[r]))).margin(1e-6).epsilon(1e-5));
            }
          }
      }
    }
  }
}

TEST_CASE("nearest_kept_merge: ties go to the lowest kept slot; zero vectors to slot 0; U empty is a selection") {
  vtr::workspace ws;
  // Rows: 0 = (1,0), 1 = (2,0) (same direction as 0), 2 = (0,1), 3 = (0,0), 4 = (3,0) (ties 0 and 1).
  const std::vector<float> xs = {1, 0, 2, 0, 0, 1, 0, 0, 3, 0};
  const vtr::matrix_view<const float> x(xs.data(), {5, 2});
  const std::vector<index_t> kept = {0, 1, 2};
  vtr::plan p;
  std::vector<index_t> assign;
  vtr::ops::nearest_kept_merge(x, vtr::view_of(kept), 1.0f, p, &assign, ws);
  CHECK(assign == std::vector<index_t>{0, 0});  // zero row 3 → slot 0; row 4 ties slots 0 and 1 → slot 0
  std::vector<float> m(6);
  vtr::apply(p, x, vtr::matrix_view<float>(m.data(), {3, 2}));
  // Slot 0: (1·(1,0) + (0,0) + (3,0)) / 3 = (4/3, 0); slots 1 and 2 exact copies.
  CHECK(m[0] == Approx(4.0f / 3.0f));
  CHECK(m[1] == 0.0f);
  CHECK(m[2] == 2.0f);
  CHECK(m[5] == 1.0f);

  // Every row kept: a pure selection, assign empty.
  const std::vector<index_t> all = {0, 1, 2, 3, 4};
  vtr::ops::nearest_kept_merge(x, vtr::view_of(all), 1.0f, p, &assign, ws);
  CHECK(p.is_selection());
  CHECK(p.origin == all);
  CHECK(assign.empty());
}

TEST_CASE("nearest_kept_merge rejects bad kept lists and weights, leaving outputs untouched") {
  vtr::workspace ws;
  std::vector<float> xs(10 * 4, 1.0f);
  const vtr::matrix_view<const float> x(xs.data(), {10, 4});
  vtr::plan p = vtr::plan::select(3, {0, 1, 2});
  std::vector<index_t> assign = {42};
  const std::vector<index_t> empty, unsorted = {3, 1}, out_of_range = {2, 10};
  const std::vector<index_t> good = {1, 2};
  auto s = vtr::ops::try_nearest_kept_merge(x, vtr::view_of(empty), 1.0f, p, &assign, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'kept'"));
  s = vtr::ops::try_nearest_kept_merge(x, vtr::view_of(unsorted), 1.0f, p, &assign, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "ascending"));
  s = vtr::ops::try_nearest_kept_merge(x, vtr::view_of(out_of_range), 1.0f, p, &assign, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "outside [0, 10)"));
  s = vtr::ops::try_nearest_kept_merge(x, vtr::view_of(good), 0.0f, p, &assign, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'w_keep'"));
  CHECK(p.input_rows == 3);
  CHECK(p.size() == 3);
  CHECK(assign == std::vector<index_t>{42});
  CHECK_THROWS_AS(vtr::ops::nearest_kept_merge(x, vtr::view_of(empty), 1.0f, p, nullptr, ws), vtr::invalid_input);
  // A NaN in a pruned row is named by position; finite values whose squared norm overflows are rejected.
  std::vector<float> bad = xs;
  bad[3 * 4 + 2] = std::nanf("");
  s = vtr::ops::try_nearest_kept_merge(vtr::matrix_view<const float>(bad.data(), {10, 4}), vtr::view_of(good), 1.0f, p,
                                       &assign, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "[3, 2]"));
  bad[3 * 4 + 2] = 3e38f;
  s = vtr::ops::try_nearest_kept_merge(vtr::matrix_view<const float>(bad.data(), {10, 4}), vtr::view_of(good), 1.0f, p,
                                       &assign, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "overflows"));
  CHECK(p.size() == 3);
  CHECK(assign == std::vector<index_t>{42});
}

TEST_CASE("nearest_kept_merge allocates nothing once the workspace is sized") {
  vtr::workspace ws;
  auto buf = random_vec(64 * 33, 5);
  const vtr::matrix_view<const float> x(buf.data(), {64, 33});
  const auto kept = random_kept(64, 10, 6);
  vtr::plan p;
  std::vector<index_t> assign;
  vtr::ops::nearest_kept_merge(x, vtr::view_of(kept), 1.0f, p, &assign, ws);
  CHECK(ws.high_water() <= vtr::ops::nearest_kept_merge_workspace_bytes(64, 33, 10));
  const auto allocs = ws.allocations();
  vtr::ops::nearest_kept_merge(x, vtr::view_of(kept), 1.0f, p, &assign, ws);
  CHECK(ws.allocations() == allocs);
}

// ---------------------------------------------------------------------------------------------------
// §2.7 ToMe

namespace {
struct tome_case {
  std::vector<float> x;
  index_t n, c;
};
// ALGORITHMS §2.7 six_tokens_r2: X = M = (1,0), (1,.1), (0,1), (.1,1), (1,1), (−1,0).
tome_case six_tokens() { return {{1, 0, 1, .1f, 0, 1, .1f, 1, 1, 1, -1, 0}, 6, 2}; }
}  // namespace

TEST_CASE("tome_bipartite: six_tokens_r2 (ALGORITHMS §2.7)") {
  vtr::workspace ws;
  const auto t = six_tokens();
  const vtr::matrix_view<const float> m(t.x.data(), {6, 2});
  vtr::ops::tome_result res;
  vtr::ops::tome_bipartite(m, 2, false, false, {}, res, ws);
  CHECK(res.unm_idx == std::vector<index_t>{2});
  std::vector<index_t> src = res.src_idx;
  std::sort(src.begin(), src.end());
  CHECK(src == std::vector<index_t>{0, 1});
  for (std::size_t i = 0; i < 2; ++i) CHECK(res.dst_idx[i] == res.src_idx[i]);  // A0→B0, A1→B1
  CHECK(res.sizes == std::vector<float>{1, 2, 2, 1});
  CHECK(res.merge.origin == std::vector<index_t>{4, 1, 3, 5});
  std::vector<float> out(8);
  vtr::apply(res.merge, m, vtr::matrix_view<float>(out.data(), {4, 2}));
  const float want[] = {1, 1, 1, .05f, .05f, 1, -1, 0};
  for (int i = 0; i < 8; ++i) CHECK(out[i] == Approx(want[i]).margin(1e-7));
}

TEST_CASE("tome_bipartite: size-weighted mean (ALGORITHMS §2.7 size weighting)") {
  vtr::workspace ws;
  const auto t = six_tokens();
  const vtr::matrix_view<const float> m(t.x.data(), {6, 2});
  const std::vector<float> x = {0, 1, 2, 3, 4, 5}, s = {1, 3, 1, 1, 2, 1};
  vtr::ops::tome_result res;
  vtr::ops::tome_bipartite(m, 2, false, false, vtr::view_of(s), res, ws);
  CHECK(res.sizes == std::vector<float>{2, 4, 2, 1});
  std::vector<float> out(4);
  vtr::apply(res.merge, vtr::view_of(x), vtr::view_of(out));
  CHECK(out[0] == Approx(4.0f));
  CHECK(out[1] == Approx(0.75f));
  CHECK(out[2] == Approx(2.5f));
  CHECK(out[3] == Approx(5.0f));
}

TEST_CASE("tome_bipartite: clamps and identities") {
  vtr::workspace ws;
  const auto t = six_tokens();
  const vtr::matrix_view<const float> m(t.x.data(), {6, 2});
  vtr::ops::tome_result res;
  vtr::ops::tome_bipartite(m, 5, false, false, {}, res, ws);  // r = 5 on N = 6 clamps to 3
  CHECK(res.merge.size() == 3);
  CHECK(res.src_idx.size() == 3);
  CHECK(res.unm_idx.empty());
  CHECK(vtr::ops::tome_effective_r(6, 5, false, false) == 3);
  CHECK(vtr::ops::tome_effective_r(577, 400, true, false) == 288);
  CHECK(vtr::ops::tome_effective_r(1, 4, true, false) == 0);
  CHECK(vtr::ops::tome_effective_r(0, 4, true, true) == -1);

  for (index_t r : {index_t(0), index_t(-3)}) {
    vtr::ops::tome_bipartite(m, r, false, false, {}, res, ws);
    CHECK(res.merge.is_selection());
    CHECK(res.merge.origin == std::vector<index_t>{0, 1, 2, 3, 4, 5});
    CHECK(res.sizes == std::vector<float>(6, 1.0f));
    CHECK(res.src_idx.empty());
  }
  const vtr::matrix_view<const float> one(t.x.data(), {1, 2});
  vtr::ops::tome_bipartite(one, 4, false, false, {}, res, ws);
  CHECK(res.merge.origin == std::vector<index_t>{0});

  // class_token: token 0 stays first (and A0 is never a source).
  vtr::ops::tome_bipartite(m, 2, true, false, {}, res, ws);
  REQUIRE(res.merge.size() == 4);
  CHECK(res.merge.origin[0] == 0);
  CHECK(std::find(res.src_idx.begin(), res.src_idx.end(), 0) == res.src_idx.end());
  CHECK(std::is_sorted(res.unm_idx.begin(), res.unm_idx.end()));

  // distill_token: [unm_0, B_0, unm_1…, B_1…] and nothing merges into B0.
  auto buf = random_vec(20 * 8, 9);
  const vtr::matrix_view<const float> m20(buf.data(), {20, 8});
  vtr::ops::tome_bipartite(m20, 4, true, true, {}, res, ws);
  REQUIRE(res.merge.size() == 16);
  CHECK(res.merge.origin[0] == 0);
  CHECK(res.merge.origin[1] == 1);
  CHECK(res.merge.sources_of(1).second - res.merge.sources_of(1).first == 1);
  CHECK(std::find(res.dst_idx.begin(), res.dst_idx.end(), 0) == res.dst_idx.end());
}

TEST_CASE("tome_bipartite matches the scalar reference on random metrics") {
  vtr::workspace ws;
  for (index_t n : {index_t(2), index_t(7), index_t(17), index_t(64), index_t(577)}) {
    for (index_t c : {index_t(1), index_t(15), index_t(64)}) {
      for (bool cls : {false, true}) {
        CAPTURE(n, c, cls);
        const index_t pitch = c + 2;
        auto buf = random_vec(static_cast<std::size_t>(n * pitch), unsigned(n * 7 + c));
        const vtr::matrix_view<const float> m(buf.data(), {n, c}, {pitch, 1});
        const index_t r = std::max<index_t>(1, n / 3);
        const index_t reff = vtr::ops::tome_effective_r(n, r, cls, false);
        vtr::ops::tome_result res;
        vtr::ops::tome_bipartite(m, r, cls, false, {}, res, ws);
        if (reff <= 0) {
          CHECK(res.merge.size() == n);
          continue;
        }
        std::vector<index_t> unm, src, dst;
        vtr::ops::ref::tome_match(m, reff, cls, false, unm, src, dst);
        REQUIRE(vtr::validate_plan(res.merge).ok());
        REQUIRE(res.merge.size() == n - reff);
        if (c == 1) {
          // One feature: every similarity is ±1, heavy ties; compare as sets of (src, dst) pairs count.
          CHECK(res.src_idx.size() == src.size());
          continue;
        }
        CHECK(res.unm_idx == unm);
        CHECK(res.src_idx == src);
        CHECK(res.dst_idx == dst);
        float total = 0;
        for (float s : res.sizes) total += s;
        CHECK(total == float(n));
      }
    }
  }
}

TEST_CASE("tome_bipartite rejects bad sizes and non-finite metrics") {
  vtr::workspace ws;
  const auto t = six_tokens();
  const vtr::matrix_view<const float> m(t.x.data(), {6, 2});
  vtr::ops::tome_result res;
  const std::vector<float> short_sizes = {1, 1, 1}, zero_size = {1, 1, 0, 1, 1, 1};
  auto s = vtr::ops::try_tome_bipartite(m, 2, false, false, vtr::view_of(short_sizes), res, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'sizes'"));
  CHECK(contains(s.message(), "[3]"));
  s = vtr::ops::try_tome_bipartite(m, 2, false, false, vtr::view_of(zero_size), res, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "sizes[2]"));
  std::vector<float> bad = t.x;
  bad[3] = std::nanf("");
  CHECK_THROWS_AS(vtr::ops::tome_bipartite(vtr::matrix_view<const float>(bad.data(), {6, 2}), 2, false, false, {}, res, ws),
                  vtr::invalid_input);
  CHECK(res.merge.size() == 0);  // untouched
}

TEST_CASE("tome_r_schedule follows parse_r (ALGORITHMS §2.7)") {
  CHECK(vtr::ops::tome_r_schedule(16, -1.0, 12) == std::vector<index_t>{32, 29, 26, 23, 20, 17, 14, 11, 8, 5, 2, 0});
  CHECK(vtr::ops::tome_r_schedule(8, 0.0, 4) == std::vector<index_t>{8, 8, 8, 8});
  CHECK(vtr::ops::tome_r_schedule(16, 0.5, 3) == std::vector<index_t>{8, 16, 24});
  CHECK(vtr::ops::tome_r_schedule(5, 0.0, 1) == std::vector<index_t>{5});
  CHECK(vtr::ops::tome_r_schedule(5, 0.0, 0).empty());
  CHECK(vtr::ops::tome_r_schedule(std::vector<index_t>{3, 2}, 4) == std::vector<index_t>{3, 2, 0, 0});
  // Out-of-range parameters are errors, not undefined float-to-integer conversions.
  CHECK_FALSE(vtr::ops::try_tome_r_schedule(16, std::numeric_limits<double>::infinity(), 12).ok());
  CHECK_FALSE(vtr::ops::try_tome_r_schedule(16, -1e300, 12).ok());
  CHECK_FALSE(vtr::ops::try_tome_r_schedule(-1, 0.0, 12).ok());
  CHECK(vtr::ops::try_tome_r_schedule(16, -1e300, 12).error().message().find("'inflect'") != std::string::npos);
}

TEST_CASE("tome_bipartite reproduces the golden cases (ad-hoc check; the replay harness is the formal one)") {
  const auto root = golden_dir() / "tome.bipartite";
  if (!std::filesystem::exists(root)) {
    WARN("golden cases not found under " << root.string() << "; skipped");
    return;
  }
  vtr::workspace ws;
  int cases = 0;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    const auto dir = e.path();
    CAPTURE(dir.string());
    const auto metric = vtr::read_npy(dir / "in_metric.npy");
    const auto xa = vtr::read_npy(dir / "in_x.npy");
    const auto want_x = vtr::read_npy(dir / "out_x_merged.npy").to_float();
    const auto want_s = vtr::read_npy(dir / "out_size_merged.npy").to_float();
    std::vector<float> sizes;
    if (std::filesystem::exists(dir / "in_size.npy")) sizes = vtr::read_npy(dir / "in_size.npy").to_float();
    const std::string js = read_text(dir / "case.json");
    const index_t r = json_int(js, "r");
    const bool cls = js.find("\"class_token\": true") != std::string::npos;
    const auto mv = metric.as_view<const float, 2>();
    const auto xv = xa.as_view<const float, 2>();
    vtr::ops::tome_result res;
    vtr::ops::tome_bipartite(mv, r, cls, false, vtr::view_of(sizes), res, ws);
    REQUIRE(res.sizes.size() == want_s.size());
    for (std::size_t i = 0; i < want_s.size(); ++i) CHECK(res.sizes[i] == Approx(want_s[i]).epsilon(1e-5));
    std::vector<float> got(static_cast<std::size_t>(res.merge.size() * xv.extent(1)));
    vtr::apply(res.merge, xv, vtr::matrix_view<float>(got.data(), {res.merge.size(), xv.extent(1)}));
    REQUIRE(got.size() == want_x.size());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(std::fabs(got[i] - want_x[i]) <= 1e-6f + 1e-5f * std::fabs(want_x[i]));
    if (std::filesystem::exists(dir / "out_src_idx.npy")) {
      const auto to_idx = [](const std::vector<std::int64_t>& v) { return std::vector<index_t>(v.begin(), v.end()); };
      CHECK(res.unm_idx == to_idx(vtr::read_npy(dir / "out_unm_idx.npy").to_int64()));
      CHECK(res.src_idx == to_idx(vtr::read_npy(dir / "out_src_idx.npy").to_int64()));
      CHECK(res.dst_idx == to_idx(vtr::read_npy(dir / "out_dst_idx.npy").to_int64()));
    }
    ++cases;
  }
  CHECK(cases == 5);
}

TEST_CASE("tome_r_schedule: more layers than a vector holds is an error (fuzz regression)") {
  // fuzz/corpus/tome/regress-tome-schedule-length-error: reserve threw std::length_error out of the try_ form.
  const auto r = vtr::ops::try_tome_r_schedule(8, 0.0, std::numeric_limits<index_t>::max());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("'layers'") != std::string::npos);
}
