// Benchmarks of the generic policies (ALGORITHMS §4.7): consecutive_frame_dedup on the video tokens,
// frame_gate and keep_ratio_topk on the text rows' attention [32][40][N] (per frame for the videos).
//
// Floors: one read of what each must read — the F·n_f·C tokens (frame_dedup), the [H][N_t][N]
// probabilities (frame_gate, keep_ratio_topk). Dominant steps ("/dominant"): frame_dedup — the frames'
// squared norms and consecutive dot products (ops::squared_norm, ops::dot over every row, as the policy
// makes them); frame_gate and keep_ratio_topk — the head/row reduction of the attention
// (ops::reduce_attention with the policy's reducers).
#include "bench_util.hpp"

#include <vtr/policies/frame_dedup.hpp>
#include <vtr/policies/frame_gate.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

#include <string>
#include <vector>

namespace {

using vtr::index_t;
namespace ops = vtr::ops;
namespace policies = vtr::policies;
using vtr_bench::dims;

// ---- frame_dedup: random frames (nothing repeats: every frame kept, the largest plan) ----

std::shared_ptr<const std::vector<float>> frames(const vtr_bench::video_shape& s) {
  return vtr_bench::shared_floats(static_cast<std::size_t>(s.tokens() * s.dim), 3, -1.0f, 1.0f);
}

void dedup(benchmark::State& state, vtr_bench::video_shape s) {
  const auto x = frames(s);
  const policies::frame_dedup m;
  const policies::frame_dedup::inputs in{vtr::matrix_view<const float>(x->data(), {s.tokens(), s.dim}), s.frames};
  vtr::workspace ws;
  vtr::plan p;
  vtr::raise_if_error(m.try_plan(in, p, ws));
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}

void dedup_floor(benchmark::State& state, vtr_bench::video_shape s) {
  const auto x = frames(s);
  vtr_bench::floor_read(state, x->data(), x->size());
}

void dedup_dominant(benchmark::State& state, vtr_bench::video_shape s) {
  const auto x = frames(s);
  const index_t n_f = s.per_frame(), C = s.dim;
  const vtr::matrix_view<const float> t(x->data(), {s.tokens(), s.dim});
  std::vector<double> norm2(static_cast<std::size_t>(s.frames)), dots(static_cast<std::size_t>(s.frames));
  for (auto _ : state) {
    for (index_t f = 0; f < s.frames; ++f) {
      double n = 0, d = 0;
      for (index_t i = 0; i < n_f; ++i) n += double(ops::squared_norm(t.row(f * n_f + i), C));
      if (f > 0)
        for (index_t i = 0; i < n_f; ++i) d += double(ops::dot(t.row((f - 1) * n_f + i), t.row(f * n_f + i), C));
      norm2[static_cast<std::size_t>(f)] = n;
      dots[static_cast<std::size_t>(f)] = d;
    }
    benchmark::DoNotOptimize(norm2.data());
    benchmark::DoNotOptimize(dots.data());
    benchmark::ClobberMemory();
  }
}

// ---- attention-scored policies: [H][N_t][n] probabilities over the visual columns ----

struct attn_case {
  index_t heads, rows, n, frames;
};

std::shared_ptr<const std::vector<float>> probs(const attn_case& c) {
  return vtr_bench::shared_probabilities(static_cast<std::size_t>(c.heads * c.rows), static_cast<std::size_t>(c.n), 5);
}

template <class Policy>
void scored(benchmark::State& state, attn_case c) {
  const auto a = probs(c);
  const Policy m;
  typename Policy::inputs in;
  in.attn = ops::attention_input::from_probs({a->data(), {c.heads, c.rows, c.n}});
  in.frames = c.frames;
  vtr::workspace ws;
  vtr::plan p;
  vtr::raise_if_error(m.try_plan(in, p, ws));
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}

void scored_floor(benchmark::State& state, attn_case c) {
  const auto a = probs(c);
  vtr_bench::floor_read(state, a->data(), a->size());
}

template <class Policy>
void scored_dominant(benchmark::State& state, attn_case c) {
  const auto a = probs(c);
  const auto prm = Policy().params();
  std::vector<float> out(static_cast<std::size_t>(c.n));
  vtr::workspace ws;
  const vtr::tensor_view<const float, 3> v(a->data(), {c.heads, c.rows, c.n});
  for (auto _ : state) {
    ops::reduce_attention(v, prm.heads, prm.rows, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

VTR_BENCH_REGISTER(register_policies) {
  using namespace vtr_bench;
  for (const video_shape& s : {pllava, video64}) {
    const std::string n = shape_name("frame_dedup", s.tag, dims(s.frames, s.per_frame(), s.dim));
    add_step(n, method_overhead, dedup, s);
    add_floor(n, dedup_floor, s);
    add_dominant(n, dedup_dominant, s);
  }
  for (const video_shape& s : {pllava, video64}) {
    const attn_case c{s.heads, s.text, s.tokens(), s.frames};
    const std::string n = shape_name("frame_gate", s.tag, dims(c.heads, c.rows, c.n) + "_F" + std::to_string(s.frames));
    add_step(n, method_overhead, scored<policies::frame_gate>, c);
    add_floor(n, scored_floor, c);
    add_dominant(n, scored_dominant<policies::frame_gate>, c);
  }
  std::vector<std::pair<const char*, attn_case>> krt;
  for (const image_shape& s : {llava15, llava_next, qwen25vl}) krt.push_back({s.tag, {s.heads, s.text, s.visual, 1}});
  krt.push_back({pllava.tag, {pllava.heads, pllava.text, pllava.tokens(), pllava.frames}});
  for (const auto& [tag, c] : krt) {
    const std::string per_frame = c.frames > 1 ? "_F" + std::to_string(c.frames) : "";
    const std::string n = shape_name("keep_ratio_topk", tag, dims(c.heads, c.rows, c.n) + per_frame);
    add_step(n, method_overhead, scored<policies::keep_ratio_topk>, c);
    add_floor(n, scored_floor, c);
    add_dominant(n, scored_dominant<policies::keep_ratio_topk>, c);
  }
}

}  // namespace
