// Integration guide (docs/integration.md), "Whole recipes at compile time": a video recipe (frame dedup →
// PruneVid stage 1 → PruneVid stage 2 at layer 2 → VScan stage 2 at layer 4) as one vtr::pipeline type,
// its shape-only counts for sizing buffers, and the engine's hooks dispatching on the step types. The
// engine here produces random attention of the right shapes; every count is checked against the
// pipeline's prediction. Returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/core/kv.hpp>
#include <vtr/core/positions.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>
#include <vtr/policies/frame_dedup.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using vtr::index_t;

// [guide:pipeline-type]
// The recipe as a type: order, layers and inputs are checked at compile time (a static_assert names the
// problem: steps out of order, two steps at one layer, a step whose input nothing provides).
using video_recipe = vtr::pipeline<vtr::policies::frame_dedup,               // projector: repeated frames
                                   vtr::prunevid::stage1,                    // projector: segments + merges
                                   vtr::at_layer<2, vtr::prunevid::stage2>,  // after layer 2, KV of 0…2 too
                                   vtr::at_layer<4, vtr::vscan::stage2>>;    // input of layer 4
static_assert(video_recipe::is_query_conditioned, "the recipe depends on the question: no prefix caching");
// An engine that can only reduce before the LLM says so; the same recipe then does not compile:
//   vtr::basic_pipeline<vtr::pre_llm_engine, vtr::prunevid::stage1, vtr::at_layer<2, vtr::prunevid::stage2>>
using pre_llm_only = vtr::basic_pipeline<vtr::pre_llm_engine, vtr::policies::frame_dedup, vtr::prunevid::stage1>;
// [/guide:pipeline-type]

// The engine: a sequence [prefix | video | suffix] of D-wide rows, one KV cache (token-major), and per layer
// the attention of the rows after the video (random here; a real engine captures or recomputes it).
struct engine {
  index_t prefix = 0, visual = 0, suffix = 0, D = 16, H = 4, hd = 4, layers = 6, capacity = 0, frames = 0, per_frame = 0;
  std::vector<float> x;             // [L][D]
  std::vector<std::int64_t> pos;    // RoPE ids
  std::vector<float> probs;         // [H][suffix][L] of the last layer run
  std::vector<float> k_cache, v_cache;
  std::vector<index_t> kv_len;
  vtr::prunevid::stage1::details segments;
  std::vector<index_t> visual_log;  // the visual count after every step
  std::mt19937 rng{9};

  index_t length() const { return prefix + visual + suffix; }
  void run_layer(index_t l, bool capture) {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    if (capture) {  // only where a step reads this layer's attention
      probs.resize(static_cast<std::size_t>(H * suffix * length()));
      for (auto& p : probs) p = u(rng);
    }
    kv_len[static_cast<std::size_t>(l)] = length();  // (the layer's K/V rows would be written here)
  }
  // Layer l's q of the last row [1][H][hd] and k of every row [L][H][hd], recomputed from the current
  // hidden states (random here; see the VScan stage 2 hook in guide_prefill.cpp for the real thing).
  void layer_qk(index_t /*l*/, std::vector<float>& q, std::vector<float>& k) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    q.resize(static_cast<std::size_t>(H * hd));
    k.resize(static_cast<std::size_t>(length() * H * hd));
    for (auto& v : q) v = u(rng);
    for (auto& v : k) v = u(rng);
  }
  vtr::tensor_view<float, 3> cache(std::vector<float>& c) { return {c.data(), {layers, length(), D}, {capacity * D, D, 1}}; }
  vtr::matrix_view<const float> video() const { return {x.data() + prefix * D, {visual, D}}; }
  // The visual span replaced by plan(span); positions consecutive (every pre-LLM step).
  void apply_visual(const vtr::plan& p) {
    std::vector<float> y(static_cast<std::size_t>((prefix + p.size() + suffix) * D));
    std::copy_n(x.begin(), prefix * D, y.begin());
    vtr::apply(p, video(), vtr::matrix_view<float>(y.data() + prefix * D, {p.size(), D}));
    std::copy_n(x.end() - suffix * D, suffix * D, y.begin() + (prefix + p.size()) * D);
    x.swap(y);
    visual = p.size();
    pos.resize(static_cast<std::size_t>(length()));
    vtr::positions::dense(vtr::view_of(pos));
    visual_log.push_back(visual);
  }
  // A plan over the whole sequence.
  void apply_sequence(const vtr::plan& p, vtr::positions::policy policy) {
    std::vector<float> y(static_cast<std::size_t>(p.size() * D));
    vtr::apply(p, vtr::matrix_view<const float>(x.data(), {length(), D}), vtr::matrix_view<float>(y.data(), {p.size(), D}));
    std::vector<std::int64_t> np(static_cast<std::size_t>(p.size()));
    if (policy == vtr::positions::policy::original) vtr::positions::gather(p, vtr::view_of(std::as_const(pos)), vtr::view_of(np));
    else vtr::positions::dense(vtr::view_of(np));
    x.swap(y);
    pos.swap(np);
    visual = p.size() - prefix - suffix;
    visual_log.push_back(visual);
  }
};

}  // namespace

