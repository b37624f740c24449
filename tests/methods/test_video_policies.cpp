// Generic video policies of ALGORITHMS §4.7: keep_ratio_topk (incl. per frame), consecutive_frame_dedup,
// frame_gate — spec edge cases, references, properties, errors.
#include "catch.hpp"

#include <vtr/ops/attention.hpp>
#include <vtr/ops/reduce.hpp>
#include <vtr/ops/topk.hpp>
#include <vtr/policies/frame_dedup.hpp>
#include <vtr/policies/frame_gate.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;
namespace pol = vtr::policies;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> rand_vec(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Naive per-group top-k (score desc, index asc), union ascending.
std::vector<index_t> ref_grouped(const std::vector<float>& s, index_t groups, index_t k) {
  const index_t n_f = static_cast<index_t>(s.size()) / groups;
  std::vector<index_t> out;
  for (index_t g = 0; g < groups; ++g) {
    std::vector<index_t> idx(static_cast<std::size_t>(n_f));
    std::iota(idx.begin(), idx.end(), g * n_f);
    std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) { return s[std::size_t(a)] > s[std::size_t(b)]; });
    idx.resize(static_cast<std::size_t>(std::min(k, n_f)));
    out.insert(out.end(), idx.begin(), idx.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// ===================================================================================================
// keep_ratio_topk

TEST_CASE("keep_ratio_topk: k = ⌊n·ratio⌋ (double product), per frame when frames > 1") {
  CHECK(pol::keep_ratio_topk({0.29}).kept_count(100).value() == 28);
  CHECK(pol::keep_ratio_topk({0.25}).kept_count(576).value() == 144);
  CHECK(pol::keep_ratio_topk({0.25}).kept_count(16 * 144, 16).value() == 16 * 36);
  CHECK(pol::keep_ratio_topk({0.1}).kept_count(5).value() == 0);  // no floor of 1 here (§4.7)
  CHECK(pol::keep_ratio_topk({3.0}).kept_count(5).value() == 5);
  CHECK_FALSE(pol::keep_ratio_topk({0.5}).kept_count(10, 3).ok());
  CHECK_FALSE(pol::keep_ratio_topk({-0.5}).kept_count(10).ok());
}

TEST_CASE("keep_ratio_topk: caller scores, ties, per-frame grouping against a naive reference") {
  vtr::workspace ws;
  std::vector<float> flat(12, 1.0f);
  pol::keep_ratio_topk::inputs in;
  in.scores = vtr::view_of(flat);
  CHECK(pol::keep_ratio_topk({0.25}).plan(in, ws).origin == std::vector<index_t>{0, 1, 2});  // ties → lower index
  in.frames = 3;
  CHECK(pol::keep_ratio_topk({0.5}).plan(in, ws).origin == std::vector<index_t>{0, 1, 4, 5, 8, 9});
  for (index_t F : {1, 2, 4, 16}) {
    for (double r : {0.1, 0.25, 0.5, 0.9}) {
      CAPTURE(F, r);
      const index_t n_f = 36;
      const auto s = rand_vec(static_cast<std::size_t>(F * n_f), unsigned(F * 100) + unsigned(r * 10.0));
      pol::keep_ratio_topk::inputs x;
      x.scores = vtr::view_of(s);
      x.frames = F;
      const pol::keep_ratio_topk pol_r({r});
      const vtr::plan p = pol_r.plan(x, ws);
      CHECK(p.origin == ref_grouped(s, F, static_cast<index_t>(std::floor(double(n_f) * r))));
      CHECK(p.size() == pol_r.kept_count(F * n_f, F).value());
      CHECK(p.input_rows == F * n_f);
    }
  }
}

TEST_CASE("keep_ratio_topk: attention scores with selectable reducers; probs and Q/K agree") {
  const index_t H = 4, Nt = 5, d = 8, P = 3, N = 40, L = P + N + Nt;
  const auto q = rand_vec(static_cast<std::size_t>(Nt * H * d), 1);
  const auto k = rand_vec(static_cast<std::size_t>(L * H * d), 2);
  std::vector<index_t> pos(static_cast<std::size_t>(Nt));
  std::iota(pos.begin(), pos.end(), P + N);
  const vtr::tensor_view<const float, 3> qv(q.data(), {Nt, H, d}), kv(k.data(), {L, H, d});
  vtr::workspace ws;
  std::vector<float> probs(static_cast<std::size_t>(H * Nt * L));
  vtr::ops::attention_rows(qv, kv, vtr::view_of(pos), vtr::ops::attention_mode{}, vtr::tensor_view<float, 3>(probs.data(), {H, Nt, L}), ws);
  const vtr::tensor_view<const float, 3> vis(probs.data() + P, {H, Nt, N}, {Nt * L, L, 1});
  for (auto hr : {vtr::ops::head_reduce::mean, vtr::ops::head_reduce::max}) {
    for (auto rr : {vtr::ops::row_reduce::mean, vtr::ops::row_reduce::sum, vtr::ops::row_reduce::max}) {
      pol::keep_ratio_topk_params prm;
      prm.ratio = 0.3;
      prm.heads = hr;
      prm.rows = rr;
      pol::keep_ratio_topk::inputs a;
      a.attn = vtr::ops::attention_input::from_probs(vis);
      pol::keep_ratio_topk::inputs b;
      b.attn = vtr::ops::attention_input::from_qk(qv, kv, vtr::view_of(pos));
      b.visual_begin = P;
      b.visual_count = N;
      pol::keep_ratio_topk::details da;
      const vtr::plan pa = pol::keep_ratio_topk(prm).plan(a, ws, &da);
      const vtr::plan pb = pol::keep_ratio_topk(prm).plan(b, ws);
      CHECK(pa.origin == pb.origin);
      const auto want = vtr::ops::ref::reduce_attention(vis, hr, rr);
      for (index_t j = 0; j < N; ++j) CHECK(da.scores[std::size_t(j)] == Approx(want[std::size_t(j)]).epsilon(1e-5));
      CHECK(pa.origin == ref_grouped(want, 1, 12));
    }
  }
}

TEST_CASE("keep_ratio_topk rejects bad input, naming the argument") {
  vtr::workspace ws;
  vtr::plan out = vtr::plan::select(3, {1});
  std::vector<float> s = {0.1f, std::nanf(""), 0.3f, 0.2f};
  pol::keep_ratio_topk::inputs in;
  in.scores = vtr::view_of(s);
  auto st = pol::keep_ratio_topk{}.try_plan(in, out, ws);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "NaN"));
  s[1] = 0.5f;
  in.frames = 3;
  CHECK(contains(pol::keep_ratio_topk{}.try_plan(in, out, ws).message(), "'frames'"));
  pol::keep_ratio_topk::inputs none;
  CHECK(contains(pol::keep_ratio_topk{}.try_plan(none, out, ws).message(), "no scores"));
  CHECK(out.origin == std::vector<index_t>{1});
  CHECK_THROWS_AS(pol::keep_ratio_topk{}.plan(none, ws), vtr::invalid_input);
}

