// PruneVid stage 1 and stage 2 (ALGORITHMS §3.5): the edge cases of §3.5.5, the worked example of §3.5.3,
// provenance and count properties, both attention forms, errors. The golden cases run in test_golden.
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/ops/attention.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;
namespace pv = vtr::prunevid;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> normal(std::size_t n, unsigned seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Checks what must hold for every stage-1 result: every input row is a source of exactly one output row,
// one token_info per row, group sizes add up, static rows average W frames.
void check_stage1(const vtr::plan& p, const pv::stage1::details& d, index_t F, index_t nf) {
  REQUIRE(vtr::validate_plan(p).ok());
  CHECK(p.input_rows == F * nf);
  REQUIRE(static_cast<index_t>(d.tokens.size()) == p.size());
  std::vector<int> seen(static_cast<std::size_t>(F * nf), 0);
  for (index_t r = 0; r < p.size(); ++r) {
    auto [b, e] = p.sources_of(r);
    for (auto it = b; it != e; ++it) ++seen[static_cast<std::size_t>(*it)];
    const auto& t = d.tokens[static_cast<std::size_t>(r)];
    for (auto it = b; it != e; ++it) {
      const index_t f = *it / nf;
      if (t.kind == pv::token_kind::dynamic_token) CHECK(f == t.frame);
      else CHECK((f >= t.frame && f < t.frame + t.frames));
    }
    CHECK(p.origin[r] != vtr::plan::appended);
  }
  for (int s : seen) CHECK(s == 1);
  index_t total = 0, frames = 0;
  for (std::size_t s = 0; s < d.window_sizes.size(); ++s) {
    total += d.static_sizes[s] + d.dynamic_sizes[s];
    CHECK(d.first_frames[s] == frames);
    frames += d.window_sizes[s];
    CHECK(d.dynamic_sizes[s] % d.window_sizes[s] == 0);
  }
  CHECK(frames == F);
  CHECK(total == p.size());
  CHECK(d.static_mask.size() == d.window_sizes.size() * static_cast<std::size_t>(nf));
}

// Probabilities [1][1][n] holding the given scores.
struct one_row {
  std::vector<float> s;
  vtr::tensor_view<const float, 3> v() const { return {s.data(), {1, 1, static_cast<index_t>(s.size())}}; }
};

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Stage 1

TEST_CASE("stage1: identical frames → one segment, all static, merged to 72; stage 2 keeps 28") {
  const index_t F = 16, nf = 144, C = 32;
  const auto frame = normal(static_cast<std::size_t>(nf * C), 1);
  std::vector<float> x;
  for (index_t f = 0; f < F; ++f) x.insert(x.end(), frame.begin(), frame.end());
  vtr::workspace ws;
  pv::stage1::details d;
  const auto p = pv::stage1{}.plan({vtr::tensor_view<const float, 3>(x.data(), {F, nf, C})}, ws, &d);
  check_stage1(p, d, F, nf);
  CHECK(d.window_sizes == std::vector<index_t>{16});
  CHECK(d.static_sizes == std::vector<index_t>{72});
  CHECK(d.dynamic_sizes == std::vector<index_t>{0});
  CHECK(std::all_of(d.static_mask.begin(), d.static_mask.end(), [](std::uint8_t m) { return m == 1; }));
  CHECK(d.dpc_calls == 2);
  // Each static row is the mean of its cluster's positions over all 16 frames.
  for (index_t r = 0; r < p.size(); ++r) {
    auto [b, e] = p.sources_of(r);
    CHECK((e - b) % 16 == 0);
  }
  auto k = pv::stage2{}.kept_video_count(d.sizes());
  CHECK(k.value() == 28);
}

TEST_CASE("stage1: i.i.d. frames → everything dynamic, 1152 of 2304 tokens (50 %)") {
  const index_t F = 16, nf = 144, C = 64;
  const auto x = normal(static_cast<std::size_t>(F * nf * C), 2);
  vtr::workspace ws;
  pv::stage1::details d;
  const auto p = pv::stage1{}.plan({vtr::tensor_view<const float, 3>(x.data(), {F, nf, C})}, ws, &d);
  check_stage1(p, d, F, nf);
  CHECK(p.size() == 1152);
  for (index_t s : d.static_sizes) CHECK(s == 0);
  CHECK(p.size() <= pv::stage1{}.kept_count_bound(F, nf).value());
}

TEST_CASE("stage1: one frame → k and M clamped, one segment of one frame, all dynamic") {
  const index_t nf = 144, C = 16;
  const auto x = normal(static_cast<std::size_t>(nf * C), 3);
  std::vector<float> jitter(1 + nf, 0.25f);
  vtr::workspace ws;
  pv::stage1::details d;
  const auto p = pv::stage1{}.plan({vtr::tensor_view<const float, 3>(x.data(), {1, nf, C}), vtr::view_of(jitter)}, ws, &d);
  check_stage1(p, d, 1, nf);
  CHECK(d.labels_refined == std::vector<index_t>{0});
  CHECK(d.window_sizes == std::vector<index_t>{1});
  CHECK(d.static_sizes == std::vector<index_t>{0});
  CHECK(d.dynamic_sizes == std::vector<index_t>{72});
  CHECK(d.jitter_used == 1 + nf);
}

TEST_CASE("stage1: T < k (4 frames) runs with k clamped; small groups are not merged") {
  const index_t F = 4, nf = 14, C = 8;  // 14 tokens per frame: no group exceeds min_merge
  const auto x = normal(static_cast<std::size_t>(F * nf * C), 4);
  vtr::workspace ws;
  pv::stage1::details d;
  const auto p = pv::stage1{}.plan({vtr::tensor_view<const float, 3>(x.data(), {F, nf, C})}, ws, &d);
  check_stage1(p, d, F, nf);
  CHECK(d.dpc_calls == 1);  // only the temporal call
  CHECK(p.size() == F * nf);
  CHECK(p.is_selection());  // every token is a plain copy
}

TEST_CASE("stage1: static and dynamic positions in one segment; merged rows equal the reference mean") {
  // 2 frames; positions 0..19 static (equal up to scale), 20..39 dynamic (independent).
  const index_t F = 2, nf = 40, C = 24;
  auto x = normal(static_cast<std::size_t>(F * nf * C), 5);
  for (index_t l = 0; l < 20; ++l)
    for (index_t c = 0; c < C; ++c) x[static_cast<std::size_t>((nf + l) * C + c)] = 1.5f * x[static_cast<std::size_t>(l * C + c)];
  vtr::workspace ws;
  pv::stage1::details d;
  const auto p = pv::stage1{}.plan({vtr::tensor_view<const float, 3>(x.data(), {F, nf, C})}, ws, &d);
  check_stage1(p, d, F, nf);
  REQUIRE(d.window_sizes == std::vector<index_t>{2});
  CHECK(d.static_sizes == std::vector<index_t>{10});   // 20 > 14 → ⌊20·0.5⌋
  CHECK(d.dynamic_sizes == std::vector<index_t>{20});  // per frame 20 > 14 → 10, × 2 frames
  for (index_t l = 0; l < nf; ++l) CHECK(d.static_mask[static_cast<std::size_t>(l)] == (l < 20 ? 1 : 0));
  // apply: row r = Σ sources / divisor; the static rows average both frames.
  std::vector<float> y(static_cast<std::size_t>(p.size() * C));
  vtr::apply(p, vtr::matrix_view<const float>(x.data(), {F * nf, C}), vtr::matrix_view<float>(y.data(), {p.size(), C}));
  for (index_t r = 0; r < 10; ++r) {
    auto [b, e] = p.sources_of(r);
    for (index_t c = 0; c < C; ++c) {
      double s = 0;
      for (auto it = b; it != e; ++it) s += x[static_cast<std::size_t>(*it * C + c)];
      CHECK(y[static_cast<std::size_t>(r * C + c)] == Approx(s / double(e - b)).margin(1e-5));
    }
  }
}

TEST_CASE("stage1: jitter is consumed in call order and checked") {
  const index_t F = 1, nf = 20, C = 8;
  const auto x = normal(static_cast<std::size_t>(F * nf * C), 6);
  const vtr::tensor_view<const float, 3> xv(x.data(), {F, nf, C});
  vtr::workspace ws;
  std::vector<float> shorter(10, 0.5f);
  vtr::plan p = vtr::plan::select(3, {0, 1, 2});
  pv::stage1::details d;
  auto s = pv::stage1{}.try_plan({xv, vtr::view_of(shorter)}, p, ws, &d);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'jitter'"));
  CHECK(p.size() == 3);  // nothing written on error
  CHECK(d.tokens.empty());
  std::vector<float> bad(21, 1.0f);
  s = pv::stage1{}.try_plan({xv, vtr::view_of(bad)}, p, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "[0, 1)"));
  std::vector<float> longer(pv::stage1::jitter_bound(F, nf), 0.5f);
  REQUIRE(pv::stage1{}.try_plan({xv, vtr::view_of(longer)}, p, ws, &d).ok());
  CHECK(d.jitter_used == 21);
}

