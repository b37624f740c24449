// vtr — compile-time pipelines (DESIGN §2.9, ALGORITHMS §1.1-§1.5).
//
//   using video = vtr::pipeline<vtr::policies::frame_dedup,           // projector: drop repeated frames
//                               vtr::prunevid::stage1,                 // projector: segments + merges
//                               vtr::at_layer<10, vtr::prunevid::stage2>,  // layer 10: question-guided
//                               vtr::at_layer<16, vtr::vscan::stage2>>;   // layer 16: last-token ranking
//   video pipe;                                          // or video pipe{dedup, s1, s2, late}
//   auto counts = pipe.kept_counts({/*prefix=*/35, /*frames=*/16, /*tokens_per_frame=*/144, 12, 12, /*suffix=*/40});
//   pipe.run_stage<vtr::stage::projector>([&](auto& step, const vtr::step_info&) { … });   // engine hooks
//   pipe.run_after_layer(l, [&](auto& step, const vtr::layer_event&) { … });
//
// Each step declares the stage it runs at (the `stage` member every method and policy has), the inputs it
// reads and what it produces (vtr::step_traits, specialised below for the library's steps; your own step
// declares them as members, see step_traits), and, for intra-LLM steps, the layer it acts at. At compile
// time the pipeline rejects, with a static_assert whose message says what is wrong:
//   * a type that is not a step;
//   * steps out of order: stages must not go backwards (encoder → projector → prefill layers → decode), and
//     prefill steps must act at increasing layers;
//   * two steps claiming one layer: two prefill steps whose reductions take effect at the same point of
//     the prefill (the same first reduced layer), or any other prefill step next to Fit&Prune (which
//     prunes at every layer);
//   * a missing input: a step reads something the engine does not provide (vtr::basic_pipeline names the
//     engine's capabilities; vtr::pipeline assumes an engine that provides everything) and the step right
//     before it does not produce (PruneVid stage 2 needs the segment metadata of PruneVid stage 1 on the
//     very token set stage 1 returned);
//   * a prefill step without a layer: a generic policy has no paper default, write vtr::at_layer<K, Step>.
// The compile-fail tests in tests/pipeline/ prove each of these.
//
// This header only declares the library's steps: include the headers of the steps you compose (you need
// them to configure the steps anyway).
//
// Counts (ALGORITHMS §1.5): kept_counts(shape) reports, from the prompt's shape alone, the visual and
// total token counts after every step (one row per event: SparseVLM's sparse layers, Fit&Prune's layers),
// as exact values where the method's count is static and as [min, max] bounds downstream of a
// data-dependent step (frame dedup, PruneVid stage 1, DToMA D1, frame gate, SparseVLM v1).
#pragma once

#include "config.hpp"
#include "core/error.hpp"
#include "core/stage.hpp"
#include "core/tensor_view.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

VTR_NAMESPACE_BEGIN

// The library's steps, declared only: this header describes them to the pipeline without pulling in their
// implementations (a pipeline's user includes the headers of the steps it composes, which they need to
// configure them anyway; the descriptions below are only instantiated for steps that are used).
namespace fastv { class select; }
namespace vscan { class stage1; class stage1_qwen; class stage2; }
namespace prunevid { class stage1; class stage2; }
namespace dtoma { class quadtree; class select; class usage_tracker; }
namespace fitprune { class layer; }
namespace sparsevlm {
enum class version;
template <version V> class basic_prefill;
template <version V> class basic_layer;
}  // namespace sparsevlm
namespace policies { class consecutive_frame_dedup; class frame_gate; class keep_ratio_topk; }

// =====================================================================================================
// Inputs: what a step reads. `from_engine` inputs come from the engine's tensors; the others are produced
// by a step and only describe the token set that step returned.

namespace input {
/// The vision tower's token states inside its blocks (ToMe-style encoder steps).
struct encoder_tokens { static constexpr const char* name = "encoder_tokens"; static constexpr bool from_engine = true; };
/// The visual tokens after the projector, [N][D] (every pre-LLM step).
struct visual_features { static constexpr const char* name = "visual_features"; static constexpr bool from_engine = true; };
/// [CLS]→patch attention of a shallow and a deep encoder layer (VScan stage 1, §3.4.2).
struct cls_attention { static constexpr const char* name = "cls_attention"; static constexpr bool from_engine = true; };
/// The visual span as F frames of n_f tokens (video steps).
struct frames { static constexpr const char* name = "frames"; static constexpr bool from_engine = true; };
/// The patch grid of a frame / crop (VScan stage 1 windows, DToMA D1 cells).
struct patch_grid { static constexpr const char* name = "patch_grid"; static constexpr bool from_engine = true; };
/// Attention probabilities, or Q and K to recompute them, at the step's layer (§1.2 (a) / (b)).
struct layer_attention { static constexpr const char* name = "layer_attention"; static constexpr bool from_engine = true; };
/// Hidden states of the visual span at the step's layer (SparseVLM recycling, §3.2.5).
struct layer_hidden { static constexpr const char* name = "layer_hidden"; static constexpr bool from_engine = true; };
/// The layer-0 input embeddings of the prompt (SparseVLM rater selection, §3.2.3).
struct input_embeddings { static constexpr const char* name = "input_embeddings"; static constexpr bool from_engine = true; };
/// The new token's attention row over the visual keys, per generated token (DToMA D3, §3.6.4).
struct decode_attention { static constexpr const char* name = "decode_attention"; static constexpr bool from_engine = true; };
/// PruneVid stage 1's segment metadata (static / dynamic sizes, windows; §3.5.2 step 5) — produced.
struct prunevid_segments { static constexpr const char* name = "prunevid_segments"; static constexpr bool from_engine = false; };
}  // namespace input

