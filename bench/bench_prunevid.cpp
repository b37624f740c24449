// Benchmarks of PruneVid (ALGORITHMS §3.5, §5.3).
//
// Stage 1 at the PLLaVA shape (16 frames × 12×12 tokens × 4096) and two long-video shapes (64 × 12×12 × 4096;
// 32 × 24×24 × 1024). Its dominant step is the pairwise distances of the DPC-kNN calls (§5.2: N²·C/2 MAC per
// call in the SYRK form; everything else — frame means, the O(W·C) static test, the gathers, the cluster
// means — is one or two passes over the F·n_f·C input). The floor is therefore the Eigen SYRK (lower
// triangle of X·Xᵀ) of exactly the N_i × C matrices the DPC calls of this video see — the temporal call on
// the F frame means plus every merged static/dynamic group — summed over the calls, measured in the same
// run. It leaves out the memory passes and the O(N²) density/δ/label work, so the ratio shows what the
// method costs above the unavoidable GEMM.
//
// Stage 2 at [32 heads][40 post-video rows][1011 keys] (P = 35, 936 video tokens after stage 1 — the §3.5.2
// example's segments): its dominant step is the max-max reduction over the 32·40·936 video probabilities,
// a memory-bound read (floor = reading those bytes once); the grouped top-k is ~microseconds. The Q/K form
// adds 32 heads × [40 × 128] · [128 × 1011] of GEMM (floor = that GEMM).
#include "bench_util.hpp"

#include <vtr/methods/prunevid.hpp>

#include <random>
#include <vector>

namespace {

using vtr::index_t;
namespace pv = vtr::prunevid;

/// A synthetic video with scene cuts: per scene a base frame; a third of the positions barely move
/// (static), the rest get large per-frame noise (dynamic). Scenes last `scene_len` frames.
std::vector<float> make_video(index_t F, index_t nf, index_t C, index_t scene_len, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const index_t scenes = (F + scene_len - 1) / scene_len;
  std::vector<float> base(static_cast<std::size_t>(scenes * nf * C)), x(static_cast<std::size_t>(F * nf * C));
  for (auto& v : base) v = nd(rng);
  for (index_t f = 0; f < F; ++f)
    for (index_t l = 0; l < nf; ++l) {
      const float noise = l % 3 == 0 ? 0.05f : 1.5f;
      const float* b = &base[static_cast<std::size_t>(((f / scene_len) * nf + l) * C)];
      float* o = &x[static_cast<std::size_t>((f * nf + l) * C)];
      for (index_t c = 0; c < C; ++c) o[c] = b[c] + noise * nd(rng);
    }
  return x;
}

struct stage1_shape {
  index_t F, nf, C, scene_len;
};

void stage1_bench(benchmark::State& state, stage1_shape s) {
  const auto x = make_video(s.F, s.nf, s.C, s.scene_len, 1);
  const pv::stage1 m;
  vtr::workspace ws;
  vtr::plan p;
  pv::stage1::details d;
  const pv::stage1::inputs in{vtr::tensor_view<const float, 3>(x.data(), {s.F, s.nf, s.C})};
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws, &d));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.counters["tokens_out"] = static_cast<double>(p.size());
  state.counters["dpc_calls"] = static_cast<double>(d.dpc_calls);
}

/// The floor: one SYRK per DPC call the video above makes, of that call's N × C.
void stage1_floor(benchmark::State& state, stage1_shape s) {
  const auto x = make_video(s.F, s.nf, s.C, s.scene_len, 1);
  const pv::stage1 m;
  vtr::workspace ws;
  pv::stage1::details d;
  m.plan({vtr::tensor_view<const float, 3>(x.data(), {s.F, s.nf, s.C})}, ws, &d);
  std::vector<index_t> sizes = {s.F};  // the temporal call on the frame means
  for (std::size_t g = 0; g < d.window_sizes.size(); ++g) {
    index_t ns = 0;
    for (index_t l = 0; l < s.nf; ++l) ns += d.static_mask[g * static_cast<std::size_t>(s.nf) + static_cast<std::size_t>(l)];
    if (ns > m.params().min_merge) sizes.push_back(ns);
    if (s.nf - ns > m.params().min_merge)
      for (index_t w = 0; w < d.window_sizes[g]; ++w) sizes.push_back(s.nf - ns);
  }
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const M big = M::Random(s.nf, s.C);
  Eigen::MatrixXf c(s.nf, s.nf);
  for (auto _ : state) {
    for (index_t n : sizes) {
      auto cn = c.topLeftCorner(n, n);
      cn.setZero();
      cn.selfadjointView<Eigen::Lower>().rankUpdate(big.topRows(n));
      benchmark::DoNotOptimize(c.data());
    }
  }
  state.counters["dpc_calls"] = static_cast<double>(sizes.size());
}