// ===================================================================================================
// consecutive_frame_dedup

namespace {
// F frames of n_f × C: each frame is base + drift·t + per-frame noise levels given by `jump`.
std::vector<float> frames_with(const std::vector<float>& jumps, index_t n_f, index_t C, unsigned seed) {
  const index_t F = static_cast<index_t>(jumps.size());
  auto base = rand_vec(static_cast<std::size_t>(n_f * C), seed);
  std::vector<float> x;
  std::mt19937 rng(seed + 1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto cur = base;
  for (index_t t = 0; t < F; ++t) {
    for (auto& v : cur) v += jumps[std::size_t(t)] * nd(rng);
    x.insert(x.end(), cur.begin(), cur.end());
  }
  return x;
}
double flat_cos(const std::vector<float>& x, index_t a, index_t b, index_t m) {
  double ab = 0, aa = 0, bb = 0;
  for (index_t i = 0; i < m; ++i) {
    const double u = x[std::size_t(a * m + i)], v = x[std::size_t(b * m + i)];
    ab += u * v;
    aa += u * u;
    bb += v * v;
  }
  return ab / std::sqrt(std::max(aa * bb, 1e-16));
}
}  // namespace

TEST_CASE("consecutive_frame_dedup: first and last kept; compares with the preceding ORIGINAL frame") {
  const index_t n_f = 6, C = 5;
  // Small steps: every consecutive pair is similar (dropped), though frame 7 is far from frame 0.
  const std::vector<float> jumps = {0, 0.15f, 0.15f, 0.15f, 0.15f, 0.15f, 0.15f, 0.15f};
  const auto x = frames_with(jumps, n_f, C, 3);
  const index_t F = static_cast<index_t>(jumps.size());
  for (index_t t = 0; t + 1 < F; ++t) REQUIRE(flat_cos(x, t, t + 1, n_f * C) >= 0.9);
  REQUIRE(flat_cos(x, 0, F - 2, n_f * C) < 0.9);  // drift: a last-kept comparison would keep a middle frame
  vtr::workspace ws;
  pol::consecutive_frame_dedup::details det;
  pol::consecutive_frame_dedup::inputs in{vtr::matrix_view<const float>(x.data(), {F * n_f, C}), F};
  const vtr::plan p = pol::consecutive_frame_dedup{}.plan(in, ws, &det);
  CHECK(det.kept_frames == std::vector<index_t>{0, F - 1});
  REQUIRE(p.size() == 2 * n_f);
  for (index_t l = 0; l < n_f; ++l) {
    CHECK(p.origin[std::size_t(l)] == l);
    CHECK(p.origin[std::size_t(n_f + l)] == (F - 1) * n_f + l);
  }
  for (index_t t = 0; t + 1 < F; ++t) CHECK(det.similarity[std::size_t(t)] == Approx(flat_cos(x, t, t + 1, n_f * C)).epsilon(1e-5));
}

TEST_CASE("consecutive_frame_dedup: random jumps against the rule; one and two frames; zero frames") {
  const index_t n_f = 9, C = 7;
  const std::vector<float> jumps = {0, 0.05f, 2.0f, 0.05f, 0.05f, 3.0f, 0.05f, 1.5f, 0.05f, 0.05f};
  const index_t F = static_cast<index_t>(jumps.size());
  const auto x = frames_with(jumps, n_f, C, 8);
  std::vector<index_t> want = {0};
  for (index_t t = 0; t + 1 < F; ++t)
    if (flat_cos(x, t, t + 1, n_f * C) < 0.9 || t + 1 == F - 1) want.push_back(t + 1);
  vtr::workspace ws;
  pol::consecutive_frame_dedup::details det;
  const pol::consecutive_frame_dedup dd;
  const vtr::plan p = dd.plan({vtr::matrix_view<const float>(x.data(), {F * n_f, C}), F}, ws, &det);
  CHECK(det.kept_frames == want);
  CHECK(want.size() > 2);
  CHECK(want.size() < std::size_t(F));
  CHECK(p.size() == static_cast<index_t>(want.size()) * n_f);
  CHECK(p.size() >= dd.min_kept_count(F, n_f).value());
  CHECK(p.size() <= dd.max_kept_count(F, n_f).value());
  // One frame: kept. Two identical frames: both kept (first and last).
  CHECK(dd.plan({vtr::matrix_view<const float>(x.data(), {n_f, C}), 1}, ws).size() == n_f);
  std::vector<float> two(x.begin(), x.begin() + n_f * C);
  two.insert(two.end(), x.begin(), x.begin() + n_f * C);
  CHECK(dd.plan({vtr::matrix_view<const float>(two.data(), {2 * n_f, C}), 2}, ws).size() == 2 * n_f);
  // Three identical frames: the middle one goes. A zero frame in the middle has cosine 0: kept.
  std::vector<float> three = two;
  three.insert(three.end(), x.begin(), x.begin() + n_f * C);
  pol::consecutive_frame_dedup::details d3;
  (void)dd.plan({vtr::matrix_view<const float>(three.data(), {3 * n_f, C}), 3}, ws, &d3);
  CHECK(d3.kept_frames == std::vector<index_t>{0, 2});
  std::fill(three.begin() + n_f * C, three.begin() + 2 * n_f * C, 0.0f);
  (void)dd.plan({vtr::matrix_view<const float>(three.data(), {3 * n_f, C}), 3}, ws, &d3);
  CHECK(d3.kept_frames == std::vector<index_t>{0, 1, 2});
  // Threshold is strict: τ = −2 drops every middle frame (cos < −2 never holds).
  pol::consecutive_frame_dedup::details dall;
  (void)pol::consecutive_frame_dedup({-2.0f}).plan({vtr::matrix_view<const float>(x.data(), {F * n_f, C}), F}, ws, &dall);
  CHECK(dall.kept_frames == std::vector<index_t>{0, F - 1});
}

TEST_CASE("consecutive_frame_dedup rejects bad input, naming the argument") {
  std::vector<float> x(10 * 4, 1.0f);
  vtr::workspace ws;
  vtr::plan out = vtr::plan::select(2, {0});
  auto s = pol::consecutive_frame_dedup{}.try_plan({vtr::matrix_view<const float>(x.data(), {10, 4}), 3}, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'tokens'"));
  CHECK(contains(pol::consecutive_frame_dedup{}.try_plan({vtr::matrix_view<const float>(x.data(), {10, 4}), 0}, out, ws).message(),
                 "'frames'"));
  x[25] = std::numeric_limits<float>::infinity();
  CHECK(contains(pol::consecutive_frame_dedup{}.try_plan({vtr::matrix_view<const float>(x.data(), {10, 4}), 5}, out, ws).message(),
                 "non-finite"));
  CHECK(out.origin == std::vector<index_t>{0});
}

// ===================================================================================================
// frame_gate

TEST_CASE("frame_gate: strict threshold on the frame mean, per-frame top-k, min_frames fallback") {
  const index_t F = 4, n_f = 8;
  // Token importances: frame f has mean 0.1·(f+1) (the offsets sum to 0); τ = 0.35 passes frame 3 only.
  std::vector<float> tok(static_cast<std::size_t>(F * n_f));
  for (index_t f = 0; f < F; ++f)
    for (index_t l = 0; l < n_f; ++l) tok[std::size_t(f * n_f + l)] = 0.1f * float(f + 1) + 0.01f * (float(l) - 3.5f);
  vtr::workspace ws;
  pol::frame_gate::inputs in;
  in.scores = vtr::view_of(tok);
  in.frames = F;
  pol::frame_gate::details det;
  const pol::frame_gate gate({0.35f, 0.25, 1});
  const vtr::plan p = gate.plan(in, ws, &det);
  CHECK(det.kept_frames == std::vector<index_t>{3});
  CHECK(p.origin == std::vector<index_t>{3 * n_f + 6, 3 * n_f + 7});  // top ⌊8·0.25⌋ = 2 of frame 3
  // Nothing passes: the best min_frames frames (ascending) are kept.
  pol::frame_gate::details d2;
  const vtr::plan p2 = pol::frame_gate({0.9f, 0.25, 2}).plan(in, ws, &d2);
  CHECK(d2.kept_frames == std::vector<index_t>{2, 3});
  CHECK(p2.size() == 4);
  CHECK(p2.size() >= pol::frame_gate({0.9f, 0.25, 2}).min_kept_count(F * n_f, F).value());
  // min_frames = 0 and nothing passes: empty plan.
  CHECK(pol::frame_gate({0.9f, 0.25, 0}).plan(in, ws).size() == 0);
  // min_frames larger than F clamps to F.
  CHECK(pol::frame_gate({0.9f, 0.25, 9}).plan(in, ws).size() == F * 2);
  // Equal frame importances and min_frames 1: the lower frame (§0.4).
  std::vector<float> flat(static_cast<std::size_t>(F * n_f), 0.0f);
  pol::frame_gate::inputs fin;
  fin.scores = vtr::view_of(flat);
  fin.frames = F;
  pol::frame_gate::details d3;
  CHECK(pol::frame_gate{}.plan(fin, ws, &d3).origin == std::vector<index_t>{0, 1});
  CHECK(d3.kept_frames == std::vector<index_t>{0});
}

TEST_CASE("frame_gate: attention importances (max heads, sum rows by default) match the reference") {
  const index_t H = 3, Nt = 6, F = 5, n_f = 16, N = F * n_f;
  auto a = rand_vec(static_cast<std::size_t>(H * Nt * N), 4, 0.0f, 0.02f);
  // Frames 1 and 4 get much more attention.
  for (index_t h = 0; h < H; ++h)
    for (index_t q = 0; q < Nt; ++q)
      for (index_t l = 0; l < n_f; ++l) {
        a[std::size_t((h * Nt + q) * N + 1 * n_f + l)] += 0.1f;
        a[std::size_t((h * Nt + q) * N + 4 * n_f + l)] += 0.08f;
      }
  const vtr::tensor_view<const float, 3> av(a.data(), {H, Nt, N});
  vtr::workspace ws;
  pol::frame_gate::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(av);
  in.frames = F;
  pol::frame_gate::details det;
  const vtr::plan p = pol::frame_gate{}.plan(in, ws, &det);
  const auto tok = vtr::ops::ref::reduce_attention(av, vtr::ops::head_reduce::max, vtr::ops::row_reduce::sum);
  for (index_t j = 0; j < N; ++j) CHECK(det.token_importance[std::size_t(j)] == Approx(tok[std::size_t(j)]).epsilon(1e-5));
  std::vector<index_t> want_frames;
  for (index_t f = 0; f < F; ++f) {
    double s = 0;
    for (index_t l = 0; l < n_f; ++l) s += tok[std::size_t(f * n_f + l)];
    CHECK(det.frame_importance[std::size_t(f)] == Approx(s / n_f).epsilon(1e-5));
    if (s / n_f > 0.3) want_frames.push_back(f);
  }
  CHECK(det.kept_frames == want_frames);
  CHECK(det.kept_frames == std::vector<index_t>{1, 4});
  std::vector<index_t> want;
  for (index_t f : want_frames) {
    std::vector<float> sub(tok.begin() + f * n_f, tok.begin() + (f + 1) * n_f);
    for (index_t i : ref_grouped(sub, 1, 4)) want.push_back(f * n_f + i);
  }
  CHECK(p.origin == want);
  CHECK(p.size() <= pol::frame_gate{}.max_kept_count(N, F).value());
}

TEST_CASE("frame_gate rejects bad input, naming the argument") {
  std::vector<float> s(12, 0.5f);
  vtr::workspace ws;
  vtr::plan out = vtr::plan::select(2, {1});
  pol::frame_gate::inputs in;
  in.scores = vtr::view_of(s);
  in.frames = 5;
  CHECK(contains(pol::frame_gate{}.try_plan(in, out, ws).message(), "'frames'"));
  in.frames = 3;
  CHECK(contains(pol::frame_gate({0.3f, 0.25, -1}).try_plan(in, out, ws).message(), "'min_frames'"));
  CHECK(contains(pol::frame_gate({0.3f, -0.25, 1}).try_plan(in, out, ws).message(), "'per_frame_keep'"));
  CHECK(out.origin == std::vector<index_t>{1});
  STATIC_REQUIRE(pol::frame_gate::stage == vtr::stage::prefill_layer);
  STATIC_REQUIRE(pol::consecutive_frame_dedup::stage == vtr::stage::projector);
  STATIC_REQUIRE(std::is_same_v<pol::frame_dedup, pol::consecutive_frame_dedup>);
}