/// A list of input tags.
template <class... Tags>
struct input_list {};

/// What an engine can hand to the steps. vtr::basic_pipeline<Engine, …> checks every step's needs against it.
template <class... Tags>
struct engine_provides {
  using list = input_list<Tags...>;
};
/// An engine that can hand over everything (the default of vtr::pipeline).
using full_engine = engine_provides<input::encoder_tokens, input::visual_features, input::cls_attention, input::frames,
                                    input::patch_grid, input::layer_attention, input::layer_hidden,
                                    input::input_embeddings, input::decode_attention>;
/// An engine that only reduces before the LLM (ALGORITHMS §1.1: "can reject intra-LLM methods at compile
/// time"): it has the projector output, the encoder's [CLS] attention and the frame/grid layout.
using pre_llm_engine = engine_provides<input::visual_features, input::cls_attention, input::frames, input::patch_grid>;
/// A FlashAttention/SDPA engine that can give Q/K at a layer (§1.2 (b)) but not hidden-state hooks.
using attention_only_engine = engine_provides<input::visual_features, input::cls_attention, input::frames,
                                              input::patch_grid, input::layer_attention>;

// =====================================================================================================
// Layers

/// The layers an intra-LLM step with several events claims (SparseVLM's sparse layers).
template <index_t... Ks>
struct layers {};
/// A step that acts at every layer (Fit&Prune, §3.3.1).
struct every_layer {};

// =====================================================================================================
// Shapes and counts

/// The prompt before any reduction: [prefix | frames × tokens_per_frame visual | suffix].
struct prompt_shape {
  index_t prefix = 0;
  index_t frames = 1;            ///< F: 1 for one image; crops (LLaVA-NeXT) or video frames otherwise
  index_t tokens_per_frame = 0;  ///< n_f: tokens of one frame / crop (576 for LLaVA-1.5)
  index_t grid_h = 0;            ///< patch grid of a frame; 0 × 0 = square √n_f × √n_f
  index_t grid_w = 0;
  index_t suffix = 0;            ///< tokens after the visual span (the question)
};

/// A count known exactly (min == max) or bounded (a data-dependent step ran before, or this one is).
struct count_range {
  index_t min = 0;
  index_t max = 0;
  bool exact() const noexcept { return min == max; }
};

/// One row of pipeline::kept_counts: the counts after one step (or one event of a multi-layer step).
struct step_count {
  const char* step = "";          ///< step_traits<…>::name
  vtr::stage stage = vtr::stage::projector;
  index_t layer = -1;             ///< prefill: the event's layer K (−1 at other stages)
  index_t first_reduced_layer = -1;  ///< prefill: the first layer that runs on the reduced set
  count_range visual;             ///< visual tokens after the step
  count_range sequence;           ///< prefix + visual + suffix after the step
};

namespace detail {

/// What the shape-only counter knows between steps.
struct count_state {
  index_t prefix = 0, suffix = 0;
  count_range visual;
  count_range frames;        ///< frame count range
  index_t per_frame = 0;     ///< tokens per frame while every frame still has n_f tokens; 0 once lost
  index_t grid_h = 0, grid_w = 0;  ///< valid while per_frame is the original n_f; −1 once lost
  index_t video_frames = 0;  ///< frames entering PruneVid stage 1 (bounds stage 2's groups); 0 = unknown
};

inline void push(std::vector<step_count>& rows, const char* name, vtr::stage s, index_t layer, index_t first_reduced,
                 const count_state& st) {
  step_count c;
  c.step = name;
  c.stage = s;
  c.layer = layer;
  c.first_reduced_layer = first_reduced;
  c.visual = st.visual;
  c.sequence = {st.prefix + st.visual.min + st.suffix, st.prefix + st.visual.max + st.suffix};
  rows.push_back(c);
}

/// Maps the visual range through a count that is non-decreasing in n (every static count of §1.5 is).
template <class F>
status map_monotone(count_state& st, F&& f) {
  auto lo = f(st.visual.min);
  if (!lo) return lo.error();
  auto hi = f(st.visual.max);
  if (!hi) return hi.error();
  st.visual = {lo.value(), hi.value()};
  st.per_frame = 0;  // a span-wide selection does not keep frames of equal size
  st.grid_h = st.grid_w = -1;
  return {};
}

inline status need_frames(const char* name, const count_state& st) {
  if (st.per_frame <= 0)
    return fail("step '", name, "' needs the visual span as frames of equal size, but an earlier step changed it to ",
                st.visual.min, "…", st.visual.max, " tokens of no frame structure");
  return {};
}
inline status need_grid(const char* name, const count_state& st) {
  VTR_TRY(need_frames(name, st));
  if (st.grid_h < 0) return fail("step '", name, "' needs the patch grid, which an earlier step no longer preserves");
  return {};
}

/// Square grid for n tokens when none is given.
inline status resolve_grid(index_t n, index_t& gh, index_t& gw) {
  if (gh > 0 && gw > 0) {
    if (!vtr::detail::product_fits(gh, gw) || gh * gw != n)
      return fail("patch grid ", gh, " × ", gw, " does not hold ", n, " tokens per frame");
    return {};
  }
  const auto s = static_cast<index_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (!vtr::detail::product_fits(s, s) || s * s != n) return fail("the ", n, " tokens per frame are not a square grid: give prompt_shape::grid_h and grid_w");
  gh = gw = s;
  return {};
}

// ---- detection helpers for user steps ----
template <class T, class = void>
struct has_stage : std::false_type {};
template <class T>
struct has_stage<T, std::void_t<decltype(T::stage)>>
    : std::is_same<std::remove_cv_t<decltype(T::stage)>, vtr::stage> {};

template <class T, class = void>
struct nested_needs { using type = input_list<>; };
template <class T>
struct nested_needs<T, std::void_t<typename T::pipeline_needs>> { using type = typename T::pipeline_needs; };

template <class T, class = void>
struct nested_produces { using type = input_list<>; };
template <class T>
struct nested_produces<T, std::void_t<typename T::pipeline_produces>> { using type = typename T::pipeline_produces; };

template <class T, class = void>
struct nested_layer : std::integral_constant<index_t, -1> {};
template <class T>
struct nested_layer<T, std::void_t<decltype(T::pipeline_layer)>> : std::integral_constant<index_t, T::pipeline_layer> {};

template <class T, class = void>
struct nested_query : std::true_type {};  // unknown: assume it is (the conservative answer for caches)
template <class T>
struct nested_query<T, std::void_t<decltype(T::is_query_conditioned)>> : std::bool_constant<T::is_query_conditioned> {};

template <class T, class = void>
struct nested_static : std::false_type {};
template <class T>
struct nested_static<T, std::void_t<decltype(T::count_is_static)>> : std::bool_constant<T::count_is_static> {};

template <class T>
constexpr vtr::stage stage_of() noexcept {
  if constexpr (has_stage<T>::value) return T::stage;
  else return vtr::stage::projector;
}

template <class P, class = void>
struct has_layer_param : std::false_type {};
template <class P>
struct has_layer_param<P, std::void_t<decltype(std::declval<P&>().layer)>> : std::true_type {};

template <class S, class = void>
struct has_params_type : std::false_type {};
template <class S>
struct has_params_type<S, std::void_t<typename S::params_type>> : std::true_type {};

template <class P>
P with_layer(P p, index_t k) {
  if constexpr (has_layer_param<P>::value) p.layer = k;
  return p;
}

}  // namespace detail

