// Concurrency (DESIGN §2.5, §2.7): methods are const objects and keep their state in the caller's workspace,
// so every method's plan() may run at the same time on separate workspaces and must give exactly the plans
// of a serial run. Built into its own executable so the `tsan` preset can run it under ThreadSanitizer.
#include "catch.hpp"

#include "cases.hpp"

#include <atomic>
#include <thread>

TEST_CASE("every method's plan() runs concurrently on separate workspaces", "[properties][threads]") {
  std::mt19937 rng(77);
  std::vector<vtr_props::method_case> cases;
  for (int round = 0; round < 3; ++round)
    for (auto& c : vtr_props::make_cases(rng)) cases.push_back(std::move(c));

  // Serial reference.
  std::vector<vtr::plan> want(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    vtr::workspace ws;
    REQUIRE(cases[i].run(want[i], ws).ok());
  }

  // Each thread owns one workspace and runs every case, starting at a different case so that different
  // methods overlap; all threads start together.
  const unsigned threads = 4;
  const int repeats = 5;
  std::atomic<unsigned> ready{0};
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      vtr::workspace ws;
      vtr::plan p;
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      for (int r = 0; r < repeats; ++r)
        for (std::size_t k = 0; k < cases.size(); ++k) {
          const std::size_t i = (k + t * 7) % cases.size();
          if (!cases[i].run(p, ws).ok()) {
            failures.fetch_add(1);
            continue;
          }
          const vtr::plan& w = want[i];
          if (p.input_rows != w.input_rows || p.origin != w.origin || p.offsets != w.offsets || p.sources != w.sources ||
              p.weights != w.weights || p.divisors != w.divisors)
            mismatches.fetch_add(1);
        }
    });
  for (auto& th : pool) th.join();
  REQUIRE(failures.load() == 0);
  REQUIRE(mismatches.load() == 0);
}
