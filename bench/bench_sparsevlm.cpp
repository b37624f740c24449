// SparseVLM v1.5 (ALGORITHMS §3.2, §5.3) at the image shapes: one prune event at layer 2 — the visual
// tokens, 40 text rows of which 20 rate, table 192 → 300 kept, the top 30 % + 1 of the pruned recycled
// into ⌊m/10⌋ + 1 DPC-kNN clusters (LLaVA-1.5: m = 83 into 9; LLaVA-NeXT: m = 775 into 78; Qwen2.5-VL:
// m = 213 into 22) — and the rater selection run once per prefill (an N_v × N_t × D GEMM).
//
// The event's dominant step is the recycling DPC-kNN's distance matrix (m²·D/2 MAC in the SYRK form,
// §5.3), registered alone as "/dominant" (ops::pairwise_distances of the recycled rows); the floor of the
// event is the Eigen SYRK of the same rows. Its two sub-steps are also measured against their floors at
// LLaVA-1.5:
//   scores     reading the rater rows of the attention (20 × 32 × 576 floats)  → the same rows read in place
//   recycling  DPC-kNN on the 83 recycled rows of 4096 dims                      → SYRK 83 × 4096
#include "bench_util.hpp"

#include <vtr/methods/sparsevlm.hpp>
#include <vtr/ops/similarity.hpp>

#include <string>
#include <vector>

