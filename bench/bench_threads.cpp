// Scaling of the opt-in executor (core/parallel.hpp) on large video inputs: PruneVid stage 1, DToMA D1
// (quadtree) and the consecutive-frame dedup at the PLLaVA shape (16 frames × 12×12 tokens × 4096) and a long
// video (64 × 12×12 × 4096), serial ("threads1": no executor, the default path) and with
// vtr::thread_executor(2) and (4).
//
// Names: "<method>.threads<k>/<shape>". Threaded runs use wall-clock time (->UseRealTime()) and count the
// CPU time of every thread (->MeasureProcessCPUTime()), so the closing table's "time us" column is the total
// CPU spent and the console's Time column the wall time: the scaling is threads1 / threads<k> of Time, read
// from the same run. The threads1 rows also report `parallel_share`, the share of the serial time spent in
// the parts that split (timed on one thread, so independent of the machine's load), and `amdahl_x2`, the
// 2-thread speedup it bounds. Nothing here is asserted (DESIGN §3: threading is never asserted in CI); on
// a shared 2-core machine expect noise, and 4 threads to be no faster than 2.
//
// What splits: stage 1's items are the frames (their means), then the segments (static masks), then the
// merged groups (one DPC-kNN call each) — the temporal DPC on the frame means, the segmentation and the plan
// emission stay serial; the quadtree's items are frames; the dedup's items are frames (norm + dot with the
// previous frame).
#include "bench_util.hpp"

#include <vtr/core/thread_executor.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/policies/frame_dedup.hpp>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using vtr::index_t;
using vtr_bench::dims;

struct video_case {
  const char* tag;
  index_t F, h, w, C, scene_len;
  index_t nf() const { return h * w; }
};

/// A synthetic video with scene cuts (the generator of bench_prunevid.cpp): per scene a base frame; a
/// third of the positions barely move, the rest get large per-frame noise. Built once per shape.
std::shared_ptr<const std::vector<float>> video(const video_case& s) {
  return vtr_bench::cached<float>("threads-video/" + dims(s.F, s.nf(), s.C, s.scene_len), [&] {
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const index_t nf = s.nf(), scenes = (s.F + s.scene_len - 1) / s.scene_len;
    std::vector<float> base(static_cast<std::size_t>(scenes * nf * s.C)), x(static_cast<std::size_t>(s.F * nf * s.C));
    for (auto& v : base) v = nd(rng);
    for (index_t f = 0; f < s.F; ++f)
      for (index_t l = 0; l < nf; ++l) {
        const float noise = l % 3 == 0 ? 0.05f : 1.5f;
        const float* b = &base[static_cast<std::size_t>(((f / s.scene_len) * nf + l) * s.C)];
        float* o = &x[static_cast<std::size_t>((f * nf + l) * s.C)];
        for (index_t c = 0; c < s.C; ++c) o[c] = b[c] + noise * nd(rng);
      }
    return x;
  });
}

/// k = 1: no executor (the serial default); k > 1: a thread_executor(k) made once, outside the timing.
std::unique_ptr<vtr::thread_executor> make_executor(index_t k) {
  return k > 1 ? std::make_unique<vtr::thread_executor>(k) : nullptr;
}

/// The share of a call's time spent in the parts an executor can split, measured on one thread with an
/// executor whose parallel-for runs the tasks in turn and times itself — a figure that does not depend on
/// how busy the machine's other cores are. Amdahl's bound for k threads is 1 / ((1 − s) + s / k) (load
/// imbalance between items comes on top). Best of 3 calls, outside the timed loop.
template <class Call>
void report_parallel_share(benchmark::State& state, Call call) {
  using clock = std::chrono::steady_clock;
  double inside = 0, best_share = 0, best_total = 1e300;
  vtr::executor timed(
      [&inside](index_t n, vtr::task_ref task) {
        const auto t0 = clock::now();
        for (index_t i = 0; i < n; ++i) task(i);
        inside += std::chrono::duration<double>(clock::now() - t0).count();
      },
      2);
  for (int r = 0; r < 3; ++r) {
    inside = 0;
    const auto t0 = clock::now();
    call(&timed);
    const double total = std::chrono::duration<double>(clock::now() - t0).count();
    if (total < best_total) {
      best_total = total;
      best_share = inside / total;
    }
  }
  state.counters["parallel_share"] = best_share;
  state.counters["amdahl_x2"] = 1.0 / ((1.0 - best_share) + best_share / 2.0);
}