TEST_CASE("stage1: bad input is rejected with the argument named") {
  vtr::workspace ws;
  vtr::plan p;
  std::vector<float> x(2 * 3 * 4, 1.0f);
  x[5] = std::nanf("");
  auto s = pv::stage1{}.try_plan({vtr::tensor_view<const float, 3>(x.data(), {2, 3, 4})}, p, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'features'"));
  CHECK(contains(s.message(), "non-finite"));
  s = pv::stage1{}.try_plan({vtr::tensor_view<const float, 3>(x.data(), {0, 3, 4})}, p, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'features'"));
  pv::stage1_params bad;
  bad.cluster_ratio = -1;
  CHECK_FALSE(pv::stage1(bad).try_plan({vtr::tensor_view<const float, 3>(x.data(), {2, 3, 4})}, p, ws).ok());
  CHECK_THROWS_AS(pv::stage1{}.plan({vtr::tensor_view<const float, 3>(x.data(), {2, 3, 4})}, ws), vtr::invalid_input);
}

TEST_CASE("stage1: output count never exceeds kept_count_bound on random videos") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 6; ++trial) {
    const index_t F = 1 + static_cast<index_t>(rng() % 9), nf = 1 + static_cast<index_t>(rng() % 40), C = 4 + static_cast<index_t>(rng() % 12);
    // mix of static-ish and dynamic positions: base + per-frame noise of varying size
    const auto base = normal(static_cast<std::size_t>(nf * C), static_cast<unsigned>(trial));
    auto x = normal(static_cast<std::size_t>(F * nf * C), static_cast<unsigned>(100 + trial));
    for (index_t f = 0; f < F; ++f)
      for (index_t l = 0; l < nf; ++l)
        for (index_t c = 0; c < C; ++c) {
          auto& v = x[static_cast<std::size_t>((f * nf + l) * C + c)];
          v = base[static_cast<std::size_t>(l * C + c)] + (l % 3 == 0 ? 0.05f : 2.0f) * v;
        }
    vtr::workspace ws;
    pv::stage1::details d;
    const auto p = pv::stage1{}.plan({vtr::tensor_view<const float, 3>(x.data(), {F, nf, C})}, ws, &d);
    CAPTURE(F, nf, C);
    check_stage1(p, d, F, nf);
    CHECK(p.size() <= pv::stage1{}.kept_count_bound(F, nf).value());
    // stage 2 on the stage-1 metadata: kept_count == plan size, ascending unique in range
    const index_t nv = p.size(), P = 2, Nt = 3;
    const auto attn = normal(static_cast<std::size_t>(4 * Nt * (P + nv + Nt)), 9);
    pv::stage2::inputs in;
    in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(attn.data(), {4, Nt, P + nv + Nt}));
    in.segments = d.sizes();
    in.prefix = P;
    const auto p2 = pv::stage2{}.plan(in, ws);
    CHECK(p2.size() == pv::stage2{}.kept_count(P, Nt, d.sizes()).value());
    CHECK(std::is_sorted(p2.origin.begin(), p2.origin.end()));
    CHECK(std::adjacent_find(p2.origin.begin(), p2.origin.end()) == p2.origin.end());
    CHECK(p2.origin.back() == P + nv + Nt - 1);
  }
}