namespace {

using vtr::index_t;
using vtr_bench::image_shape;

struct event_data {
  std::shared_ptr<const std::vector<float>> attn, hidden;
  std::vector<index_t> raters;
  image_shape s;
  explicit event_data(const image_shape& shape)
      : attn(vtr_bench::shared_floats(static_cast<std::size_t>(shape.heads * shape.text * shape.visual), 3)),
        hidden(vtr_bench::shared_floats(static_cast<std::size_t>(shape.visual * shape.dim), 4, -1.0f, 1.0f)),
        s(shape) {
    for (index_t r = 0; r < s.text; r += 2) raters.push_back(r);
  }
  vtr::sparsevlm::event_inputs inputs() const {
    vtr::sparsevlm::event_inputs in;
    in.attn = vtr::ops::attention_input::from_probs({attn->data(), {s.heads, s.text, s.visual}});
    in.raters = vtr::view_of(raters);
    in.hidden_vis = {hidden->data(), {s.visual, s.dim}};
    in.layer = 2;
    in.v_start = s.prefix;
    in.v_num = s.visual;
    return in;
  }
};

void sparsevlm_event(benchmark::State& state, image_shape s) {
  const event_data d(s);
  const auto in = d.inputs();
  const vtr::sparsevlm::layer step;
  vtr::workspace ws;
  vtr::plan p;
  vtr::sparsevlm::event_details det;
  vtr::raise_if_error(step.try_plan(in, p, ws, &det));
  for (auto _ : state) {
    vtr::raise_if_error(step.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.counters["recycled"] = static_cast<double>(det.counts.m);
}

/// The recycled rows of the event above, gathered [m][D].
std::vector<float> recycled_rows(const event_data& d) {
  vtr::workspace ws;
  vtr::sparsevlm::event_details det;
  vtr::sparsevlm::layer().plan(d.inputs(), ws, &det);
  std::vector<float> rows;
  for (index_t r : det.recycled) rows.insert(rows.end(), d.hidden->data() + r * d.s.dim, d.hidden->data() + (r + 1) * d.s.dim);
  return rows;
}

void sparsevlm_event_dominant(benchmark::State& state, image_shape s) {
  const event_data d(s);
  const std::vector<float> x = recycled_rows(d);
  const index_t m = static_cast<index_t>(x.size()) / s.dim;
  std::vector<float> out(std::size_t(m * m));
  vtr::workspace ws(vtr::ops::pairwise_distances_workspace_bytes(m, s.dim));
  for (auto _ : state) {
    vtr::ops::pairwise_distances(vtr::matrix_view<const float>(x.data(), {m, s.dim}),
                                 vtr::matrix_view<float>(out.data(), {m, m}), 1.0f, ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void sparsevlm_event_floor(benchmark::State& state, image_shape s) {
  const event_data d(s);
  vtr_bench::floor_syrk(state, static_cast<index_t>(recycled_rows(d).size()) / s.dim, s.dim);
}

// Scores only: the rater-row read and its floor.
void sparsevlm_scores(benchmark::State& state, image_shape s) {
  const event_data d(s);
  vtr::workspace ws;
  std::vector<float> out(static_cast<std::size_t>(s.visual));
  const vtr::tensor_view<const float, 3> a(d.attn->data(), {s.heads, s.text, s.visual});
  for (auto _ : state) {
    vtr::ops::reduce_attention(a, vtr::ops::head_reduce::mean, vtr::ops::row_reduce::mean, vtr::view_of(out), ws,
                               vtr::view_of(d.raters));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

/// The floor reads the rater rows where they lie: every other row of each head's [text][visual] block.
/// (A contiguous buffer of the same 1.5 MB stays in L2, while these rows, spread over the 2.9 MB block
/// with the prefetchers pulling in their neighbours, come from L3: 12 µs against 25 µs at LLaVA-1.5.)
void sparsevlm_scores_floor(benchmark::State& state, image_shape s) {
  const event_data d(s);
  for (auto _ : state) {
    float sum = 0.0f;
    for (index_t h = 0; h < s.heads; ++h)
      for (index_t r : d.raters)
        sum += Eigen::Map<const Eigen::VectorXf>(d.attn->data() + (h * s.text + r) * s.visual, s.visual).sum();
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * s.heads * static_cast<int64_t>(d.raters.size()) * s.visual *
                          static_cast<int64_t>(sizeof(float)));
}

// Recycling: DPC-kNN on the m = 83 recycled rows (k = M = 9), floor = the SYRK of its distances.
constexpr index_t recycled_m = 83, recycled_c = 9;

void sparsevlm_recycle(benchmark::State& state, image_shape s) {
  const auto x = vtr_bench::shared_floats(static_cast<std::size_t>(recycled_m * s.dim), 6, -1.0f, 1.0f);
  vtr::ops::dpc_params p;
  p.clusters = recycled_c;
  p.k = recycled_c;
  vtr::ops::dpc_result r;
  vtr::workspace ws;
  for (auto _ : state) {
    vtr::ops::dpc_knn(vtr::matrix_view<const float>(x->data(), {recycled_m, s.dim}), p, {}, r, ws);
    benchmark::DoNotOptimize(r.labels.data());
  }
}

void sparsevlm_recycle_floor(benchmark::State& state, image_shape s) { vtr_bench::floor_syrk(state, recycled_m, s.dim); }

// ---- rater selection (once per prefill, §3.2.3): V·Tᵀ, a softmax over the text axis, a column mean ----

struct rater_data {
  std::shared_ptr<const std::vector<float>> vis, text;
  explicit rater_data(const image_shape& s)
      : vis(vtr_bench::shared_floats(std::size_t(s.visual * s.dim), 10, -0.1f, 0.1f)),
        text(vtr_bench::shared_floats(std::size_t(s.text * s.dim), 11, -0.1f, 0.1f)) {}
};

void sparsevlm_raters(benchmark::State& state, image_shape s) {
  const rater_data d(s);
  const vtr::matrix_view<const float> v(d.vis->data(), {s.visual, s.dim}), t(d.text->data(), {s.text, s.dim});
  std::vector<index_t> raters;
  vtr::workspace ws(vtr::sparsevlm::raters_workspace_bytes(s.visual, s.text));
  for (auto _ : state) {
    vtr::raise_if_error(vtr::sparsevlm::try_select_raters(v, t, raters, ws));
    benchmark::DoNotOptimize(raters.data());
  }
}

void sparsevlm_raters_floor(benchmark::State& state, image_shape s) { vtr_bench::floor_gemm_abt(state, s.visual, s.text, s.dim); }

VTR_BENCH_REGISTER(register_sparsevlm) {
  using namespace vtr_bench;
  for (const image_shape& s : {llava15, llava_next, qwen25vl}) {
    const std::string n = shape_name("sparsevlm.event", s.tag, dims(s.visual, s.dim) + "_h" + std::to_string(s.heads) + "_r20");
    add_step(n, method_overhead, sparsevlm_event, s);
    add_floor(n, sparsevlm_event_floor, s);
    add_dominant(n, sparsevlm_event_dominant, s);
  }
  {
    const std::string n = shape_name("sparsevlm.scores", llava15.tag, dims(llava15.visual) + "_h32_r20");
    add_step(n, memory_bound, sparsevlm_scores, llava15);
    add_floor(n, sparsevlm_scores_floor, llava15);
  }
  {
    const std::string n = shape_name("sparsevlm.recycle_dpc", llava15.tag, "m" + dims(recycled_m, llava15.dim) + "_c9");
    add_step(n, gemm_bound, sparsevlm_recycle, llava15);
    add_floor(n, sparsevlm_recycle_floor, llava15);
  }
  for (const image_shape& s : {llava15, llava_next, qwen25vl}) {
    const std::string n = shape_name("sparsevlm.raters", s.tag, dims(s.visual, s.text, s.dim));
    add_step(n, gemm_bound, sparsevlm_raters, s);
    add_floor(n, sparsevlm_raters_floor, s);
  }
}

}  // namespace
