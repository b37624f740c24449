// VScan (ALGORITHMS §3.4): stage 1 LLaVA (counts, window scan, global exclusion, merge, crops, edge cases),
// stage 1 Qwen (greedy capped windows on any grid), stage 2 (both attention forms, clamps, positions), and
// every golden case through the library API.
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/io/npy.hpp>
#include <vtr/methods/vscan.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

using vtr::index_t;
namespace fs = std::filesystem;

namespace {

std::vector<float> uniform(std::size_t n, std::mt19937& rng, float lo = 0.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

vtr::vscan::stage1 llava(index_t T) {
  vtr::vscan::stage1_params p;
  p.budget = T;
  return vtr::vscan::stage1(p);
}

bool ascending_unique_in_range(const std::vector<index_t>& v, index_t n) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0 || v[i] >= n) return false;
    if (i && v[i] <= v[i - 1]) return false;
  }
  return true;
}

/// Head mean in double, as the spec writes it.
std::vector<float> head_mean(const std::vector<float>& a, index_t H, index_t n) {
  std::vector<float> s(static_cast<std::size_t>(n));
  for (index_t j = 0; j < n; ++j) {
    double acc = 0;
    for (index_t h = 0; h < H; ++h) acc += a[std::size_t(h * n + j)];
    s[std::size_t(j)] = static_cast<float>(acc / double(H));
  }
  return s;
}

/// ALGORITHMS §3.4.2 written out with the scalar references: (local, global, kept).
void reference_stage1(const std::vector<float>& s_loc, const std::vector<float>& s_glb, index_t gh, index_t gw, index_t win,
                      index_t T, std::vector<index_t>& local, std::vector<index_t>& global, std::vector<index_t>& kept) {
  const index_t t_loc = T / 2, nw = (gh / win) * (gw / win);
  local = vtr::ops::ref::windowed_topk(s_loc, gh, gw, win, t_loc / nw);
  std::vector<float> masked;
  std::vector<index_t> cand;
  std::set<index_t> loc(local.begin(), local.end());
  for (index_t i = 0; i < gh * gw; ++i)
    if (!loc.count(i)) {
      masked.push_back(s_glb[std::size_t(i)]);
      cand.push_back(i);
    }
  global.clear();
  for (index_t j : vtr::ops::ref::topk(masked, T - t_loc, vtr::ops::order::by_rank)) global.push_back(cand[std::size_t(j)]);
  kept = local;
  kept.insert(kept.end(), global.begin(), global.end());
  std::sort(kept.begin(), kept.end());
}

/// Merged rows from an assignment, in double: (x[K[r]] + Σ x[p]) / (1 + count).
std::vector<float> reference_merge(const std::vector<float>& x, index_t n, index_t d, const std::vector<index_t>& kept,
                                   const std::vector<index_t>& assign) {
  const index_t k = static_cast<index_t>(kept.size());
  std::vector<double> acc(static_cast<std::size_t>(k * d), 0.0);
  std::vector<double> cnt(static_cast<std::size_t>(k), 1.0);
  for (index_t r = 0; r < k; ++r)
    for (index_t c = 0; c < d; ++c) acc[std::size_t(r * d + c)] = x[std::size_t(kept[std::size_t(r)] * d + c)];
  std::set<index_t> ks(kept.begin(), kept.end());
  std::size_t q = 0;
  for (index_t p = 0; p < n; ++p) {
    if (ks.count(p)) continue;
    const index_t r = assign[q++];
    cnt[std::size_t(r)] += 1;
    for (index_t c = 0; c < d; ++c) acc[std::size_t(r * d + c)] += x[std::size_t(p * d + c)];
  }
  std::vector<float> out(acc.size());
  for (index_t r = 0; r < k; ++r)
    for (index_t c = 0; c < d; ++c) out[std::size_t(r * d + c)] = static_cast<float>(acc[std::size_t(r * d + c)] / cnt[std::size_t(r)]);
  return out;
}

std::vector<float> apply_plan(const vtr::plan& p, const std::vector<float>& x, index_t d) {
  std::vector<float> out(static_cast<std::size_t>(p.size() * d));
  vtr::apply(p, vtr::matrix_view<const float>(x.data(), {p.input_rows, d}), vtr::matrix_view<float>(out.data(), {p.size(), d}));
  return out;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, float rtol = 1e-5f, float atol = 1e-6f) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]))) ++bad;
  CHECK(bad == 0);
}

template <class T>
std::vector<std::int64_t> as_i64(const std::vector<T>& v) {
  return std::vector<std::int64_t>(v.begin(), v.end());
}

}  // namespace

// =====================================================================================================
// Stage 1, LLaVA