// =====================================================================================================
// step_traits: what the pipeline knows about a step type.
//
// The primary template serves your own steps. Declare, as members of your class:
//   static constexpr vtr::stage stage = …;                        (required)
//   using pipeline_needs = vtr::input_list<vtr::input::…>;        (optional, default nothing)
//   using pipeline_produces = vtr::input_list<…>;                 (optional)
//   static constexpr vtr::index_t pipeline_layer = K;             (optional default layer of a prefill step)
// or specialise vtr::step_traits<YourStep> like the library's steps below. A user step's count is not
// known to the pipeline: kept_counts reports it as [0, its input].
template <class Step, class = void>
struct step_traits {
  static constexpr const char* name = "user step";
  using needs = typename detail::nested_needs<Step>::type;
  using produces = typename detail::nested_produces<Step>::type;
  using claims = void;  // one layer (the default or at_layer's); layers<…> / every_layer for several
  static constexpr index_t default_layer = detail::nested_layer<Step>::value;
  static constexpr index_t score_offset = 0;    ///< layer whose attention it reads, relative to K
  static constexpr index_t reduce_offset = 1;   ///< first layer on the reduced set, relative to K
  template <class Step_>
  static status count(const Step_&, detail::count_state& st, index_t) {
    st.visual.min = 0;
    st.per_frame = 0;
    st.grid_h = st.grid_w = -1;
    return {};
  }
};

template <>
struct step_traits<fastv::select> {
  static constexpr const char* name = "fastv";
  using needs = input_list<input::layer_attention>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = 2;   // §3.1.2
  static constexpr index_t score_offset = -1;   // layer K−1's attention (§1.2)
  static constexpr index_t reduce_offset = 0;   // removed from the input of layer K
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    return detail::map_monotone(st, [&](index_t n) { return s.kept_image_count(n); });
  }
};

template <>
struct step_traits<vscan::stage1> {
  static constexpr const char* name = "vscan::stage1";
  using needs = input_list<input::visual_features, input::cls_attention, input::patch_grid>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 0;
  // Per image / crop (§3.4.4: each crop keeps its own count).
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    VTR_TRY(detail::need_grid(name, st));
    index_t gh = st.grid_h, gw = st.grid_w;
    VTR_TRY(detail::resolve_grid(st.per_frame, gh, gw));
    auto k = s.kept_count(st.per_frame, gh, gw);
    if (!k) return k.error();
    st.visual = {st.frames.min * k.value(), st.frames.max * k.value()};
    st.per_frame = k.value();
    st.grid_h = st.grid_w = -1;  // the kept tokens no longer form a grid
    return {};
  }
};

template <>
struct step_traits<vscan::stage1_qwen> {
  static constexpr const char* name = "vscan::stage1_qwen";
  using needs = input_list<input::visual_features, input::cls_attention, input::patch_grid>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 0;
  // ⌊r·n⌋ of each image's merged grid (§1.5); positions keep their M-RoPE triples.
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    VTR_TRY(detail::need_grid(name, st));
    index_t gh = st.grid_h, gw = st.grid_w;
    VTR_TRY(detail::resolve_grid(st.per_frame, gh, gw));
    auto k = s.kept_count(gh, gw);
    if (!k) return k.error();
    st.visual = {st.frames.min * k.value(), st.frames.max * k.value()};
    st.per_frame = k.value();
    st.grid_h = st.grid_w = -1;
    return {};
  }
};

