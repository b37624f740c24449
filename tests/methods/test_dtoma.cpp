// DToMA D1/D2/D3 (ALGORITHMS §3.6): edge cases of the spec, independent naive references, properties,
// error handling, and the allocation-free decode tracker.
// The replaced global operator new/delete below pair malloc with free; GCC's middle end cannot see that
// through inlined allocators and warns falsely.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/ops/attention.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

// ---- allocation counter (this executable only): every global operator new bumps it ----
namespace {
std::atomic<long> g_allocs{0};
}
void* operator new(std::size_t n) {
  ++g_allocs;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  ++g_allocs;
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (std::max<std::size_t>(n, 1) + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using vtr::index_t;
namespace dt = vtr::dtoma;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> rand_vec(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// ---------------------------------------------------------------------------------------------------
// D1 naive reference: the recursive definition of §3.6.2 with the cosine-MATRIX mean (double).

struct ref_out {
  std::vector<dt::quadtree_cell> cells;
  std::vector<std::vector<double>> tokens;
};

double ref_cos(const float* a, const float* b, index_t c) {
  double ab = 0, aa = 0, bb = 0;
  for (index_t i = 0; i < c; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(std::max(aa * bb, 1e-16));
}

void ref_cell(const std::vector<float>& x, index_t h, index_t w, index_t C, index_t t, index_t r0, index_t r1, index_t c0,
              index_t c1, index_t depth, double tau, index_t max_depth, ref_out& out) {
  auto tok = [&](index_t r, index_t c) { return x.data() + ((t * h + r) * w + c) * C; };
  std::vector<std::pair<index_t, index_t>> s;
  for (index_t r = r0; r < r1; ++r)
    for (index_t c = c0; c < c1; ++c) s.emplace_back(r, c);
  const index_t n = static_cast<index_t>(s.size());
  auto emit_one = [&](index_t r, index_t c) {
    out.cells.push_back({t, r, r + 1, c, c + 1});
    out.tokens.emplace_back(tok(r, c), tok(r, c) + C);
  };
  if (n == 1) {
    emit_one(r0, c0);
    return;
  }
  double hs = 0;
  for (auto& a : s)
    for (auto& b : s) hs += ref_cos(tok(a.first, a.second), tok(b.first, b.second), C);
  hs /= double(n) * double(n);
  if (hs > tau) {
    std::vector<double> m(static_cast<std::size_t>(C), 0.0);
    for (auto& a : s)
      for (index_t i = 0; i < C; ++i) m[std::size_t(i)] += tok(a.first, a.second)[i];
    for (auto& v : m) v /= double(n);
    out.cells.push_back({t, r0, r1, c0, c1});
    out.tokens.push_back(m);
  } else if (depth == max_depth) {
    for (auto& a : s) emit_one(a.first, a.second);
  } else {
    const index_t rm = r0 + (r1 - r0 + 1) / 2, cm = c0 + (c1 - c0 + 1) / 2;
    const index_t ch[4][4] = {{r0, rm, c0, cm}, {r0, rm, cm, c1}, {rm, r1, c0, cm}, {rm, r1, cm, c1}};
    for (auto& c : ch)
      if (c[1] > c[0] && c[3] > c[2]) ref_cell(x, h, w, C, t, c[0], c[1], c[2], c[3], depth + 1, tau, max_depth, out);
  }
}

ref_out ref_quadtree(const std::vector<float>& x, index_t F, index_t h, index_t w, index_t C, double tau, index_t max_depth) {
  ref_out o;
  for (index_t t = 0; t < F; ++t) ref_cell(x, h, w, C, t, 0, h, 0, w, 0, tau, max_depth, o);
  return o;
}

// Tokens with spatial structure so that some cells merge and some do not: a few prototype directions
// laid out in blocks, plus per-token noise of varying strength.
std::vector<float> structured_tokens(index_t F, index_t h, index_t w, index_t C, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(0.0f, 1.0f);
  const index_t P = 5;
  std::vector<float> proto(static_cast<std::size_t>(P * C));
  for (auto& v : proto) v = nd(rng);
  std::vector<float> x(static_cast<std::size_t>(F * h * w * C));
  for (index_t t = 0; t < F; ++t) {
    const float noise = 0.2f + 1.5f * ud(rng);
    for (index_t r = 0; r < h; ++r)
      for (index_t c = 0; c < w; ++c) {
        const index_t p = ((r / 3) * 7 + (c / 3) * 3 + t) % P;
        const float local = (r + c) % 5 == 0 ? noise * 2.0f : noise * 0.3f;
        float* o = x.data() + ((t * h + r) * w + c) * C;
        for (index_t i = 0; i < C; ++i) o[i] = proto[std::size_t(p * C + i)] + local * nd(rng);
      }
  }
  return x;
}

dt::quadtree::inputs qt_inputs(const std::vector<float>& x, index_t F, index_t h, index_t w, index_t C) {
  dt::quadtree::inputs in;
  in.tokens = vtr::matrix_view<const float>(x.data(), {F * h * w, C});
  in.frames = F;
  in.grid_h = h;
  in.grid_w = w;
  return in;
}

}  // namespace

// ===================================================================================================
// D1 quadtree

TEST_CASE("dtoma::quadtree: uniform frames merge to one token per frame (representative = top-left)") {
  const index_t F = 3, h = 5, w = 7, C = 16;
  std::vector<float> x(static_cast<std::size_t>(F * h * w * C));
  for (index_t t = 0; t < F; ++t)
    for (index_t i = 0; i < h * w; ++i)
      for (index_t c = 0; c < C; ++c) x[std::size_t((t * h * w + i) * C + c)] = float(t + 1) * 0.5f + float(c);
  vtr::workspace ws;
  dt::quadtree::details det;
  const auto in = qt_inputs(x, F, h, w, C);
  const vtr::plan p = dt::quadtree{}.plan(in, ws, &det);
  REQUIRE(p.size() == F);
  for (index_t t = 0; t < F; ++t) {
    CHECK(p.origin[std::size_t(t)] == t * h * w);
    CHECK(det.sizes[std::size_t(t)] == h * w);
    CHECK(det.cells[std::size_t(t)] == dt::quadtree_cell{t, 0, h, 0, w});
  }
  std::vector<float> out(static_cast<std::size_t>(F * C));
  vtr::apply(p, in.tokens, vtr::matrix_view<float>(out.data(), {F, C}));
  for (index_t t = 0; t < F; ++t)
    for (index_t c = 0; c < C; ++c) CHECK(out[std::size_t(t * C + c)] == Approx(float(t + 1) * 0.5f + float(c)).epsilon(1e-6));
}

TEST_CASE("dtoma::quadtree matches the recursive cosine-matrix definition on structured data") {
  struct shape {
    index_t F, h, w, C, depth;
    float tau;
  };
  const shape shapes[] = {{2, 12, 12, 32, 3, 0.8f}, {1, 7, 5, 16, 3, 0.8f}, {3, 9, 6, 8, 2, 0.5f}, {1, 24, 24, 20, 3, 0.6f},
                          {2, 3, 11, 12, 5, 0.7f},  {1, 1, 9, 4, 3, 0.6f},  {1, 8, 1, 4, 3, 0.6f}, {2, 6, 6, 10, 0, 0.4f}};
  unsigned seed = 100;
  int merged_rows = 0, single_rows = 0;
  for (const auto& s : shapes) {
    CAPTURE(s.F, s.h, s.w, s.C, s.depth, s.tau);
    const auto x = structured_tokens(s.F, s.h, s.w, s.C, seed++);
    const auto want = ref_quadtree(x, s.F, s.h, s.w, s.C, s.tau, s.depth);
    vtr::workspace ws;
    dt::quadtree::details det;
    const auto in = qt_inputs(x, s.F, s.h, s.w, s.C);
    const dt::quadtree q({s.tau, s.depth});
    const vtr::plan p = q.plan(in, ws, &det);
    REQUIRE(p.size() == static_cast<index_t>(want.cells.size()));
    CHECK(det.cells == want.cells);
    std::vector<float> out(static_cast<std::size_t>(p.size() * s.C));
    vtr::apply(p, in.tokens, vtr::matrix_view<float>(out.data(), {p.size(), s.C}));
    for (index_t r = 0; r < p.size(); ++r) {
      const auto& c = want.cells[std::size_t(r)];
      CHECK(det.sizes[std::size_t(r)] == c.size());
      CHECK(p.origin[std::size_t(r)] == (c.t * s.h + c.r0) * s.w + c.c0);  // top-left representative
      (c.size() > 1 ? merged_rows : single_rows)++;
      for (index_t i = 0; i < s.C; ++i)
        CHECK(std::fabs(out[std::size_t(r * s.C + i)] - want.tokens[std::size_t(r)][std::size_t(i)]) <=
              1e-6 + 1e-5 * std::fabs(want.tokens[std::size_t(r)][std::size_t(i)]));
    }
    // Bounds and provenance: every input token is a source of exactly one output row.
    CHECK(p.size() >= q.min_kept_count(s.F, s.h, s.w).value());
    CHECK(p.size() <= q.max_kept_count(s.F, s.h, s.w).value());
    std::vector<int> seen(static_cast<std::size_t>(s.F * s.h * s.w), 0);
    for (index_t r = 0; r < p.size(); ++r) {
      auto [b, e] = p.sources_of(r);
      CHECK(*std::min_element(b, e) == p.origin[std::size_t(r)]);
      for (auto it = b; it != e; ++it) ++seen[std::size_t(*it)];
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int v) { return v == 1; }));
    CHECK(ws.high_water() <= q.workspace_bytes(s.F, s.h, s.w, s.C));
  }
  CHECK(merged_rows > 0);  // the data exercises both branches
  CHECK(single_rows > 0);
}

TEST_CASE("dtoma::quadtree: odd grids split at the ceiling, skip empty children, reach single tokens") {
  // Nothing merges (τ above any mean cosine): the output is every token once, in depth-first order.
  for (auto [h, w] : {std::pair<index_t, index_t>{7, 5}, {1, 1}, {1, 3}, {3, 1}, {2, 1}, {5, 5}}) {
    CAPTURE(h, w);
    const index_t C = 4;
    const auto x = rand_vec(static_cast<std::size_t>(h * w * C), unsigned(h * 10 + w));
    vtr::workspace ws;
    dt::quadtree::details det;
    const vtr::plan p = dt::quadtree({2.0f, 10}).plan(qt_inputs(x, 1, h, w, C), ws, &det);
    REQUIRE(p.size() == h * w);
    CHECK(p.is_selection());
    const auto want = ref_quadtree(x, 1, h, w, C, 2.0, 10);
    CHECK(det.cells == want.cells);
    std::set<index_t> uniq(p.origin.begin(), p.origin.end());
    CHECK(static_cast<index_t>(uniq.size()) == h * w);
  }
  // 7×5 depth-first order: TL is rows [0,4) × cols [0,3), so its first leaf is (0,0) and (4,0) comes later.
  const auto x = rand_vec(7 * 5 * 4, 3);
  vtr::workspace ws;
  dt::quadtree::details det;
  (void)dt::quadtree({2.0f, 10}).plan(qt_inputs(x, 1, 7, 5, 4), ws, &det);
  CHECK(det.cells.front() == dt::quadtree_cell{0, 0, 1, 0, 1});
  CHECK(det.cells.back() == dt::quadtree_cell{0, 6, 7, 4, 5});
}

TEST_CASE("dtoma::quadtree: max_depth 0 merges the whole frame or emits it token by token") {
  const index_t h = 4, w = 4, C = 8;
  std::vector<float> same(static_cast<std::size_t>(h * w * C), 1.0f);
  vtr::workspace ws;
  CHECK(dt::quadtree({0.8f, 0}).plan(qt_inputs(same, 1, h, w, C), ws).size() == 1);
  const auto x = rand_vec(static_cast<std::size_t>(h * w * C), 9);
  dt::quadtree::details det;
  const vtr::plan p = dt::quadtree({0.8f, 0}).plan(qt_inputs(x, 1, h, w, C), ws, &det);
  CHECK(p.size() == h * w);
  for (index_t i = 0; i < h * w; ++i) CHECK(p.origin[std::size_t(i)] == i);  // raster order
}

TEST_CASE("dtoma::quadtree: zero tokens have cosine 0 (never merge); reused workspace stops allocating") {
  const index_t h = 4, w = 4, C = 8;
  std::vector<float> zeros(static_cast<std::size_t>(h * w * C), 0.0f);
  vtr::workspace ws;
  CHECK(dt::quadtree{}.plan(qt_inputs(zeros, 1, h, w, C), ws).size() == h * w);
  const auto x = structured_tokens(2, 12, 12, 16, 5);
  vtr::plan p;
  const dt::quadtree q;
  REQUIRE(q.try_plan(qt_inputs(x, 2, 12, 12, 16), p, ws).ok());
  const auto allocs = ws.allocations();
  REQUIRE(q.try_plan(qt_inputs(x, 2, 12, 12, 16), p, ws).ok());
  CHECK(ws.allocations() == allocs);
}

TEST_CASE("dtoma::quadtree reads tokens through the view's row stride (padded rows give the same plan)") {
  const index_t F = 2, h = 12, w = 12, C = 16, pad = 5;
  const auto x = structured_tokens(F, h, w, C, 7);
  std::vector<float> padded(static_cast<std::size_t>(F * h * w * (C + pad)), std::nanf(""));  // padding never read
  for (index_t i = 0; i < F * h * w; ++i)
    std::copy(x.begin() + i * C, x.begin() + (i + 1) * C, padded.begin() + i * (C + pad));
  dt::quadtree::inputs strided = qt_inputs(x, F, h, w, C);
  strided.tokens = vtr::matrix_view<const float>(padded.data(), {F * h * w, C}, {C + pad, 1});
  vtr::workspace ws;
  dt::quadtree::details want, got;
  const dt::quadtree q({0.6f, 3});
  const vtr::plan a = q.plan(qt_inputs(x, F, h, w, C), ws, &want), b = q.plan(strided, ws, &got);
  CHECK(a.origin == b.origin);
  CHECK(got.cells == want.cells);
  CHECK(a.size() < F * h * w);  // some cells merge
}

TEST_CASE("dtoma::quadtree rejects bad input, naming the argument, and writes nothing") {
  const auto x = rand_vec(2 * 4 * 4 * 8, 1);
  vtr::workspace ws;
  vtr::plan out = vtr::plan::select(7, {1, 2, 3});
  auto check = [&](const vtr::status& s, const char* needle) {
    REQUIRE_FALSE(s.ok());
    CHECK(contains(s.message(), needle));
    CHECK(out.input_rows == 7);
    CHECK(out.origin == std::vector<index_t>{1, 2, 3});
  };
  auto in = qt_inputs(x, 2, 4, 4, 8);
  in.frames = 3;
  check(dt::quadtree{}.try_plan(in, out, ws), "'tokens'");
  in.frames = 0;
  check(dt::quadtree{}.try_plan(in, out, ws), "'frames'");
  in = qt_inputs(x, 2, 4, 4, 8);
  check(dt::quadtree({0.8f, -1}).try_plan(in, out, ws), "'max_depth'");
  check(dt::quadtree({std::nanf(""), 3}).try_plan(in, out, ws), "'merge_threshold'");
  auto bad = x;
  bad[std::size_t(1 * 16 * 8 + 5)] = std::nanf("");  // frame 1: found after frame 0 was processed
  check(dt::quadtree{}.try_plan(qt_inputs(bad, 2, 4, 4, 8), out, ws), "'tokens'");
  CHECK_THROWS_AS(dt::quadtree{}.plan(qt_inputs(bad, 2, 4, 4, 8), ws), vtr::invalid_input);
  CHECK_FALSE(dt::quadtree{}.max_kept_count(1, 0, 3).ok());
}

// ===================================================================================================
// D2 select

TEST_CASE("dtoma::select kept_count: max(1, ⌊r·n⌋) clamped to n, double product") {
  CHECK(dt::select{}.kept_count(576).value() == 172);
  CHECK(dt::select{}.kept_count(3).value() == 1);  // ⌊0.9⌋ = 0 → floor of 1
  CHECK(dt::select{}.kept_count(0).value() == 0);
  CHECK(dt::select({0.0}).kept_count(10).value() == 1);
  CHECK(dt::select({2.5}).kept_count(10).value() == 10);
  CHECK(dt::select({0.29}).kept_count(100).value() == 28);  // 100·0.29 = 28.999999999999996
  CHECK_FALSE(dt::select({-0.1}).kept_count(10).ok());
  CHECK_FALSE(dt::select{}.kept_count(-1).ok());
}

TEST_CASE("dtoma::select: importance = head-mean query-mean × boost; ties go to the lower index") {
  const index_t H = 2, Q = 3, N = 10;
  std::vector<float> a(static_cast<std::size_t>(H * Q * N), 0.25f);
  vtr::workspace ws;
  dt::select::inputs in;
  in.attn = vtr::ops::attention_input::from_probs({a.data(), {H, Q, N}});
  dt::select::details det;
  vtr::plan p = dt::select{}.plan(in, ws, &det);
  CHECK(p.origin == std::vector<index_t>{0, 1, 2});  // all equal → lowest indices
  CHECK(p.input_rows == N);
  for (float v : det.importance) CHECK(v == Approx(0.25f));
  // rel ≥ 0.7 (inclusive) doubles the importance: tokens 9 (0.7 exactly) and 5 (0.95) win, 4 (0.69) does not.
  std::vector<float> rel(N, 0.0f);
  rel[9] = 0.7f;
  rel[5] = 0.95f;
  rel[4] = 0.69f;
  in.relevance = vtr::view_of(rel);
  p = dt::select{}.plan(in, ws, &det);
  CHECK(p.origin == std::vector<index_t>{0, 5, 9});
  CHECK(det.importance[9] == Approx(0.5f));
  CHECK(det.importance[4] == Approx(0.25f));
}

TEST_CASE("dtoma::select: probabilities and Q/K recompute give the same kept set; random shapes") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 6; ++trial) {
    const index_t H = 1 + trial % 4, Hkv = (H % 2 == 0) ? H / 2 : H, d = 8, P = 3 + trial, N = 17 + 13 * trial, Nt = 2 + trial;
    const index_t L = P + N + Nt;
    CAPTURE(trial, H, N, Nt);
    const auto q = rand_vec(static_cast<std::size_t>(Nt * H * d), 10u + unsigned(trial));
    const auto k = rand_vec(static_cast<std::size_t>(L * Hkv * d), 20u + unsigned(trial));
    std::vector<index_t> pos(static_cast<std::size_t>(Nt));
    std::iota(pos.begin(), pos.end(), P + N);
    const vtr::tensor_view<const float, 3> qv(q.data(), {Nt, H, d}), kv(k.data(), {L, Hkv, d});
    // Probabilities of the same rows, restricted to the visual columns by the view.
    std::vector<float> probs(static_cast<std::size_t>(H * Nt * L));
    vtr::workspace ws;
    vtr::ops::attention_rows(qv, kv, vtr::view_of(pos), vtr::ops::attention_mode{}, vtr::tensor_view<float, 3>(probs.data(), {H, Nt, L}), ws);
    const dt::select sel({0.1 + 0.15 * trial, 2.0f, 0.7f});
    const auto rel = rand_vec(static_cast<std::size_t>(N), 30u + unsigned(trial), 0.0f, 1.0f);

    dt::select::inputs a;
    a.attn = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(probs.data() + P, {H, Nt, N}, {Nt * L, L, 1}));
    a.relevance = vtr::view_of(rel);
    dt::select::inputs b;
    b.attn = vtr::ops::attention_input::from_qk(qv, kv, vtr::view_of(pos));
    b.visual_begin = P;
    b.visual_count = N;
    b.relevance = vtr::view_of(rel);
    dt::select::details da, db;
    const vtr::plan pa = sel.plan(a, ws, &da), pb = sel.plan(b, ws, &db);
    CHECK(pa.origin == pb.origin);
    REQUIRE(pa.size() == sel.kept_count(N).value());
    for (index_t j = 0; j < N; ++j) CHECK(da.importance[std::size_t(j)] == Approx(db.importance[std::size_t(j)]).epsilon(1e-5));
    for (std::size_t i = 1; i < pa.origin.size(); ++i) CHECK(pa.origin[i - 1] < pa.origin[i]);
    CHECK((pa.origin.front() >= 0 && pa.origin.back() < N));
    // Every kept importance ≥ every dropped one (top-k).
    std::vector<char> kept(static_cast<std::size_t>(N), 0);
    for (index_t o : pa.origin) kept[std::size_t(o)] = 1;
    float min_kept = 1e30f, max_drop = -1e30f;
    for (index_t j = 0; j < N; ++j) {
      const float v = da.importance[std::size_t(j)];
      if (kept[std::size_t(j)]) min_kept = std::min(min_kept, v);
      else max_drop = std::max(max_drop, v);
    }
    CHECK(min_kept >= max_drop);
  }
}