TEST_CASE("vscan.stage1: kept_count (ALGORITHMS §3.4.2 table, §3.4.7)", "[vscan]") {
  const std::pair<index_t, index_t> table[] = {{96, 96},  {64, 64},   {128, 128}, {192, 192}, {100, 98},
                                               {33, 33},  {32, 32},   {575, 560}, {576, 576}, {600, 576}};
  for (auto [T, kept] : table) {
    INFO("T = " << T);
    CHECK(llava(T).kept_count(576).value() == kept);
  }
  for (index_t T : {31, 16, 1, 0}) {  // k_w = 0: error
    const auto r = llava(T).kept_count(576);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("budget") != std::string::npos);
  }
  // Generalised grid: 12×18 with 6×6 windows → nW = 6.
  CHECK(llava(40).kept_count(216, 12, 18).value() == 6 * (20 / 6) + 20);
  CHECK_FALSE(llava(40).kept_count(12 * 20, 12, 20).ok());  // 20 not a multiple of 6
  CHECK_FALSE(llava(40).kept_count(575).ok());              // not square, no grid given
}

TEST_CASE("vscan.stage1: window edges and global exclusion (ALGORITHMS §3.4.8)", "[vscan]") {
  const index_t N = 576, H = 2, D = 8, G = 24;
  std::mt19937 rng(21);
  // Low distinct background, then three peaks per window at cells (0,0) < (5,5) < (0,5).
  std::vector<float> s(static_cast<std::size_t>(N));
  for (index_t i = 0; i < N; ++i) s[std::size_t(i)] = 0.001f * float((i * 37) % N) / float(N);
  for (index_t wi = 0; wi < 4; ++wi)
    for (index_t wj = 0; wj < 4; ++wj) {
      const index_t r0 = wi * 6, c0 = wj * 6;
      s[std::size_t(r0 * G + c0)] = 0.5f;
      s[std::size_t((r0 + 5) * G + c0 + 5)] = 0.6f;
      s[std::size_t(r0 * G + c0 + 5)] = 0.7f;
    }
  std::vector<float> shallow(static_cast<std::size_t>(H * N)), deep(static_cast<std::size_t>(H * N));
  for (index_t h = 0; h < H; ++h)
    for (index_t i = 0; i < N; ++i) {
      shallow[std::size_t(h * N + i)] = s[std::size_t(i)];
      deep[std::size_t(h * N + i)] = s[std::size_t(i)];  // the deep layer peaks on the same tokens
    }
  const auto x = uniform(std::size_t(N * D), rng, -1.0f, 1.0f);
  vtr::workspace ws;
  vtr::vscan::stage1::details d;
  const vtr::vscan::stage1::inputs in{vtr::matrix_view<const float>(x.data(), {N, D}),
                                      vtr::matrix_view<const float>(shallow.data(), {H, N}),
                                      vtr::matrix_view<const float>(deep.data(), {H, N})};
  const vtr::plan p = llava(96).plan(in, ws, &d);
  REQUIRE(d.local_idx.size() == 48);
  CHECK(std::vector<index_t>(d.local_idx.begin(), d.local_idx.begin() + 3) == std::vector<index_t>{5, 125, 0});
  CHECK(std::vector<index_t>(d.local_idx.begin() + 3, d.local_idx.begin() + 6) == std::vector<index_t>{11, 131, 6});
  REQUIRE(d.global_idx.size() == 48);
  const std::set<index_t> loc(d.local_idx.begin(), d.local_idx.end());
  for (index_t g : d.global_idx) CHECK(loc.count(g) == 0);
  CHECK(p.size() == 96);
  CHECK(d.assign.size() == std::size_t(N - 96));
}