template <>
struct step_traits<vscan::stage2> {
  static constexpr const char* name = "vscan::stage2";
  using needs = input_list<input::layer_attention>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = 16;  // §3.4.1 (LLaVA-1.5)
  static constexpr index_t score_offset = 0;    // layer K's q/k recomputed from layer K−1's output
  static constexpr index_t reduce_offset = 0;   // removed from the input of layer K
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    return detail::map_monotone(st, [&](index_t n) { return s.kept_visual_count(n); });
  }
};

template <>
struct step_traits<prunevid::stage1> {
  static constexpr const char* name = "prunevid::stage1";
  using needs = input_list<input::visual_features, input::frames>;
  using produces = input_list<input::prunevid_segments>;
  using claims = void;
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 0;
  // Data-dependent (§1.5). Upper bound: kept_count_bound. Lower bound: one segment covering the video, whose
  // output m(n_s) + W·m(n_f − n_s) is at least m(n_s) + m(n_f − n_s) (m = group_output, W ≥ 1).
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    VTR_TRY(detail::need_frames(name, st));
    auto hi = s.kept_count_bound(st.frames.max, st.per_frame);
    if (!hi) return hi.error();
    index_t lo = hi.value();
    for (index_t ns = 0; ns <= st.per_frame; ++ns) lo = std::min(lo, s.group_output(ns) + s.group_output(st.per_frame - ns));
    st.visual = {lo, hi.value()};
    st.video_frames = st.frames.max;
    st.per_frame = 0;
    st.grid_h = st.grid_w = -1;
    return {};
  }
};

template <>
struct step_traits<prunevid::stage2> {
  static constexpr const char* name = "prunevid::stage2";
  using needs = input_list<input::layer_attention, input::prunevid_segments>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = 10;  // §3.5.4
  static constexpr index_t score_offset = 0;    // layer K's attention (no RoPE, no mask)
  static constexpr index_t reduce_offset = 1;   // removed from the output of layer K (KV of 0…K gathered)
  // Σ_g ⌊n_g·α⌋ over the G ≤ S + F ≤ 2F groups lies in [⌊n·α⌋ − G, ⌊n·α⌋] (each floor loses < 1).
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    const double a = s.params().alpha;
    if (!(a >= 0.0) || !std::isfinite(a)) return fail("parameter 'alpha' = ", a, " must be finite and >= 0");
    auto f = [&](index_t n) { return vtr::detail::clamp_count(std::floor(static_cast<double>(n) * a), n); };
    // (More than visual.max groups bound nothing more: the lower bound is 0 either way.)
    const index_t groups = st.video_frames > 0 && st.video_frames <= st.visual.max / 2 ? 2 * st.video_frames : st.visual.max;
    st.visual = {std::max<index_t>(0, f(st.visual.min) - groups), f(st.visual.max)};
    st.per_frame = 0;
    st.grid_h = st.grid_w = -1;
    return {};
  }
};

template <>
struct step_traits<dtoma::quadtree> {
  static constexpr const char* name = "dtoma::quadtree";
  using needs = input_list<input::visual_features, input::frames, input::patch_grid>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 0;
  template <class Step_>
  static status count(const Step_&, detail::count_state& st, index_t) {  // [F, F·h·w] (§1.5)
    VTR_TRY(detail::need_grid(name, st));
    st.visual = {st.frames.min, st.frames.max * st.per_frame};
    st.per_frame = 0;
    st.grid_h = st.grid_w = -1;
    return {};
  }
};

template <>
struct step_traits<dtoma::select> {
  static constexpr const char* name = "dtoma::select";
  using needs = input_list<input::layer_attention>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = 2;  // §3.6.1
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 1;  // output of layer K (library default, §3.6.3)
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    return detail::map_monotone(st, [&](index_t n) { return s.kept_count(n); });
  }
};

template <>
struct step_traits<dtoma::usage_tracker> {
  static constexpr const char* name = "dtoma::usage_tracker";
  using needs = input_list<input::decode_attention>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 0;
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {  // floor min(n, min_keep)
    st.visual.min = std::min(st.visual.min, std::max<index_t>(s.params().min_keep, 0));
    st.per_frame = 0;
    st.grid_h = st.grid_w = -1;
    return {};
  }
};

template <>
struct step_traits<policies::consecutive_frame_dedup> {
  static constexpr const char* name = "policies::frame_dedup";
  using needs = input_list<input::visual_features, input::frames>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 0;
  template <class Step_>
  static status count(const Step_&, detail::count_state& st, index_t) {
    VTR_TRY(detail::need_frames(name, st));
    st.frames = {std::min<index_t>(st.frames.min, 2), st.frames.max};  // first and last frames stay (§4.7)
    st.visual = {st.frames.min * st.per_frame, st.frames.max * st.per_frame};
    return {};  // every kept frame keeps its n_f tokens and its grid
  }
};

