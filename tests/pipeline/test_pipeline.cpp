// vtr::pipeline (DESIGN §2.9): compile-time facts, shape-only kept counts (ALGORITHMS §1.5), and the
// combinations the design notes propose run end to end on synthetic data through the pipeline's hooks,
// with the counts each step really produced checked against the counts predicted from shapes alone.
// The compile-time rejections are proven by the compile-fail cases next to this file (fail_*.cpp).
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/kv.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/fitprune.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/methods/sparsevlm.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>
#include <vtr/policies/frame_dedup.hpp>
#include <vtr/policies/frame_gate.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

using vtr::index_t;

namespace {

// ---- a fake engine: a token sequence [prefix | visual | suffix] of D-wide rows and random attention ----
struct fake_engine {
  index_t prefix = 0, suffix = 0, dim = 8, heads = 4;
  index_t frames = 1, per_frame = 0, grid = 0;  // frame structure while it holds
  std::vector<float> x;                          // [L][dim]
  vtr::prunevid::stage1::details segments;       // PruneVid stage 1 → stage 2
  bool has_segments = false;
  std::mt19937 rng{11};
  vtr::workspace ws;
  std::vector<index_t> visual_after;             // visual count after every event, in order

  index_t length() const { return static_cast<index_t>(x.size()) / dim; }
  index_t visual() const { return length() - prefix - suffix; }

  // Video-like tokens: each frame is a base pattern plus noise; `repeat` frames copy the previous one.
  void make_video(index_t p, index_t f, index_t side, index_t s, std::initializer_list<index_t> repeats = {}) {
    prefix = p;
    suffix = s;
    frames = f;
    grid = side;
    per_frame = side * side;
    std::normal_distribution<float> g(0.0f, 1.0f);
    x.assign(static_cast<std::size_t>((p + f * per_frame + s) * dim), 0.0f);
    for (auto& v : x) v = g(rng);
    for (index_t r : repeats)  // frame r repeats frame r − 1 (frame dedup drops it)
      std::memcpy(&x[static_cast<std::size_t>((p + r * per_frame) * dim)], &x[static_cast<std::size_t>((p + (r - 1) * per_frame) * dim)],
                  sizeof(float) * static_cast<std::size_t>(per_frame * dim));
  }

  vtr::matrix_view<const float> visual_rows() const {
    return {x.data() + prefix * dim, {visual(), dim}};
  }

  // Replaces the visual span by plan(visual span).
  void apply_visual(const vtr::plan& p) {
    REQUIRE(p.input_rows == visual());
    std::vector<float> out(static_cast<std::size_t>((prefix + p.size() + suffix) * dim));
    std::memcpy(out.data(), x.data(), sizeof(float) * static_cast<std::size_t>(prefix * dim));
    vtr::apply(p, visual_rows(), vtr::matrix_view<float>(out.data() + prefix * dim, {p.size(), dim}));
    std::memcpy(out.data() + (prefix + p.size()) * dim, x.data() + (prefix + visual()) * dim,
                sizeof(float) * static_cast<std::size_t>(suffix * dim));
    x.swap(out);
    visual_after.push_back(visual());
  }
  // Applies a plan over the whole sequence (FastV, VScan stage 2, PruneVid stage 2).
  void apply_sequence(const vtr::plan& p) {
    REQUIRE(p.input_rows == length());
    std::vector<float> out(static_cast<std::size_t>(p.size() * dim));
    vtr::apply(p, vtr::matrix_view<const float>(x.data(), {length(), dim}), vtr::matrix_view<float>(out.data(), {p.size(), dim}));
    x.swap(out);
    visual_after.push_back(visual());
  }