TEST_CASE("vscan.stage1: merge ties go to the lowest slot, a zero vector to slot 0", "[vscan]") {
  // 4×4 grid, 2×2 windows (nW = 4), T = 8: one local per window + 4 global.
  const index_t G = 4, N = 16, D = 4;
  vtr::vscan::stage1_params prm;
  prm.budget = 8;
  prm.window = 2;
  const vtr::vscan::stage1 m(prm);
  REQUIRE(m.kept_count(N, G, G).value() == 8);
  // Shallow picks the top-left of each window: 0, 2, 8, 10. Deep then picks 1, 3, 4, 5 (highest deep
  // scores among the rest) → kept = {0,1,2,3,4,5,8,10}: slot 3 = token 3, slot 7 = token 10.
  std::vector<float> sh(N, 0.1f), dp(N, 0.0f);
  for (index_t t : {0, 2, 8, 10}) sh[std::size_t(t)] = 0.9f;
  const float deep_vals[] = {0, 0.8f, 0, 0.7f, 0.6f, 0.5f, 0.1f, 0.1f, 0, 0.1f, 0, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
  for (index_t i = 0; i < N; ++i) dp[std::size_t(i)] = deep_vals[i] + 0.001f * float(N - i);
  std::vector<float> x(static_cast<std::size_t>(N * D), 0.0f);
  auto set = [&](index_t row, std::vector<float> v) { std::copy(v.begin(), v.end(), x.begin() + row * D); };
  // Kept tokens: orthogonal-ish directions; slots 3 and 7 share one direction.
  set(0, {1, 0, 0, 0});
  set(1, {0, 1, 0, 0});
  set(2, {0, 0, 1, 0});
  set(3, {0, 0, 0, 1});
  set(4, {-1, 0, 0, 0});
  set(5, {0, -1, 0, 0});
  set(8, {0, 0, -1, 0});
  set(10, {0, 0, 0, 2});  // same direction as slot 3, other length: equal cosine
  set(6, {0, 0, 0, 5});   // pruned: ties slots 3 and 7 → slot 3
  // token 7 stays zero → slot 0
  for (index_t t : {9, 11, 12, 13, 14, 15}) set(t, {1, 0.1f * float(t), 0, 0});
  vtr::workspace ws;
  vtr::vscan::stage1::details d;
  const vtr::plan p = m.plan({vtr::matrix_view<const float>(x.data(), {N, D}), vtr::matrix_view<const float>(sh.data(), {1, N}),
                              vtr::matrix_view<const float>(dp.data(), {1, N}), G, G},
                             ws, &d);
  REQUIRE(p.kept() == std::vector<index_t>{0, 1, 2, 3, 4, 5, 8, 10});
  // Pruned ascending: 6, 7, 9, 11, ...
  REQUIRE(d.assign.size() == 8);
  CHECK(d.assign[0] == 3);
  CHECK(d.assign[1] == 0);
}

TEST_CASE("vscan.stage1: T >= N is a passthrough; budget and shape errors write nothing", "[vscan]") {
  const index_t N = 36, H = 2, D = 5;
  std::mt19937 rng(1);
  const auto x = uniform(std::size_t(N * D), rng), a = uniform(std::size_t(H * N), rng), b = uniform(std::size_t(H * N), rng);
  vtr::vscan::stage1_params prm;
  prm.window = 3;  // 6×6 grid → 4 windows
  vtr::workspace ws;
  for (index_t T : {36, 40, 1000}) {
    prm.budget = T;
    vtr::vscan::stage1::details d;
    d.local_idx = {1};
    const vtr::plan p = vtr::vscan::stage1(prm).plan(
        {vtr::matrix_view<const float>(x.data(), {N, D}), vtr::matrix_view<const float>(a.data(), {H, N}),
         vtr::matrix_view<const float>(b.data(), {H, N})},
        ws, &d);
    CHECK(p.is_selection());
    CHECK(p.size() == N);
    CHECK(apply_plan(p, x, D) == x);
    CHECK(d.local_idx.empty());
  }
  auto expect_error = [&](const vtr::vscan::stage1& m, const vtr::vscan::stage1::inputs& in, const std::string& needle) {
    vtr::plan out = vtr::plan::select(2, {0, 1});
    vtr::vscan::stage1::details d;
    d.assign = {7};
    const vtr::status s = m.try_plan(in, out, ws, &d);
    REQUIRE_FALSE(s.ok());
    INFO(s.message());
    CHECK(s.message().find(needle) != std::string::npos);
    CHECK(out.origin == std::vector<index_t>{0, 1});
    CHECK(d.assign == std::vector<index_t>{7});
    CHECK_THROWS_AS(m.plan(in, ws), vtr::invalid_input);
  };
  const vtr::vscan::stage1::inputs good{vtr::matrix_view<const float>(x.data(), {N, D}),
                                        vtr::matrix_view<const float>(a.data(), {H, N}),
                                        vtr::matrix_view<const float>(b.data(), {H, N})};
  prm.budget = 7;  // ⌊7/2⌋ = 3 < nW = 4
  expect_error(vtr::vscan::stage1(prm), good, "budget");
  prm.budget = 12;
  const vtr::vscan::stage1 ok(prm);
  auto bad = good;
  bad.attn_deep = vtr::matrix_view<const float>(b.data(), {H, N - 1});
  expect_error(ok, bad, "attn_deep");
  bad = good;
  bad.attn_shallow = vtr::matrix_view<const float>(a.data(), {0, N});
  expect_error(ok, bad, "attn_shallow");
  bad = good;
  bad.grid_h = 4;
  bad.grid_w = 9;  // 36 tokens but 9 % 3 == 0, 4 % 3 != 0
  expect_error(ok, bad, "window");
  bad.grid_h = 5;
  bad.grid_w = 5;
  expect_error(ok, bad, "grid");
  auto nan_a = a;
  nan_a[3] = std::numeric_limits<float>::quiet_NaN();
  bad = good;
  bad.attn_shallow = vtr::matrix_view<const float>(nan_a.data(), {H, N});
  expect_error(ok, bad, "attn_shallow");
  prm.keep_weight = 0.0f;
  expect_error(vtr::vscan::stage1(prm), good, "keep_weight");
}

TEST_CASE("vscan.stage1: random inputs against the spec written out; crops API", "[vscan]") {
  std::mt19937 rng(77);
  vtr::workspace ws;
  for (int trial = 0; trial < 12; ++trial) {
    const index_t win = 2 + index_t(rng() % 5), gh = win * (1 + index_t(rng() % 4)), gw = win * (1 + index_t(rng() % 4));
    const index_t N = gh * gw, nw = (gh / win) * (gw / win), H = 1 + index_t(rng() % 4), D = 1 + index_t(rng() % 40);
    if (N <= 2 * nw) continue;
    const index_t T = 2 * nw + index_t(rng() % std::uint32_t(N - 2 * nw));
    vtr::vscan::stage1_params prm;
    prm.budget = T;
    prm.window = win;
    const vtr::vscan::stage1 m(prm);
    const auto a = uniform(std::size_t(H * N), rng), b = uniform(std::size_t(H * N), rng);
    const auto x = uniform(std::size_t(N * D), rng, -1.0f, 1.0f);
    vtr::vscan::stage1::details d;
    const vtr::vscan::stage1::inputs in{vtr::matrix_view<const float>(x.data(), {N, D}),
                                        vtr::matrix_view<const float>(a.data(), {H, N}),
                                        vtr::matrix_view<const float>(b.data(), {H, N}), gh, gw};
    const vtr::plan p = m.plan(in, ws, &d);
    INFO("trial " << trial << " grid " << gh << "x" << gw << " win " << win << " T " << T);
    CHECK(vtr::validate_plan(p).ok());
    CHECK(p.size() == m.kept_count(N, gh, gw).value());
    const auto kept = p.kept();
    CHECK(ascending_unique_in_range(kept, N));
    std::vector<index_t> rl, rg, rk;
    reference_stage1(head_mean(a, H, N), head_mean(b, H, N), gh, gw, win, T, rl, rg, rk);
    CHECK(d.local_idx == rl);
    CHECK(d.global_idx == rg);
    CHECK(kept == rk);
    // Every dropped token lands in exactly one merged row, with the slot the §2.6 reference gives.
    CHECK(d.assign == vtr::ops::ref::nearest_kept_assign(vtr::matrix_view<const float>(x.data(), {N, D}), kept));
    check_close(apply_plan(p, x, D), reference_merge(x, N, D, kept, d.assign));

    // Crops API: two crops (the second with other scores) equal two single calls.
    const auto a2 = uniform(std::size_t(H * N), rng), b2 = uniform(std::size_t(H * N), rng);
    const auto x2 = uniform(std::size_t(N * D), rng, -1.0f, 1.0f);
    std::vector<float> xa(x), aa(a), ba(b);
    xa.insert(xa.end(), x2.begin(), x2.end());
    aa.insert(aa.end(), a2.begin(), a2.end());
    ba.insert(ba.end(), b2.begin(), b2.end());
    std::vector<vtr::vscan::stage1::details> dc;
    const vtr::plan pc = m.plan_crops({vtr::matrix_view<const float>(xa.data(), {2 * N, D}),
                                       vtr::tensor_view<const float, 3>(aa.data(), {2, H, N}),
                                       vtr::tensor_view<const float, 3>(ba.data(), {2, H, N}), gh, gw},
                                      ws, &dc);
    const vtr::plan p2 = m.plan({vtr::matrix_view<const float>(x2.data(), {N, D}), vtr::matrix_view<const float>(a2.data(), {H, N}),
                                 vtr::matrix_view<const float>(b2.data(), {H, N}), gh, gw},
                                ws);
    REQUIRE(dc.size() == 2);
    CHECK(dc[0].local_idx == d.local_idx);
    CHECK(pc.size() == p.size() + p2.size());
    std::vector<float> want = apply_plan(p, x, D), w2 = apply_plan(p2, x2, D);
    want.insert(want.end(), w2.begin(), w2.end());
    CHECK(apply_plan(pc, xa, D) == want);
    auto kc = pc.kept();
    CHECK(ascending_unique_in_range(kc, 2 * N));
  }
}

// =====================================================================================================
// Stage 1, Qwen2.5-VL

namespace {
vtr::vscan::stage1_qwen qwen(double r) {
  vtr::vscan::stage1_qwen_params p;
  p.ratio = r;
  return vtr::vscan::stage1_qwen(p);
}
}  // namespace

TEST_CASE("vscan.stage1_qwen: counts, caps and remainder windows (ALGORITHMS §3.4.8)", "[vscan]") {
  CHECK(qwen(0.167).kept_count(18, 26).value() == 78);
  CHECK(qwen(0.5).kept_count(8, 8).value() == 32);
  CHECK(qwen(0.333).kept_count(14, 20).value() == 93);
  CHECK(qwen(0.5).kept_count(3, 3).value() == 4);   // library rule: one window
  CHECK(qwen(2.0).kept_count(4, 4).value() == 16);  // a count > n is clamped
  CHECK_FALSE(qwen(0.01).kept_count(4, 4).ok());    // ⌊0.16⌋ = 0 kept: nothing to merge into
  CHECK_FALSE(qwen(-1.0).kept_count(4, 4).ok());
  CHECK_FALSE(qwen(0.5).kept_count(0, 4).ok());

  std::mt19937 rng(31);
  const index_t gh = 18, gw = 26, n = gh * gw, D = 6;
  const auto sl = uniform(std::size_t(n), rng), sg = uniform(std::size_t(n), rng), x = uniform(std::size_t(n * D), rng, -1, 1);
  vtr::workspace ws;
  vtr::vscan::stage1_qwen::details d;
  const vtr::plan p = qwen(0.167).plan({vtr::vector_view<const float>(sl.data(), {n}), vtr::vector_view<const float>(sg.data(), {n}),
                                        vtr::matrix_view<const float>(x.data(), {n, D}), gh, gw},
                                       ws, &d);
  CHECK(p.size() == 78);
  REQUIRE(d.local_idx.size() == 39);
  CHECK(d.local_idx == vtr::ops::ref::greedy_capped_windows(sl, gh, gw, 4, 39));
  std::vector<int> per(24, 0);
  for (index_t t : d.local_idx) ++per[std::size_t(std::min<index_t>(t / gw / 4, 3) * 6 + std::min<index_t>(t % gw / 4, 5))];
  for (int c : per) CHECK(c <= 2);  // cap ⌈39/24⌉ = 2
  CHECK(d.global_idx.size() == 39);
  for (index_t g : d.global_idx) CHECK(std::find(d.local_idx.begin(), d.local_idx.end(), g) == d.local_idx.end());
  const auto kept = p.kept();
  CHECK(ascending_unique_in_range(kept, n));
  CHECK(d.assign == vtr::ops::ref::nearest_kept_assign(vtr::matrix_view<const float>(x.data(), {n, D}), kept));
  check_close(apply_plan(p, x, D), reference_merge(x, n, D, kept, d.assign));
}

TEST_CASE("vscan.stage1_qwen: random grids, kept_count == plan size; errors", "[vscan]") {
  std::mt19937 rng(5);
  vtr::workspace ws;
  for (int trial = 0; trial < 40; ++trial) {
    const index_t gh = 1 + index_t(rng() % 20), gw = 1 + index_t(rng() % 20), n = gh * gw, D = 1 + index_t(rng() % 9);
    const double r = std::uniform_real_distribution<double>(0.05, 1.0)(rng);
    const auto m = qwen(r);
    if (!m.kept_count(gh, gw).ok()) continue;
    const auto sl = uniform(std::size_t(n), rng), sg = uniform(std::size_t(n), rng), x = uniform(std::size_t(n * D), rng, -1, 1);
    vtr::vscan::stage1_qwen::details d;
    const vtr::plan p = m.plan({vtr::vector_view<const float>(sl.data(), {n}), vtr::vector_view<const float>(sg.data(), {n}),
                                vtr::matrix_view<const float>(x.data(), {n, D}), gh, gw},
                               ws, &d);
    INFO("grid " << gh << "x" << gw << " r " << r);
    CHECK(p.size() == m.kept_count(gh, gw).value());
    CHECK(ascending_unique_in_range(p.kept(), n));
    CHECK(vtr::validate_plan(p).ok());
  }
  const index_t n = 16;
  std::vector<float> s(n, 0.5f), x(n * 2, 1.0f);
  vtr::plan out = vtr::plan::select(1, {0});
  const auto st = qwen(0.5).try_plan({vtr::vector_view<const float>(s.data(), {n - 1}), vtr::vector_view<const float>(s.data(), {n}),
                                      vtr::matrix_view<const float>(x.data(), {n, 2}), 4, 4},
                                     out, ws);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("local_scores") != std::string::npos);
  CHECK(out.origin == std::vector<index_t>{0});
}