template <>
struct step_traits<policies::keep_ratio_topk> {
  static constexpr const char* name = "policies::keep_ratio_topk";
  using needs = input_list<input::layer_attention>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = -1;  // generic: no paper default, write at_layer<K, …>
  static constexpr index_t score_offset = 0;    // layer K's text→visual attention
  static constexpr index_t reduce_offset = 1;   // applied to layer K's output
  // Counted for the whole span (frames = 1): ⌊n·ratio⌋. Per-frame use keeps F·⌊n_f·ratio⌋ ≤ that.
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    return detail::map_monotone(st, [&](index_t n) { return s.kept_count(n, 1); });
  }
};

template <>
struct step_traits<policies::frame_gate> {
  static constexpr const char* name = "policies::frame_gate";
  using needs = input_list<input::layer_attention, input::frames>;
  using produces = input_list<>;
  using claims = void;
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 1;
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t) {
    VTR_TRY(detail::need_frames(name, st));
    auto lo = s.min_kept_count(st.frames.min * st.per_frame, st.frames.min);
    if (!lo) return lo.error();
    auto hi = s.max_kept_count(st.frames.max * st.per_frame, st.frames.max);
    if (!hi) return hi.error();
    st.visual = {lo.value(), hi.value()};
    st.per_frame = 0;
    st.grid_h = st.grid_w = -1;
    return {};
  }
};

template <sparsevlm::version V>
struct step_traits<sparsevlm::basic_prefill<V>> {
  // v1 is the version with a fourth sparse layer (19) and a data-dependent count (§3.2.7).
  static constexpr bool v1 = sparsevlm::basic_prefill<V>::is_sparse_layer(19);
  static constexpr const char* name = v1 ? "sparsevlm::prefill (v1)" : "sparsevlm::prefill";
  using needs = input_list<input::layer_attention, input::layer_hidden, input::input_embeddings>;
  using produces = input_list<>;
  using claims = std::conditional_t<v1, layers<2, 6, 15, 19>, layers<2, 6, 15>>;  // §3.2.1
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 1;  // the output of layer ℓ (§1.2)
  // One event at `layer` (called once per claimed layer).
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t layer) {
    const sparsevlm::basic_layer<V> ev(s.params());
    if constexpr (v1) {  // data-dependent (rank rule): [0, bound]
      auto hi = ev.kept_count_bound(st.visual.max, layer);
      if (!hi) return hi.error();
      st.visual = {0, hi.value()};
      st.per_frame = 0;
      st.grid_h = st.grid_w = -1;
      return {};
    } else {
      return detail::map_monotone(st, [&](index_t n) { return ev.kept_count(n, layer); });
    }
  }
};

template <>
struct step_traits<fitprune::layer> {
  static constexpr const char* name = "fitprune::layer";
  using needs = input_list<input::layer_attention>;
  using produces = input_list<>;
  using claims = every_layer;  // §3.3.1: a deletion event in every layer with recipe[ℓ] > 0
  static constexpr index_t default_layer = -1;
  static constexpr index_t score_offset = 0;
  static constexpr index_t reduce_offset = 0;  // inside layer ℓ: its o-proj and MLP run on the survivors
  template <class Step_>
  static status count(const Step_& s, detail::count_state& st, index_t layer) {
    return detail::map_monotone(st, [&](index_t n) { return s.visual_kept_count(n, layer); });
  }
};

// =====================================================================================================
// at_layer: binds a prefill step to layer K at compile time (and sets its params' `layer`, when it has one,
// to K, so the runtime parameter cannot disagree with the pipeline).

template <index_t K, class Step>
class at_layer : public Step {
  static_assert(detail::has_stage<Step>::value,
                "vtr::at_layer<K, Step>: Step is not a pipeline step (it declares no `static constexpr vtr::stage stage`)");
  static_assert(Step::stage == vtr::stage::prefill_layer,
                "vtr::at_layer<K, Step>: only prefill-layer steps act at a layer; encoder, projector and decode steps "
                "go into the pipeline as they are");
  static_assert(std::is_void_v<typename step_traits<Step>::claims>,
                "vtr::at_layer<K, Step>: this step claims its own layers (SparseVLM: 2, 6, 15; Fit&Prune: every layer); "
                "put it into the pipeline as it is");
  static_assert(K >= 0, "vtr::at_layer<K, Step>: K must be a layer index >= 0");
  static_assert(K + step_traits<Step>::score_offset >= 0,
                "vtr::at_layer<K, Step>: this step reads layer K-1's attention, so K must be at least 1 "
                "(FastV at K = 0 is an error, ALGORITHMS 3.1.3)");

 public:
  using step_type = Step;
  static constexpr index_t layer = K;

  at_layer() : Step(make()) {}
  template <class S = Step, class P = typename S::params_type>
  explicit at_layer(P p) : Step(detail::with_layer(std::move(p), K)) {}
  /// From a configured step: its params' layer is overwritten with K.
  static at_layer from(const Step& s) {
    if constexpr (detail::has_params_type<Step>::value) return at_layer(s.params());
    else return at_layer(s, 0);
  }

 private:
  at_layer(const Step& s, int) : Step(s) {}
  static Step make() {
    if constexpr (detail::has_params_type<Step>::value) return Step(detail::with_layer(typename Step::params_type{}, K));
    else return Step();
  }
};

namespace detail {
template <class S>
struct unwrap { using type = S; static constexpr index_t layer = -2; /* not bound */ };
template <index_t K, class S>
struct unwrap<at_layer<K, S>> { using type = S; static constexpr index_t layer = K; };
}  // namespace detail

// =====================================================================================================
// Static description of a step in a pipeline.

