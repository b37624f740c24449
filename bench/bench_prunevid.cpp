// Benchmarks of PruneVid (ALGORITHMS §3.5, §5.3) and its temporal kernels (§2.9).
//
// Stage 1 at the PLLaVA shape (16 frames × 12×12 tokens × 4096) and two long-video shapes (64 × 12×12 × 4096;
// 32 × 24×24 × 1024). Its dominant step is the pairwise distances of the DPC-kNN calls (§5.2: N²·C/2 MAC per
// call in the SYRK form; everything else — frame means, the O(W·C) static test, the gathers, the cluster
// means, DPC's O(N²) density/δ/label work — is one or two passes over the F·n_f·C input or O(N²) per call).
// "/dominant" is therefore ops::pairwise_distances on exactly the N_i × C sizes the DPC calls of this
// video see — the temporal call on the F frame means plus every merged static/dynamic group — and the
// floor is the Eigen SYRK (lower triangle of X·Xᵀ) of the same sizes, both measured in the same run.
//
// Stage 2 at [32 heads][40 post-video rows][P + video + 40 keys] (PLLaVA: P = 35, 936 video tokens after
// stage 1 — the §3.5.2 example's segments; video64: the segments stage 1 gives the 64-frame video): its
// dominant step is the max-max reduction over the 32·40·n_video probabilities, a memory-bound read (floor =
// reading those bytes once); the grouped top-k is ~microseconds. The Q/K form adds 32 heads ×
// [40 × 128] · [128 × L] of GEMM (floor = that GEMM; dominant = ops::attention_rows alone).
//
// Temporal kernels (§2.9) on the same videos: frame means, the static/dynamic test of one segment and the
// temporal mean of its static rows — memory-bound, each against one read of its input (and the write of
// its output).
#include "bench_util.hpp"

#include <vtr/methods/prunevid.hpp>
#include <vtr/ops/similarity.hpp>
#include <vtr/ops/temporal.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using vtr::index_t;
namespace pv = vtr::prunevid;
using vtr_bench::dims;

struct video_case {
  const char* tag;
  index_t F, nf, C, scene_len;
};

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

std::shared_ptr<const std::vector<float>> video(const video_case& s) {
  return vtr_bench::cached<float>("prunevid-video/" + dims(s.F, s.nf, s.C, s.scene_len),
                                  [&] { return make_video(s.F, s.nf, s.C, s.scene_len, 1); });
}

vtr::tensor_view<const float, 3> view(const std::vector<float>& x, const video_case& s) { return {x.data(), {s.F, s.nf, s.C}}; }

void stage1_bench(benchmark::State& state, video_case s) {
  const auto x = video(s);
  const pv::stage1 m;
  vtr::workspace ws;
  vtr::plan p;
  pv::stage1::details d;
  const pv::stage1::inputs in{view(*x, s)};
  vtr::raise_if_error(m.try_plan(in, p, ws, &d));
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
  state.counters["tokens_out"] = static_cast<double>(p.size());
  state.counters["dpc_calls"] = static_cast<double>(d.dpc_calls);
}

/// The N of every DPC-kNN call stage 1 makes on this video: the temporal call on the F frame means, then
/// per segment the static group (when merged) and each frame's dynamic group (when merged).
std::vector<index_t> dpc_sizes(const video_case& s) {
  const auto x = video(s);
  const pv::stage1 m;
  vtr::workspace ws;
  pv::stage1::details d;
  m.plan({view(*x, s)}, ws, &d);
  std::vector<index_t> sizes = {s.F};
  for (std::size_t g = 0; g < d.window_sizes.size(); ++g) {
    index_t ns = 0;
    for (index_t l = 0; l < s.nf; ++l) ns += d.static_mask[g * static_cast<std::size_t>(s.nf) + static_cast<std::size_t>(l)];
    if (ns > m.params().min_merge) sizes.push_back(ns);
    if (s.nf - ns > m.params().min_merge)
      for (index_t w = 0; w < d.window_sizes[g]; ++w) sizes.push_back(s.nf - ns);
  }
  return sizes;
}

/// The floor: one SYRK per DPC call the video above makes, of that call's N × C.
void stage1_floor(benchmark::State& state, video_case s) {
  const auto sizes = dpc_sizes(s);
  vtr_bench::floor_syrk_sizes(state, sizes, s.C);
  state.counters["dpc_calls"] = static_cast<double>(sizes.size());
}

