// The opt-in executor under ThreadSanitizer (core/parallel.hpp): the methods that accept an executor run
// their items on vtr::thread_executor workers and on a user's spawn-per-task parallel-for, and two callers
// plan at the same time, each with its own workspace and executor, sharing the method objects and the input.
// Every plan must equal the serial one; TSan (the `tsan` preset) reports any race on the shared arrays, the
// per-slot workspaces or the pool's own state. Sizes are small: TSan runs ~10× slower.
#include "catch.hpp"

#include <vtr/core/parallel.hpp>
#include <vtr/core/thread_executor.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/policies/frame_dedup.hpp>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

using vtr::index_t;

namespace {

/// Scenes of 3-6 frames; per scene a base frame, half the positions barely move.
std::vector<float> scene_video(index_t F, index_t nf, index_t C, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> len(3, 6);
  std::vector<float> v(static_cast<std::size_t>(F * nf * C)), base(static_cast<std::size_t>(nf * C));
  int left = 0;
  for (index_t f = 0; f < F; ++f) {
    if (left-- == 0) {
      left = len(rng) - 1;
      for (auto& b : base) b = nd(rng);
    }
    for (index_t l = 0; l < nf; ++l)
      for (index_t c = 0; c < C; ++c)
        v[static_cast<std::size_t>((f * nf + l) * C + c)] =
            base[static_cast<std::size_t>(l * C + c)] + (l % 2 ? 1.5f : 0.05f) * nd(rng);
  }
  return v;
}

bool same_plan(const vtr::plan& a, const vtr::plan& b) {
  return a.input_rows == b.input_rows && a.origin == b.origin && a.offsets == b.offsets && a.sources == b.sources &&
         a.weights == b.weights && a.divisors == b.divisors;
}

}  // namespace

TEST_CASE("executor items run concurrently without races and give the serial plans", "[properties][threads]") {
  const index_t F = 24, h = 6, w = 6, nf = h * w, C = 16;
  const auto x = scene_video(F, nf, C, 5);
  const vtr::prunevid::stage1 s1;
  const vtr::dtoma::quadtree qt({0.7f, 3});
  const vtr::policies::frame_dedup dd({0.5f});
  const vtr::prunevid::stage1::inputs pin{{x.data(), {F, nf, C}}, {}};
  const vtr::dtoma::quadtree::inputs qin{{x.data(), {F * nf, C}}, F, h, w};
  const vtr::policies::frame_dedup::inputs din{{x.data(), {F * nf, C}}, F};

  vtr::workspace ws0;
  const vtr::plan want_p = s1.plan(pin, ws0);
  const vtr::plan want_q = qt.plan(qin, ws0);
  const vtr::plan want_d = dd.plan(din, ws0);

  std::atomic<int> mismatches{0};
  // One caller's work: every method twice on its own workspace and executor (the second call reuses the
  // slot workspaces sized by the first).
  auto caller = [&](vtr::executor& ex) {
    vtr::workspace ws;
    for (int rep = 0; rep < 2; ++rep) {
      if (!same_plan(s1.plan(pin, ws, nullptr, &ex), want_p)) mismatches.fetch_add(1);
      if (!same_plan(qt.plan(qin, ws, nullptr, &ex), want_q)) mismatches.fetch_add(1);
      if (!same_plan(dd.plan(din, ws, nullptr, &ex), want_d)) mismatches.fetch_add(1);
    }
  };

  SECTION("thread_executor") {
    vtr::thread_executor ex(4);
    caller(ex);
  }
  SECTION("a user's spawn-per-task parallel-for") {
    vtr::executor ex(
        [](index_t n, vtr::task_ref task) {
          std::vector<std::thread> ts;
          for (index_t i = 0; i < n; ++i) ts.emplace_back([task, i] { task(i); });
          for (auto& t : ts) t.join();
        },
        3);
    caller(ex);
  }
  SECTION("two callers at once, each with its own executor") {
    vtr::thread_executor a(3), b(2);
    std::thread t1([&] { caller(a); }), t2([&] { caller(b); });
    t1.join();
    t2.join();
  }
  CHECK(mismatches.load() == 0);
}