// =====================================================================================================
// Stage 2

namespace {
vtr::vscan::stage2 late(index_t keep) {
  vtr::vscan::stage2_params p;
  p.keep = keep;
  return vtr::vscan::stage2(p);
}
vtr::ops::attention_input row_of(const std::vector<float>& p, index_t H, index_t S) {
  return vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(p.data(), {H, 1, S}, {S, S, 1}));
}
std::vector<float> softmax_rows(index_t H, index_t S, std::mt19937& rng) {
  auto v = uniform(std::size_t(H * S), rng);
  for (index_t h = 0; h < H; ++h) {
    double t = 0;
    for (index_t j = 0; j < S; ++j) t += v[std::size_t(h * S + j)];
    for (index_t j = 0; j < S; ++j) v[std::size_t(h * S + j)] = static_cast<float>(v[std::size_t(h * S + j)] / t);
  }
  return v;
}
}  // namespace

TEST_CASE("vscan.stage2: sizes (ALGORITHMS §3.4.8), clamps, positions", "[vscan]") {
  std::mt19937 rng(41);
  const index_t H = 4, S = 171, img0 = 35, nv = 96;
  const auto p = softmax_rows(H, S, rng);
  vtr::workspace ws;
  CHECK(late(32).plan({row_of(p, H, S), img0, nv}, ws).size() == 107);
  CHECK(late(0).plan({row_of(p, H, S), img0, nv}, ws).size() == 75);
  const vtr::plan all = late(200).plan({row_of(p, H, S), img0, nv}, ws);
  CHECK(all.size() == S);
  CHECK(late(32).kept_count(S, nv).value() == 107);
  CHECK(late(200).kept_visual_count(nv).value() == nv);
  // Qwen: keep = int(0.333·n); original position ids.
  const vtr::vscan::stage2 q(vtr::vscan::stage2_params::qwen());
  CHECK(q.kept_visual_count(96).value() == 31);
  CHECK(q.kept_visual_count(3).value() == 0);
  const vtr::plan pq = q.plan({row_of(p, H, S), img0, nv}, ws);
  std::vector<index_t> ids;
  vtr::vscan::position_ids(pq, vtr::vscan::position_policy::original, ids);
  CHECK(ids == pq.kept());
  vtr::vscan::position_ids(pq, vtr::vscan::position_policy::dense, ids);
  CHECK(ids.back() == pq.size() - 1);
  CHECK(ids[std::size_t(img0)] == img0);
  CHECK(vtr::vscan::stage2_params::llava().positions == vtr::vscan::position_policy::dense);
}

