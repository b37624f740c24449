// Built with -fno-exceptions (DESIGN §2.8): every check the throwing API makes is still made, and the
// `try_` forms report it as a vtr::status / vtr::result naming the argument, with the caller's outputs
// untouched. No test framework (Catch2 needs exceptions): each check prints what failed; exit 1 if any did.
#include <vtr/core/apply.hpp>
#include <vtr/io/npy.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/fitprune.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/methods/sparsevlm.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/policies/frame_dedup.hpp>
#include <vtr/policies/frame_gate.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#if !defined(VTR_NO_EXCEPTIONS)
#error "this test must be built with -fno-exceptions (VTR_NO_EXCEPTIONS is then defined by vtr/config.hpp)"
#endif

using vtr::index_t;

namespace {

int failures = 0;

void check(bool ok, const char* what, int line) {
  if (!ok) {
    std::printf("FAILED (line %d): %s\n", line, what);
    ++failures;
  }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

vtr::plan poisoned() {
  vtr::plan p;
  p.input_rows = 77;
  p.origin = {3, 2, 1};
  return p;
}

bool untouched(const vtr::plan& p) { return p.input_rows == 77 && p.origin == std::vector<index_t>{3, 2, 1} && p.is_selection(); }

// A rejected call: an error status whose message contains `needle`, and the plan left as it was.
template <class Call>
void rejected(Call&& call, const char* needle, int line) {
  vtr::plan p = poisoned();
  vtr::workspace ws;
  const vtr::status s = call(p, ws);
  if (s.ok()) {
    std::printf("FAILED (line %d): accepted bad input (expected an error mentioning %s)\n", line, needle);
    ++failures;
    return;
  }
  if (s.message().find(needle) == std::string::npos) {
    std::printf("FAILED (line %d): message '%s' does not mention %s\n", line, s.message().c_str(), needle);
    ++failures;
  }
  if (!untouched(p)) {
    std::printf("FAILED (line %d): the plan was written on error\n", line);
    ++failures;
  }
}
#define REJECTED(call, needle) rejected(call, needle, __LINE__)

}  // namespace

int main() {
  constexpr index_t big = std::numeric_limits<index_t>::max();
  std::vector<float> probs(4 * 1 * 30, 0.01f);
  for (std::size_t i = 0; i < probs.size(); ++i) probs[i] = static_cast<float>(i % 7) * 0.01f;
  const auto attn = vtr::ops::attention_input::from_probs({probs.data(), {4, 1, 30}});

  // ---- apply / compact_in_place ----
  {
    std::vector<float> src(12, 1.0f), dst(12, -3.0f);
    const vtr::plan sel = vtr::plan::select(4, {1, 3});
    CHECK(vtr::try_apply(sel, vtr::matrix_view<const float>(src.data(), {4, 3}), vtr::matrix_view<float>(dst.data(), {2, 3})).ok());
    CHECK(dst[0] == 1.0f && dst[6] == -3.0f);
    std::fill(dst.begin(), dst.end(), -3.0f);
    const vtr::status s = vtr::try_apply(sel, vtr::matrix_view<const float>(src.data(), {4, 3}), vtr::matrix_view<float>(dst.data(), {3, 3}));
    CHECK(!s.ok() && s.message().find("'dst'") != std::string::npos && s.message().find("[3, 3]") != std::string::npos);
    for (float x : dst) CHECK(x == -3.0f);
    CHECK(!vtr::try_apply(sel, vtr::matrix_view<const float>(dst.data(), {4, 3}), vtr::matrix_view<float>(dst.data() + 3, {2, 3})).ok());
    CHECK(!vtr::try_compact_in_place(vtr::plan::select(4, {3, 1}), vtr::matrix_view<float>(src.data(), {4, 3})).ok());
    CHECK(!vtr::validate_plan(vtr::plan::select(4, {0, 9})).ok());
  }

  // ---- FastV ----
  {
    const vtr::fastv::select m;
    vtr::fastv::select::inputs in;
    in.attention = attn;
    in.image_start = 5;
    in.image_count = 20;
    vtr::plan p;
    vtr::workspace ws;
    CHECK(m.try_plan(in, p, ws).ok());
    CHECK(p.size() == m.kept_count(30, 20).value());
    in.image_count = 40;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "image_count");
    in.image_start = big;
    in.image_count = big;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "image_start");
    vtr::fastv::select_params bad;
    bad.ratio = 1.5;
    in.image_start = 0;
    in.image_count = 10;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return vtr::fastv::select(bad).try_plan(in, o, w); }, "ratio");
    CHECK(!vtr::fastv::select(bad).kept_count(30, 10).ok());
  }

  // ---- VScan ----
  {
    const index_t n = 16, D = 4;
    std::vector<float> f(n * D, 0.5f), a(2 * n, 0.1f);
    for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(i % 5);
    vtr::vscan::stage1_params p1;
    p1.budget = 8;
    p1.window = 2;
    const vtr::vscan::stage1 s1(p1);
    vtr::vscan::stage1::inputs in{{f.data(), {n, D}}, {a.data(), {2, n}}, {a.data(), {2, n}}, 4, 4};
    vtr::plan p;
    vtr::workspace ws;
    CHECK(s1.try_plan(in, p, ws).ok());
    CHECK(p.size() == s1.kept_count(n, 4, 4).value());
    in.grid_h = 3;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return s1.try_plan(in, o, w); }, "grid");
    in.grid_h = 4;
    in.attn_deep = {a.data(), {2, n - 1}};
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return s1.try_plan(in, o, w); }, "attn_deep");
    vtr::vscan::stage2::inputs in2;
    in2.attention = attn;
    in2.image_start = 2;
    in2.image_count = 29;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return vtr::vscan::stage2{}.try_plan(in2, o, w); }, "image_start");
    CHECK(!vtr::vscan::stage1_qwen{}.kept_count(big / 2, 3).ok());
  }

  // ---- SparseVLM ----
  {
    const index_t v = 20, nt = 3;
    std::vector<float> at(2 * nt * v, 0.05f), h(v * 4, 1.0f);
    for (std::size_t i = 0; i < at.size(); ++i) at[i] = static_cast<float>(i % 11) * 0.01f;
    std::vector<index_t> raters{0, 2};
    vtr::sparsevlm::event_inputs in;
    in.attn = vtr::ops::attention_input::from_probs({at.data(), {2, nt, v}});
    in.raters = vtr::view_of(std::as_const(raters));
    in.hidden_vis = {h.data(), {v, 4}};
    in.layer = 2;
    in.v_num = v;
    vtr::sparsevlm::prune_params pp;
    pp.keep_table = std::array<index_t, 3>{8, 4, 2};
    const vtr::sparsevlm::layer m(pp);
    vtr::plan p;
    vtr::workspace ws;
    CHECK(m.try_plan(in, p, ws).ok());
    CHECK(p.size() == m.kept_count(v, 2).value());
    in.layer = 3;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "sparse layer");
    in.layer = 2;
    raters = {2, 0};
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "raters");
    raters = {0, 2};
    at[5] = std::numeric_limits<float>::quiet_NaN();
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "non-finite");
  }

  // ---- Fit&Prune ----
  {
    vtr::fitprune::layer_params lp;
    lp.recipe = {3, 0};
    const vtr::fitprune::layer m(lp);
    const index_t n = 10, nt = 2;
    std::vector<float> at(2 * (n + nt) * n, 0.02f);
    for (std::size_t i = 0; i < at.size(); ++i) at[i] = static_cast<float>(i % 13) * 0.01f;
    vtr::fitprune::layer::inputs in;
    in.attn = vtr::ops::attention_input::from_probs({at.data(), {2, n + nt, n}});
    in.n_visual = n;
    in.n_suffix = nt;
    in.prefix = 4;
    vtr::plan p;
    vtr::workspace ws;
    CHECK(m.try_plan(in, p, ws).ok());
    CHECK(p.size() == m.kept_count(4, n, nt, 0).value());
    in.layer_index = 2;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "layer_index");
    in.layer_index = 0;
    in.n_suffix = 3;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "attn");
    in.n_suffix = 2;
    in.prefix = big - 5;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return m.try_plan(in, o, w); }, "index_t");
  }

  // ---- PruneVid ----
  {
    const index_t F = 4, nf = 6, C = 3;
    std::vector<float> video(F * nf * C);
    for (std::size_t i = 0; i < video.size(); ++i) video[i] = static_cast<float>((i * 7) % 10) * 0.1f - 0.4f;
    const vtr::prunevid::stage1 s1;
    vtr::prunevid::stage1::details meta;
    vtr::plan p;
    vtr::workspace ws;
    CHECK(s1.try_plan({{video.data(), {F, nf, C}}, {}}, p, ws, &meta).ok());
    CHECK(p.size() <= s1.kept_count_bound(F, nf).value());
    video[3] = std::numeric_limits<float>::infinity();
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return s1.try_plan({{video.data(), {F, nf, C}}, {}}, o, w); }, "features");
    std::vector<index_t> st{2}, dy{3}, w{2};
    vtr::prunevid::stage2::inputs in;
    in.attention = attn;
    in.segments = {vtr::view_of(std::as_const(st)), vtr::view_of(std::as_const(dy)), vtr::view_of(std::as_const(w))};
    REJECTED([&](vtr::plan& o, vtr::workspace& ws2) { return vtr::prunevid::stage2{}.try_plan(in, o, ws2); }, "dynamic_sizes");
  }

  // ---- DToMA ----
  {
    std::vector<float> tok(2 * 4 * 4 * 3, 1.0f);
    const vtr::dtoma::quadtree q;
    vtr::plan p;
    vtr::workspace ws;
    CHECK(q.try_plan({{tok.data(), {32, 3}}, 2, 4, 4}, p, ws).ok());
    CHECK(p.size() == 2);  // two flat frames: one token each
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return q.try_plan({{tok.data(), {32, 3}}, 2, 4, 3}, o, w); }, "tokens");
    CHECK(!q.max_kept_count(big, 2, 2).ok());
    vtr::dtoma::select::inputs in;
    in.attn = attn;
    in.visual_begin = 31;
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return vtr::dtoma::select{}.try_plan(in, o, w); }, "visual_begin");
    auto t = vtr::dtoma::usage_tracker::try_create(-1);
    CHECK(!t.ok());
  }

  // ---- policies ----
  {
    std::vector<float> x(3 * 4 * 2, 0.5f);
    vtr::policies::consecutive_frame_dedup::inputs in{{x.data(), {12, 2}}, 5};
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return vtr::policies::consecutive_frame_dedup{}.try_plan(in, o, w); }, "frames");
    vtr::policies::keep_ratio_topk::inputs k;
    std::vector<float> sc(6, 0.5f);
    sc[2] = std::numeric_limits<float>::quiet_NaN();
    k.scores = vtr::view_of(std::as_const(sc));
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return vtr::policies::keep_ratio_topk{}.try_plan(k, o, w); }, "NaN");
    vtr::policies::frame_gate_params gp;
    gp.per_frame_keep = -1.0;
    vtr::policies::frame_gate::inputs g;
    g.scores = vtr::view_of(std::as_const(sc));
    REJECTED([&](vtr::plan& o, vtr::workspace& w) { return vtr::policies::frame_gate{gp}.try_plan(g, o, w); }, "per_frame_keep");
  }

  // ---- NPY ----
  {
    const unsigned char junk[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0xff};
    auto r = vtr::try_parse_npy(junk, sizeof junk);
    CHECK(!r.ok() && r.error().message().find("header") != std::string::npos);
    auto missing = vtr::try_read_npy("/nonexistent/vtr-no-exceptions.npy");
    CHECK(!missing.ok());
  }

  if (failures) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("no-exceptions build: every try_ form reported its errors as a status\n");
  return 0;
}