/// What the pipeline knows about one step, at compile time.
struct step_info {
  const char* name = "";
  vtr::stage stage = vtr::stage::projector;
  /// Prefill: the layer K the step acts at (−1 at other stages, or for multi-layer steps: see `layers`).
  index_t layer = -1;
  /// Prefill: the layer whose attention the step reads (FastV: K − 1; the others K).
  index_t score_layer = -1;
  /// Prefill: the first layer that runs on the reduced set (FastV, VScan stage 2: K; PruneVid stage 2,
  /// DToMA D2, SparseVLM, the generic policies: K + 1; Fit&Prune: inside every layer).
  index_t first_reduced_layer = -1;
  bool every_layer = false;
  bool is_query_conditioned = false;
  bool count_is_static = false;
};

/// One event of a prefill step, handed to the engine's callback by pipeline::run_after_layer.
struct layer_event {
  index_t layer = -1;                ///< K (the event's layer)
  index_t score_layer = -1;          ///< whose attention the step reads
  index_t first_reduced_layer = -1;  ///< the layer that first runs on the reduced set
};

namespace detail {

template <index_t... Ks>
constexpr std::array<index_t, sizeof...(Ks)> layer_array(layers<Ks...>) noexcept {
  return {{Ks...}};
}

/// Per step: the normalised compile-time facts.
template <class W>
struct step_facts {
  using step = typename unwrap<W>::type;
  using traits = step_traits<step>;
  static constexpr bool is_step = has_stage<step>::value;
  static constexpr vtr::stage stage = stage_of<step>();
  static constexpr bool prefill = is_step && stage == vtr::stage::prefill_layer;
  static constexpr bool multi = !std::is_void_v<typename traits::claims>;
  static constexpr bool every = std::is_same_v<typename traits::claims, every_layer>;
  static constexpr index_t bound_layer = unwrap<W>::layer;
  static constexpr index_t k = bound_layer >= 0 ? bound_layer : traits::default_layer;
  /// A single-layer prefill step has a layer (bound or default).
  static constexpr bool has_layer = !prefill || multi || k >= 0;

  static constexpr auto claim_list() noexcept {
    if constexpr (multi && !every) return layer_array(typename traits::claims{});
    else return std::array<index_t, 1>{{k}};
  }
  // The points of the prefill where the step's reductions take effect (first reduced layers).
  static constexpr index_t first_point() noexcept {
    if constexpr (every) return 0;
    else return claim_list()[0] + traits::reduce_offset;
  }
  static constexpr index_t last_point() noexcept {
    if constexpr (every) return static_cast<index_t>(1) << 30;
    else return claim_list()[claim_list().size() - 1] + traits::reduce_offset;
  }

  static constexpr step_info info() noexcept {
    step_info i{};
    i.name = traits::name;
    i.stage = stage;
    i.is_query_conditioned = nested_query<step>::value;
    i.count_is_static = nested_static<step>::value;
    if (prefill) {
      i.every_layer = every;
      if (!multi) {
        i.layer = k;
        i.score_layer = k + traits::score_offset;
        i.first_reduced_layer = k + traits::reduce_offset;
      }
    }
    return i;
  }
};

template <class T, class List>
struct list_has;
template <class T, class... Ts>
struct list_has<T, input_list<Ts...>> : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};

// ---- the checks; each is a class template so the compiler's "required from" line names the types ----

template <class Step>
struct check_is_step {
  static_assert(has_stage<typename unwrap<Step>::type>::value,
                "vtr::pipeline: not a step: every step declares `static constexpr vtr::stage stage` (a method, a "
                "policy, vtr::at_layer<K, Step>, or your own class; see vtr::step_traits). For a library step: "
                "include its header");
  static constexpr bool value = true;
};

template <class Step>
struct check_has_layer {
  static_assert(!step_facts<Step>::is_step || step_facts<Step>::has_layer,
                "vtr::pipeline: a prefill-layer step needs a layer: this step has no default layer (a generic "
                "policy), write vtr::at_layer<K, Step>");
  static constexpr bool value = true;
};

/// Adjacent steps A then B.
template <class A, class B>
struct check_pair {
  using fa = step_facts<A>;
  using fb = step_facts<B>;
  static constexpr bool stages_ok = static_cast<int>(fa::stage) <= static_cast<int>(fb::stage);
  static_assert(!fa::is_step || !fb::is_step || stages_ok,
                "vtr::pipeline: steps are out of order: a step runs at an earlier stage than the step before it "
                "(the order is encoder -> projector -> prefill layers -> decode)");
  static constexpr bool both_prefill = fa::prefill && fb::prefill && fa::has_layer && fb::has_layer;
  static constexpr bool same_point = both_prefill && (fa::every || fb::every || fa::last_point() == fb::first_point());
  static_assert(!same_point,
                "vtr::pipeline: two steps claim one layer: both reduce the sequence at the same point of the prefill "
                "(the same first reduced layer, or next to Fit&Prune, which prunes at every layer); give them "
                "different layers");
  static constexpr bool layers_ok = !both_prefill || same_point || fa::last_point() < fb::first_point();
  static_assert(layers_ok,
                "vtr::pipeline: steps are out of order: a prefill step acts at an earlier layer than the step before "
                "it; list prefill steps by increasing layer");
  static constexpr bool value = true;
};

