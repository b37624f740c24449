// Cross-method properties over random shapes and parameters (DESIGN §2.2, §2.5, §2.7, §2.8, §3): for every
// method entry point, a plan is valid, has kept_count() rows (or lies in the documented bounds), keeps
// origins ascending and unique, merges with divisors equal to the sum of the weights, uses an input row
// at most once (exactly once for the merging methods), does not depend on what the workspace held before,
// and applies without touching anything outside the destination rows. Bad input is rejected with a
// message naming the argument, the caller's outputs poisoned beforehand stay exactly as they were.
#include "catch.hpp"

#include "cases.hpp"

#include <vtr/ops/rope.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>

using vtr::index_t;
using vtr_props::method_case;

namespace {

vtr::plan poisoned_plan() {
  vtr::plan p;
  p.input_rows = 999;
  p.origin = {5, 4, 3};
  p.offsets = {0, 1, 2, 3};
  p.sources = {1, 1, 1};
  p.weights = {0.5f, 0.5f, 0.5f};
  p.divisors = {7.0f, 7.0f, 7.0f};
  return p;
}

bool same_plan(const vtr::plan& a, const vtr::plan& b) {
  return a.input_rows == b.input_rows && a.origin == b.origin && a.offsets == b.offsets && a.sources == b.sources &&
         a.weights == b.weights && a.divisors == b.divisors;
}

// A workspace whose memory holds garbage: blocks taken and filled with NaN/huge bytes, then released.
void dirty(vtr::workspace& ws, std::mt19937& rng) {
  vtr::workspace::scope sc(ws);
  const std::size_t n = 1 + static_cast<std::size_t>(rng() % 20000);
  auto* f = ws.take<float>(n);
  for (std::size_t i = 0; i < n; ++i) f[i] = (i % 3 == 0) ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(rng());
  auto* b = ws.take<unsigned char>(777);
  std::memset(b, 0xAB, 777);
}

void check_case(const method_case& c, const vtr::plan& p) {
  INFO(c.name << ": input_rows " << c.input_rows << ", plan rows " << p.size());
  const vtr::status v = vtr::validate_plan(p);
  INFO(v.message());
  REQUIRE(v.ok());
  REQUIRE(p.input_rows == c.input_rows);
  if (c.expected >= 0) REQUIRE(p.size() == c.expected);
  REQUIRE(p.size() >= c.lower);
  if (c.upper >= 0) REQUIRE(p.size() <= c.upper);
  // Indices in range and ascending/unique.
  index_t prev = -1;
  std::set<index_t> origins;
  for (index_t o : p.origin) {
    if (o == vtr::plan::appended) continue;
    REQUIRE(o >= 0);
    REQUIRE(o < c.input_rows);
    REQUIRE(origins.insert(o).second);
    if (c.ascending) REQUIRE(o > prev);
    prev = o;
  }
  // Sources: each input row at most once; exactly once for the merging methods.
  std::vector<int> uses(static_cast<std::size_t>(c.input_rows), 0);
  for (index_t r = 0; r < p.size(); ++r) {
    auto [b, e] = p.sources_of(r);
    for (; b != e; ++b) REQUIRE(++uses[static_cast<std::size_t>(*b)] == 1);
  }
  if (c.partition)
    for (int u : uses) REQUIRE(u == 1);
  // Merge weights sum to the divisor (a mean of the sources; SparseVLM adds its ε = 1e-6, §2.8).
  if (!p.is_selection())
    for (index_t r = 0; r < p.size(); ++r) {
      double w = 0;
      for (index_t t = p.offsets[static_cast<std::size_t>(r)]; t < p.offsets[static_cast<std::size_t>(r + 1)]; ++t)
        w += p.weights[static_cast<std::size_t>(t)];
      REQUIRE(std::abs(w - double(p.divisors[static_cast<std::size_t>(r)])) <= 1e-5 * std::max(1.0, w));
    }
}

}  // namespace