int main() {
  const index_t P = 6, F = 8, side = 6, n_f = side * side, T = 5;
  video_recipe recipe;
  vtr::workspace ws;

  // [guide:pipeline-counts]
  // From the prompt's shape alone: the visual and total counts after every step (exact, or [min, max]
  // after a data-dependent step) — size placeholders and buffers before any tensor exists.
  const std::vector<vtr::step_count> counts = recipe.kept_counts({P, /*frames=*/F, /*tokens_per_frame=*/n_f, side, side, T});
  for (const vtr::step_count& c : counts)
    std::printf("%-22s layer %2td: visual %td…%td, sequence ≤ %td\n", c.step, c.layer, c.visual.min, c.visual.max,
                c.sequence.max);
  // [/guide:pipeline-counts]

  engine e;
  e.prefix = P;
  e.visual = F * n_f;
  e.suffix = T;
  e.frames = F;
  e.per_frame = n_f;
  e.capacity = e.length();
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  e.x.resize(static_cast<std::size_t>(e.length() * e.D));
  for (auto& v : e.x) v = g(rng);
  for (index_t f : {2, 5})  // two frames repeat the frame before them
    std::copy_n(e.x.begin() + (P + (f - 1) * n_f) * e.D, n_f * e.D, e.x.begin() + (P + f * n_f) * e.D);
  e.pos.resize(static_cast<std::size_t>(e.length()));
  vtr::positions::dense(vtr::view_of(e.pos));
  e.k_cache.assign(static_cast<std::size_t>(e.layers * e.capacity * e.D), 0.0f);
  e.v_cache = e.k_cache;
  e.kv_len.assign(static_cast<std::size_t>(e.layers), 0);

  // [guide:pipeline-hooks]
  // Before the LLM: the projector-stage steps, in order. `step` is the configured step; dispatch on its type.
  recipe.run_stage<vtr::stage::projector>([&](auto& step, const vtr::step_info&) {
    using S = std::decay_t<decltype(step)>;
    if constexpr (std::is_base_of_v<vtr::policies::frame_dedup, S>) {
      const vtr::plan p = step.plan({e.video(), e.frames}, ws);
      e.frames = p.size() / e.per_frame;
      e.apply_visual(p);
    } else if constexpr (std::is_base_of_v<vtr::prunevid::stage1, S>) {
      const vtr::tensor_view<const float, 3> frames(e.video().data_handle(), {e.frames, e.per_frame, e.D});
      e.apply_visual(step.plan({frames}, ws, &e.segments));  // keep the metadata for stage 2
    }
  });
  // The prefill: after layer l (l = −1: the LLM's input), every event whose reduction applies there.
  for (index_t l = -1; l < e.layers; ++l) {
    if (l >= 0) e.run_layer(l, video_recipe::reads_attention_of(l));
    recipe.run_after_layer(l, [&](auto& step, const vtr::layer_event& ev) {
      using S = std::decay_t<decltype(step)>;
      const index_t L = e.length();
      if constexpr (std::is_base_of_v<vtr::prunevid::stage2, S>) {
        typename S::inputs in;  // layer K's rows after the video, captured while it ran (ev.score_layer = K)
        in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(e.probs.data(), {e.H, e.suffix, L}));
        in.segments = e.segments.sizes();
        in.prefix = e.prefix;
        const vtr::plan p = step.plan(in, ws);
        vtr::kv::compact(p, vtr::kv::layers_through(ev.layer), e.cache(e.k_cache), e.cache(e.v_cache));
        for (index_t j = 0; j <= ev.layer; ++j) e.kv_len[static_cast<std::size_t>(j)] = p.size();
        e.apply_sequence(p, vtr::positions::policy::original);
      } else if constexpr (std::is_base_of_v<vtr::vscan::stage2, S>) {
        // Layer K has not run (ev.score_layer == ev.first_reduced_layer): recompute its q/k from layer K−1's output.
        std::vector<float> q, k;
        e.layer_qk(ev.score_layer, q, k);
        const std::vector<index_t> q_row{L - 1};
        typename S::inputs in;
        in.attention = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q.data(), {1, e.H, e.hd}),
                                                          vtr::tensor_view<const float, 3>(k.data(), {L, e.H, e.hd}),
                                                          vtr::view_of(q_row));
        in.image_start = e.prefix;
        in.image_count = e.visual;
        e.apply_sequence(step.plan(in, ws), vtr::positions::policy::dense);
      }
    });
  }
  // [/guide:pipeline-hooks]

  bool ok = e.visual_log.size() == counts.size();
  for (std::size_t i = 0; ok && i < counts.size(); ++i)
    ok = e.visual_log[i] >= counts[i].visual.min && e.visual_log[i] <= counts[i].visual.max;
  ok = ok && e.kv_len[0] == e.kv_len[2] && e.kv_len[3] == e.kv_len[2] && e.kv_len[4] == e.length();
  ok = ok && pre_llm_only::size == 2 && !pre_llm_only::has_intra_llm;
  std::printf("guide_pipeline: video %td -> %td tokens: %s\n", F * n_f, e.visual, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
