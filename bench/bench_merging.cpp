// Benchmarks of the similarity, merging and clustering kernels (ALGORITHMS §5.2) at the reference sizes,
// each against its floor measured in the same run: memcpy of the same bytes for the memory-bound
// normalisation, Eigen GEMM / SYRK of the same shape for the compute-bound steps (ALGORITHMS §5.4).
#include "bench_util.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/ops/cluster.hpp>
#include <vtr/ops/merge.hpp>
#include <vtr/ops/similarity.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace {

using vtr::index_t;

constexpr index_t tokens = 576, dim = 4096;

// ---- l2_normalize_rows 576×4096 (memory-bound: one read + one write of 9.4 MB) ----
void normalize_rows(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim, 1, -1.0f, 1.0f);
  std::vector<float> y(x.size());
  const vtr::matrix_view<const float> xv(x.data(), {tokens, dim});
  const vtr::matrix_view<float> yv(y.data(), {tokens, dim});
  for (auto _ : state) {
    vtr::ops::l2_normalize_rows(xv, vtr::ops::normalize_eps, yv);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(normalize_rows)->Name("l2_normalize_rows/576x4096")->Unit(benchmark::kMicrosecond);

void normalize_rows_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim);
  std::vector<float> y(x.size());
  vtr_bench::floor_memcpy(state, y.data(), x.data(), x.size() * sizeof(float));
}
BENCHMARK(normalize_rows_floor)->Name("l2_normalize_rows/576x4096/floor")->Unit(benchmark::kMicrosecond);

void normalize_rows_naive(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim, 1, -1.0f, 1.0f);
  std::vector<float> y(x.size());
  const vtr::matrix_view<const float> xv(x.data(), {tokens, dim});
  const vtr::matrix_view<float> yv(y.data(), {tokens, dim});
  for (auto _ : state) {
    vtr::ops::ref::l2_normalize_rows(xv, vtr::ops::normalize_eps, yv);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(normalize_rows_naive)->Name("l2_normalize_rows/576x4096/naive")->Unit(benchmark::kMicrosecond);

// ---- cosine_matrix 576×576 over 4096 (GEMM-bound) ----
void cosine_all_pairs(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim, 2, -1.0f, 1.0f);
  std::vector<float> out(tokens * tokens);
  const vtr::matrix_view<const float> xv(x.data(), {tokens, dim});
  const vtr::matrix_view<float> ov(out.data(), {tokens, tokens});
  vtr::workspace ws;
  for (auto _ : state) {
    vtr::ops::cosine_matrix(xv, xv, ov, ws);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(cosine_all_pairs)->Name("cosine_matrix/576x576x4096")->Unit(benchmark::kMicrosecond);

void cosine_all_pairs_floor(benchmark::State& state) { vtr_bench::floor_gemm_abt(state, tokens, tokens, dim); }
BENCHMARK(cosine_all_pairs_floor)->Name("cosine_matrix/576x576x4096/floor")->Unit(benchmark::kMicrosecond);

// ---- gram 576×4096 (SYRK) ----
void gram_576(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim, 3, -1.0f, 1.0f);
  std::vector<float> out(tokens * tokens);
  const vtr::matrix_view<const float> xv(x.data(), {tokens, dim});
  const vtr::matrix_view<float> ov(out.data(), {tokens, tokens});
  for (auto _ : state) {
    vtr::ops::gram(xv, ov);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(gram_576)->Name("gram/576x4096")->Unit(benchmark::kMicrosecond);

void gram_576_floor(benchmark::State& state) { vtr_bench::floor_syrk(state, tokens, dim); }
BENCHMARK(gram_576_floor)->Name("gram/576x4096/floor")->Unit(benchmark::kMicrosecond);

// ---- nearest-kept merge 576 → 96 × 4096 (VScan stage 1, ALGORITHMS §2.6; 189 M MAC) ----
constexpr index_t vscan_kept = 96;

std::vector<index_t> spread_kept(index_t n, index_t k, unsigned seed) {
  std::vector<index_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), index_t(0));
  std::mt19937 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(k));
  std::sort(all.begin(), all.end());
  return all;
}

void nearest_kept(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim, 4, -1.0f, 1.0f);
  const auto kept = spread_kept(tokens, vscan_kept, 5);
  const vtr::matrix_view<const float> xv(x.data(), {tokens, dim});
  vtr::workspace ws(vtr::ops::nearest_kept_merge_workspace_bytes(tokens, dim, vscan_kept));
  vtr::plan p;
  std::vector<index_t> assign;
  for (auto _ : state) {
    vtr::ops::nearest_kept_merge(xv, vtr::view_of(kept), 1.0f, p, &assign, ws);
    benchmark::DoNotOptimize(p.sources.data());
  }
}
BENCHMARK(nearest_kept)->Name("nearest_kept_merge.plan/576->96x4096")->Unit(benchmark::kMicrosecond);