TEST_CASE("dtoma::select rejects bad input, naming the argument") {
  std::vector<float> a(2 * 3 * 10, 0.1f), rel(9, 0.5f);
  vtr::workspace ws;
  vtr::plan out = vtr::plan::select(4, {3});
  dt::select::inputs in;
  in.attn = vtr::ops::attention_input::from_probs({a.data(), {2, 3, 10}});
  in.relevance = vtr::view_of(rel);
  auto s = dt::select{}.try_plan(in, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'relevance'"));
  CHECK(out.origin == std::vector<index_t>{3});
  in.relevance = {};
  in.visual_begin = 4;
  in.visual_count = 7;
  CHECK(contains(dt::select{}.try_plan(in, out, ws).message(), "visual span"));
  in.visual_begin = 0;
  in.visual_count = -1;
  CHECK(contains(dt::select({std::nan("")}).try_plan(in, out, ws).message(), "'keep_ratio'"));
  in.attn = vtr::ops::attention_input::from_probs({a.data(), {2, 0, 10}});
  CHECK(contains(dt::select{}.try_plan(in, out, ws).message(), "no query rows"));
  CHECK(out.origin == std::vector<index_t>{3});
}

// ===================================================================================================
// D3 usage tracker

namespace {
// Naive simulation of §3.6.4 over the original ids (attention given over all original tokens).
struct usage_ref {
  std::vector<index_t> evicted_at, count, alive;
};
usage_ref simulate(const std::vector<float>& steps, index_t I, index_t H, index_t N, dt::usage_params p) {
  usage_ref r;
  r.evicted_at.assign(std::size_t(N), -1);
  r.count.assign(std::size_t(N), 0);
  for (index_t j = 0; j < N; ++j) r.alive.push_back(j);
  for (index_t i = 1; i <= I; ++i) {
    std::vector<index_t> ev;
    for (index_t j : r.alive) {
      float m = -1e30f;
      for (index_t h = 0; h < H; ++h) m = std::max(m, steps[std::size_t(((i - 1) * H + h) * N + j)]);
      if (m > p.usage_threshold) ++r.count[std::size_t(j)];
      if (r.count[std::size_t(j)] < i - p.unused_threshold) ev.push_back(j);
    }
    const index_t e = std::max<index_t>(0, std::min<index_t>(index_t(ev.size()), index_t(r.alive.size()) - p.min_keep));
    if (e < index_t(ev.size())) {
      std::stable_sort(ev.begin(), ev.end(), [&](index_t a, index_t b) { return r.count[std::size_t(a)] < r.count[std::size_t(b)]; });
      ev.resize(std::size_t(e));
      std::sort(ev.begin(), ev.end());
    }
    for (index_t j : ev) r.evicted_at[std::size_t(j)] = i;
    std::vector<index_t> next;
    for (index_t j : r.alive)
      if (!std::binary_search(ev.begin(), ev.end(), j)) next.push_back(j);
    r.alive = next;
  }
  return r;
}
}  // namespace

TEST_CASE("dtoma::usage_tracker: nothing is evicted before iteration unused_threshold + 1") {
  const index_t H = 2, N = 6;
  std::vector<float> zero(static_cast<std::size_t>(H * N), 0.0f);
  dt::usage_tracker t(N);
  for (int i = 1; i <= 5; ++i) {
    auto ev = t.step({zero.data(), {H, N}});
    CHECK(ev.extent(0) == 0);
  }
  CHECK(t.size() == N);
  // Iteration 6: every count is 0 < 1, min_keep = 1 keeps the highest index among equal counts.
  auto ev = t.step({zero.data(), {H, N}});
  REQUIRE(ev.extent(0) == N - 1);
  for (index_t e = 0; e < N - 1; ++e) CHECK(ev(e) == e);
  REQUIRE(t.size() == 1);
  CHECK(t.original_ids()(0) == N - 1);
  CHECK(t.iteration() == 6);
}

TEST_CASE("dtoma::usage_tracker: min_keep floor evicts the lowest counts first, ties to the lower index") {
  // 5 tokens; tokens 3 and 4 are used in iterations 1-2 only, the others never. At iteration 6 the bar is
  // 1: tokens 0, 1, 2 (count 0) are candidates, 3 and 4 (count 2) are safe; min_keep = 3 lets only two go.
  const index_t H = 1, N = 5;
  dt::usage_params p;
  p.min_keep = 3;
  dt::usage_tracker t(N, p);
  std::vector<float> row(N, 0.0f);
  row[3] = row[4] = 0.5f;
  (void)t.step({row.data(), {H, N}});
  (void)t.step({row.data(), {H, N}});
  std::vector<float> zero(N, 0.0f);
  for (int i = 3; i <= 5; ++i) CHECK(t.step({zero.data(), {H, N}}).extent(0) == 0);
  auto ev = t.step({zero.data(), {H, N}});  // i = 6: candidates {0,1,2}, e = min(3, 5 − 3) = 2 → 0, 1
  REQUIRE(ev.extent(0) == 2);
  CHECK(ev(0) == 0);
  CHECK(ev(1) == 1);
  REQUIRE(t.size() == 3);
  CHECK(t.original_ids()(0) == 2);
  CHECK(t.original_ids()(1) == 3);
  CHECK(t.original_ids()(2) == 4);
  // At the floor: nothing more goes.
  CHECK(t.step({zero.data(), {H, 3}}).extent(0) == 0);
  CHECK(t.counts()(3) == 2);
  CHECK(t.counts()(0) == 0);
}

TEST_CASE("dtoma::usage_tracker matches a naive simulation on random attention; allocation-free steps") {
  std::mt19937 rng(7);
  struct cfg {
    index_t N, H, I;
    dt::usage_params p;
  };
  dt::usage_params a, b, c;
  b.min_keep = 10;
  b.usage_threshold = 0.3f;
  c.unused_threshold = 0;
  c.min_keep = 0;
  const cfg cfgs[] = {{576, 32, 30, a}, {40, 4, 25, b}, {17, 3, 12, c}, {1, 2, 9, a}};
  for (const auto& cf : cfgs) {
    CAPTURE(cf.N, cf.H, cf.I);
    // Token j is "popular" with probability depending on j, so counts spread out.
    std::vector<float> steps(static_cast<std::size_t>(cf.I * cf.H * cf.N));
    std::uniform_real_distribution<float> ud(0.0f, 1.0f);
    for (index_t i = 0; i < cf.I; ++i)
      for (index_t h = 0; h < cf.H; ++h)
        for (index_t j = 0; j < cf.N; ++j)
          steps[std::size_t((i * cf.H + h) * cf.N + j)] = ud(rng) * (0.05f + 0.5f * float(j % 7) / 6.0f);
    const auto want = simulate(steps, cf.I, cf.H, cf.N, cf.p);

    dt::usage_tracker t(cf.N, cf.p);
    std::vector<index_t> evicted_at(std::size_t(cf.N), -1);
    std::vector<float> cur(static_cast<std::size_t>(cf.H * cf.N));
    std::vector<index_t> before(static_cast<std::size_t>(cf.N));
    std::vector<index_t> ev_ids;
    ev_ids.reserve(static_cast<std::size_t>(cf.N));
    long allocs_in_steps = 0;
    for (index_t i = 0; i < cf.I; ++i) {
      const auto ids = t.original_ids();
      const index_t n = ids.extent(0);
      for (index_t h = 0; h < cf.H; ++h)
        for (index_t j = 0; j < n; ++j) cur[std::size_t(h * n + j)] = steps[std::size_t((i * cf.H + h) * cf.N + ids(j))];
      std::copy(ids.data_handle(), ids.data_handle() + n, before.begin());
      const long a0 = g_allocs.load();
      const auto ev = t.step({cur.data(), {cf.H, n}});
      allocs_in_steps += g_allocs.load() - a0;
      for (index_t e = 0; e < ev.extent(0); ++e) evicted_at[std::size_t(before[std::size_t(ev(e))])] = i + 1;
      for (index_t e = 1; e < ev.extent(0); ++e) CHECK(ev(e - 1) < ev(e));
    }
    CHECK(allocs_in_steps == 0);
    CHECK(evicted_at == want.evicted_at);
    const auto cnt = t.counts();
    CHECK(std::vector<index_t>(cnt.data_handle(), cnt.data_handle() + cnt.extent(0)) == want.count);
    const auto kept = t.original_ids();
    CHECK(std::vector<index_t>(kept.data_handle(), kept.data_handle() + kept.extent(0)) == want.alive);
    CHECK(t.size() >= t.min_kept_count());
    // reset() starts over without allocating, and replays identically.
    const long a1 = g_allocs.load();
    t.reset();
    CHECK(g_allocs.load() == a1);
    CHECK(t.size() == cf.N);
    CHECK(t.iteration() == 0);
  }
}

TEST_CASE("dtoma::usage_tracker rejects bad input and leaves its state unchanged") {
  std::vector<float> a(3 * 4, 0.5f);
  dt::usage_tracker t(5);
  vtr::vector_view<const index_t> ev;
  auto s = t.try_step({a.data(), {3, 4}}, ev);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'attn'"));
  CHECK(t.iteration() == 0);
  CHECK(t.size() == 5);
  dt::usage_params bad;
  bad.min_keep = -1;
  auto r = dt::usage_tracker::try_create(5, bad);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message(), "'min_keep'"));
  bad = {};
  bad.usage_threshold = std::nanf("");
  CHECK_THROWS_AS(dt::usage_tracker(5, bad), vtr::invalid_input);
  CHECK_FALSE(t.try_reset(6).ok());
  REQUIRE(t.try_reset(3).ok());
  CHECK(t.size() == 3);
  CHECK(t.counts().extent(0) == 3);
}

TEST_CASE("dtoma: traits and neutral names") {
  STATIC_REQUIRE(dt::quadtree::stage == vtr::stage::projector);
  STATIC_REQUIRE(!dt::quadtree::count_is_static);
  STATIC_REQUIRE(dt::select::stage == vtr::stage::prefill_layer);
  STATIC_REQUIRE(dt::select::is_query_conditioned);
  STATIC_REQUIRE(dt::usage_tracker::stage == vtr::stage::decode);
  STATIC_REQUIRE(std::is_same_v<vtr::policies::quadtree_merge, dt::quadtree>);
  STATIC_REQUIRE(std::is_same_v<vtr::policies::relevance_boost, dt::select>);
  STATIC_REQUIRE(std::is_same_v<vtr::policies::usage_tracker, dt::usage_tracker>);
  CHECK(dt::select_params{}.keep_ratio == 0.3);
  CHECK(dt::quadtree_params{}.merge_threshold == 0.8f);
  CHECK(dt::quadtree_params{}.max_depth == 3);
  CHECK(dt::usage_params{}.unused_threshold == 5);
}