TEST_CASE("every method: plans satisfy the cross-method properties on random shapes", "[properties]") {
  std::mt19937 rng(20240607);
  std::map<std::string, int> ran;
  for (int iter = 0; iter < 60; ++iter) {
    for (const method_case& c : vtr_props::make_cases(rng)) {
      vtr::plan p = poisoned_plan();
      vtr::workspace ws;
      const vtr::status s = c.run(p, ws);
      INFO(c.name << ": " << s.message());
      REQUIRE(s.ok());
      check_case(c, p);
      ++ran[c.name];

      // Independent of the workspace's previous contents (and of the plan's previous contents).
      vtr::workspace used;
      dirty(used, rng);
      vtr::plan q = poisoned_plan();
      REQUIRE(c.run(q, used).ok());
      REQUIRE(same_plan(p, q));
      vtr::plan again = q;  // reuse: a plan filled by an earlier call
      REQUIRE(c.run(again, used).ok());
      REQUIRE(same_plan(p, again));

      // apply() writes exactly the destination rows: a destination inside a larger buffer keeps the
      // rows before and after it, and the padding columns of a strided destination, bit for bit.
      const index_t C = 3, pad = 2, before = 2, after = 3;
      std::vector<float> src(static_cast<std::size_t>(std::max<index_t>(c.input_rows * C, 1)));
      for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i % 97) * 0.25f - 3.0f;
      const index_t total = before + p.size() + after;
      std::vector<float> buf(static_cast<std::size_t>(total * (C + pad)), -42.0f);
      const vtr::matrix_view<float> dst(buf.data() + before * (C + pad), {p.size(), C}, {C + pad, 1});
      vtr::apply(p, vtr::matrix_view<const float>(src.data(), {c.input_rows, C}), dst);
      for (index_t r = 0; r < total; ++r)
        for (index_t col = 0; col < C + pad; ++col) {
          const bool inside = r >= before && r < before + p.size() && col < C;
          if (!inside) REQUIRE(buf[static_cast<std::size_t>(r * (C + pad) + col)] == -42.0f);
        }
      // A selection applied to an integer tensor (positions) gathers exactly the origins.
      if (p.is_selection()) {
        std::vector<std::int64_t> ids(static_cast<std::size_t>(c.input_rows)), out(static_cast<std::size_t>(p.size()));
        for (index_t i = 0; i < c.input_rows; ++i) ids[static_cast<std::size_t>(i)] = 1000 + i;
        vtr::apply(p, vtr::view_of(std::as_const(ids)), vtr::view_of(out));
        for (index_t r = 0; r < p.size(); ++r) REQUIRE(out[static_cast<std::size_t>(r)] == 1000 + p.origin[static_cast<std::size_t>(r)]);
      }
      // compact_in_place (ascending selections): rows past plan.size() stay as they were.
      if (p.is_selection() && c.ascending) {
        std::vector<float> x(src);
        vtr::compact_in_place(p, vtr::matrix_view<float>(x.data(), {c.input_rows, C}));
        for (index_t r = 0; r < p.size(); ++r)
          REQUIRE(std::memcmp(&x[static_cast<std::size_t>(r * C)], &src[static_cast<std::size_t>(p.origin[static_cast<std::size_t>(r)] * C)],
                              sizeof(float) * C) == 0);
        for (index_t r = p.size(); r < c.input_rows; ++r)
          REQUIRE(std::memcmp(&x[static_cast<std::size_t>(r * C)], &src[static_cast<std::size_t>(r * C)], sizeof(float) * C) == 0);
      }
    }
  }
  REQUIRE(ran.size() == 15);  // every method entry point in cases.hpp
  for (const auto& [name, n] : ran) {
    INFO(name);
    REQUIRE(n == 60);
  }
}

TEST_CASE("apply: rejects bad destinations without writing them", "[properties][errors]") {
  std::vector<float> src(12, 1.0f), dst(12, -5.0f);
  const vtr::plan p = vtr::plan::select(4, {0, 2});
  const vtr::matrix_view<const float> s(src.data(), {4, 3});
  SECTION("wrong shape") {
    const vtr::status st = vtr::try_apply(p, s, vtr::matrix_view<float>(dst.data(), {3, 3}));
    REQUIRE(!st.ok());
    REQUIRE(st.message().find("'dst'") != std::string::npos);
    REQUIRE(st.message().find("[3, 3]") != std::string::npos);
  }
  SECTION("aliasing the source") {
    const vtr::status st = vtr::try_apply(p, vtr::matrix_view<const float>(dst.data(), {4, 3}), vtr::matrix_view<float>(dst.data() + 3, {2, 3}));
    REQUIRE(!st.ok());
    REQUIRE(st.message().find("overlaps") != std::string::npos);
  }
  SECTION("origin out of range") {
    const vtr::status st = vtr::try_apply(vtr::plan::select(4, {0, 4}), s, vtr::matrix_view<float>(dst.data(), {2, 3}));
    REQUIRE(!st.ok());
  }
  SECTION("throwing form") {
    REQUIRE_THROWS_AS(vtr::apply(p, s, vtr::matrix_view<float>(dst.data(), {3, 3})), vtr::invalid_input);
  }
  for (float x : dst) REQUIRE(x == -5.0f);
}

