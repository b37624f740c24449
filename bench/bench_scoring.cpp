// Benchmarks of the scoring and selection kernels (ops/reduce, ops/attention, ops/topk) at every reference
// shape (ALGORITHMS §5.2, §5.4; bench_util.hpp): the text rows' attention to the visual columns
// [H][N_t][N], Fit&Prune's self block [N][N], attention rows recomputed from Q/K over the whole prompt,
// and the top-k family over the visual scores.
#include "bench_util.hpp"

#include <vtr/ops/attention.hpp>
#include <vtr/ops/reduce.hpp>
#include <vtr/ops/topk.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace {

using vtr::index_t;
namespace ops = vtr::ops;
using vtr_bench::dims;

// ---------------------------------------------------------------------------------------------------
// reduce_attention over [H][rows][cols] (memory-bound: every probability read once; at LLaVA-1.5
// [32][40][576] that is 2.95 MB). Floor: one read of the same bytes.

struct reduce_case {
  index_t heads, rows, cols;
  ops::head_reduce h;
  ops::row_reduce r;
  std::size_t size() const { return static_cast<std::size_t>(heads * rows * cols); }
};

std::shared_ptr<const std::vector<float>> reduce_data(const reduce_case& c) {
  return vtr_bench::shared_probabilities(static_cast<std::size_t>(c.heads * c.rows), static_cast<std::size_t>(c.cols));
}

void reduce_step(benchmark::State& state, reduce_case c) {
  const auto a = reduce_data(c);
  const vtr::tensor_view<const float, 3> v(a->data(), {c.heads, c.rows, c.cols});
  std::vector<float> out(static_cast<std::size_t>(c.cols));
  vtr::workspace ws;
  for (auto _ : state) {
    ops::reduce_attention(v, c.h, c.r, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.size() * sizeof(float)));
}