  // Random post-softmax probabilities [H][rows][keys] (rows normalised over all keys).
  std::vector<float> random_probs(index_t rows, index_t keys) {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> a(static_cast<std::size_t>(heads * rows * keys));
    for (index_t r = 0; r < heads * rows; ++r) {
      float s = 0;
      for (index_t k = 0; k < keys; ++k) s += (a[static_cast<std::size_t>(r * keys + k)] = u(rng) * u(rng));
      for (index_t k = 0; k < keys; ++k) a[static_cast<std::size_t>(r * keys + k)] /= s;
    }
    return a;
  }
  std::vector<float> random_cls(index_t n) {  // [H][n] CLS row, not renormalised
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> a(static_cast<std::size_t>(heads * n));
    for (auto& v : a) v = u(rng) / static_cast<float>(n);
    return a;
  }

  // ---- the engine's side of each step ----
  template <class S>
  void run_projector(S& step) {
    using T = std::decay_t<S>;
    if constexpr (std::is_base_of_v<vtr::policies::consecutive_frame_dedup, T>) {
      auto p = step.plan({visual_rows(), frames}, ws);
      frames = p.size() / per_frame;
      apply_visual(p);
    } else if constexpr (std::is_base_of_v<vtr::prunevid::stage1, T>) {
      vtr::prunevid::stage1::inputs in;
      in.features = vtr::tensor_view<const float, 3>(x.data() + prefix * dim, {frames, per_frame, dim});
      auto p = step.plan(in, ws, &segments);
      has_segments = true;
      per_frame = 0;
      apply_visual(p);
    } else if constexpr (std::is_base_of_v<vtr::vscan::stage1, T>) {
      REQUIRE(frames == 1);
      auto cls_a = random_cls(per_frame), cls_b = random_cls(per_frame);
      vtr::vscan::stage1::inputs in;
      in.features = visual_rows();
      in.attn_shallow = vtr::matrix_view<const float>(cls_a.data(), {heads, per_frame});
      in.attn_deep = vtr::matrix_view<const float>(cls_b.data(), {heads, per_frame});
      auto p = step.plan(in, ws);
      per_frame = 0;
      apply_visual(p);
    } else if constexpr (std::is_base_of_v<vtr::dtoma::quadtree, T>) {
      auto p = step.plan({visual_rows(), frames, grid, grid}, ws);
      per_frame = 0;
      apply_visual(p);
    } else {
      FAIL("no projector hook for this step");
    }
  }

  template <class S>
  void run_prefill(S& step, const vtr::layer_event& ev) {
    using T = std::decay_t<S>;
    const index_t L = length(), nv = visual();
    if constexpr (std::is_base_of_v<vtr::fastv::select, T> || std::is_base_of_v<vtr::vscan::stage2, T>) {
      auto a = random_probs(1, L);  // the last prompt token's row
      typename T::inputs in;
      in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(a.data(), {heads, 1, L}));
      in.image_start = prefix;
      in.image_count = nv;
      CHECK(step.params().layer == ev.layer);
      apply_sequence(step.plan(in, ws));
    } else if constexpr (std::is_base_of_v<vtr::prunevid::stage2, T>) {
      REQUIRE(has_segments);
      auto a = random_probs(suffix, L);
      vtr::prunevid::stage2::inputs in;
      in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(a.data(), {heads, suffix, L}));
      in.segments = segments.sizes();
      in.prefix = prefix;
      in.suffix = suffix;
      CHECK(step.params().layer == ev.layer);
      CHECK(ev.first_reduced_layer == ev.layer + 1);
      const vtr::plan p = step.plan(in, ws);
      // The KV of layers 0…K are gathered with the same plan (§1.4): compact a toy cache for layers 0…K.
      const index_t layers = ev.layer + 3;
      std::vector<float> k(static_cast<std::size_t>(layers * L * 2));
      for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<float>(i);
      vtr::kv::compact(p, vtr::kv::layers_through(ev.layer), vtr::tensor_view<float, 3>(k.data(), {layers, L, 2}));
      CHECK(k[static_cast<std::size_t>((p.size() - 1) * 2)] == static_cast<float>(p.origin.back() * 2));
      apply_sequence(p);
    } else if constexpr (std::is_base_of_v<vtr::dtoma::select, T> || std::is_base_of_v<vtr::policies::keep_ratio_topk, T>) {
      auto a = random_probs(suffix, L);
      typename T::inputs in;
      in.attn = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(a.data(), {heads, suffix, L}));
      if constexpr (std::is_base_of_v<vtr::dtoma::select, T>) {
        in.visual_begin = prefix;
        in.visual_count = nv;
      } else {
        in.visual_begin = prefix;
        in.visual_count = nv;
      }
      apply_visual(step.plan(in, ws));
    } else if constexpr (std::is_base_of_v<vtr::policies::frame_gate, T>) {
      REQUIRE(per_frame > 0);
      auto a = random_probs(suffix, L);
      vtr::policies::frame_gate::inputs in;
      in.attn = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(a.data(), {heads, suffix, L}));
      in.visual_begin = prefix;
      in.visual_count = nv;
      in.frames = frames;
      per_frame = 0;
      apply_visual(step.plan(in, ws));
    } else {
      FAIL("no prefill hook for this step");
    }
  }
};

