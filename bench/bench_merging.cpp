// Benchmarks of the similarity, merging and clustering kernels (ALGORITHMS §5.2) at the reference sizes,
// each against its floor measured in the same run: memcpy of the same bytes for the memory-bound
// normalisation, Eigen GEMM / SYRK of the same shape for the compute-bound steps (ALGORITHMS §5.4).
// The scalar versions of the GEMM-bound steps take seconds, so they run once (one iteration).
#include "bench_util.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/ops/cluster.hpp>
#include <vtr/ops/merge.hpp>
#include <vtr/ops/similarity.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

using vtr::index_t;
namespace ops = vtr::ops;
using vtr_bench::dims;

/// Features [n][d] in [-1, 1) (seed per use, so that e.g. the kept and the pruned rows differ).
std::shared_ptr<const std::vector<float>> feats(index_t n, index_t d, unsigned seed) {
  return vtr_bench::shared_floats(std::size_t(n * d), seed, -1.0f, 1.0f);
}

vtr::matrix_view<const float> view(const std::vector<float>& x, index_t n, index_t d) { return {x.data(), {n, d}}; }

// ---- l2_normalize_rows (memory-bound: one read + one write) ----
void normalize_rows(benchmark::State& state, index_t n, index_t d) {
  const auto x = feats(n, d, 1);
  std::vector<float> y(x->size());
  const vtr::matrix_view<float> yv(y.data(), {n, d});
  for (auto _ : state) {
    ops::l2_normalize_rows(view(*x, n, d), ops::normalize_eps, yv);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

void normalize_rows_floor(benchmark::State& state, index_t n, index_t d) { vtr_bench::floor_memcpy_n(state, std::size_t(n * d)); }

void normalize_rows_naive(benchmark::State& state, index_t n, index_t d) {
  const auto x = feats(n, d, 1);
  std::vector<float> y(x->size());
  const vtr::matrix_view<float> yv(y.data(), {n, d});
  for (auto _ : state) {
    ops::ref::l2_normalize_rows(view(*x, n, d), ops::normalize_eps, yv);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

// ---- cosine_matrix n×n over d (GEMM-bound) and gram (SYRK) ----
void cosine_all_pairs(benchmark::State& state, index_t n, index_t d) {
  const auto x = feats(n, d, 2);
  std::vector<float> out(std::size_t(n * n));
  const vtr::matrix_view<float> ov(out.data(), {n, n});
  vtr::workspace ws;
  for (auto _ : state) {
    ops::cosine_matrix(view(*x, n, d), view(*x, n, d), ov, ws);
    benchmark::DoNotOptimize(out.data());
  }
}

void cosine_all_pairs_floor(benchmark::State& state, index_t n, index_t d) { vtr_bench::floor_gemm_abt(state, n, n, d); }

// Naive: the squared norms once, then one scalar dot product per pair.
void cosine_all_pairs_naive(benchmark::State& state, index_t n, index_t d) {
  const auto x = feats(n, d, 2);
  std::vector<float> out(std::size_t(n * n)), n2(static_cast<std::size_t>(n));
  const vtr::matrix_view<float> ov(out.data(), {n, n});
  for (auto _ : state) {
    for (index_t i = 0; i < n; ++i) n2[std::size_t(i)] = ops::ref::squared_norm(view(*x, n, d).row(i), d);
    ops::ref::cross_dot(view(*x, n, d), view(*x, n, d), ov);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j)
        out[std::size_t(i * n + j)] /= std::sqrt(std::max(n2[std::size_t(i)] * n2[std::size_t(j)], ops::cosine_eps_squared));
    benchmark::DoNotOptimize(out.data());
  }
}

void gram_step(benchmark::State& state, index_t n, index_t d) {
  const auto x = feats(n, d, 3);
  std::vector<float> out(std::size_t(n * n));
  const vtr::matrix_view<float> ov(out.data(), {n, n});
  for (auto _ : state) {
    ops::gram(view(*x, n, d), ov);
    benchmark::DoNotOptimize(out.data());
  }
}

void gram_floor(benchmark::State& state, index_t n, index_t d) { vtr_bench::floor_syrk(state, n, d); }

void gram_naive(benchmark::State& state, index_t n, index_t d) {
  const auto x = feats(n, d, 3);
  std::vector<float> out(std::size_t(n * n));
  const vtr::matrix_view<float> ov(out.data(), {n, n});
  for (auto _ : state) {
    ops::ref::gram(view(*x, n, d), ov);
    benchmark::DoNotOptimize(out.data());
  }
}

// ---- pairwise_distances n×n over d (DPC-kNN's distances: SYRK form above 25 rows, direct below) ----
void distances(benchmark::State& state, index_t n, index_t d, ops::distance_form form) {
  const auto x = feats(n, d, 6);
  std::vector<float> out(std::size_t(n * n));
  const vtr::matrix_view<float> ov(out.data(), {n, n});
  vtr::workspace ws(ops::pairwise_distances_workspace_bytes(n, d));
  for (auto _ : state) {
    ops::pairwise_distances(view(*x, n, d), ov, 1.0f, ws, form);
    benchmark::DoNotOptimize(out.data());
  }
}

void distances_floor(benchmark::State& state, index_t n, index_t d, ops::distance_form) { vtr_bench::floor_syrk(state, n, d); }

void distances_naive(benchmark::State& state, index_t n, index_t d, ops::distance_form) {
  const auto x = feats(n, d, 6);
  std::vector<float> out(std::size_t(n * n));
  const vtr::matrix_view<float> ov(out.data(), {n, n});
  for (auto _ : state) {
    ops::ref::pairwise_distances(view(*x, n, d), ov, 1.0f);
    benchmark::DoNotOptimize(out.data());
  }
}

// ---- nearest-kept merge N → K over D (VScan stage 1, ALGORITHMS §2.6; 189 M MAC at 576 → 96 × 4096) ----
struct merge_case {
  index_t n, kept, d;
};

void nearest_kept(benchmark::State& state, merge_case c) {
  const auto x = feats(c.n, c.d, 4);
  const auto kept = vtr_bench::spread_indices(c.n, c.kept);
  vtr::workspace ws(ops::nearest_kept_merge_workspace_bytes(c.n, c.d, c.kept));
  vtr::plan p;
  std::vector<index_t> assign;
  for (auto _ : state) {
    ops::nearest_kept_merge(view(*x, c.n, c.d), vtr::view_of(kept), 1.0f, p, &assign, ws);
    benchmark::DoNotOptimize(p.sources.data());
  }
}

// The plan plus applying it: the whole §2.6 step as VScan runs it.
void nearest_kept_apply(benchmark::State& state, merge_case c) {
  const auto x = feats(c.n, c.d, 4);
  const auto kept = vtr_bench::spread_indices(c.n, c.kept);
  std::vector<float> merged(std::size_t(c.kept * c.d));
  const vtr::matrix_view<float> mv(merged.data(), {c.kept, c.d});
  vtr::workspace ws(ops::nearest_kept_merge_workspace_bytes(c.n, c.d, c.kept));
  vtr::plan p;
  for (auto _ : state) {
    ops::nearest_kept_merge(view(*x, c.n, c.d), vtr::view_of(kept), 1.0f, p, nullptr, ws);
    vtr::apply(p, view(*x, c.n, c.d), mv);
    benchmark::DoNotOptimize(merged.data());
  }
}

void nearest_kept_floor(benchmark::State& state, merge_case c) { vtr_bench::floor_gemm_abt(state, c.n - c.kept, c.kept, c.d); }

// Naive: the scalar reference assignment (one §0.7 cosine per pruned × kept pair).
void nearest_kept_naive(benchmark::State& state, merge_case c) {
  const auto x = feats(c.n, c.d, 4);
  const auto kept = vtr_bench::spread_indices(c.n, c.kept);
  for (auto _ : state) {
    auto a = ops::ref::nearest_kept_assign(view(*x, c.n, c.d), kept);
    benchmark::DoNotOptimize(a.data());
  }
}

// ---- ToMe bipartite N = 576, C = 1024, r = 100 (a CLIP ViT-L block, ALGORITHMS §2.7; 85 M MAC) ----
constexpr index_t tome_n = 576, tome_c = 1024, tome_r = 100;

void tome(benchmark::State& state) {
  const auto m = feats(tome_n, tome_c, 8);
  vtr::workspace ws;
  ops::tome_result res;
  for (auto _ : state) {
    ops::tome_bipartite(view(*m, tome_n, tome_c), tome_r, false, false, {}, res, ws);
    benchmark::DoNotOptimize(res.merge.sources.data());
  }
}

void tome_floor(benchmark::State& state) { vtr_bench::floor_gemm_abt(state, tome_n / 2, tome_n / 2, tome_c); }

void tome_naive(benchmark::State& state) {
  const auto m = feats(tome_n, tome_c, 8);
  std::vector<index_t> unm, src, dst;
  for (auto _ : state) {
    ops::ref::tome_match(view(*m, tome_n, tome_c), tome_r, false, false, unm, src, dst);
    benchmark::DoNotOptimize(src.data());
  }
}

// ---- DPC-kNN (ALGORITHMS §2.8): PruneVid's spatial call (N = 144, C = 4096, M = 72: 42 M MAC in the
// SYRK form) and temporal calls (the F frame means), against the SYRK of the same rows ----
struct dpc_case {
  index_t n, d, clusters, k;
  ops::distance_form form;
};

void dpc(benchmark::State& state, dpc_case c) {
  const auto x = feats(c.n, c.d, 6);
  const auto u = vtr_bench::shared_floats(std::size_t(c.n), 7, 0.0f, 0.999f);
  vtr::workspace ws(ops::dpc_knn_workspace_bytes(c.n, c.d));
  ops::dpc_result r;
  const ops::dpc_params prm{c.clusters, c.k, c.form};
  for (auto _ : state) {
    ops::dpc_knn(view(*x, c.n, c.d), prm, vtr::vector_view<const float>(u->data(), {c.n}), r, ws);
    benchmark::DoNotOptimize(r.labels.data());
  }
}

void dpc_floor(benchmark::State& state, dpc_case c) { vtr_bench::floor_syrk(state, c.n, c.d); }

void dpc_naive(benchmark::State& state, dpc_case c) {
  const auto x = feats(c.n, c.d, 6);
  const auto u = vtr_bench::shared_floats(std::size_t(c.n), 7, 0.0f, 0.999f);
  for (auto _ : state) {
    auto r = ops::ref::dpc_knn(view(*x, c.n, c.d), c.clusters, c.k, *u);
    benchmark::DoNotOptimize(r.labels.data());
  }
}

VTR_BENCH_REGISTER(register_merging) {
  using namespace vtr_bench;
  for (const auto& [tag, n, d] :
       {std::tuple{llava15.tag, llava15.visual, llava15.dim}, std::tuple{llava_next.tag, llava_next.visual, llava_next.dim},
        std::tuple{qwen25vl.tag, qwen25vl.visual, qwen25vl.dim}, std::tuple{pllava.tag, pllava.tokens(), pllava.dim},
        std::tuple{video64.tag, video64.tokens(), video64.dim}}) {
    const std::string name = shape_name("l2_normalize_rows", tag, dims(n, d));
    add_step(name, memory_bound, normalize_rows, n, d);
    add_floor(name, normalize_rows_floor, n, d);
    add_naive(name, normalize_rows_naive, n, d);
  }

  for (const image_shape& s : {llava15, qwen25vl}) {
    const bool small = s.visual == llava15.visual;  // the scalar versions at Qwen's size would take ~10 s
    std::string name = shape_name("cosine_matrix", s.tag, dims(s.visual, s.visual, s.dim));
    add_step(name, gemm_bound, cosine_all_pairs, s.visual, s.dim);
    add_floor(name, cosine_all_pairs_floor, s.visual, s.dim);
    if (small) add_naive(name, cosine_all_pairs_naive, s.visual, s.dim)->Iterations(1)->Repetitions(1);
    name = shape_name("gram", s.tag, dims(s.visual, s.dim));
    add_step(name, gemm_bound, gram_step, s.visual, s.dim);
    add_floor(name, gram_floor, s.visual, s.dim);
    if (small) add_naive(name, gram_naive, s.visual, s.dim)->Iterations(1)->Repetitions(1);
  }

  // DPC-kNN's distance matrices: PruneVid's spatial call (one frame's 144 tokens) and temporal call (the
  // frame means: 16 → direct form, 64 → SYRK form), SparseVLM's recycled rows (m = 83 at LLaVA-1.5).
  // The explicit direct form is the exact-to-rounding option (per pair, no GEMM blocking): measured against
  // the same SYRK for scale, held to no target.
  const auto dist = [](const char* kind, const char* tag, index_t n, index_t d, ops::distance_form f) {
    const std::string name = shape_name(kind, tag, dims(n, d));
    add_step(name, f == ops::distance_form::direct ? no_target : gemm_bound, distances, n, d, f);
    add_floor(name, distances_floor, n, d, f);
    add_naive(name, distances_naive, n, d, f);
  };
  dist("pairwise_distances", pllava.tag, pllava.per_frame(), pllava.dim, ops::distance_form::automatic);
  dist("pairwise_distances.direct", pllava.tag, pllava.per_frame(), pllava.dim, ops::distance_form::direct);
  dist("pairwise_distances", pllava.tag, pllava.frames, pllava.dim, ops::distance_form::automatic);
  dist("pairwise_distances", video64.tag, video64.frames, video64.dim, ops::distance_form::automatic);
  dist("pairwise_distances", llava15.tag, 83, llava15.dim, ops::distance_form::automatic);

  // VScan stage 1's merge: LLaVA-1.5 576 → 96; Qwen2.5-VL ⌊0.167·1008⌋ = 168 of 1008 at 3584.
  for (const auto& [tag, c] :
       {std::pair{llava15.tag, merge_case{576, 96, 4096}}, std::pair{qwen25vl.tag, merge_case{1008, 168, 3584}}}) {
    const std::string plan_name = shape_name("nearest_kept_merge.plan", tag, dims(c.n) + "to" + dims(c.kept, c.d));
    add_step(plan_name, gemm_bound, nearest_kept, c);
    add_floor(plan_name, nearest_kept_floor, c);
    if (c.n == 576) add_naive(plan_name, nearest_kept_naive, c)->Iterations(1)->Repetitions(1);
    const std::string name = shape_name("nearest_kept_merge", tag, dims(c.n) + "to" + dims(c.kept, c.d));
    add_step(name, gemm_bound, nearest_kept_apply, c);
    add_floor(name, nearest_kept_floor, c);
  }

  {
    const std::string name = "tome_bipartite.plan/vit_l_" + dims(tome_n, tome_c) + "_r" + std::to_string(tome_r);
    add_step(name, gemm_bound, tome);
    add_floor(name, tome_floor);
    add_naive(name, tome_naive);
  }

  const auto cluster = [](const char* kind, const char* tag, dpc_case c) {
    const std::string name = shape_name(kind, tag, dims(c.n, c.d) + "_m" + std::to_string(c.clusters) + "_k" + std::to_string(c.k));
    add_step(name, c.form == ops::distance_form::direct ? no_target : gemm_bound, dpc, c);
    add_floor(name, dpc_floor, c);
    add_naive(name, dpc_naive, c);
  };
  cluster("dpc_knn", pllava.tag, {144, 4096, 72, 7, ops::distance_form::automatic});
  cluster("dpc_knn.direct", pllava.tag, {144, 4096, 72, 7, ops::distance_form::direct});
  cluster("dpc_knn", pllava.tag, {pllava.frames, pllava.dim, pllava.frames / 4, 7, ops::distance_form::automatic});
  cluster("dpc_knn", video64.tag, {video64.frames, video64.dim, video64.frames / 4, 7, ops::distance_form::automatic});
}

}  // namespace