// ---------------------------------------------------------------------------------------------------
// Stage 2

TEST_CASE("stage2: the worked example of §3.5.3 keeps [1, 3, 5, 9]") {
  one_row a{{.1f, .5f, .3f, .9f, .2f, .7f, .1f, .4f, .2f, .8f, .6f}};
  const std::vector<index_t> st = {5}, dy = {6}, w = {2};
  pv::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(a.v());
  in.segments = {vtr::view_of(st), vtr::view_of(dy), vtr::view_of(w)};
  vtr::workspace ws;
  pv::stage2::details d;
  const auto p = pv::stage2{}.plan(in, ws, &d);
  CHECK(d.kept_rel == std::vector<index_t>{1, 3, 5, 9});
  CHECK(d.topk_concat == std::vector<index_t>{3, 1, 5, 9});
  CHECK(p.origin == std::vector<index_t>{1, 3, 5, 9, 11});  // + the one suffix row (P = 0, N_t = 1)
}

TEST_CASE("stage2: empty static group, α flooring every group to 0, exact ties") {
  vtr::workspace ws;
  pv::stage2::details d;
  {  // segment 0 has no static tokens
    one_row a{{.3f, .1f, .9f, .2f, .8f, .7f, .4f, .6f}};
    const std::vector<index_t> st = {0, 3}, dy = {4, 1}, w = {2, 1};
    pv::stage2::inputs in;
    in.attention = vtr::ops::attention_input::from_probs(a.v());
    in.segments = {vtr::view_of(st), vtr::view_of(dy), vtr::view_of(w)};
    pv::stage2_params p;
    p.alpha = 0.5;
    pv::stage2(p).plan(in, ws, &d);
    // frame groups [0,2) → {0}, [2,4) → {2}; static [4,7) keeps 1 → {4}; dynamic [7,8) keeps 0
    CHECK(d.kept_rel == std::vector<index_t>{0, 2, 4});
    CHECK(d.topk_concat == std::vector<index_t>{0, 2, 4});
  }
  {  // ⌊2·0.4⌋ = 0 everywhere: nothing kept, prefix and suffix survive
    one_row a{{.3f, .1f, .9f, .2f}};
    const std::vector<index_t> st = {2}, dy = {2}, w = {1};
    pv::stage2::inputs in;
    in.attention = vtr::ops::attention_input::from_probs(a.v());
    in.segments = {vtr::view_of(st), vtr::view_of(dy), vtr::view_of(w)};
    const auto p = pv::stage2{}.plan(in, ws, &d);
    CHECK(d.kept_rel.empty());
    CHECK(p.size() == 1);
    CHECK(pv::stage2{}.kept_count(0, 1, in.segments).value() == 1);
  }
  {  // all scores equal: lower index first inside every group
    one_row a{std::vector<float>(15, 0.5f)};
    const std::vector<index_t> st = {5}, dy = {10}, w = {2};
    pv::stage2::inputs in;
    in.attention = vtr::ops::attention_input::from_probs(a.v());
    in.segments = {vtr::view_of(st), vtr::view_of(dy), vtr::view_of(w)};
    pv::stage2{}.plan(in, ws, &d);
    CHECK(d.kept_rel == std::vector<index_t>{0, 1, 5, 6, 10, 11});
  }
}