/// The dominant step alone: the distance matrix of every DPC call (vtr's kernel, its automatic form).
void stage1_dominant(benchmark::State& state, video_case s) {
  const auto sizes = dpc_sizes(s);
  const auto x = video(s);
  const index_t n_max = *std::max_element(sizes.begin(), sizes.end());
  std::vector<float> out(static_cast<std::size_t>(n_max * n_max));
  vtr::workspace ws(vtr::ops::pairwise_distances_workspace_bytes(n_max, s.C));
  for (auto _ : state) {
    for (index_t n : sizes)
      vtr::ops::pairwise_distances(vtr::matrix_view<const float>(x->data(), {n, s.C}),
                                   vtr::matrix_view<float>(out.data(), {n, n}), 1.0f, ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// ---- temporal kernels (§2.9) ----

void frame_means(benchmark::State& state, video_case s) {
  const auto x = video(s);
  std::vector<float> out(static_cast<std::size_t>(s.F * s.C));
  const vtr::matrix_view<float> ov(out.data(), {s.F, s.C});
  for (auto _ : state) {
    vtr::ops::frame_means(view(*x, s), ov);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void frame_means_naive(benchmark::State& state, video_case s) {
  const auto x = video(s);
  std::vector<float> out(static_cast<std::size_t>(s.F * s.C));
  const vtr::matrix_view<float> ov(out.data(), {s.F, s.C});
  for (auto _ : state) {
    vtr::ops::ref::frame_means(view(*x, s), ov);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void video_floor(benchmark::State& state, video_case s) {
  const auto x = video(s);
  vtr_bench::floor_read(state, x->data(), x->size());
}

/// The first scene of the video: W = scene_len frames.
vtr::tensor_view<const float, 3> segment(const std::vector<float>& x, const video_case& s) {
  return {x.data(), {s.scene_len, s.nf, s.C}};
}

void static_mask(benchmark::State& state, video_case s) {
  const auto x = video(s);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(s.nf));
  vtr::workspace ws(vtr::ops::temporal_similarity_workspace_bytes(s.C));
  for (auto _ : state) {
    auto n = vtr::ops::try_static_mask(segment(*x, s), 0.8f, vtr::view_of(mask), ws);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

/// The static test as PruneVid's stage 1 runs it: on the rows' squared norms frame_means gave with the
/// frame descriptors (computed once here, outside the timing), so it reads each row once.
void static_mask_given_norms(benchmark::State& state, video_case s) {
  const auto x = video(s);
  const auto seg = segment(*x, s);
  std::vector<float> means(static_cast<std::size_t>(s.scene_len * s.C)), sq(static_cast<std::size_t>(s.scene_len * s.nf));
  const vtr::matrix_view<float> sqv(sq.data(), {s.scene_len, s.nf});
  vtr::ops::frame_means(seg, vtr::matrix_view<float>(means.data(), {s.scene_len, s.C}), sqv);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(s.nf));
  vtr::workspace ws(vtr::ops::temporal_similarity_workspace_bytes(s.C));
  for (auto _ : state) {
    auto n = vtr::ops::try_static_mask(seg, 0.8f, vtr::view_of(mask), ws, {}, vtr::matrix_view<const float>(sqv));
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

// Naive: the reference's pairwise form (O(W²·C) per position), then the threshold.
void static_mask_naive(benchmark::State& state, video_case s) {
  const auto x = video(s);
  std::vector<float> sim(static_cast<std::size_t>(s.nf));
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(s.nf));
  for (auto _ : state) {
    vtr::ops::ref::temporal_similarity_pairwise(segment(*x, s), vtr::view_of(sim));
    for (std::size_t l = 0; l < mask.size(); ++l) mask[l] = sim[l] > 0.8f;
    benchmark::DoNotOptimize(mask.data());
    benchmark::ClobberMemory();
  }
}

void segment_floor(benchmark::State& state, video_case s) {
  const auto x = video(s);
  vtr_bench::floor_read(state, x->data(), static_cast<std::size_t>(s.scene_len * s.nf * s.C));
}

/// The static positions of the synthetic video (every third).
std::vector<index_t> static_positions(const video_case& s) {
  std::vector<index_t> pos;
  for (index_t l = 0; l < s.nf; l += 3) pos.push_back(l);
  return pos;
}

void temporal_mean(benchmark::State& state, video_case s) {
  const auto x = video(s);
  const auto pos = static_positions(s);
  const index_t n = static_cast<index_t>(pos.size());
  std::vector<float> out(static_cast<std::size_t>(n * s.C));
  for (auto _ : state) {
    vtr::ops::temporal_mean_rows(segment(*x, s), vtr::view_of(pos), vtr::matrix_view<float>(out.data(), {n, s.C}));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void temporal_mean_naive(benchmark::State& state, video_case s) {
  const auto x = video(s);
  const auto pos = static_positions(s);
  const index_t n = static_cast<index_t>(pos.size());
  std::vector<float> out(static_cast<std::size_t>(n * s.C));
  for (auto _ : state) {
    vtr::ops::ref::temporal_mean_rows(segment(*x, s), pos, vtr::matrix_view<float>(out.data(), {n, s.C}));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// Floor: reading the W·n_s static rows and writing the n_s means.
void temporal_mean_floor(benchmark::State& state, video_case s) {
  const std::size_t n = static_positions(s).size() * static_cast<std::size_t>(s.C);
  vtr_bench::floor_read_write(state, n * static_cast<std::size_t>(s.scene_len), n);
}

// ---- stage 2 ----

constexpr index_t H = 32, Nq = 40, P = 35, dh = 128;

/// Stage-1 segment metadata and the resulting key count L = P + video + N_q.
struct stage2_case {
  std::vector<index_t> st, dy, win;
  index_t video() const {
    index_t n = 0;
    for (std::size_t i = 0; i < st.size(); ++i) n += st[i] + dy[i];
    return n;
  }
  index_t keys() const { return P + video() + Nq; }
  pv::segment_sizes sizes() const { return {vtr::view_of(st), vtr::view_of(dy), vtr::view_of(win)}; }
};

/// Where stage 2's segments come from: the §3.5.2 example's (936 tokens, L = 1011), or what stage 1 gives
/// the video (computed on first use, not at registration: it runs stage 1 on the whole video).
struct stage2_source {
  video_case video;
  bool example;
};

const stage2_case& segments(const stage2_source& src) {
  static const stage2_case example{{0, 42, 43}, {648, 87, 116}, {9, 3, 4}};
  if (src.example) return example;
  static std::map<std::string, stage2_case> memo;
  const std::string key = dims(src.video.F, src.video.nf, src.video.C, src.video.scene_len);
  auto it = memo.find(key);
  if (it == memo.end()) {
    const auto x = video(src.video);
    vtr::workspace ws;
    pv::stage1::details d;
    pv::stage1().plan({view(*x, src.video)}, ws, &d);
    it = memo.emplace(key, stage2_case{d.static_sizes, d.dynamic_sizes, d.window_sizes}).first;
  }
  return it->second;
}

std::shared_ptr<const std::vector<float>> stage2_probs(const stage2_case& c) {
  return vtr_bench::shared_probabilities(static_cast<std::size_t>(H * Nq), static_cast<std::size_t>(c.keys()), 3);
}

void stage2_probs_step(benchmark::State& state, stage2_source src) {
  const stage2_case& c = segments(src);
  const auto a = stage2_probs(c);
  const pv::stage2 m;
  vtr::workspace ws;
  vtr::plan p;
  pv::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(a->data(), {H, Nq, c.keys()}));
  in.segments = c.sizes();
  in.prefix = P;
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}

void stage2_probs_floor(benchmark::State& state, stage2_source src) {
  vtr_bench::floor_read_n(state, static_cast<std::size_t>(H * Nq * segments(src).video()));
}

void stage2_probs_dominant(benchmark::State& state, stage2_source src) {
  const stage2_case& c = segments(src);
  const auto a = stage2_probs(c);
  const index_t L = c.keys(), nv = c.video();
  const vtr::tensor_view<const float, 3> vid(a->data() + P, {H, Nq, nv}, {Nq * L, L, 1});
  std::vector<float> out(static_cast<std::size_t>(nv));
  vtr::workspace ws;
  for (auto _ : state) {
    vtr::ops::reduce_attention(vid, vtr::ops::head_reduce::max, vtr::ops::row_reduce::max, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

struct qk_data {
  std::shared_ptr<const std::vector<float>> q, k;
  index_t L;
  explicit qk_data(const stage2_case& c)
      : q(vtr_bench::shared_floats(static_cast<std::size_t>(Nq * H * dh), 4, -1.0f, 1.0f)),
        k(vtr_bench::shared_floats(static_cast<std::size_t>(c.keys() * H * dh), 5, -1.0f, 1.0f)),
        L(c.keys()) {}
  vtr::tensor_view<const float, 3> qv() const { return {q->data(), {Nq, H, dh}}; }
  vtr::tensor_view<const float, 3> kv() const { return {k->data(), {L, H, dh}}; }
};

void stage2_qk_step(benchmark::State& state, stage2_source src) {
  const stage2_case& c = segments(src);
  const qk_data d(c);
  const pv::stage2 m;
  vtr::workspace ws;
  vtr::plan p;
  pv::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_qk(d.qv(), d.kv(), {});
  in.segments = c.sizes();
  in.prefix = P;
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}

void stage2_qk_floor(benchmark::State& state, stage2_source src) { vtr_bench::floor_gemm_abt(state, Nq, segments(src).keys(), dh, H); }

// Upstream's (default) attention: no mask, no RoPE — every row over all L keys.
void stage2_qk_dominant(benchmark::State& state, stage2_source src) {
  const qk_data d(segments(src));
  std::vector<float> out(static_cast<std::size_t>(H * Nq * d.L));
  const vtr::tensor_view<float, 3> ov(out.data(), {H, Nq, d.L});
  vtr::workspace ws;
  for (auto _ : state) {
    vtr::ops::attention_rows(d.qv(), d.kv(), {}, vtr::ops::attention_mode{false, false}, ov, ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

VTR_BENCH_REGISTER(register_prunevid) {
  using namespace vtr_bench;
  const video_case pl{pllava.tag, pllava.frames, pllava.per_frame(), pllava.dim, 6};
  const video_case v64{video64.tag, video64.frames, video64.per_frame(), video64.dim, 10};
  const video_case long32{"long", 32, 576, 1024, 8};

  for (const video_case& s : {pl, v64, long32}) {
    const std::string n = shape_name("prunevid.stage1", s.tag, dims(s.F, s.nf, s.C));
    add_step(n, method_overhead, stage1_bench, s);
    add_floor(n, stage1_floor, s);
    add_dominant(n, stage1_dominant, s);
  }

  for (const video_case& s : {pl, v64}) {
    std::string n = shape_name("frame_means", s.tag, dims(s.F, s.nf, s.C));
    add_step(n, memory_bound, frame_means, s);
    add_floor(n, video_floor, s);
    add_naive(n, frame_means_naive, s);
    n = shape_name("static_mask", s.tag, dims(s.scene_len, s.nf, s.C));
    add_step(n, memory_bound, static_mask, s);
    add_floor(n, segment_floor, s);
    add_naive(n, static_mask_naive, s);
    n = shape_name("static_mask.given_norms", s.tag, dims(s.scene_len, s.nf, s.C));
    add_step(n, memory_bound, static_mask_given_norms, s);
    add_floor(n, segment_floor, s);
    n = shape_name("temporal_mean_rows", s.tag, dims(s.scene_len, static_positions(s).size(), s.C));
    add_step(n, memory_bound, temporal_mean, s);
    add_floor(n, temporal_mean_floor, s);
    add_naive(n, temporal_mean_naive, s);
  }

  // PLLaVA: the example's 1011 keys; video64: the keys after stage 1 of the 64-frame video.
  struct stage2_reg {
    const char* tag;
    std::string probs_dims, qk_dims;
    stage2_source src;
  };
  for (const stage2_reg& r : {stage2_reg{pllava.tag, dims(H, Nq, 1011), dims(H, Nq, 1011, dh), {pl, true}},
                              stage2_reg{video64.tag, dims(H, Nq) + "_stage1out", dims(H, Nq, dh) + "_stage1out", {v64, false}}}) {
    std::string n = shape_name("prunevid.stage2", r.tag, r.probs_dims);
    add_step(n, method_overhead, stage2_probs_step, r.src);
    add_floor(n, stage2_probs_floor, r.src);
    add_dominant(n, stage2_probs_dominant, r.src);
    n = shape_name("prunevid.stage2_qk", r.tag, r.qk_dims);
    add_step(n, method_overhead, stage2_qk_step, r.src);
    add_floor(n, stage2_qk_floor, r.src);
    add_dominant(n, stage2_qk_dominant, r.src);
  }
}

}  // namespace