// ---- bad input at every method's entry: rejected, named, nothing written -----------------------------

namespace {

template <class Call>
void expect_rejected(Call&& call, const char* needle) {
  vtr::plan p = poisoned_plan();
  vtr::workspace ws;
  const vtr::status s = call(p, ws);
  INFO("message: " << s.message() << " (expected to mention " << needle << ")");
  REQUIRE(!s.ok());
  REQUIRE(s.message().find(needle) != std::string::npos);
  REQUIRE(same_plan(p, poisoned_plan()));
}

}  // namespace

TEST_CASE("every method: bad spans, budgets, ratios, NaN and overflowing sizes are rejected", "[properties][errors]") {
  using limits = std::numeric_limits<index_t>;
  std::vector<float> probs(2 * 1 * 20, 0.05f);
  const auto attn = vtr::ops::attention_input::from_probs({probs.data(), {2, 1, 20}});

  SECTION("fastv") {
    vtr::fastv::select::inputs in;
    in.attention = attn;
    in.image_start = limits::max();
    in.image_count = limits::max();
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::fastv::select{}.try_plan(in, o, ws); }, "image_start");
    in.image_start = 2;
    in.image_count = 30;
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::fastv::select{}.try_plan(in, o, ws); }, "[2, 32)");
    in.image_count = 10;
    vtr::fastv::select_params p;
    p.ratio = std::nan("");
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::fastv::select{p}.try_plan(in, o, ws); }, "ratio");
    in.query_row = 5;
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::fastv::select{}.try_plan(in, o, ws); }, "query_row");
  }
  SECTION("vscan") {
    vtr::vscan::stage2::inputs in;
    in.attention = attn;
    in.image_start = limits::max() - 1;
    in.image_count = 5;
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::vscan::stage2{}.try_plan(in, o, ws); }, "image_start");
    vtr::vscan::stage1_qwen_params qp;
    qp.ratio = 1e300;  // finite but absurd: clamped to n in double before any conversion
    std::vector<float> sc(4, 0.5f), f(4 * 2, 1.0f);
    vtr::vscan::stage1_qwen::inputs qi{vtr::view_of(std::as_const(sc)), vtr::view_of(std::as_const(sc)), {f.data(), {4, 2}}, 2, 2};
    vtr::plan ok;
    vtr::workspace ws;
    REQUIRE(vtr::vscan::stage1_qwen{qp}.try_plan(qi, ok, ws).ok());
    REQUIRE(ok.size() == 4);
    qi.grid_h = limits::max() / 2;
    qi.grid_w = 3;  // the grid product overflows index_t
    expect_rejected([&](vtr::plan& o, vtr::workspace& w) { return vtr::vscan::stage1_qwen{}.try_plan(qi, o, w); }, "grid");
    REQUIRE(!vtr::vscan::stage1_qwen{}.kept_count(limits::max() / 2, 3).ok());
    std::vector<float> nan_scores(4, std::nanf(""));
    qi = {vtr::view_of(std::as_const(sc)), vtr::view_of(std::as_const(nan_scores)), {f.data(), {4, 2}}, 2, 2};
    qp.ratio = 0.5;
    expect_rejected([&](vtr::plan& o, vtr::workspace& w) { return vtr::vscan::stage1_qwen{qp}.try_plan(qi, o, w); }, "global_scores");
  }
  SECTION("sparsevlm: a negative keep-table entry is a bad parameter at every layer, even with no visual tokens") {
    vtr::sparsevlm::prune_params p;
    p.keep_table = std::array<index_t, 3>{10, -1, 5};
    vtr::sparsevlm::event_inputs in;
    in.layer = 2;
    in.v_num = 0;
    std::vector<index_t> raters{0};
    in.raters = vtr::view_of(std::as_const(raters));
    std::vector<float> none;
    in.attn = vtr::ops::attention_input::from_probs({none.data(), {1, 1, 0}});
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::sparsevlm::layer{p}.try_plan(in, o, ws); }, "keep_table[1]");
    REQUIRE(!vtr::sparsevlm::layer{p}.kept_count(0, 2).ok());
  }
  SECTION("fitprune: spans whose sum overflows index_t") {
    vtr::fitprune::layer_params p;
    p.recipe = {0};
    vtr::fitprune::layer::inputs in;
    in.prefix = limits::max() - 1;
    in.n_visual = 5;
    in.n_suffix = 5;
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::fitprune::layer{p}.try_plan(in, o, ws); }, "index_t");
    REQUIRE(!vtr::fitprune::layer{p}.kept_count(limits::max() - 1, 5, 5, 0).ok());
  }
  SECTION("prunevid: segment sizes and spans whose sum overflows index_t") {
    std::vector<index_t> st{limits::max() - 1, 4}, dy{2, 2}, w{1, 1};
    vtr::prunevid::segment_sizes seg{vtr::view_of(std::as_const(st)), vtr::view_of(std::as_const(dy)), vtr::view_of(std::as_const(w))};
    REQUIRE(!vtr::prunevid::stage2{}.kept_video_count(seg).ok());
    st = {1, 1};
    REQUIRE(!vtr::prunevid::stage2{}.kept_count(limits::max() - 2, 5, seg).ok());
    vtr::prunevid::stage2::inputs in;
    in.attention = vtr::ops::attention_input::from_probs({probs.data(), {2, 1, 6}});
    in.segments = seg;
    in.prefix = limits::max() - 2;
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::prunevid::stage2{}.try_plan(in, o, ws); }, "index_t");
  }
  SECTION("policies and dtoma: a visual span running past the keys") {
    vtr::policies::keep_ratio_topk::inputs in;
    in.attn = attn;
    in.visual_begin = 3;
    in.visual_count = limits::max();
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::policies::keep_ratio_topk{}.try_plan(in, o, ws); },
                    "visual span");
    vtr::dtoma::select::inputs di;
    di.attn = attn;
    di.visual_begin = 3;
    di.visual_count = limits::max();
    expect_rejected([&](vtr::plan& o, vtr::workspace& ws) { return vtr::dtoma::select{}.try_plan(di, o, ws); }, "visual span");
  }
}