TEST_CASE("vscan.stage2: probabilities and Q/K give the same selection; query rows", "[vscan]") {
  std::mt19937 rng(43);
  vtr::workspace ws;
  for (int trial = 0; trial < 30; ++trial) {
    const index_t Hkv = 1 + index_t(rng() % 3), H = Hkv * (1 + index_t(rng() % 3)), d = 1 + index_t(rng() % 16);
    const index_t S = 2 + index_t(rng() % 400), nv = index_t(rng() % std::uint32_t(S)), img0 = index_t(rng() % std::uint32_t(S - nv + 1));
    const index_t keep = index_t(rng() % std::uint32_t(nv + 3));
    std::normal_distribution<float> nd;
    std::vector<float> q(std::size_t(H * d)), k(std::size_t(S * Hkv * d));
    for (auto& v : q) v = nd(rng);
    for (auto& v : k) v = nd(rng);
    std::vector<index_t> pos{S - 1};
    const vtr::tensor_view<const float, 3> qv(q.data(), {1, H, d}), kv(k.data(), {S, Hkv, d});
    std::vector<float> probs(std::size_t(H * S));
    vtr::ops::attention_rows(qv, kv, vtr::view_of(pos), vtr::ops::attention_mode{}, vtr::tensor_view<float, 3>(probs.data(), {H, 1, S}), ws);
    vtr::vscan::stage2::details da, db;
    const auto m = late(keep);
    const vtr::plan a = m.plan({row_of(probs, H, S), img0, nv}, ws, &da);
    const vtr::plan b = m.plan({vtr::ops::attention_input::from_qk(qv, kv, vtr::view_of(pos)), img0, nv}, ws, &db);
    INFO("trial " << trial);
    CHECK(a.origin == b.origin);
    CHECK(a.size() == m.kept_count(S, nv).value());
    CHECK(ascending_unique_in_range(a.origin, S));
    // kept_rel = top min(keep, n_v) of the head-mean row, ascending.
    std::vector<float> s(static_cast<std::size_t>(nv));
    for (index_t j = 0; j < nv; ++j) {
      double t = 0;
      for (index_t h = 0; h < H; ++h) t += probs[std::size_t(h * S + img0 + j)];
      s[std::size_t(j)] = static_cast<float>(t / double(H));
    }
    CHECK(da.kept_rel == vtr::ops::ref::topk(s, keep, vtr::ops::order::ascending));
  }
  // Mean over rows (training mode) vs a single row.
  const index_t H = 2, S = 20;
  const auto r0 = softmax_rows(H, S, rng), r1 = softmax_rows(H, S, rng);
  std::vector<float> both(std::size_t(H * 2 * S));
  for (index_t h = 0; h < H; ++h)
    for (index_t j = 0; j < S; ++j) {
      both[std::size_t((h * 2) * S + j)] = r0[std::size_t(h * S + j)];
      both[std::size_t((h * 2 + 1) * S + j)] = r1[std::size_t(h * S + j)];
    }
  const auto in2 = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(both.data(), {H, 2, S}));
  vtr::vscan::stage2_params mp;
  mp.keep = 5;
  mp.query = vtr::vscan::query_rows::mean;
  vtr::vscan::stage2::details dm;
  (void)vtr::vscan::stage2(mp).plan({in2, 3, 12}, ws, &dm);
  for (index_t j = 0; j < 12; ++j) {
    const double want = 0.25 * (r0[std::size_t(3 + j)] + r0[std::size_t(S + 3 + j)] + r1[std::size_t(3 + j)] + r1[std::size_t(S + 3 + j)]);
    CHECK(std::abs(dm.scores[std::size_t(j)] - want) < 1e-6);
  }
  CHECK(late(5).plan({in2, 3, 12}, ws).origin == late(5).plan({row_of(r1, H, S), 3, 12}, ws).origin);
}