void prunevid_stage1(benchmark::State& state, video_case s, index_t k) {
  const auto x = video(s);
  const auto ex = make_executor(k);
  const vtr::prunevid::stage1 m;
  vtr::workspace ws;
  vtr::plan p;
  vtr::prunevid::stage1::details d;
  const vtr::prunevid::stage1::inputs in{vtr::tensor_view<const float, 3>(x->data(), {s.F, s.nf(), s.C})};
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws, &d, ex.get()));
    benchmark::DoNotOptimize(p.origin.data());
  }
  if (k == 1) report_parallel_share(state, [&](vtr::executor* e) { vtr::raise_if_error(m.try_plan(in, p, ws, &d, e)); });
  state.counters["threads"] = static_cast<double>(k);
  state.counters["dpc_calls"] = static_cast<double>(d.dpc_calls);
  state.counters["segments"] = static_cast<double>(d.window_sizes.size());
}

void dtoma_quadtree(benchmark::State& state, video_case s, index_t k) {
  const auto x = video(s);
  const auto ex = make_executor(k);
  const vtr::dtoma::quadtree m;
  vtr::workspace ws;
  vtr::plan p;
  const vtr::dtoma::quadtree::inputs in{vtr::matrix_view<const float>(x->data(), {s.F * s.nf(), s.C}), s.F, s.h, s.w};
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws, nullptr, ex.get()));
    benchmark::DoNotOptimize(p.origin.data());
  }
  if (k == 1) report_parallel_share(state, [&](vtr::executor* e) { vtr::raise_if_error(m.try_plan(in, p, ws, nullptr, e)); });
  state.counters["threads"] = static_cast<double>(k);
  state.counters["tokens_out"] = static_cast<double>(p.size());
}

void frame_dedup(benchmark::State& state, video_case s, index_t k) {
  const auto x = video(s);
  const auto ex = make_executor(k);
  const vtr::policies::frame_dedup m;
  vtr::workspace ws;
  vtr::plan p;
  const vtr::policies::frame_dedup::inputs in{vtr::matrix_view<const float>(x->data(), {s.F * s.nf(), s.C}), s.F};
  for (auto _ : state) {
    vtr::raise_if_error(m.try_plan(in, p, ws, nullptr, ex.get()));
    benchmark::DoNotOptimize(p.origin.data());
  }
  if (k == 1) report_parallel_share(state, [&](vtr::executor* e) { vtr::raise_if_error(m.try_plan(in, p, ws, nullptr, e)); });
  state.counters["threads"] = static_cast<double>(k);
}

VTR_BENCH_REGISTER(register_threads) {
  using namespace vtr_bench;
  // Scene lengths as bench_prunevid.cpp's stage-1 cases.
  const video_case pl{pllava.tag, pllava.frames, pllava.grid, pllava.grid, pllava.dim, 6};
  const video_case v64{video64.tag, video64.frames, video64.grid, video64.grid, video64.dim, 10};
  const auto add = [&](const char* method, auto fn) {
    for (const video_case& s : {pl, v64})
      for (index_t k : {1, 2, 4})
        add_step(shape_name(std::string(method) + ".threads" + std::to_string(k), s.tag, dims(s.F, s.nf(), s.C)), no_target,
                 fn, s, k)
            ->UseRealTime()
            ->MeasureProcessCPUTime();
  };
  add("prunevid.stage1", prunevid_stage1);
  add("dtoma.quadtree", dtoma_quadtree);
  add("frame_dedup", frame_dedup);
}

}  // namespace