// Each of these was a crash or undefined behaviour found by the fuzz targets (fuzz/corpus/*/regress-*).
TEST_CASE("fuzzing regressions: absurd sizes are rejected, not overflowed or thrown", "[properties][errors][regressions]") {
  using limits = std::numeric_limits<index_t>;
  vtr::workspace ws;
  vtr::plan p = poisoned_plan();
  SECTION("dtoma::quadtree: frames x grid overflowing index_t (was signed overflow)") {
    std::vector<float> tok(6, 1.0f);
    const vtr::dtoma::quadtree q;
    REQUIRE(!q.try_plan({{tok.data(), {6, 1}}, 6, limits::max(), 1}, p, ws).ok());
    REQUIRE(!q.max_kept_count(limits::max() / 2, 2, 2).ok());
    REQUIRE(same_plan(p, poisoned_plan()));
  }
  SECTION("dtoma::usage_tracker: a token count no allocation can hold (was std::length_error from a try_ form)") {
    auto t = vtr::dtoma::usage_tracker::try_create(limits::max());
    REQUIRE(!t.ok());
    REQUIRE(t.error().message().find("n_tokens") != std::string::npos);
  }
  SECTION("prunevid::stage1: a huge finite temporal/cluster ratio (was a double→int conversion out of range)") {
    vtr::prunevid::stage1_params sp;
    sp.temporal_ratio = 1e300;
    sp.cluster_ratio = 1e300;
    sp.min_merge = 0;
    std::vector<float> v(3 * 4 * 2);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 5) - 2.0f;
    REQUIRE(vtr::prunevid::stage1(sp).try_plan({{v.data(), {3, 4, 2}}, {}}, p, ws).ok());
    REQUIRE(vtr::validate_plan(p).ok());
    REQUIRE(vtr::prunevid::stage1(sp).group_output(7) == 7);
  }
  SECTION("policies: many frames of no tokens (was a null store: scratch sized by the frame count)") {
    std::vector<float> none;
    vtr::policies::consecutive_frame_dedup::inputs in{{none.data(), {0, 3}}, limits::max()};
    REQUIRE(!vtr::policies::consecutive_frame_dedup{}.try_plan(in, p, ws).ok());
    REQUIRE(!vtr::policies::keep_ratio_topk{}.kept_count(0, limits::max()).ok());
    REQUIRE(vtr::policies::keep_ratio_topk{}.kept_count(0, 1).ok());
    REQUIRE(same_plan(p, poisoned_plan()));
  }
  SECTION("ops::rope_gravity: a head_dim whose scratch overflows (SparseVLM+ params.head_dim)") {
    std::vector<index_t> pos{0, 1};
    std::vector<float> out(4);
    const vtr::status s = vtr::ops::try_rope_gravity(vtr::view_of(std::as_const(pos)), vtr::view_of(std::as_const(pos)),
                                                     limits::max() - 1, 10000.0, {out.data(), {2, 2}}, ws);
    REQUIRE(!s.ok());
    REQUIRE(s.message().find("head_dim") != std::string::npos);
  }
  SECTION("vscan::stage1_qwen: a huge grid is counted in O(1) (was a loop over every window: 33 s)") {
    vtr::vscan::stage1_qwen_params qp;
    qp.ratio = 0.5;
    auto c = vtr::vscan::stage1_qwen{qp}.kept_count(limits::max() / 8, 2);
    REQUIRE(c.ok());
    // The brute-force window sum on a small grid agrees with the closed form.
    for (index_t gh = 1; gh <= 9; ++gh)
      for (index_t gw = 1; gw <= 9; ++gw)
        for (index_t win = 1; win <= 4; ++win) {
          qp.window = win;
          const index_t n = gh * gw, n_keep = std::min<index_t>(static_cast<index_t>(static_cast<double>(n) * 0.5), n);
          if (n_keep < 1) continue;
          const index_t target = n_keep / 2, nwh = std::max<index_t>(1, gh / win), nww = std::max<index_t>(1, gw / win);
          const index_t cap = (target + nwh * nww - 1) / (nwh * nww);
          index_t room = 0;
          for (index_t wy = 0; wy < nwh; ++wy)
            for (index_t wx = 0; wx < nww; ++wx)
              room += std::min(cap, (wy + 1 < nwh ? win : gh - win * (nwh - 1)) * (wx + 1 < nww ? win : gw - win * (nww - 1)));
          const index_t want = std::min(target, room) + std::min(n_keep - n_keep / 2, n - std::min(target, room));
          INFO(gh << "x" << gw << " window " << win);
          REQUIRE(vtr::vscan::stage1_qwen{qp}.kept_count(gh, gw).value() == want);
        }
  }
  SECTION("prunevid::stage2: a segment of W = 2^63−1 frames without dynamic tokens (was an overflowing group count)") {
    std::vector<index_t> st{2, 1}, dy{0, 2}, w{limits::max(), 2};
    vtr::prunevid::stage2::inputs in;
    std::vector<float> a(2 * 1 * 5);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 4) * 0.1f;
    in.attention = vtr::ops::attention_input::from_probs({a.data(), {2, 1, 5}});
    in.segments = {vtr::view_of(std::as_const(st)), vtr::view_of(std::as_const(dy)), vtr::view_of(std::as_const(w))};
    vtr::prunevid::stage2_params sp;
    sp.alpha = 0.5;
    const vtr::prunevid::stage2 m(sp);
    REQUIRE(m.try_plan(in, p, ws).ok());
    REQUIRE(p.size() == m.kept_count(0, 1, in.segments).value());
    REQUIRE(vtr::validate_plan(p).ok());
  }
  SECTION("sparsevlm v2: v_start whose derived positions overflow") {
    std::vector<float> a(1 * 2 * 3, 0.2f);
    std::vector<index_t> raters{0, 1};
    vtr::sparsevlm::event_inputs in;
    in.attn = vtr::ops::attention_input::from_probs({a.data(), {1, 2, 3}});
    in.raters = vtr::view_of(std::as_const(raters));
    in.layer = 2;
    in.v_num = 3;
    in.v_start = limits::max() - 2;
    REQUIRE(!vtr::sparsevlm::layer_plus{}.try_plan(in, p, ws).ok());
    REQUIRE(same_plan(p, poisoned_plan()));
  }
}