/// Step S (after Prev, or first when Prev is void) reads input N.
template <class Engine, class Prev, class S, class N>
struct check_input {
  static constexpr bool from_prev = [] {
    if constexpr (std::is_void_v<Prev>) return false;
    else return list_has<N, typename step_traits<typename unwrap<Prev>::type>::produces>::value;
  }();
  static constexpr bool from_engine = N::from_engine && list_has<N, typename Engine::list>::value;
  static_assert(from_engine || from_prev || !N::from_engine,
                "vtr::pipeline: missing input: a step needs an input that this engine does not provide (see "
                "check_input<Engine, Previous, Step, Input> in the instantiation trace for which)");
  static_assert(from_engine || from_prev || N::from_engine,
                "vtr::pipeline: missing input: a step needs what an earlier step produces (PruneVid stage 2 needs "
                "the segment metadata of PruneVid stage 1), and the step right before it does not produce it");
  static constexpr bool value = true;
};

template <class Engine, class Prev, class S, class List>
struct check_inputs_of;
template <class Engine, class Prev, class S, class... Ns>
struct check_inputs_of<Engine, Prev, S, input_list<Ns...>> {
  static constexpr bool value = (true && ... && check_input<Engine, Prev, S, Ns>::value);
};

template <class Engine, class Prev, class S>
struct check_step {
  static constexpr bool value = [] {
    if constexpr (!check_is_step<S>::value || !has_stage<typename unwrap<S>::type>::value) return false;
    else
      return check_has_layer<S>::value &&
             check_inputs_of<Engine, Prev, S, typename step_traits<typename unwrap<S>::type>::needs>::value;
  }();
};

template <class Engine, class Prev, class... Steps>
struct check_all;
template <class Engine, class Prev>
struct check_all<Engine, Prev> : std::true_type {};
template <class Engine, class Prev, class S, class... Rest>
struct check_all<Engine, Prev, S, Rest...> {
  static constexpr bool pair_ok = [] {
    if constexpr (std::is_void_v<Prev>) return true;
    else return check_pair<Prev, S>::value;
  }();
  static constexpr bool value = check_step<Engine, Prev, S>::value && pair_ok && check_all<Engine, S, Rest...>::value;
};

}  // namespace detail

// =====================================================================================================
// The pipeline.

/// Steps composed for an engine that provides `Engine` (an engine_provides<…>).
template <class Engine, class... Steps>
class basic_pipeline {
  static_assert(detail::check_all<Engine, void, Steps...>::value, "vtr::pipeline: invalid pipeline (see above)");

 public:
  using engine = Engine;
  using steps_tuple = std::tuple<Steps...>;
  static constexpr std::size_t size = sizeof...(Steps);
  template <std::size_t I>
  using step_type = std::tuple_element_t<I, steps_tuple>;

  /// The compile-time facts of every step, in order.
  static constexpr std::array<step_info, sizeof...(Steps)> steps() noexcept {
    return {{detail::step_facts<Steps>::info()...}};
  }
  /// True when some step depends on the question (defeats prefix and encoder caches, §1.1).
  static constexpr bool is_query_conditioned = (false || ... || detail::step_facts<Steps>::info().is_query_conditioned);
  /// True when every step's count is known from shapes alone (kept_counts then reports exact counts).
  static constexpr bool count_is_static = (true && ... && detail::step_facts<Steps>::info().count_is_static);
  /// True when some step acts inside the LLM (the engine needs the adapter of §1.2-§1.4).
  static constexpr bool has_intra_llm = (false || ... || detail::step_facts<Steps>::prefill);

  /// True when some prefill step reads layer l's attention (the engine captures it while running l).
  static constexpr bool reads_attention_of([[maybe_unused]] index_t l) noexcept {
    return (false || ... || reads<Steps>(l));
  }

  basic_pipeline() = default;
  template <std::size_t N = sizeof...(Steps), std::enable_if_t<(N > 0), int> = 0>
  explicit basic_pipeline(Steps... s) : steps_(std::move(s)...) {}

  template <std::size_t I>
  step_type<I>& get() noexcept { return std::get<I>(steps_); }
  template <std::size_t I>
  const step_type<I>& get() const noexcept { return std::get<I>(steps_); }

  /// Calls f(step, info) for every step, in order.
  template <class F>
  void for_each(F&& f) {
    for_each_impl(f, std::index_sequence_for<Steps...>{});
  }

  /// Calls f(step, info) for the steps of stage S (encoder, projector or decode), in order; f is only
  /// instantiated for those steps. (Prefill steps run through run_after_layer.)
  template <vtr::stage S, class F>
  void run_stage(F&& f) {
    static_assert(S != vtr::stage::prefill_layer, "vtr::pipeline::run_stage: prefill steps run through run_after_layer");
    for_each([&](auto& step, const step_info& i) {
      if constexpr (detail::step_facts<std::decay_t<decltype(step)>>::stage == S) f(step, i);
    });
  }

  /// Calls f(step, event) for every prefill event whose reduction applies to the output of layer l, i.e.
  /// whose first reduced layer is l + 1 (l = −1: the LLM's input, e.g. VScan stage 2 at K = 0). The engine
  /// calls it after running layer l, for l = −1, 0, 1, …; at that point every input an event can need
  /// exists: FastV at K = l + 1 reads layer l's captured row, VScan stage 2 at K = l + 1 recomputes layer
  /// K's q/k from layer l's output, PruneVid stage 2 / DToMA D2 / SparseVLM / the generic policies at K = l
  /// read layer l's attention. f builds the step's inputs and applies its plan; since no two events share a
  /// point (the pipeline rejects that), their order never matters. Fit&Prune acts inside every layer and is
  /// not visited here: find it with for_each and call it from within the layer.
  template <class F>
  void run_after_layer(index_t l, F&& f) {
    for_each([&](auto& step, const step_info&) {
      using S = std::decay_t<decltype(step)>;
      using facts = detail::step_facts<S>;
      if constexpr (facts::prefill && !facts::every) {
        for (index_t k : facts::claim_list()) {
          if (k + facts::traits::reduce_offset != l + 1) continue;
          f(step, layer_event{k, k + facts::traits::score_offset, k + facts::traits::reduce_offset});
        }
      }
    });
  }