TEST_CASE("stage2: probabilities and Q/K (no RoPE, no mask) give identical kept indices; whole-sequence plan") {
  const index_t H = 4, Hkv = 2, dh = 16, P = 5, Nt = 6;
  const std::vector<index_t> st = {7, 0}, dy = {12, 9}, w = {3, 1};
  const index_t nv = 7 + 12 + 0 + 9, L = P + nv + Nt;
  const auto q = normal(static_cast<std::size_t>(Nt * H * dh), 21);
  const auto k = normal(static_cast<std::size_t>(L * Hkv * dh), 22);
  const vtr::tensor_view<const float, 3> qv(q.data(), {Nt, H, dh}), kv(k.data(), {L, Hkv, dh});
  std::vector<float> probs(static_cast<std::size_t>(H * Nt * L));
  vtr::workspace ws;
  vtr::ops::attention_mode nomask;
  nomask.causal = false;
  vtr::ops::attention_rows(qv, kv, {}, nomask, vtr::tensor_view<float, 3>(probs.data(), {H, Nt, L}), ws);

  pv::stage2::inputs in;
  in.segments = {vtr::view_of(st), vtr::view_of(dy), vtr::view_of(w)};
  in.prefix = P;
  pv::stage2::details a, b, c;
  in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(probs.data(), {H, Nt, L}));
  const auto pa = pv::stage2{}.plan(in, ws, &a);
  in.attention = vtr::ops::attention_input::from_qk(qv, kv, {});
  const auto pb = pv::stage2{}.plan(in, ws, &b);
  CHECK(a.kept_rel == b.kept_rel);
  CHECK(pa.origin == pb.origin);
  // The video columns only, as a strided sub-view of the same probabilities.
  in.attention = vtr::ops::attention_input::from_probs(
      vtr::tensor_view<const float, 3>(probs.data() + P, {H, Nt, nv}, {Nt * L, L, 1}));
  pv::stage2{}.plan(in, ws, &c);
  CHECK(c.kept_rel == a.kept_rel);
  CHECK(c.scores == a.scores);
  // [prefix | kept video | suffix] with original indices, and the KV moves that compact it in place.
  REQUIRE(pa.size() == pv::stage2{}.kept_count(P, Nt, in.segments).value());
  for (index_t i = 0; i < P; ++i) CHECK(pa.origin[i] == i);
  for (std::size_t i = 0; i < a.kept_rel.size(); ++i) CHECK(pa.origin[P + i] == P + a.kept_rel[i]);
  for (index_t i = 0; i < Nt; ++i) CHECK(pa.origin[pa.size() - Nt + i] == P + nv + i);
  std::vector<index_t> axis(static_cast<std::size_t>(L));
  std::iota(axis.begin(), axis.end(), index_t(0));
  for (const auto& m : a.kv_moves) axis[static_cast<std::size_t>(m.dst)] = axis[static_cast<std::size_t>(m.src)];
  axis.resize(static_cast<std::size_t>(pa.size()));
  CHECK(axis == pa.origin);
  // The standard (causal) variant runs too (its scores differ in general).
  pv::stage2_params sp;
  sp.source = pv::attention_source::standard;
  in.attention = vtr::ops::attention_input::from_qk(qv, kv, {});
  CHECK(pv::stage2(sp).plan(in, ws).size() == pa.size());
}