TEST_CASE("vscan.stage2: errors name the argument and write nothing", "[vscan]") {
  std::mt19937 rng(1);
  const index_t H = 2, S = 30;
  const auto p = softmax_rows(H, S, rng);
  vtr::workspace ws;
  auto expect_error = [&](const vtr::vscan::stage2& m, const vtr::vscan::stage2::inputs& in, const std::string& needle) {
    vtr::plan out = vtr::plan::select(1, {0});
    const vtr::status s = m.try_plan(in, out, ws);
    REQUIRE_FALSE(s.ok());
    INFO(s.message());
    CHECK(s.message().find(needle) != std::string::npos);
    CHECK(out.origin == std::vector<index_t>{0});
    CHECK_THROWS_AS(m.plan(in, ws), vtr::invalid_input);
  };
  expect_error(late(3), {row_of(p, H, S), 25, 10}, "image_start");
  expect_error(late(3), {row_of(p, H, S), 5, 10, 2}, "query_row");
  expect_error(late(-1), {row_of(p, H, S), 5, 10}, "keep");
  vtr::vscan::stage2_params k0;
  k0.layer = 0;
  expect_error(vtr::vscan::stage2(k0), {row_of(p, H, S), 5, 10}, "layer");
  vtr::vscan::stage2_params rr = vtr::vscan::stage2_params::qwen();
  rr.keep_ratio = std::numeric_limits<double>::quiet_NaN();
  expect_error(vtr::vscan::stage2(rr), {row_of(p, H, S), 5, 10}, "keep_ratio");
  std::vector<index_t> pos{S};  // outside [0, S)
  std::vector<float> q(std::size_t(H * 4), 0.1f), k(std::size_t(S * H * 4), 0.2f);
  expect_error(late(3),
               {vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q.data(), {1, H, 4}),
                                                   vtr::tensor_view<const float, 3>(k.data(), {S, H, 4}), vtr::view_of(pos)),
                5, 10},
               "row_positions");
}

