// Opt-in parallelism (core/parallel.hpp): every method that accepts an executor gives bit-identical plans,
// details and errors for any thread count, with vtr::thread_executor and with a user-supplied parallel-for;
// failing items report the serial run's error and leave every workspace reusable. Timing is never asserted
// here (bench/bench_threads.cpp measures the scaling).
#include "catch.hpp"

#include <vtr/core/parallel.hpp>
#include <vtr/core/thread_executor.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/policies/frame_dedup.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using vtr::index_t;
namespace pv = vtr::prunevid;
namespace dt = vtr::dtoma;

namespace {

const index_t thread_counts[] = {1, 2, 3, 4, 7};

/// A long video [F][n_f][C] with scenes of random length: each scene has a base frame; every frame is its
/// scene's base plus small noise, and a random subset of positions per scene moves (large noise), so the
/// segmentation, the static/dynamic split and the merges all have real work to do.
std::vector<float> scene_video(index_t F, index_t nf, index_t C, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> scene_len(2, 9);
  std::bernoulli_distribution moves(0.35);
  std::vector<float> v(static_cast<std::size_t>(F * nf * C));
  std::vector<float> base(static_cast<std::size_t>(nf * C));
  std::vector<char> moving(static_cast<std::size_t>(nf));
  index_t left = 0;
  for (index_t f = 0; f < F; ++f) {
    if (left == 0) {
      left = scene_len(rng);
      for (auto& b : base) b = nd(rng);
      for (auto& m : moving) m = moves(rng);
    }
    --left;
    for (index_t l = 0; l < nf; ++l) {
      const float sd = moving[static_cast<std::size_t>(l)] ? 1.5f : 0.1f;
      for (index_t c = 0; c < C; ++c)
        v[static_cast<std::size_t>((f * nf + l) * C + c)] = base[static_cast<std::size_t>(l * C + c)] + sd * nd(rng);
    }
  }
  return v;
}

std::vector<float> uniform(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool same_plan(const vtr::plan& a, const vtr::plan& b) {
  return a.input_rows == b.input_rows && a.origin == b.origin && a.offsets == b.offsets && a.sources == b.sources &&
         a.weights == b.weights && a.divisors == b.divisors;
}

bool same_details(const pv::stage1::details& a, const pv::stage1::details& b) {
  if (a.tokens.size() != b.tokens.size()) return false;
  for (std::size_t i = 0; i < a.tokens.size(); ++i) {
    const auto &x = a.tokens[i], &y = b.tokens[i];
    if (x.segment != y.segment || x.kind != y.kind || x.frame != y.frame || x.frames != y.frames) return false;
  }
  return a.static_sizes == b.static_sizes && a.dynamic_sizes == b.dynamic_sizes && a.window_sizes == b.window_sizes &&
         a.first_frames == b.first_frames && a.temporal_labels == b.temporal_labels &&
         a.labels_refined == b.labels_refined && a.static_mask == b.static_mask && a.jitter_used == b.jitter_used &&
         a.dpc_calls == b.dpc_calls;
}

/// A user's parallel-for that spawns one std::thread per task (what a minimal engine might do).
void spawn_each(index_t n, vtr::task_ref task) {
  std::vector<std::thread> ts;
  for (index_t i = 0; i < n; ++i) ts.emplace_back([task, i] { task(i); });
  for (auto& t : ts) t.join();
}

/// The reused workspaces of a call must all be released: reserve() asserts that nothing is handed out.
void check_released(vtr::workspace& ws, vtr::executor& ex) {
  ws.reserve(ws.capacity() + 64);
  for (index_t i = 0; i < ex.workers() && !ex.serial(); ++i)
    ex.slot_workspace(i).reserve(ex.slot_workspace(i).capacity() + 64);
}

struct pv_case {
  index_t F, nf, C;
  unsigned seed;
  bool jitter;
};

}  // namespace

TEST_CASE("parallel: executors report their slots; serial ones take the plain loop") {
  vtr::executor none;
  CHECK(none.serial());
  CHECK(none.workers() == 1);
  vtr::executor empty_fn(vtr::executor::parallel_for_fn{}, 8);
  CHECK(empty_fn.serial());
  vtr::executor one(spawn_each, 1);
  CHECK(one.serial());
  vtr::executor four(spawn_each, 4);
  CHECK(four.workers() == 4);
  vtr::thread_executor t0(0), t3(3);
  CHECK(t0.serial());
  CHECK(t3.threads() == 3);
  CHECK(vtr::detail::slot_count(nullptr) == 1);
  CHECK(vtr::detail::slot_count(&t3) == 3);
}

TEST_CASE("parallel: PruneVid stage 1 plans and details are identical to the serial run for 1-7 threads") {
  const pv_case cases[] = {{64, 144, 8, 1, false}, {64, 144, 8, 2, true}, {16, 144, 16, 3, false},
                           {37, 24, 5, 4, true},   {3, 30, 4, 5, false},  {1, 20, 4, 6, false}};
  for (const auto& c : cases) {
    CAPTURE(c.F, c.nf, c.C, c.seed, c.jitter);
    const auto video = scene_video(c.F, c.nf, c.C, c.seed);
    const auto jit = uniform(static_cast<std::size_t>(pv::stage1::jitter_bound(c.F, c.nf)), c.seed + 100);
    pv::stage1::inputs in{{video.data(), {c.F, c.nf, c.C}}, {}};
    if (c.jitter) in.jitter = vtr::vector_view<const float>(jit.data(), {static_cast<index_t>(jit.size())});
    const pv::stage1 s1;
    vtr::workspace ws;
    pv::stage1::details want_d;
    const vtr::plan want = s1.plan(in, ws, &want_d);
    if (c.F == 64) CHECK(want_d.dpc_calls > 8);  // the long video really has many items to share out
    for (index_t k : thread_counts) {
      CAPTURE(k);
      vtr::thread_executor ex(k);
      for (int rep = 0; rep < 2; ++rep) {  // the second call reuses the slot workspaces
        pv::stage1::details d;
        const vtr::plan p = s1.plan(in, ws, &d, &ex);
        CHECK(same_plan(p, want));
        CHECK(same_details(d, want_d));
      }
      check_released(ws, ex);
    }
  }
}

TEST_CASE("parallel: DToMA quadtree and frame dedup are identical to the serial run for 1-7 threads") {
  const index_t F = 64, h = 12, w = 12, C = 8;
  for (unsigned seed : {11u, 12u}) {
    // Scenes make whole cells similar (merges at several depths) and consecutive frames near-duplicates.
    const auto x = scene_video(F, h * w, C, seed);
    const vtr::matrix_view<const float> tokens(x.data(), {F * h * w, C});
    const dt::quadtree q({0.75f, 3});
    const vtr::policies::frame_dedup dd({0.5f});
    vtr::workspace ws;
    dt::quadtree::details want_qd;
    const vtr::plan want_q = q.plan({tokens, F, h, w}, ws, &want_qd);
    vtr::policies::frame_dedup::details want_dd;
    const vtr::plan want_d = dd.plan({tokens, F}, ws, &want_dd);
    CHECK(want_q.size() < F * h * w);            // something merged …
    CHECK(want_q.size() > F);                    // … not everything
    CHECK(want_dd.kept_frames.size() < std::size_t(F));  // some frames repeat
    for (index_t k : thread_counts) {
      CAPTURE(seed, k);
      vtr::thread_executor ex(k);
      dt::quadtree::details qd;
      CHECK(same_plan(q.plan({tokens, F, h, w}, ws, &qd, &ex), want_q));
      CHECK(qd.cells == want_qd.cells);
      CHECK(qd.sizes == want_qd.sizes);
      vtr::policies::frame_dedup::details ddd;
      CHECK(same_plan(dd.plan({tokens, F}, ws, &ddd, &ex), want_d));
      CHECK(ddd.kept_frames == want_dd.kept_frames);
      CHECK(ddd.similarity == want_dd.similarity);  // bit-identical floats
      check_released(ws, ex);
    }
  }
}

TEST_CASE("parallel: a user-supplied parallel-for (own threads, reversed order, one thread) works") {
  const index_t F = 64, nf = 144, C = 8;
  const auto video = scene_video(F, nf, C, 21);
  const pv::stage1::inputs in{{video.data(), {F, nf, C}}, {}};
  const pv::stage1 s1;
  vtr::workspace ws;
  pv::stage1::details want_d;
  const vtr::plan want = s1.plan(in, ws, &want_d);

  std::atomic<int> calls{0}, tasks{0};
  // Spawns a thread per task.
  vtr::executor spawning(
      [&](index_t n, vtr::task_ref task) {
        calls.fetch_add(1);
        tasks.fetch_add(static_cast<int>(n));
        spawn_each(n, task);
      },
      4);
  // Runs the tasks one after another, last first, on the calling thread (a pool nested in its own worker
  // may do this): valid because vtr's tasks never wait for each other.
  vtr::executor reversed([](index_t n, vtr::task_ref task) { for (index_t i = n; i-- > 0;) task(i); }, 3);
  for (vtr::executor* ex : {&spawning, &reversed}) {
    pv::stage1::details d;
    CHECK(same_plan(s1.plan(in, ws, &d, ex), want));
    CHECK(same_details(d, want_d));
    check_released(ws, *ex);
  }
  // Three parallel sections (the frame means, the static masks, the merged groups), each with one task per
  // worker slot up to the number of items.
  const auto S = static_cast<index_t>(want_d.window_sizes.size());
  REQUIRE(S > 1);
  CHECK(calls.load() == 3);
  CHECK(tasks.load() == 4 + std::min<index_t>(4, S) + std::min<index_t>(4, want_d.dpc_calls - 1));

  // The same executor serves the other methods.
  const vtr::matrix_view<const float> tokens(video.data(), {F * nf, C});
  CHECK(same_plan(dt::quadtree{}.plan({tokens, F, 12, 12}, ws, nullptr, &spawning), dt::quadtree{}.plan({tokens, F, 12, 12}, ws)));
  CHECK(same_plan(vtr::policies::frame_dedup{}.plan({tokens, F}, ws, nullptr, &reversed),
                  vtr::policies::frame_dedup{}.plan({tokens, F}, ws)));
}

TEST_CASE("parallel: errors of a task are the serial run's error; outputs untouched; workspaces reusable") {
  const index_t F = 64, nf = 144, C = 8;
  auto video = scene_video(F, nf, C, 31);
  const pv::stage1 s1;
  vtr::workspace ws;
  const vtr::plan poison = vtr::plan::select(5, {1, 3});
  auto untouched = [&](const vtr::plan& p) { return same_plan(p, poison); };

  SECTION("PruneVid: jitter too short for a late DPC-kNN call") {
    const auto jit = uniform(static_cast<std::size_t>(pv::stage1::jitter_bound(F, nf)), 7);
    pv::stage1::inputs in{{video.data(), {F, nf, C}}, {jit.data(), {static_cast<index_t>(jit.size())}}};
    pv::stage1::details full;
    const vtr::plan want = s1.plan(in, ws, &full);
    REQUIRE(full.dpc_calls > 4);
    // Cut the jitter inside the last few calls: the lowest failing call is what the serial run reports.
    for (index_t cut : {full.jitter_used - 1, full.jitter_used - 40, full.jitter_used / 2}) {
      CAPTURE(cut);
      in.jitter = vtr::vector_view<const float>(jit.data(), {cut});
      vtr::plan sp = poison;
      const vtr::status serial = s1.try_plan(in, sp, ws);
      REQUIRE_FALSE(serial.ok());
      CHECK(serial.message().find("too short") != std::string::npos);
      for (index_t k : thread_counts) {
        CAPTURE(k);
        vtr::thread_executor ex(k);
        vtr::plan p = poison;
        pv::stage1::details d;
        d.jitter_used = -7;
        const vtr::status st = s1.try_plan(in, p, ws, &d, &ex);
        REQUIRE_FALSE(st.ok());
        CHECK(st.message() == serial.message());
        CHECK(untouched(p));
        CHECK(d.jitter_used == -7);
        CHECK(d.tokens.empty());
        check_released(ws, ex);
        // The same executor and workspace then plan a valid call correctly.
        in.jitter = vtr::vector_view<const float>(jit.data(), {static_cast<index_t>(jit.size())});
        CHECK(same_plan(s1.plan(in, ws, nullptr, &ex), want));
        in.jitter = vtr::vector_view<const float>(jit.data(), {cut});
      }
    }
  }

  SECTION("PruneVid: DPC-kNN distances overflow in two frames; the earlier one is reported") {
    // Tokens of ±1e20 alternate, so the frame mean (and the temporal clustering) stays finite, but any
    // distance between two such rows overflows: a spatial DPC-kNN call inside a worker fails.
    for (index_t bad : {index_t(50), index_t(13)})
      for (index_t l = 0; l < nf; ++l)
        for (index_t c = 0; c < C; ++c)
          video[static_cast<std::size_t>((bad * nf + l) * C + c)] = (l % 2 == 0 ? 1e20f : -1e20f);
    const pv::stage1::inputs in{{video.data(), {F, nf, C}}, {}};
    vtr::plan sp = poison;
    const vtr::status serial = s1.try_plan(in, sp, ws);
    REQUIRE_FALSE(serial.ok());
    CHECK(serial.message().find("DPC-kNN") != std::string::npos);
    for (index_t k : thread_counts) {
      CAPTURE(k);
      vtr::thread_executor ex(k);
      vtr::plan p = poison;
      const vtr::status st = s1.try_plan(in, p, ws, nullptr, &ex);
      REQUIRE_FALSE(st.ok());
      CHECK(st.message() == serial.message());
      CHECK(untouched(p));
      check_released(ws, ex);
    }
  }

  SECTION("PruneVid, quadtree and frame dedup: non-finite tokens in two frames; the earlier one is reported") {
    video[static_cast<std::size_t>((40 * nf + 3) * C)] = std::numeric_limits<float>::quiet_NaN();
    video[static_cast<std::size_t>((9 * nf + 100) * C + 2)] = std::numeric_limits<float>::infinity();
    const vtr::matrix_view<const float> tokens(video.data(), {F * nf, C});
    const dt::quadtree q;
    const vtr::policies::frame_dedup dd;
    vtr::plan p = poison;
    const vtr::status qs = q.try_plan({tokens, F, 12, 12}, p, ws);
    const vtr::status ds = dd.try_plan({tokens, F}, p, ws);
    REQUIRE_FALSE(qs.ok());
    REQUIRE_FALSE(ds.ok());
    CHECK(qs.message().find("frame 9") != std::string::npos);
    CHECK(ds.message().find("frame 9") != std::string::npos);
    const pv::stage1::inputs pin{{video.data(), {F, nf, C}}, {}};
    const vtr::status ps = s1.try_plan(pin, p, ws);  // found while taking the frame means, frame by frame
    REQUIRE_FALSE(ps.ok());
    CHECK(ps.message().find("non-finite value at [9, 100, 2]") != std::string::npos);
    for (index_t k : thread_counts) {
      CAPTURE(k);
      vtr::thread_executor ex(k);
      vtr::status st = q.try_plan({tokens, F, 12, 12}, p, ws, nullptr, &ex);
      CHECK(st.message() == qs.message());
      st = dd.try_plan({tokens, F}, p, ws, nullptr, &ex);
      CHECK(st.message() == ds.message());
      st = s1.try_plan(pin, p, ws, nullptr, &ex);
      CHECK(st.message() == ps.message());
      CHECK(untouched(p));
      check_released(ws, ex);
    }
  }
}

TEST_CASE("parallel: run_items reports the lowest failing item; exceptions reach the caller") {
  vtr::thread_executor ex(4);
  vtr::workspace ws;
  const index_t n = 200;
  std::vector<int> ran(static_cast<std::size_t>(n), 0);
  auto failing = [&](index_t status_at, index_t throw_at) {
    return [&ran, status_at, throw_at](index_t i, index_t slot, vtr::workspace& w) -> vtr::status {
      vtr::workspace::scope sc(w);
      (void)w.take<float>(256);  // every item takes scratch; a throw must still release it
      ran[static_cast<std::size_t>(i)] = 1;
      if (slot < 0 || slot >= 4) return vtr::fail("bad slot ", slot);
      if (i == throw_at) throw std::runtime_error("item " + std::to_string(i));
      if (i == status_at || i == status_at + 50) return vtr::fail("item ", i);
      return {};
    };
  };
  for (index_t workers : {1, 4}) {
    CAPTURE(workers);
    vtr::executor* e = workers == 1 ? nullptr : &ex;
    std::fill(ran.begin(), ran.end(), 0);
    index_t at = -1;
    CHECK(vtr::detail::run_items(e, n, ws, failing(n, n), &at).ok());
    CHECK(at == -1);
    CHECK(std::count(ran.begin(), ran.end(), 1) == n);

    vtr::status st = vtr::detail::run_items(e, n, ws, failing(120, n), &at);
    CHECK(st.message() == "item 120");
    CHECK(at == 120);
    CHECK(std::all_of(ran.begin(), ran.begin() + 120, [](int r) { return r == 1; }));  // all below ran

    // A status error below a throw wins; a throw below a status error is rethrown on this thread.
    st = vtr::detail::run_items(e, n, ws, failing(30, 90), &at);
    CHECK(st.message() == "item 30");
    CHECK_THROWS_WITH(vtr::detail::run_items(e, n, ws, failing(150, 60), &at), "item 60");
    check_released(ws, ex);
  }
}