// Runs a pipeline through its hooks on the engine and checks every event's count against kept_counts.
template <class Pipeline>
std::vector<vtr::step_count> run_and_check(Pipeline& pipe, fake_engine& e, index_t layers) {
  const vtr::prompt_shape shape{e.prefix, e.frames, e.per_frame, e.grid, e.grid, e.suffix};
  const auto predicted = pipe.kept_counts(shape);
  pipe.template run_stage<vtr::stage::projector>([&](auto& step, const vtr::step_info&) { e.run_projector(step); });
  for (index_t l = 0; l < layers; ++l) pipe.run_after_layer(l, [&](auto& step, const vtr::layer_event& ev) { e.run_prefill(step, ev); });
  REQUIRE(e.visual_after.size() == predicted.size());
  for (std::size_t i = 0; i < predicted.size(); ++i) {
    INFO("step " << i << " " << predicted[i].step << ": got " << e.visual_after[i] << ", predicted [" << predicted[i].visual.min
                 << ", " << predicted[i].visual.max << "]");
    CHECK(e.visual_after[i] >= predicted[i].visual.min);
    CHECK(e.visual_after[i] <= predicted[i].visual.max);
    CHECK(predicted[i].sequence.min == e.prefix + e.suffix + predicted[i].visual.min);
  }
  return predicted;
}

}  // namespace

TEST_CASE("pipeline: compile-time facts") {
  using image = vtr::pipeline<vtr::vscan::stage1, vtr::at_layer<16, vtr::vscan::stage2>>;
  constexpr auto info = image::steps();
  static_assert(info.size() == 2);
  static_assert(info[0].stage == vtr::stage::projector && info[0].layer == -1);
  static_assert(info[1].stage == vtr::stage::prefill_layer && info[1].layer == 16 && info[1].first_reduced_layer == 16);
  static_assert(image::is_query_conditioned && image::count_is_static && image::has_intra_llm);
  static_assert(image::reads_attention_of(16) && !image::reads_attention_of(15));
  CHECK(std::string(info[1].name) == "vscan::stage2");

  // Defaults: FastV reads K−1 = 1 and prunes the input of 2; PruneVid stage 2 reads 10, prunes after it.
  using video = vtr::pipeline<vtr::prunevid::stage1, vtr::prunevid::stage2, vtr::at_layer<12, vtr::fastv::select>>;
  static_assert(!video::count_is_static);
  static_assert(video::reads_attention_of(10) && video::reads_attention_of(11) && !video::reads_attention_of(12));
  static_assert(video::steps()[1].first_reduced_layer == 11 && video::steps()[2].first_reduced_layer == 12);
  using fast = vtr::pipeline<vtr::fastv::select>;
  static_assert(fast::steps()[0].layer == 2 && fast::steps()[0].score_layer == 1 && fast::steps()[0].first_reduced_layer == 2);
  static_assert(fast::reads_attention_of(1));
  using pre = vtr::basic_pipeline<vtr::pre_llm_engine, vtr::policies::frame_dedup, vtr::prunevid::stage1>;
  static_assert(!pre::is_query_conditioned && !pre::has_intra_llm);

  // at_layer binds the runtime parameter to K.
  vtr::at_layer<3, vtr::fastv::select> f3;
  CHECK(f3.params().layer == 3);
  vtr::at_layer<5, vtr::fastv::select> f5({/*layer=*/9, vtr::fastv::count_rule::ratio, /*ratio=*/0.75});
  CHECK(f5.params().layer == 5);
  CHECK(f5.params().ratio == 0.75);
  auto f7 = vtr::at_layer<7, vtr::fastv::select>::from(vtr::fastv::select{{2, vtr::fastv::count_rule::rank, 0.5, 72}});
  CHECK(f7.params().layer == 7);
  CHECK(f7.params().rank == 72);
  vtr::at_layer<4, vtr::dtoma::select> d4;
  CHECK(d4.params().layer == 4);
}