TEST_CASE("stage2: bad input is rejected with the argument named, nothing written") {
  one_row a{std::vector<float>(6, 0.1f)};
  vtr::workspace ws;
  vtr::plan p = vtr::plan::select(2, {1});
  pv::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(a.v());
  const std::vector<index_t> st = {2}, dy = {3}, w = {2};  // 3 not a multiple of 2
  in.segments = {vtr::view_of(st), vtr::view_of(dy), vtr::view_of(w)};
  auto s = pv::stage2{}.try_plan(in, p, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'dynamic_sizes'"));
  CHECK(p.size() == 1);
  const std::vector<index_t> dy2 = {2}, w2 = {2, 1};
  in.segments = {vtr::view_of(st), vtr::view_of(dy2), vtr::view_of(w2)};
  s = pv::stage2{}.try_plan(in, p, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'window_sizes'"));
  const std::vector<index_t> dy3 = {6};  // 8 video tokens but 6 columns
  in.segments = {vtr::view_of(st), vtr::view_of(dy3), vtr::view_of(w)};
  s = pv::stage2{}.try_plan(in, p, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'attention'"));
  const std::vector<index_t> dy4 = {4};
  in.segments = {vtr::view_of(st), vtr::view_of(dy4), vtr::view_of(w)};
  in.suffix = 3;
  s = pv::stage2{}.try_plan(in, p, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'suffix'"));
  in.suffix = -1;
  pv::stage2_params bad;
  bad.alpha = std::nan("");
  CHECK_FALSE(pv::stage2(bad).try_plan(in, p, ws).ok());
  CHECK(p.size() == 1);
  CHECK(pv::stage2{}.try_plan(in, p, ws).ok());
}

TEST_CASE("stage1: kept_count_bound refuses shapes it cannot count quickly or in index_t (fuzz regressions)") {
  // Before the fix a 2^40-token frame never returned (the bound walks every split of a frame) and
  // frames × best overflowed (fuzz/corpus/pipeline/regress-pipeline-prunevid-count-hang).
  const pv::stage1 s;
  auto r = s.kept_count_bound(1, index_t(1) << 40);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message(), "'tokens_per_frame'"));
  r = s.kept_count_bound(index_t(1) << 62, 1024);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message(), "more than index_t can count"));
  CHECK(s.kept_count_bound(16, index_t(1) << 12).ok());
}