// The plan plus applying it: the whole §2.6 step as VScan runs it.
void nearest_kept_apply(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim, 4, -1.0f, 1.0f);
  const auto kept = spread_kept(tokens, vscan_kept, 5);
  const vtr::matrix_view<const float> xv(x.data(), {tokens, dim});
  std::vector<float> merged(vscan_kept * dim);
  const vtr::matrix_view<float> mv(merged.data(), {vscan_kept, dim});
  vtr::workspace ws(vtr::ops::nearest_kept_merge_workspace_bytes(tokens, dim, vscan_kept));
  vtr::plan p;
  for (auto _ : state) {
    vtr::ops::nearest_kept_merge(xv, vtr::view_of(kept), 1.0f, p, nullptr, ws);
    vtr::apply(p, xv, mv);
    benchmark::DoNotOptimize(merged.data());
  }
}
BENCHMARK(nearest_kept_apply)->Name("nearest_kept_merge/576->96x4096")->Unit(benchmark::kMicrosecond);

void nearest_kept_floor(benchmark::State& state) { vtr_bench::floor_gemm_abt(state, tokens - vscan_kept, vscan_kept, dim); }
BENCHMARK(nearest_kept_floor)->Name("nearest_kept_merge.plan/576->96x4096/floor")->Unit(benchmark::kMicrosecond);
BENCHMARK(nearest_kept_floor)->Name("nearest_kept_merge/576->96x4096/floor")->Unit(benchmark::kMicrosecond);

// ---- DPC-kNN N = 144, C = 4096 (PruneVid spatial call, ALGORITHMS §2.8; 42 M MAC in the SYRK form) ----
constexpr index_t dpc_n = 144;

void dpc(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(dpc_n * dim, 6, -1.0f, 1.0f);
  const auto u = vtr_bench::random_floats(dpc_n, 7, 0.0f, 0.999f);
  const vtr::matrix_view<const float> xv(x.data(), {dpc_n, dim});
  vtr::workspace ws(vtr::ops::dpc_knn_workspace_bytes(dpc_n));
  vtr::ops::dpc_result r;
  for (auto _ : state) {
    vtr::ops::dpc_knn(xv, {dpc_n / 2, 7}, vtr::view_of(u), r, ws);
    benchmark::DoNotOptimize(r.labels.data());
  }
}
BENCHMARK(dpc)->Name("dpc_knn/144x4096_m72_k7")->Unit(benchmark::kMicrosecond);

void dpc_floor(benchmark::State& state) { vtr_bench::floor_syrk(state, dpc_n, dim); }
BENCHMARK(dpc_floor)->Name("dpc_knn/144x4096_m72_k7/floor")->Unit(benchmark::kMicrosecond);

void dpc_direct(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(dpc_n * dim, 6, -1.0f, 1.0f);
  const auto u = vtr_bench::random_floats(dpc_n, 7, 0.0f, 0.999f);
  const vtr::matrix_view<const float> xv(x.data(), {dpc_n, dim});
  vtr::workspace ws(vtr::ops::dpc_knn_workspace_bytes(dpc_n));
  vtr::ops::dpc_result r;
  vtr::ops::dpc_params prm{dpc_n / 2, 7, vtr::ops::distance_form::direct};
  for (auto _ : state) {
    vtr::ops::dpc_knn(xv, prm, vtr::view_of(u), r, ws);
    benchmark::DoNotOptimize(r.labels.data());
  }
}
BENCHMARK(dpc_direct)->Name("dpc_knn.direct/144x4096_m72_k7")->Unit(benchmark::kMicrosecond);
BENCHMARK(dpc_floor)->Name("dpc_knn.direct/144x4096_m72_k7/floor")->Unit(benchmark::kMicrosecond);

// ---- ToMe bipartite N = 576, C = 1024, r = 100 (a ViT-L block, ALGORITHMS §2.7; 85 M MAC) ----
constexpr index_t tome_n = 576, tome_c = 1024;

void tome(benchmark::State& state) {
  const auto m = vtr_bench::random_floats(tome_n * tome_c, 8, -1.0f, 1.0f);
  const vtr::matrix_view<const float> mv(m.data(), {tome_n, tome_c});
  vtr::workspace ws;
  vtr::ops::tome_result res;
  for (auto _ : state) {
    vtr::ops::tome_bipartite(mv, 100, false, false, {}, res, ws);
    benchmark::DoNotOptimize(res.merge.sources.data());
  }
}
BENCHMARK(tome)->Name("tome_bipartite.plan/576x1024_r100")->Unit(benchmark::kMicrosecond);

void tome_floor(benchmark::State& state) { vtr_bench::floor_gemm_abt(state, tome_n / 2, tome_n / 2, tome_c); }
BENCHMARK(tome_floor)->Name("tome_bipartite.plan/576x1024_r100/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