TEST_CASE("pipeline: kept counts from shapes alone, exact for static steps") {
  // LLaVA-1.5: 35 + 576 + 40. VScan: 576 → 96 (stage 1) → 32 (stage 2 at 16); the methods' own counts.
  vtr::pipeline<vtr::vscan::stage1, vtr::at_layer<16, vtr::vscan::stage2>> vs;
  const auto c = vs.kept_counts({35, 1, 576, 24, 24, 40});
  REQUIRE(c.size() == 2);
  CHECK(c[0].visual.exact());
  CHECK(c[0].visual.min == vs.get<0>().kept_count(576).value());
  CHECK(c[0].visual.min == 96);
  CHECK(c[0].sequence.min == 35 + 96 + 40);
  CHECK(c[1].visual.min == 32);
  CHECK(c[1].visual.exact());
  CHECK(c[1].layer == 16);
  CHECK(c[1].first_reduced_layer == 16);

  // FastV R = 0.75 at K = 2 keeps round(576·0.25) = 144 (§3.1.3 example: R = 0.5 → 288 + 75 = 363 rows).
  vtr::pipeline<vtr::at_layer<2, vtr::fastv::select>> fv{vtr::at_layer<2, vtr::fastv::select>({2, vtr::fastv::count_rule::ratio, 0.5})};
  const auto f = fv.kept_counts({35, 1, 576, 0, 0, 40});
  CHECK(f[0].sequence.min == 363);
  CHECK(f[0].sequence.exact());

  // SparseVLM v1.5: one row per sparse layer, each the layer's own count.
  vtr::pipeline<vtr::sparsevlm::prefill> sv;
  const auto s = sv.kept_counts({35, 1, 576, 0, 0, 40});
  REQUIRE(s.size() == 3);
  const vtr::sparsevlm::basic_layer<vtr::sparsevlm::version::v1_5> ev{sv.get<0>().params()};
  index_t v = 576;
  for (std::size_t i = 0; i < 3; ++i) {
    const index_t layer = std::array<index_t, 3>{2, 6, 15}[i];
    v = ev.kept_count(v, layer).value();
    CHECK(s[i].layer == layer);
    CHECK(s[i].first_reduced_layer == layer + 1);
    CHECK(s[i].visual.min == v);
    CHECK(s[i].visual.exact());
  }

  // A model with 8 layers never reaches layer 15: that event is left out.
  const auto s8 = sv.kept_counts({35, 1, 576, 0, 0, 40}, 8);
  REQUIRE(s8.size() == 2);
  CHECK(s8[1].visual.min == s[1].visual.min);
  // FastV at 9 reads layer 8: reached in a 9-layer model, not in an 8-layer one.
  CHECK(vtr::pipeline<vtr::at_layer<9, vtr::fastv::select>>{}.kept_counts({35, 1, 576, 0, 0, 40}, 8).size() == 0);
  CHECK(vtr::pipeline<vtr::at_layer<9, vtr::fastv::select>>{}.kept_counts({35, 1, 576, 0, 0, 40}, 9).size() == 1);

  // Fit&Prune: a row for every layer with a deletion, counts n − min(recipe[ℓ], n) in sequence.
  vtr::pipeline<vtr::fitprune::layer> fp;
  const auto r = fp.kept_counts({35, 1, 576, 0, 0, 40});
  REQUIRE_FALSE(r.empty());
  index_t n = 576;
  for (const auto& row : r) {
    n = fp.get<0>().visual_kept_count(n, row.layer).value();
    CHECK(row.visual.min == n);
  }

  // Data-dependent steps give bounds; a static step downstream maps them.
  vtr::pipeline<vtr::policies::frame_dedup, vtr::at_layer<2, vtr::dtoma::select>> dd;
  const auto b = dd.kept_counts({10, 8, 16, 4, 4, 5});
  CHECK(b[0].visual.min == 2 * 16);
  CHECK(b[0].visual.max == 8 * 16);
  CHECK_FALSE(b[0].visual.exact());
  CHECK(b[1].visual.min == dd.get<1>().kept_count(32).value());
  CHECK(b[1].visual.max == dd.get<1>().kept_count(128).value());

  // Errors say which step and why.
  auto bad = vs.try_kept_counts({35, 1, 575, 0, 0, 40});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("vscan::stage1") != std::string::npos);
  CHECK(bad.error().message().find("square grid") != std::string::npos);
  vtr::pipeline<vtr::prunevid::stage1, vtr::vscan::stage1> lost;
  auto bad2 = lost.try_kept_counts({0, 4, 16, 4, 4, 0});
  REQUIRE_FALSE(bad2.ok());
  CHECK(bad2.error().message().find("frames of equal size") != std::string::npos);
  CHECK_FALSE(vs.try_kept_counts({-1, 1, 576, 0, 0, 40}).ok());
  CHECK_THROWS_AS(vs.kept_counts({35, 0, 576, 0, 0, 40}), vtr::invalid_input);
}

