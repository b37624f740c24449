// Benchmarks of core/apply: a selection plan's gather and a merge plan, at LLaVA-1.5 shapes.
#include "bench_util.hpp"

#include <vtr/core/apply.hpp>

#include <numeric>

namespace {

constexpr vtr::index_t tokens = 576, dim = 4096, kept = 144;

// Gather 144 of 576 rows × 4096 (ALGORITHMS §5.2 "gather rows": 2.36 MB each way).
void apply_gather(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim);
  std::vector<float> y(kept * dim);
  std::vector<vtr::index_t> idx(kept);
  for (vtr::index_t i = 0; i < kept; ++i) idx[i] = i * 4 + 1;
  const vtr::plan p = vtr::plan::select(tokens, idx);
  const vtr::matrix_view<const float> src(x.data(), {tokens, dim});
  const vtr::matrix_view<float> dst(y.data(), {kept, dim});
  for (auto _ : state) {
    vtr::apply(p, src, dst);
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(apply_gather)->Name("apply.gather/llava15_576x4096_to144")->Unit(benchmark::kMicrosecond);

void apply_gather_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(kept * dim);
  std::vector<float> y(kept * dim);
  vtr_bench::floor_memcpy(state, y.data(), x.data(), y.size() * sizeof(float));
}
BENCHMARK(apply_gather_floor)->Name("apply.gather/llava15_576x4096_to144/floor")->Unit(benchmark::kMicrosecond);

// A merge plan where every input row lands in one of 144 output rows (4 sources each): reads all 576 rows.
void apply_merge(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim);
  std::vector<float> y(kept * dim);
  vtr::plan p;
  p.reset(tokens);
  for (vtr::index_t r = 0; r < kept; ++r) {
    const vtr::index_t src[4] = {4 * r, 4 * r + 1, 4 * r + 2, 4 * r + 3};
    p.add_merge(4 * r, src, 4, nullptr, 4.0f);
  }
  const vtr::matrix_view<const float> s(x.data(), {tokens, dim});
  const vtr::matrix_view<float> d(y.data(), {kept, dim});
  for (auto _ : state) {
    vtr::apply(p, s, d);
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(apply_merge)->Name("apply.merge4/llava15_576x4096_to144")->Unit(benchmark::kMicrosecond);

void apply_merge_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(tokens * dim);
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(apply_merge_floor)->Name("apply.merge4/llava15_576x4096_to144/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