void reduce_naive(benchmark::State& state, reduce_case c) {
  const auto a = reduce_data(c);
  std::vector<float> out(static_cast<std::size_t>(c.cols));
  for (auto _ : state) {
    vtr_bench::naive_reduce_attention(a->data(), c.heads, c.rows, c.cols, c.h, c.r, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void reduce_floor(benchmark::State& state, reduce_case c) {
  const auto a = reduce_data(c);
  vtr_bench::floor_read(state, a->data(), a->size());
}

// ---------------------------------------------------------------------------------------------------
// column_mean / column_sum over an [n][n] block (Fit&Prune's self term, §2.3 colmean_block).

std::shared_ptr<const std::vector<float>> block_data(index_t n) {
  return vtr_bench::shared_probabilities(static_cast<std::size_t>(n), static_cast<std::size_t>(n));
}

void colreduce_step(benchmark::State& state, index_t n, bool mean) {
  const auto a = block_data(n);
  const vtr::matrix_view<const float> v(a->data(), {n, n});
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto _ : state) {
    if (mean) ops::column_mean(v, vtr::view_of(out));
    else ops::column_sum(v, vtr::view_of(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void colreduce_floor(benchmark::State& state, index_t n, bool) {
  const auto a = block_data(n);
  vtr_bench::floor_read(state, a->data(), a->size());
}

void colreduce_naive(benchmark::State& state, index_t n, bool mean) {
  const auto a = block_data(n);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto _ : state) {
    for (index_t c = 0; c < n; ++c) {
      float s = 0;
      for (index_t r = 0; r < n; ++r) s += (*a)[std::size_t(r * n + c)];
      out[std::size_t(c)] = mean ? s / float(n) : s;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// ---------------------------------------------------------------------------------------------------
// attention_rows: the last `rows` prompt rows × all `keys` keys, q [rows][H][d], k [keys][H_kv][d] (§2.1,
// GQA for Qwen2.5-VL). Floor: Eigen GEMM of the same shape per head (the logits alone); with GQA the
// query rows of the heads sharing a key head form one GEMM against it, as they read the same keys.

struct attn_case {
  index_t rows, keys, heads, kv_heads, dh;
};

struct attn_data {
  std::shared_ptr<const std::vector<float>> q, k;
  explicit attn_data(const attn_case& c)
      : q(vtr_bench::shared_floats(std::size_t(c.rows * c.heads * c.dh), 1, -1.0f, 1.0f)),
        k(vtr_bench::shared_floats(std::size_t(c.keys * c.kv_heads * c.dh), 2, -1.0f, 1.0f)) {}
};

void attn_step(benchmark::State& state, attn_case c) {
  const attn_data d(c);
  std::vector<float> out(std::size_t(c.heads * c.rows * c.keys));
  std::vector<index_t> pos(static_cast<std::size_t>(c.rows));
  std::iota(pos.begin(), pos.end(), c.keys - c.rows);  // the last rows of the prompt
  const vtr::tensor_view<const float, 3> qv(d.q->data(), {c.rows, c.heads, c.dh}), kv(d.k->data(), {c.keys, c.kv_heads, c.dh});
  const vtr::tensor_view<float, 3> ov(out.data(), {c.heads, c.rows, c.keys});
  vtr::workspace ws;
  for (auto _ : state) {
    ops::attention_rows(qv, kv, vtr::view_of(pos), {}, ov, ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void attn_floor(benchmark::State& state, attn_case c) {
  vtr_bench::floor_gemm_abt(state, c.rows * (c.heads / c.kv_heads), c.keys, c.dh, c.kv_heads);
}

// Naive: dot products and a scalar softmax per row.
void attn_naive(benchmark::State& state, attn_case c) {
  const attn_data d(c);
  const std::vector<float>& q = *d.q;
  const std::vector<float>& k = *d.k;
  std::vector<float> out(std::size_t(c.heads * c.rows * c.keys));
  const float scale = 1.0f / std::sqrt(float(c.dh));
  const index_t group = c.heads / c.kv_heads;
  for (auto _ : state) {
    for (index_t h = 0; h < c.heads; ++h)
      for (index_t r = 0; r < c.rows; ++r) {
        float* z = out.data() + (h * c.rows + r) * c.keys;
        const index_t vis = c.keys - c.rows + r + 1;
        float m = -1e30f;
        for (index_t j = 0; j < vis; ++j) {
          float s = 0;
          for (index_t t = 0; t < c.dh; ++t)
            s += q[std::size_t((r * c.heads + h) * c.dh + t)] * k[std::size_t((j * c.kv_heads + h / group) * c.dh + t)];
          z[j] = s * scale;
          m = std::max(m, z[j]);
        }
        float tot = 0;
        for (index_t j = 0; j < vis; ++j) tot += (z[j] = std::exp(z[j] - m));
        for (index_t j = 0; j < vis; ++j) z[j] /= tot;
        for (index_t j = vis; j < c.keys; ++j) z[j] = 0;
      }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// ---------------------------------------------------------------------------------------------------
// The top-k family over n visual scores (k = n/4 unless the method fixes it), ascending or rank order.
// Floor: one read of the n scores (the selection's lower bound; it is latency-, not bandwidth-bound at
// these sizes, hence the absolute 5 µs budget at n = 2880). Naive: std::stable_sort of all indices by
// score, take k, sort them for ascending order.

struct topk_case {
  index_t n, k;
  ops::order o;
  bool largest;
};

std::shared_ptr<const std::vector<float>> score_data(index_t n) { return vtr_bench::shared_floats(std::size_t(n), 3); }

void topk_step(benchmark::State& state, topk_case c) {
  const auto s = score_data(c.n);
  std::vector<index_t> out(static_cast<std::size_t>(c.k));
  vtr::workspace ws(ops::topk_workspace_bytes(c.n));
  const vtr::vector_view<const float> sv(s->data(), {c.n});
  for (auto _ : state) {
    if (c.largest) ops::topk(sv, c.k, c.o, vtr::view_of(out), ws);
    else ops::bottomk(sv, c.k, c.o, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void topk_floor(benchmark::State& state, topk_case c) {
  const auto s = score_data(c.n);
  vtr_bench::floor_read(state, s->data(), s->size());
}

void topk_naive(benchmark::State& state, topk_case c) {
  const auto sp = score_data(c.n);
  const std::vector<float>& s = *sp;
  std::vector<index_t> idx(static_cast<std::size_t>(c.n));
  for (auto _ : state) {
    std::iota(idx.begin(), idx.end(), index_t(0));
    std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) {
      return c.largest ? s[std::size_t(a)] > s[std::size_t(b)] : s[std::size_t(a)] < s[std::size_t(b)];
    });
    if (c.o == ops::order::ascending) std::sort(idx.begin(), idx.begin() + c.k);
    benchmark::DoNotOptimize(idx.data());
    benchmark::ClobberMemory();
  }
}

// ---------------------------------------------------------------------------------------------------

VTR_BENCH_REGISTER(register_scoring) {
  using namespace vtr_bench;
  using ops::head_reduce;
  using ops::row_reduce;

  const auto reduce = [](const char* kind, const char* tag, reduce_case c) {
    const std::string n = shape_name(std::string("reduce_attention.") + kind, tag, dims(c.heads, c.rows, c.cols));
    add_step(n, memory_bound, reduce_step, c);
    add_floor(n, reduce_floor, c);
    add_naive(n, reduce_naive, c);
  };
  // The text rows against the visual columns at every shape (SparseVLM, DToMA D2, keep_ratio_topk)…
  for (const image_shape& s : {llava15, llava_next, qwen25vl})
    reduce("mean_mean", s.tag, {s.heads, s.text, s.visual, head_reduce::mean, row_reduce::mean});
  for (const video_shape& s : {pllava, video64})
    reduce("mean_mean", s.tag, {s.heads, s.text, s.tokens(), head_reduce::mean, row_reduce::mean});
  // …and the other reducer pairs at LLaVA-1.5 (PruneVid stage 2, Fit&Prune's cross term).
  reduce("max_max", llava15.tag, {llava15.heads, llava15.text, llava15.visual, head_reduce::max, row_reduce::max});
  reduce("maxheads_sumrows", llava15.tag, {llava15.heads, llava15.text, llava15.visual, head_reduce::max, row_reduce::sum});

  const auto colreduce = [](const char* kind, const char* tag, index_t n, bool mean) {
    const std::string name = shape_name(kind, tag, dims(n, n));
    add_step(name, memory_bound, colreduce_step, n, mean);
    add_floor(name, colreduce_floor, n, mean);
    add_naive(name, colreduce_naive, n, mean);
  };
  for (const image_shape& s : {llava15, qwen25vl, llava_next}) colreduce("column_mean", s.tag, s.visual, true);
  colreduce("column_sum", llava15.tag, llava15.visual, false);

  const auto attn = [](const char* tag, attn_case c, bool with_naive) {
    const std::string n = shape_name("attention_rows", tag, dims(c.rows, c.keys, c.heads, c.dh));
    add_step(n, gemm_bound, attn_step, c);
    add_floor(n, attn_floor, c);
    if (with_naive) add_naive(n, attn_naive, c);
  };
  // One row (FastV, VScan stage 2: the last prompt token) and 40 rows (the text rows: SparseVLM raters,
  // PruneVid stage 2, DToMA D2) over the whole prompt.
  for (const image_shape& s : {llava15, llava_next, qwen25vl}) {
    attn(s.tag, {1, s.seq(), s.heads, s.kv_heads, s.head_dim}, true);
    attn(s.tag, {s.text, s.seq(), s.heads, s.kv_heads, s.head_dim}, false);
  }
  for (const video_shape& s : {pllava, video64}) attn(s.tag, {s.text, s.seq(), s.heads, s.heads, s.head_dim}, false);

  const auto topk = [](const char* kind, const char* tag, topk_case c, target t) {
    const std::string n = std::string(kind) + "/" + tag + "_n" + std::to_string(c.n) + "_k" + std::to_string(c.k);
    add_step(n, t, topk_step, c);
    add_floor(n, topk_floor, c);
    add_naive(n, topk_naive, c);
  };
  const target top2880 = latency_us(5.0);
  for (const image_shape& s : {llava15, qwen25vl, llava_next})
    topk("topk", s.tag, {s.visual, s.visual / 4, ops::order::ascending, true}, s.visual == 2880 ? top2880 : no_target);
  for (const video_shape& s : {pllava, video64})
    topk("topk", s.tag, {s.tokens(), s.tokens() / 4, ops::order::ascending, true}, no_target);
  topk("topk.by_rank", llava_next.tag, {2880, 720, ops::order::by_rank, true}, top2880);
  // Fit&Prune's deletion order: the 89 lowest of 576 (key 60, layer 2), and 720 of 2880.
  topk("bottomk.by_rank", llava15.tag, {576, 89, ops::order::by_rank, false}, no_target);
  topk("bottomk.by_rank", llava_next.tag, {2880, 720, ops::order::by_rank, false}, top2880);
}

}  // namespace
