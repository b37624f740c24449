// Benchmarks of VScan (ALGORITHMS §3.4) and FastV (§3.1) at their reference shapes (§5.1, §5.3):
//   LLaVA-1.5:  576 visual tokens × 4096, 32 heads, prefix 35, 40 text tokens (L = 651);
//   LLaVA-NeXT: 2880 visual tokens (5 crops of 576; stage 1 runs per crop with the same T).
// Floors (bench_util.hpp naming): stage 1's dominant step is the merge GEMM, (N−K)×K×D through Eigen;
// stage 2 / FastV read one attention row per head over the visual columns (floor_read of those bytes); the
// Q/K form's dominant read is the key matrix (floor_read of L·H_kv·d_h floats).
#include "bench_util.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>

#include <vector>

namespace {

using vtr::index_t;

constexpr index_t tokens = 576, dim = 4096, enc_heads = 16, heads = 32, head_dim = 128, prefix = 35, text = 40;
constexpr index_t crops = 5, budget = 96;

// ---- VScan stage 1 ------------------------------------------------------------------------------

struct stage1_data {
  std::vector<float> feats, shallow, deep;
  explicit stage1_data(index_t b)
      : feats(vtr_bench::random_floats(std::size_t(b * tokens * dim), 3, -1.0f, 1.0f)),
        shallow(vtr_bench::random_probabilities(std::size_t(b * enc_heads), tokens, 4)),
        deep(vtr_bench::random_probabilities(std::size_t(b * enc_heads), tokens, 5)) {}
};

// Scores, window + global scan and the nearest-kept assignment (the plan), T = 96 of 576.
void vscan_stage1_llava15(benchmark::State& state) {
  const stage1_data d(1);
  const vtr::vscan::stage1 scan{{budget}};
  const vtr::vscan::stage1::inputs in{vtr::matrix_view<const float>(d.feats.data(), {tokens, dim}),
                                      vtr::matrix_view<const float>(d.shallow.data(), {enc_heads, tokens}),
                                      vtr::matrix_view<const float>(d.deep.data(), {enc_heads, tokens})};
  vtr::workspace ws;
  vtr::plan p;
  raise_if_error(scan.try_plan(in, p, ws));  // sizes the workspace and the plan
  for (auto _ : state) {
    raise_if_error(scan.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}
BENCHMARK(vscan_stage1_llava15)->Name("vscan.stage1/llava15_T96")->Unit(benchmark::kMicrosecond);

void vscan_stage1_llava15_floor(benchmark::State& state) {
  vtr_bench::floor_gemm_abt(state, tokens - budget, budget, dim);
}
BENCHMARK(vscan_stage1_llava15_floor)->Name("vscan.stage1/llava15_T96/floor")->Unit(benchmark::kMicrosecond);

// The same plan applied to the features (memory-bound: read N·D, write K·D).
void vscan_stage1_apply_llava15(benchmark::State& state) {
  const stage1_data d(1);
  const vtr::vscan::stage1 scan{{budget}};
  const vtr::matrix_view<const float> x(d.feats.data(), {tokens, dim});
  vtr::workspace ws;
  const vtr::plan p = scan.plan({x, vtr::matrix_view<const float>(d.shallow.data(), {enc_heads, tokens}),
                                 vtr::matrix_view<const float>(d.deep.data(), {enc_heads, tokens})},
                                ws);
  std::vector<float> out(std::size_t(p.size() * dim));
  for (auto _ : state) {
    vtr::apply(p, x, vtr::matrix_view<float>(out.data(), {p.size(), dim}));
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(vscan_stage1_apply_llava15)->Name("vscan.stage1.apply/llava15_T96")->Unit(benchmark::kMicrosecond);

void vscan_stage1_apply_llava15_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(std::size_t(tokens * dim));
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(vscan_stage1_apply_llava15_floor)->Name("vscan.stage1.apply/llava15_T96/floor")->Unit(benchmark::kMicrosecond);

// LLaVA-NeXT: 5 crops, T = 96 each.
void vscan_stage1_next(benchmark::State& state) {
  const stage1_data d(crops);
  const vtr::vscan::stage1 scan{{budget}};
  const vtr::vscan::stage1::crops_inputs in{vtr::matrix_view<const float>(d.feats.data(), {crops * tokens, dim}),
                                            vtr::tensor_view<const float, 3>(d.shallow.data(), {crops, enc_heads, tokens}),
                                            vtr::tensor_view<const float, 3>(d.deep.data(), {crops, enc_heads, tokens})};
  vtr::workspace ws;
  vtr::plan p;
  raise_if_error(scan.try_plan_crops(in, p, ws));
  for (auto _ : state) {
    raise_if_error(scan.try_plan_crops(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}
BENCHMARK(vscan_stage1_next)->Name("vscan.stage1/llava_next_5x576_T96")->Unit(benchmark::kMicrosecond);

void vscan_stage1_next_floor(benchmark::State& state) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index m = tokens - budget, n = budget, k = dim;
  std::vector<M> a, b;
  for (index_t c = 0; c < crops; ++c) {
    a.push_back(M::Random(m, k));
    b.push_back(M::Random(n, k));
  }
  M out(m, n);
  for (auto _ : state)
    for (index_t c = 0; c < crops; ++c) {
      out.noalias() = a[std::size_t(c)] * b[std::size_t(c)].transpose();
      benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(vscan_stage1_next_floor)->Name("vscan.stage1/llava_next_5x576_T96/floor")->Unit(benchmark::kMicrosecond);

// ---- Row-scoring methods: VScan stage 2 and FastV ------------------------------------------------

// One attention row per head over seq keys ([H][1][seq]), visual span [prefix, prefix + nv).
struct row_data {
  index_t seq, nv;
  std::vector<float> probs;
  row_data(index_t nv_, index_t seq_) : seq(seq_), nv(nv_), probs(vtr_bench::random_probabilities(std::size_t(heads), seq_, 7)) {}
  vtr::ops::attention_input input() const {
    return vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(probs.data(), {heads, 1, seq}));
  }
};

template <class Method>
void run_row_method(benchmark::State& state, const Method& m, const vtr::ops::attention_input& a, index_t nv) {
  typename Method::inputs in;
  in.attention = a;
  in.image_start = prefix;
  in.image_count = nv;
  vtr::workspace ws;
  vtr::plan p;
  raise_if_error(m.try_plan(in, p, ws));
  for (auto _ : state) {
    raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}

// VScan stage 2 at layer 16, LLaVA-1.5: S = 35 + 96 + 40 = 171, keep 32.
void vscan_stage2_llava15(benchmark::State& state) {
  const row_data d(budget, prefix + budget + text);
  run_row_method(state, vtr::vscan::stage2(vtr::vscan::stage2_params::llava()), d.input(), d.nv);
}
BENCHMARK(vscan_stage2_llava15)->Name("vscan.stage2/llava15_S171_keep32")->Unit(benchmark::kMicrosecond);

void vscan_stage2_llava15_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(std::size_t(heads * budget));
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(vscan_stage2_llava15_floor)->Name("vscan.stage2/llava15_S171_keep32/floor")->Unit(benchmark::kMicrosecond);

// FastV at K = 2, R = 0.5, LLaVA-1.5: L = 651, 576 image tokens.
void fastv_llava15(benchmark::State& state) {
  const row_data d(tokens, prefix + tokens + text);
  run_row_method(state, vtr::fastv::select(), d.input(), d.nv);
}
BENCHMARK(fastv_llava15)->Name("fastv.select/llava15_L651_R050")->Unit(benchmark::kMicrosecond);

void fastv_llava15_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(std::size_t(heads * tokens));
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(fastv_llava15_floor)->Name("fastv.select/llava15_L651_R050/floor")->Unit(benchmark::kMicrosecond);

// FastV on LLaVA-NeXT: 2880 image tokens.
void fastv_next(benchmark::State& state) {
  const row_data d(crops * tokens, prefix + crops * tokens + text);
  run_row_method(state, vtr::fastv::select(), d.input(), d.nv);
}
BENCHMARK(fastv_next)->Name("fastv.select/llava_next_L2955_R050")->Unit(benchmark::kMicrosecond);

void fastv_next_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(std::size_t(heads * crops * tokens));
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(fastv_next_floor)->Name("fastv.select/llava_next_L2955_R050/floor")->Unit(benchmark::kMicrosecond);

// FastV from Q and K (FlashAttention engines): the last row recomputed over L = 651 keys, 32 × 128.
void fastv_qk_llava15(benchmark::State& state) {
  const index_t seq = prefix + tokens + text;
  const auto q = vtr_bench::random_floats(std::size_t(heads * head_dim), 8, -1.0f, 1.0f);
  const auto k = vtr_bench::random_floats(std::size_t(seq * heads * head_dim), 9, -1.0f, 1.0f);
  std::vector<index_t> pos{seq - 1};
  const auto a = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q.data(), {1, heads, head_dim}),
                                                    vtr::tensor_view<const float, 3>(k.data(), {seq, heads, head_dim}),
                                                    vtr::view_of(std::as_const(pos)));
  run_row_method(state, vtr::fastv::select(), a, tokens);
}
BENCHMARK(fastv_qk_llava15)->Name("fastv.select_qk/llava15_L651_R050")->Unit(benchmark::kMicrosecond);

void fastv_qk_llava15_floor(benchmark::State& state) {
  const auto x = vtr_bench::random_floats(std::size_t((prefix + tokens + text) * heads * head_dim));
  vtr_bench::floor_read(state, x.data(), x.size());
}
BENCHMARK(fastv_qk_llava15_floor)->Name("fastv.select_qk/llava15_L651_R050/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