// =====================================================================================================
// Golden cases through the library API (the replay tool runs them again in test_golden).

TEST_CASE("vscan: golden cases through the library API", "[vscan][golden]") {
  const fs::path root(VTR_GOLDEN_DIR);
  vtr::workspace ws;
  SECTION("vscan.stage1") {
    const std::pair<const char*, index_t> cases[] = {{"llava_T96", 96},        {"llava_T100_kept98", 100}, {"llava_T33", 33},
                                                     {"passthrough_T576", 576}, {"rule_T600_keep_all", 600}, {"error_T16", 16}};
    for (auto [name, T] : cases) {
      const fs::path dir = root / "vscan.stage1" / name;
      INFO(dir.string());
      const auto sh = vtr::read_npy(dir / "in_attn_shallow.npy"), dp = vtr::read_npy(dir / "in_attn_deep.npy"),
                 ft = vtr::read_npy(dir / "in_features.npy");
      const auto shv = sh.as_view<const float, 3>(), dpv = dp.as_view<const float, 3>();
      const auto ftv = ft.as_view<const float, 3>();
      const index_t B = ftv.extent(0), N = ftv.extent(1), D = ftv.extent(2);
      for (index_t b = 0; b < B; ++b) {
        const vtr::vscan::stage1::inputs in{ftv[b], shv[b], dpv[b]};
        vtr::vscan::stage1::details d;
        vtr::plan p;
        const vtr::status s = llava(T).try_plan(in, p, ws, &d);
        if (std::string(name) == "error_T16") {
          CHECK_FALSE(s.ok());
          continue;
        }
        REQUIRE(s.ok());
        const index_t K = p.size();
        auto slice = [&](const char* f, index_t per) {
          auto all = vtr::read_npy(dir / f).to_int64();
          return std::vector<std::int64_t>(all.begin() + b * per, all.begin() + (b + 1) * per);
        };
        CHECK(as_i64(p.kept()) == slice("out_kept_idx.npy", K));
        const auto mall = vtr::read_npy(dir / "out_merged.npy").to_float();
        const std::vector<float> xw(ftv[b].data_handle(), ftv[b].data_handle() + N * D);
        check_close(apply_plan(p, xw, D), std::vector<float>(mall.begin() + b * K * D, mall.begin() + (b + 1) * K * D));
        if (K == N) continue;
        CHECK(as_i64(d.local_idx) == slice("out_local_idx.npy", static_cast<index_t>(d.local_idx.size())));
        CHECK(as_i64(d.global_idx) == slice("out_global_idx.npy", static_cast<index_t>(d.global_idx.size())));
        CHECK(as_i64(d.assign) == slice("out_assign.npy", N - K));
      }
    }
  }
  SECTION("vscan.stage1_qwen") {
    struct qc {
      const char* name;
      index_t gh, gw;
      double r;
    };
    const qc cases[] = {{"grid14x20_r0333", 14, 20, 0.333}, {"grid18x26_r0167", 18, 26, 0.167}, {"grid8x8_r05", 8, 8, 0.5},
                        {"small_grid3x3_one_window", 3, 3, 0.5}};
    for (const auto& c : cases) {
      const fs::path dir = root / "vscan.stage1_qwen" / c.name;
      INFO(dir.string());
      const auto l = vtr::read_npy(dir / "in_attn_local.npy"), g = vtr::read_npy(dir / "in_attn_global.npy"),
                 e = vtr::read_npy(dir / "in_embeds.npy");
      const auto ev = e.as_view<const float, 2>();
      vtr::vscan::stage1_qwen::details d;
      const vtr::plan p = qwen(c.r).plan({l.as_view<const float, 1>(), g.as_view<const float, 1>(), ev, c.gh, c.gw}, ws, &d);
      CHECK(as_i64(d.local_idx) == vtr::read_npy(dir / "out_local_idx.npy").to_int64());
      CHECK(as_i64(d.global_idx) == vtr::read_npy(dir / "out_global_idx.npy").to_int64());
      CHECK(as_i64(p.kept()) == vtr::read_npy(dir / "out_keep_idx.npy").to_int64());
      const std::vector<float> xw(ev.data_handle(), ev.data_handle() + ev.size());
      check_close(apply_plan(p, xw, ev.extent(1)), vtr::read_npy(dir / "out_merged.npy").to_float());
    }
  }
  SECTION("vscan.stage2") {
    struct sc {
      const char* name;
      index_t img0, nv, keep;
      bool qk;
    };
    const sc cases[] = {{"probs_96_to_32", 35, 96, 32, false}, {"probs_keep0", 35, 96, 0, false},
                        {"probs_keep_ge_n", 35, 96, 200, false}, {"probs_ties_all_equal", 10, 40, 12, false},
                        {"qk_96_to_32", 35, 96, 32, true}};
    for (const auto& c : cases) {
      const fs::path dir = root / "vscan.stage2" / c.name;
      INFO(dir.string());
      vtr::vscan::stage2::details d;
      vtr::npy_array a, b;
      std::vector<index_t> pos;
      vtr::ops::attention_input in;
      if (c.qk) {
        a = vtr::read_npy(dir / "in_q.npy");
        b = vtr::read_npy(dir / "in_k.npy");
        const auto qv = a.as_view<const float, 2>();
        const auto kv = b.as_view<const float, 3>();
        const index_t H = kv.extent(0), S = kv.extent(1), hd = kv.extent(2);
        pos = {S - 1};
        in = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(qv.data_handle(), {1, H, hd}),
                                                vtr::tensor_view<const float, 3>(kv.data_handle(), {S, H, hd}, {hd, S * hd, 1}),
                                                vtr::view_of(pos));
      } else {
        a = vtr::read_npy(dir / "in_probs.npy");
        const auto pv = a.as_view<const float, 2>();
        in = vtr::ops::attention_input::from_probs(
            vtr::tensor_view<const float, 3>(pv.data_handle(), {pv.extent(0), 1, pv.extent(1)}, {pv.extent(1), pv.extent(1), 1}));
      }
      (void)late(c.keep).plan({in, c.img0, c.nv}, ws, &d);
      CHECK(as_i64(d.kept_rel) == vtr::read_npy(dir / "out_kept_rel.npy").to_int64());
      const float rtol = c.qk ? 1e-4f : 1e-5f, atol = c.qk ? 1e-5f : 1e-6f;
      check_close(d.scores, vtr::read_npy(dir / "out_scores.npy").to_float(), rtol, atol);
    }
  }
}