const stage1_shape pllava{16, 144, 4096, 6};
const stage1_shape long64{64, 144, 4096, 10};
const stage1_shape long32{32, 576, 1024, 8};

BENCHMARK_CAPTURE(stage1_bench, pllava, pllava)->Name("prunevid.stage1/pllava_16x144x4096")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(stage1_floor, pllava, pllava)->Name("prunevid.stage1/pllava_16x144x4096/floor")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(stage1_bench, long64, long64)->Name("prunevid.stage1/long_64x144x4096")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(stage1_floor, long64, long64)->Name("prunevid.stage1/long_64x144x4096/floor")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(stage1_bench, long32, long32)->Name("prunevid.stage1/long_32x576x1024")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(stage1_floor, long32, long32)->Name("prunevid.stage1/long_32x576x1024/floor")->Unit(benchmark::kMicrosecond);

// ---- stage 2 ----
constexpr index_t H = 32, Nq = 40, P = 35, L = 1011, dh = 128;
const std::vector<index_t> st_sizes = {0, 42, 43}, dy_sizes = {648, 87, 116}, win_sizes = {9, 3, 4};  // 936 tokens

void stage2_probs(benchmark::State& state) {
  const auto a = vtr_bench::random_probabilities(H * Nq, L, 3);
  const pv::stage2 m;
  vtr::workspace ws;
  vtr::plan p;
  pv::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(a.data(), {H, Nq, L}));
  in.segments = {vtr::view_of(st_sizes), vtr::view_of(dy_sizes), vtr::view_of(win_sizes)};
  in.prefix = P;
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}
BENCHMARK(stage2_probs)->Name("prunevid.stage2/pllava_32x40x1011")->Unit(benchmark::kMicrosecond);

void stage2_probs_floor(benchmark::State& state) {
  const auto a = vtr_bench::random_floats(static_cast<std::size_t>(H * Nq * 936), 3);
  vtr_bench::floor_read(state, a.data(), a.size());
}
BENCHMARK(stage2_probs_floor)->Name("prunevid.stage2/pllava_32x40x1011/floor")->Unit(benchmark::kMicrosecond);

void stage2_qk(benchmark::State& state) {
  const auto q = vtr_bench::random_floats(static_cast<std::size_t>(Nq * H * dh), 4, -1.0f, 1.0f);
  const auto k = vtr_bench::random_floats(static_cast<std::size_t>(L * H * dh), 5, -1.0f, 1.0f);
  const pv::stage2 m;
  vtr::workspace ws;
  vtr::plan p;
  pv::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q.data(), {Nq, H, dh}),
                                                    vtr::tensor_view<const float, 3>(k.data(), {L, H, dh}), {});
  in.segments = {vtr::view_of(st_sizes), vtr::view_of(dy_sizes), vtr::view_of(win_sizes)};
  in.prefix = P;
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}
BENCHMARK(stage2_qk)->Name("prunevid.stage2_qk/pllava_32x40x1011x128")->Unit(benchmark::kMicrosecond);

void stage2_qk_floor(benchmark::State& state) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<M> qh(H), kh(H);
  for (index_t h = 0; h < H; ++h) {
    qh[static_cast<std::size_t>(h)] = M::Random(Nq, dh);
    kh[static_cast<std::size_t>(h)] = M::Random(L, dh);
  }
  M out(Nq, L);
  for (auto _ : state)
    for (index_t h = 0; h < H; ++h) {
      out.noalias() = qh[static_cast<std::size_t>(h)] * kh[static_cast<std::size_t>(h)].transpose();
      benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(stage2_qk_floor)->Name("prunevid.stage2_qk/pllava_32x40x1011x128/floor")->Unit(benchmark::kMicrosecond);

}  // namespace