  /// Kept counts after every step (one row per event), from the prompt's shape alone (§1.5). With
  /// `model_layers` ≥ 0, events that read a layer the model does not have (SparseVLM's layer 15 in an
  /// 8-layer model, a recipe longer than the model) are left out, as the engine never reaches them.
  result<std::vector<step_count>> try_kept_counts(const prompt_shape& shape, index_t model_layers = -1) const {
    if (shape.prefix < 0 || shape.suffix < 0 || shape.frames < 1 || shape.tokens_per_frame < 0 || shape.grid_h < 0 ||
        shape.grid_w < 0)
      return fail("prompt_shape {prefix ", shape.prefix, ", frames ", shape.frames, ", tokens_per_frame ",
                  shape.tokens_per_frame, ", grid ", shape.grid_h, " x ", shape.grid_w, ", suffix ", shape.suffix,
                  "} needs frames >= 1 and non-negative sizes");
    // Counts only shrink from here: a prompt whose length fits index_t keeps every later sum in range.
    if (!vtr::detail::product_fits(shape.frames, shape.tokens_per_frame) ||
        shape.frames * shape.tokens_per_frame > std::numeric_limits<index_t>::max() - shape.prefix - shape.suffix)
      return fail("prompt_shape {prefix ", shape.prefix, ", frames ", shape.frames, ", tokens_per_frame ",
                  shape.tokens_per_frame, ", suffix ", shape.suffix, "} has more tokens than index_t can count");
    detail::count_state st;
    st.prefix = shape.prefix;
    st.suffix = shape.suffix;
    const index_t n = shape.frames * shape.tokens_per_frame;
    st.visual = {n, n};
    st.frames = {shape.frames, shape.frames};
    st.per_frame = shape.tokens_per_frame;
    st.grid_h = shape.grid_h;
    st.grid_w = shape.grid_w;
    std::vector<step_count> rows;
    status s = count_impl(st, rows, model_layers, std::index_sequence_for<Steps...>{});
    if (!s.ok()) return s;
    return rows;
  }
  std::vector<step_count> kept_counts(const prompt_shape& shape, index_t model_layers = -1) const {
    return try_kept_counts(shape, model_layers).value();
  }

 private:
  template <class S>
  static constexpr bool reads(index_t l) noexcept {
    using facts = detail::step_facts<S>;
    if constexpr (!facts::prefill) {
      return false;
    } else if constexpr (facts::every) {
      return true;
    } else {
      for (index_t k : facts::claim_list())
        if (k + facts::traits::score_offset == l) return true;
      return false;
    }
  }

  template <class F, std::size_t... I>
  void for_each_impl(F& f, std::index_sequence<I...>) {
    [[maybe_unused]] constexpr auto infos = steps();
    (f(std::get<I>(steps_), infos[I]), ...);
  }

  template <std::size_t I>
  status count_one(detail::count_state& st, std::vector<step_count>& rows, index_t model_layers) const {
    using W = step_type<I>;
    using facts = detail::step_facts<W>;
    using S = typename facts::step;
    const S& step = std::get<I>(steps_);
    const char* name = facts::traits::name;
    auto tag = [&](const status& s) -> status {
      if (s.ok()) return s;
      return fail("pipeline step ", I, " (", name, "): ", s.message());
    };
    if constexpr (facts::every) {  // Fit&Prune: one row per layer with a deletion
      vector_view<const index_t> recipe;
      VTR_TRY(tag(step.try_recipe_view(recipe)));
      const index_t last = model_layers >= 0 ? std::min(recipe.extent(0), model_layers) : recipe.extent(0);
      for (index_t l = 0; l < last; ++l) {
        if (recipe(l) <= 0) continue;
        VTR_TRY(tag(facts::traits::count(step, st, l)));
        detail::push(rows, name, facts::stage, l, l, st);
      }
    } else if constexpr (facts::prefill) {
      for (index_t k : facts::claim_list()) {
        if (model_layers >= 0 && k + facts::traits::score_offset >= model_layers) continue;
        VTR_TRY(tag(facts::traits::count(step, st, k)));
        detail::push(rows, name, facts::stage, k, k + facts::traits::reduce_offset, st);
      }
    } else {
      VTR_TRY(tag(facts::traits::count(step, st, -1)));
      detail::push(rows, name, facts::stage, -1, -1, st);
    }
    return {};
  }

  template <std::size_t... I>
  status count_impl(detail::count_state& st, std::vector<step_count>& rows, [[maybe_unused]] index_t model_layers,
                    std::index_sequence<I...>) const {
    status s;
    ((s.ok() ? (void)(s = count_one<I>(st, rows, model_layers)) : (void)0), ...);
    return s;
  }

  steps_tuple steps_{};
};

/// Steps composed for an engine that provides every input (DESIGN §2.9).
template <class... Steps>
using pipeline = basic_pipeline<full_engine, Steps...>;

VTR_NAMESPACE_END