// The design notes' video combination (ALGORITHMS §4.4, §4.7): frame dedup → PruneVid stage 1 → text-guided
// pruning (PruneVid stage 2, question-guided, at layer 2) → VScan stage 2 (last-token ranking at layer 4).
TEST_CASE("pipeline: frame dedup -> PruneVid stage 1 -> PruneVid stage 2 -> VScan stage 2") {
  using video = vtr::pipeline<vtr::policies::frame_dedup, vtr::prunevid::stage1, vtr::at_layer<2, vtr::prunevid::stage2>,
                              vtr::at_layer<4, vtr::vscan::stage2>>;
  static_assert(video::steps()[2].first_reduced_layer == 3 && video::steps()[3].first_reduced_layer == 4);
  for (int rep = 0; rep < 3; ++rep) {
    fake_engine e;
    e.rng.seed(static_cast<unsigned>(100 + rep));
    e.make_video(6, 8, 4, 7, {2, 3, 6});
    vtr::vscan::stage2_params late;
    late.keep = 12;
    video pipe{{}, {}, {}, vtr::at_layer<4, vtr::vscan::stage2>(late)};
    const auto c = run_and_check(pipe, e, 6);
    CHECK(e.visual_after[0] == 5 * 16);  // frames 2, 3 and 6 repeat their predecessor
    CHECK(c[3].visual.max == 12);
    CHECK(e.visual() == std::min<index_t>(12, e.visual_after[2]));
  }
}

// The same with DToMA's text-guided D2 as the text-guided step, and the generic keep-ratio policy.
TEST_CASE("pipeline: frame dedup -> PruneVid stage 1 -> DToMA D2 -> keep_ratio_topk -> VScan stage 2") {
  using video = vtr::pipeline<vtr::policies::frame_dedup, vtr::prunevid::stage1, vtr::at_layer<1, vtr::dtoma::select>,
                              vtr::at_layer<2, vtr::policies::keep_ratio_topk>, vtr::at_layer<5, vtr::vscan::stage2>>;
  fake_engine e;
  e.make_video(3, 6, 4, 5, {1});
  video pipe;
  const auto c = run_and_check(pipe, e, 8);
  CHECK(c.size() == 5);
}

// VScan's own two stages on an image, and DToMA D1 → D2 on a short video.
TEST_CASE("pipeline: VScan stage 1 -> stage 2; DToMA D1 -> D2; frame dedup -> frame gate") {
  {
    fake_engine e;
    e.make_video(5, 1, 12, 9);  // one 12×12 image
    vtr::vscan::stage1_params p1;
    p1.budget = 48;
    p1.window = 3;  // 16 windows on 12×12
    vtr::vscan::stage2_params p2;
    p2.keep = 16;
    vtr::pipeline<vtr::vscan::stage1, vtr::at_layer<3, vtr::vscan::stage2>> pipe{vtr::vscan::stage1(p1),
                                                                                 vtr::at_layer<3, vtr::vscan::stage2>(p2)};
    const auto c = run_and_check(pipe, e, 6);
    CHECK(c[0].visual.exact());
    CHECK(e.visual_after == std::vector<index_t>{c[0].visual.min, 16});
  }
  {
    fake_engine e;
    e.make_video(2, 3, 4, 4);
    vtr::pipeline<vtr::dtoma::quadtree, vtr::dtoma::select> pipe;  // D2 at its default layer 2
    run_and_check(pipe, e, 4);
  }
  {
    fake_engine e;
    e.make_video(2, 6, 4, 4, {4});
    vtr::pipeline<vtr::policies::frame_dedup, vtr::at_layer<1, vtr::policies::frame_gate>> pipe;
    run_and_check(pipe, e, 3);
  }
}

// A user's own step joins a pipeline by declaring its stage, needs and layer.
namespace {
struct my_step {
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = false;
  using pipeline_needs = vtr::input_list<vtr::input::layer_hidden>;
  static constexpr index_t pipeline_layer = 7;
};
}  // namespace

TEST_CASE("pipeline: user steps and engine capabilities") {
  using p = vtr::pipeline<vtr::vscan::stage1, my_step>;
  static_assert(p::steps()[1].layer == 7 && p::steps()[1].first_reduced_layer == 8);
  const auto c = p{}.kept_counts({1, 1, 576, 0, 0, 1});
  CHECK(c[1].visual.min == 0);
  CHECK(c[1].visual.max == 96);
  // An attention-only engine takes FastV; a pre-LLM engine takes the projector steps.
  using a = vtr::basic_pipeline<vtr::attention_only_engine, vtr::vscan::stage1, vtr::fastv::select>;
  static_assert(a::size == 2);
  int visited = 0;
  a{}.run_after_layer(1, [&](auto&, const vtr::layer_event& ev) {
    CHECK(ev.layer == 2);
    CHECK(ev.score_layer == 1);
    ++visited;
  });
  CHECK(visited == 1);
}

TEST_CASE("pipeline: shape arithmetic past index_t is an error, not an overflow (fuzz regressions)") {
  // fuzz/corpus/pipeline/regress-pipeline-*: each formed a signed product or sum unchecked before the fix.
  constexpr index_t huge = std::numeric_limits<index_t>::max();
  vtr::pipeline<vtr::vscan::stage1, vtr::at_layer<16, vtr::vscan::stage2>> vs;
  auto r = vs.try_kept_counts({0, index_t(1) << 40, index_t(1) << 40, 0, 0, 0});  // frames × tokens_per_frame
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("more tokens than index_t can count") != std::string::npos);
  r = vs.try_kept_counts({huge, 1, 576, 24, 24, 40});  // prefix + visual + suffix
  REQUIRE_FALSE(r.ok());
  r = vs.try_kept_counts({0, 1, 576, index_t(1) << 40, index_t(1) << 40, 0});  // grid_h × grid_w
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("does not hold 576 tokens") != std::string::npos);
  r = vs.try_kept_counts({0, 1, huge, 0, 0, 0});  // round(√n)² past index_t
  REQUIRE_FALSE(r.ok());
  vtr::pipeline<vtr::prunevid::stage1, vtr::at_layer<10, vtr::prunevid::stage2>> pv;
  r = pv.try_kept_counts({0, index_t(1) << 62, 1, 0, 0, 0});  // 2 × frames groups
  REQUIRE(r.ok());
  CHECK(r.value().back().visual.min == 0);
}
