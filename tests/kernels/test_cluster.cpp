// ops/cluster.hpp: DPC-kNN and the cluster-mean plan (ALGORITHMS §2.8), refine_clusters (ALGORITHMS §2.10).
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/io/npy.hpp>
#include <vtr/ops/cluster.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

using vtr::index_t;

namespace {

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

index_t json_int(const std::string& js, const std::string& key) {
  const auto at = js.find("\"" + key + "\":");
  REQUIRE(at != std::string::npos);
  return static_cast<index_t>(std::stoll(js.substr(at + key.size() + 3)));
}

std::filesystem::path golden_dir() {
  if (const char* e = std::getenv("VTR_GOLDEN_DIR")) return e;
  return VTR_GOLDEN_DIR;
}

std::vector<float> merged_rows(const vtr::plan& p, const vtr::matrix_view<const float>& x) {
  std::vector<float> out(static_cast<std::size_t>(p.size() * x.extent(1)));
  vtr::apply(p, x, vtr::matrix_view<float>(out.data(), {p.size(), x.extent(1)}));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// §2.8 DPC-kNN

TEST_CASE("dpc_knn: ALGORITHMS §2.8 Example 1") {
  const std::vector<float> xs = {0, 0, 0.1f, 0, 0, 0.13f, 0.11f, 0.12f, 5, 5, 5.1f, 5, 5, 5.2f, 9, 0};
  const vtr::matrix_view<const float> x(xs.data(), {8, 2});
  vtr::workspace ws;
  vtr::ops::dpc_result r;
  vtr::ops::dpc_knn(x, {3, 3}, {}, r, ws);
  const double rho[] = {.995527, .995925, .995162, .995560, .991701, .990050, .985112, 1.32e-6};
  const double delta[] = {.070711, 6.364625, .078102, .085147, 4.885003, .070711, .141421, 4.483860};
  for (int i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(r.density[i] == Approx(rho[i]).epsilon(i == 7 ? 1e-2 : 2e-6));
    CHECK(r.score[i] == Approx(rho[i] * delta[i]).epsilon(i == 7 ? 1e-2 : 1e-5));
  }
  CHECK(r.centers == std::vector<index_t>{1, 4, 6});
  CHECK(r.labels == std::vector<index_t>{0, 0, 0, 0, 1, 1, 2, 1});

  vtr::plan p;
  vtr::ops::make_cluster_plan(vtr::view_of(r.labels), vtr::view_of(r.centers), 0.0f, p);
  CHECK(p.origin == r.centers);
  const auto y = merged_rows(p, x);
  const float want[] = {0.0525f, 0.0625f, 6.366667f, 3.333333f, 5.0f, 5.2f};
  for (int i = 0; i < 6; ++i) CHECK(y[i] == Approx(want[i]).epsilon(1e-5));
  CHECK(y[4] == 5.0f);  // a singleton with eps = 0 is an exact copy
  CHECK(y[5] == 5.2f);
}

TEST_CASE("dpc_knn: ALGORITHMS §2.8 Example 2 (SparseVLM form, k = c, eps = 1e-6)") {
  const std::vector<float> xs = {0, 0, 0.1f, 0, 0, 0.1f, 5, 5, 5.1f, 5, 10, 0, 10, 0.2f};
  const vtr::matrix_view<const float> x(xs.data(), {7, 2});
  vtr::workspace ws;
  vtr::ops::dpc_result r;
  vtr::ops::dpc_knn(x, {3, 3}, {}, r, ws);
  const double rho[] = {0.99667, 0.99501, 0.99501, 3.33e-4, 3.92e-4, 2.82e-4, 3.90e-4};
  for (int i = 0; i < 7; ++i) CHECK(r.density[i] == Approx(rho[i]).epsilon(3e-3));
  CHECK(r.density[1] == r.density[2]);  // an exact density tie, resolved by the §0.4 rule
  CHECK(r.centers == std::vector<index_t>{0, 1, 2});
  CHECK(r.labels == std::vector<index_t>{0, 1, 2, 1, 1, 1, 1});
  vtr::plan p;
  vtr::ops::make_cluster_plan(vtr::view_of(r.labels), 3, 1e-6f, p);
  CHECK(p.appended_rows() == 3);
  const auto y = merged_rows(p, x);
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 0.0f);
  CHECK(y[2] == Approx(6.04f).epsilon(1e-5));
  CHECK(y[3] == Approx(2.04f).epsilon(1e-5));
  CHECK(y[4] == 0.0f);
  CHECK(y[5] == Approx(0.1f / (1.0f + 1e-6f)).epsilon(1e-7));  // singleton: x / (1 + 1e-6)
}

TEST_CASE("dpc_knn: clamps k and M, jitter, errors") {
  const std::vector<float> xs = {0, 0, 0.1f, 0, 0, 0.13f, 5, 5};
  const vtr::matrix_view<const float> x(xs.data(), {4, 2});
  vtr::workspace ws;
  vtr::ops::dpc_result r;
  vtr::ops::dpc_knn(x, {9, 99}, {}, r, ws);  // k → 4, M → 4: every point a centre
  CHECK(r.centers.size() == 4);
  for (index_t m = 0; m < 4; ++m) CHECK(r.labels[r.centers[m]] == m);
  vtr::ops::dpc_knn(x, {0, 2}, {}, r, ws);  // M → 1
  CHECK(r.centers.size() == 1);
  CHECK(r.labels == std::vector<index_t>(4, 0));

  // Jitter adds 1e-6·u to the density.
  vtr::ops::dpc_result r0, r1;
  const std::vector<float> u = {0.5f, 0.25f, 0.0f, 0.999f};
  vtr::ops::dpc_knn(x, {2, 2}, {}, r0, ws);
  vtr::ops::dpc_knn(x, {2, 2}, vtr::view_of(u), r1, ws);
  for (int i = 0; i < 4; ++i) CHECK(r1.density[i] == Approx(r0.density[i] + u[i] * 1e-6f).margin(1e-9));

  const std::vector<float> bad_u = {0.5f, 1.5f, 0, 0}, short_u = {0.1f};
  auto s = vtr::ops::try_dpc_knn(x, {2, 2}, vtr::view_of(bad_u), r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'jitter'"));
  s = vtr::ops::try_dpc_knn(x, {2, 2}, vtr::view_of(short_u), r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "[1]"));
  s = vtr::ops::try_dpc_knn(x, {2, 0}, {}, r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "k"));
  s = vtr::ops::try_dpc_knn(vtr::matrix_view<const float>(xs.data(), {0, 2}), {2, 2}, {}, r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'x'"));
  std::vector<float> nan_x = xs;
  nan_x[3] = std::nanf("");
  vtr::ops::dpc_result untouched;
  CHECK_THROWS_AS(vtr::ops::dpc_knn(vtr::matrix_view<const float>(nan_x.data(), {4, 2}), {2, 2}, {}, untouched, ws),
                  vtr::invalid_input);
  CHECK(untouched.labels.empty());
}

TEST_CASE("dpc_knn matches the scalar reference on random points (direct and Gram distances)") {
  vtr::workspace ws;
  for (index_t n : {index_t(1), index_t(7), index_t(17), index_t(40), index_t(144)}) {
    for (index_t c : {index_t(7), index_t(17), index_t(577)}) {
      CAPTURE(n, c);
      const index_t pitch = c + 3;
      auto buf = random_vec(static_cast<std::size_t>(n * pitch), unsigned(n * 31 + c));
      const vtr::matrix_view<const float> x(buf.data(), {n, c}, {pitch, 1});
      const auto jitter = random_vec(static_cast<std::size_t>(n), 77, 0.0f, 0.999f);
      const index_t m = std::max<index_t>(1, n / 3);
      std::vector<float> dense(static_cast<std::size_t>(n * c));
      for (index_t i = 0; i < n; ++i) std::copy(x.row(i), x.row(i) + c, dense.begin() + i * c);
      const auto want = vtr::ops::ref::dpc_knn(vtr::matrix_view<const float>(dense.data(), {n, c}), m, 7, jitter);
      for (auto form : {vtr::ops::distance_form::direct, vtr::ops::distance_form::gram}) {
        vtr::ops::dpc_result got;
        vtr::ops::dpc_params prm{m, 7, form};
        vtr::ops::dpc_knn(x, prm, vtr::view_of(jitter), got, ws);
        for (index_t i = 0; i < n; ++i) {
          REQUIRE(got.density[i] == Approx(want.density[i]).epsilon(1e-5));
          REQUIRE(got.score[i] == Approx(want.score[i]).epsilon(form == vtr::ops::distance_form::direct ? 1e-5 : 1e-4));
        }
        CHECK(got.centers == want.centers);
        CHECK(got.labels == want.labels);
      }
    }
  }
}

TEST_CASE("pairwise_distances and dpc_knn over selected rows equal the calls on the gathered rows bit for bit") {
  // The indexed forms read the rows where they lie (the Gram form copies one depth chunk of them at a
  // time); the gathered call sees the same values in the same order, so every bit must agree. `want` is
  // the call without a workspace, whose Gram form hands Eigen the rows in place: the copies change no bit. Depths
  // below, at and across the chunk width; a repeated row included.
  vtr::workspace ws;
  std::mt19937 rng(5);
  for (index_t c : {index_t(7), vtr::ops::detail::gram_depth_chunk_max, index_t(300), index_t(1000)}) {
    for (index_t n : {index_t(1), index_t(5), index_t(25), index_t(26), index_t(83), index_t(200), index_t(600)}) {
      CAPTURE(c, n);
      const index_t total = 97, pitch = c + 5;
      const auto buf = random_vec(static_cast<std::size_t>(total * pitch), unsigned(c * 7 + n));
      const vtr::matrix_view<const float> x(buf.data(), {total, c}, {pitch, 1});
      std::vector<index_t> idx(static_cast<std::size_t>(n));
      for (auto& r : idx) r = static_cast<index_t>(rng() % total);
      if (n > 3) idx[1] = idx[0];  // a repeated row: distance 0 off the diagonal
      const vtr::vector_view<const index_t> rows = vtr::view_of(std::as_const(idx));
      std::vector<float> gathered(static_cast<std::size_t>(n * c));
      for (index_t i = 0; i < n; ++i) std::copy(x.row(rows(i)), x.row(rows(i)) + c, gathered.begin() + i * c);
      const vtr::matrix_view<const float> g(gathered.data(), {n, c});
      for (auto form : {vtr::ops::distance_form::direct, vtr::ops::distance_form::gram, vtr::ops::distance_form::automatic}) {
        std::vector<float> want(static_cast<std::size_t>(n * n)), got(want.size(), -1.0f);
        vtr::ops::pairwise_distances(g, vtr::matrix_view<float>(want.data(), {n, n}), 0.5f, form);
        vtr::ops::pairwise_distances(x, rows, vtr::matrix_view<float>(got.data(), {n, n}), 0.5f, ws, form);
        CHECK(std::memcmp(want.data(), got.data(), sizeof(float) * want.size()) == 0);
        // With a workspace the contiguous call copies its depth chunks too (up to 512 rows): same bits.
        std::vector<float> copied(want.size(), -1.0f);
        vtr::ops::pairwise_distances(g, vtr::matrix_view<float>(copied.data(), {n, n}), 0.5f, ws, form);
        CHECK(std::memcmp(want.data(), copied.data(), sizeof(float) * want.size()) == 0);

        const vtr::ops::dpc_params prm{std::max<index_t>(1, n / 4), 3, form};
        vtr::ops::dpc_result dw, dg;
        vtr::ops::dpc_knn(g, prm, {}, dw, ws);
        vtr::ops::dpc_knn(x, prm, {}, dg, ws, rows);
        CHECK(std::memcmp(dw.density.data(), dg.density.data(), sizeof(float) * dw.density.size()) == 0);
        CHECK(std::memcmp(dw.score.data(), dg.score.data(), sizeof(float) * dw.score.size()) == 0);
        CHECK(dw.centers == dg.centers);
        CHECK(dw.labels == dg.labels);
      }
    }
  }
}

TEST_CASE("dpc_knn and pairwise_distances: a workspace of the stated size is never outgrown") {
  // dpc_knn_workspace_bytes(n, features) covers the indexed call (its Gram form copies depth chunks of
  // the selected rows, as wide as the whole depth past 512 points), the call on contiguous points (whose
  // chunks are copied while the depth is chunked) and the large-k density (bottom-k scratch);
  // dpc_knn_workspace_bytes(n) the direct form, which copies nothing.
  std::mt19937 rng(11);
  for (index_t c : {index_t(3), index_t(300), index_t(1000)}) {
    for (index_t n : {index_t(1), index_t(40), index_t(200), index_t(600)}) {
      CAPTURE(c, n);
      const index_t total = n + 17;
      const auto buf = random_vec(static_cast<std::size_t>(total * c), unsigned(c + 3 * n));
      const vtr::matrix_view<const float> x(buf.data(), {total, c});
      std::vector<index_t> idx(static_cast<std::size_t>(n));
      for (auto& r : idx) r = static_cast<index_t>(rng() % total);
      const auto rows = vtr::view_of(std::as_const(idx));
      const auto jit = random_vec(static_cast<std::size_t>(n), unsigned(n), 0.0f, 0.99f);
      for (auto form : {vtr::ops::distance_form::direct, vtr::ops::distance_form::gram}) {
        for (index_t k : {index_t(3), std::max<index_t>(1, n / 5)}) {
          const vtr::ops::dpc_params prm{std::max<index_t>(1, n / 4), k, form};
          vtr::ops::dpc_result dr;
          const std::size_t indexed = vtr::ops::dpc_knn_workspace_bytes(n, c);
          vtr::workspace ws(indexed);
          vtr::ops::dpc_knn(x, prm, vtr::view_of(jit), dr, ws, rows);
          CHECK(ws.allocations() == 0);
          CHECK(ws.high_water() <= indexed);
          vtr::workspace wc(indexed);
          vtr::ops::dpc_knn(vtr::matrix_view<const float>(buf.data(), {n, c}), prm, vtr::view_of(jit), dr, wc);
          CHECK(wc.allocations() == 0);
          if (form == vtr::ops::distance_form::direct) {
            vtr::workspace wd(vtr::ops::dpc_knn_workspace_bytes(n));
            vtr::ops::dpc_knn(vtr::matrix_view<const float>(buf.data(), {n, c}), prm, vtr::view_of(jit), dr, wd);
            CHECK(wd.allocations() == 0);
          }
        }
        std::vector<float> d(static_cast<std::size_t>(n * n));
        vtr::workspace wp(vtr::ops::pairwise_distances_workspace_bytes(n, c));
        vtr::ops::pairwise_distances(x, rows, vtr::matrix_view<float>(d.data(), {n, n}), 1.0f, wp, form);
        CHECK(wp.allocations() == 0);
        vtr::workspace wq(vtr::ops::pairwise_distances_workspace_bytes(n, c));
        vtr::ops::pairwise_distances(vtr::matrix_view<const float>(buf.data(), {n, c}), vtr::matrix_view<float>(d.data(), {n, n}), 1.0f,
                                     wq, form);
        CHECK(wq.allocations() == 0);
      }
    }
  }
}

TEST_CASE("pairwise_distances and dpc_knn over selected rows: errors name the row argument and the row of x") {
  const auto buf = random_vec(6 * 4, 9);
  const vtr::matrix_view<const float> x(buf.data(), {6, 4});
  vtr::workspace ws;
  const std::vector<index_t> bad = {0, 6}, good = {5, 1, 3};
  std::vector<float> out(9, -1.0f);
  auto s = vtr::ops::try_pairwise_distances(x, vtr::view_of(bad), vtr::matrix_view<float>(out.data(), {2, 2}), 1.0f, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'rows'[1] = 6"));
  s = vtr::ops::try_pairwise_distances(x, vtr::view_of(good), vtr::matrix_view<float>(out.data(), {2, 2}), 1.0f, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'out'"));
  CHECK(out == std::vector<float>(9, -1.0f));  // nothing written on error

  vtr::ops::dpc_result r;
  s = vtr::ops::try_dpc_knn(x, {2, 2}, {}, r, ws, vtr::view_of(bad));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'rows'[1] = 6"));
  const std::vector<float> short_u = {0.1f, 0.2f};  // three points need three jitter values
  s = vtr::ops::try_dpc_knn(x, {2, 2}, vtr::view_of(short_u), r, ws, vtr::view_of(good));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'jitter'"));
  // A NaN in a selected row is named by its row in x; one in an unselected row is never read.
  for (auto form : {vtr::ops::distance_form::direct, vtr::ops::distance_form::gram}) {
    std::vector<float> nan_buf = buf;
    nan_buf[3 * 4 + 2] = std::nanf("");
    const vtr::matrix_view<const float> xn(nan_buf.data(), {6, 4});
    s = vtr::ops::try_dpc_knn(xn, {2, 2, form}, {}, r, ws, vtr::view_of(good));
    REQUIRE_FALSE(s.ok());
    CHECK(contains(s.message(), "non-finite value at [3, 2]"));
    const std::vector<index_t> skip = {5, 1, 0};
    CHECK(vtr::ops::try_dpc_knn(xn, {2, 2, form}, {}, r, ws, vtr::view_of(skip)).ok());
  }
}

TEST_CASE("dpc_knn's density, score and labels equal the scalar reference bit for bit (ties, zeros, every k)") {
  // Distance matrices as try_dpc_knn sees them (non-negative, zero diagonal), built to stress the fast
  // paths: few distinct values (ties around the k-th smallest and in δ's minimum), duplicate points
  // (zero distances, some of them −0), an all-zero matrix, a row whose sample misleads the large-k
  // threshold, distances crowded near one value (the zero diagonal stretches the bottom-k ranking's key
  // range), and k from 1 to n, on both sides of the streamed selection's bound.
  std::mt19937 rng(5);
  vtr::workspace ws;
  int streamed = 0, ranked = 0;  // the k-smallest sums' two paths, each taken for k ≤ dpc_stream_max_k too
  for (index_t n : {index_t(1), index_t(2), index_t(15), index_t(16), index_t(17), index_t(40), index_t(100), index_t(213), index_t(385), index_t(775)}) {
    for (int kind = 0; kind < 6; ++kind) {
      std::vector<float> d(static_cast<std::size_t>(n * n));
      std::uniform_int_distribution<int> level(0, kind == 1 ? 3 : 1000);
      for (index_t i = 0; i < n; ++i)
        for (index_t j = i; j < n; ++j) {
          float v = i == j || kind == 3 ? 0.0f : static_cast<float>(level(rng)) * 0.125f;
          if (kind == 2 && (i + j) % 5 == 0) v = (i + j) % 2 ? -0.0f : 0.0f;  // duplicate points
          // Row 0's every 4th value (the large-k selection's sample) holds its smallest values, so the
          // sample's threshold lets too few values through and the whole row is selected instead.
          if (kind == 4 && i != j) v = (i + j) % 4 == 0 ? v * 0.001f : v + 1000.0f;
          if (kind == 5 && i != j) v = 1.0f + static_cast<float>(level(rng)) * 1e-4f;
          d[static_cast<std::size_t>(i * n + j)] = v;
          d[static_cast<std::size_t>(j * n + i)] = v;
        }
      const vtr::matrix_view<const float> dv(d.data(), {n, n});
      float dmax = 0.0f;
      for (float v : d) dmax = std::max(dmax, v);
      const auto jitter = random_vec(static_cast<std::size_t>(n), 3, 0.0f, 0.999f);
      for (index_t k : {index_t(1), index_t(2), index_t(7), index_t(9), index_t(12), index_t(22), vtr::ops::detail::dpc_stream_max_k,
                        vtr::ops::detail::dpc_stream_max_k + 1, n / 10, n - 1, n}) {
        if (k < 1) continue;
        if (k > n) continue;
        ++(vtr::ops::detail::dpc_streams_k_smallest(n, k) ? streamed : ranked);
        for (const float* jit : {static_cast<const float*>(nullptr), jitter.data()}) {
          CAPTURE(n, kind, k, jit != nullptr);
          std::vector<float> tmp(static_cast<std::size_t>(n)), rho(tmp), gamma(tmp), rho_ref(tmp), gamma_ref(tmp);
          vtr::ops::detail::dpc_density_score<vtr::simd::default_arch>(dv, k, jit, dmax, tmp.data(), rho.data(), gamma.data(), ws);
          vtr::ops::ref::dpc_density_score(dv, k, jit, tmp.data(), rho_ref.data(), gamma_ref.data());
          REQUIRE(std::memcmp(rho.data(), rho_ref.data(), rho.size() * sizeof(float)) == 0);
          REQUIRE(std::memcmp(gamma.data(), gamma_ref.data(), gamma.size() * sizeof(float)) == 0);
        }
      }
      for (index_t m : {index_t(1), std::max<index_t>(1, n / 3), n}) {
        std::vector<index_t> centers(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) centers[static_cast<std::size_t>(i)] = (i * 7 + 3) % n;
        std::sort(centers.begin(), centers.end());
        centers.erase(std::unique(centers.begin(), centers.end()), centers.end());
        std::shuffle(centers.begin(), centers.end(), rng);
        const index_t mm = std::min<index_t>(m, static_cast<index_t>(centers.size()));
        std::vector<index_t> got(static_cast<std::size_t>(n)), want(got);
        std::vector<float> best(static_cast<std::size_t>(n));
        vtr::ops::detail::dpc_labels(dv, centers.data(), mm, got.data(), best.data());
        vtr::ops::ref::dpc_labels(dv, centers.data(), mm, want.data());
        CHECK(got == want);
      }
    }
  }
  CHECK(streamed > 0);
  CHECK(ranked > 0);
  CHECK(vtr::ops::detail::dpc_streams_k_smallest(83, 9));    // SparseVLM's recycling at LLaVA-1.5
  CHECK_FALSE(vtr::ops::detail::dpc_streams_k_smallest(213, 22));  // … at Qwen2.5-VL
}

TEST_CASE("make_cluster_plan: sources are the members in ascending order; errors name the problem") {
  const std::vector<index_t> labels = {1, 0, 1, 2, 0};
  vtr::plan p;
  vtr::ops::make_cluster_plan(vtr::view_of(labels), 3, 0.0f, p);
  REQUIRE(vtr::validate_plan(p).ok());
  CHECK(p.offsets == std::vector<index_t>{0, 2, 4, 5});
  CHECK(p.sources == std::vector<index_t>{1, 4, 0, 2, 3});
  CHECK(p.divisors == std::vector<float>{2, 2, 1});
  CHECK(p.origin == std::vector<index_t>(3, vtr::plan::appended));

  vtr::plan keep = vtr::plan::select(2, {0, 1});
  auto s = vtr::ops::try_make_cluster_plan(vtr::view_of(labels), 4, 0.0f, keep);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "cluster 3"));
  s = vtr::ops::try_make_cluster_plan(vtr::view_of(labels), 2, 0.0f, keep);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'labels'"));
  const std::vector<index_t> bad_centers = {0, 7, 3};
  s = vtr::ops::try_make_cluster_plan(vtr::view_of(labels), vtr::view_of(bad_centers), 0.0f, keep);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'centers'"));
  CHECK(keep.size() == 2);  // untouched
  CHECK(keep.is_selection());
}

TEST_CASE("dpc_knn reproduces the golden cases (ad-hoc check; the replay harness is the formal one)") {
  const auto root = golden_dir() / "dpc_knn.cluster";
  if (!std::filesystem::exists(root)) {
    WARN("golden cases not found under " << root.string() << "; skipped");
    return;
  }
  vtr::workspace ws;
  int cases = 0;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    const auto dir = e.path();
    CAPTURE(dir.string());
    const std::string js = read_text(dir / "case.json");
    const bool sparsevlm = contains(js, "\"sparsevlm\"");
    const index_t m = json_int(js, "cluster_num"), k = json_int(js, "k");
    const auto xa = vtr::read_npy(dir / "in_x.npy");
    const auto jitter = vtr::read_npy(dir / "in_jitter.npy").to_float();
    const auto x = xa.as_view<const float, 2>();
    vtr::ops::dpc_result r;
    vtr::ops::dpc_knn(x, {m, k}, vtr::view_of(jitter), r, ws);
    const auto to_idx = [](const std::vector<std::int64_t>& v) { return std::vector<index_t>(v.begin(), v.end()); };
    CHECK(r.labels == to_idx(vtr::read_npy(dir / "out_labels.npy").to_int64()));
    CHECK(r.centers == to_idx(vtr::read_npy(dir / "out_centers.npy").to_int64()));
    const auto dens = vtr::read_npy(dir / "out_density.npy").to_float();
    const auto score = vtr::read_npy(dir / "out_score.npy").to_float();
    for (std::size_t i = 0; i < dens.size(); ++i) {
      CHECK(std::fabs(r.density[i] - dens[i]) <= 1e-6f + 1e-5f * std::fabs(dens[i]));
      CHECK(std::fabs(r.score[i] - score[i]) <= 1e-5f + 1e-4f * std::fabs(score[i]));
    }
    vtr::plan p;
    vtr::ops::make_cluster_plan(vtr::view_of(r.labels), vtr::view_of(r.centers), sparsevlm ? 1e-6f : 0.0f, p);
    const auto y = merged_rows(p, x);
    const auto want = vtr::read_npy(dir / "out_merged.npy").to_float();
    REQUIRE(y.size() == want.size());
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(std::fabs(y[i] - want[i]) <= 1e-6f + 1e-5f * std::fabs(want[i]));
    ++cases;
  }
  CHECK(cases == 5);
}

// ---------------------------------------------------------------------------------------------------
// §2.10 refine_clusters

TEST_CASE("refine_clusters and segment_lengths: every row of the ALGORITHMS §2.10 table") {
  struct row {
    std::vector<index_t> in, refined, lengths;
  };
  const std::vector<row> table = {
      {{0, 0, 1, 1, 0, 0, 2, 2}, {0, 0, 1, 1, 0, 0, 2, 2}, {2, 2, 2, 2}},
      {{0, 0, 0, 1, 0, 2, 2, 2}, {0, 0, 0, 0, 0, 2, 2, 2}, {5, 3}},
      {{0, 1, 0, 1, 0, 1}, {0, 0, 0, 0, 0, 0}, {6}},
      {{3, 3, 1, 2, 2, 2, 1, 1, 1, 1}, {3, 3, 2, 2, 2, 2, 1, 1, 1, 1}, {2, 4, 4}},
      {{0, 0, 1, 2, 2, 0, 0, 0}, {2, 2, 2, 2, 2, 0, 0, 0}, {5, 3}},
      {{2, 0, 0, 0, 1, 1, 1, 2}, {0, 0, 0, 0, 1, 1, 1, 1}, {4, 4}},
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {4}},
      {{5}, {0}, {1}},  // F = 1: a label whose longest run is 1 loses its frame; no neighbour → 0
      {{}, {}, {}},
  };
  for (const auto& t : table) {
    CAPTURE(t.in);
    std::vector<index_t> out(t.in.size(), -7);
    vtr::ops::refine_clusters(vtr::view_of(t.in), vtr::view_of(out));
    CHECK(out == t.refined);
    CHECK(vtr::ops::segment_lengths(vtr::view_of(std::as_const(out))) == t.lengths);
  }
}

TEST_CASE("refine_clusters: properties on random labels; errors") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const auto f = static_cast<std::size_t>(2 + trial % 30);
    std::uniform_int_distribution<int> d(0, 1 + trial % 5);
    std::vector<index_t> in(f), out(f);
    for (auto& v : in) v = d(rng);
    vtr::ops::refine_clusters(vtr::view_of(std::as_const(in)), vtr::view_of(out));
    const auto len = vtr::ops::segment_lengths(vtr::view_of(std::as_const(out)));
    index_t total = 0;
    for (index_t l : len) {
      CHECK(l >= 2);  // §2.10: every final segment has length ≥ 2 unless F = 1
      total += l;
    }
    CHECK(total == static_cast<index_t>(f));
    for (index_t v : out) CHECK(v >= 0);
  }
  const std::vector<index_t> in = {0, 1, -1};
  std::vector<index_t> out(3, 9), short_out(2);
  auto s = vtr::ops::try_refine_clusters(vtr::view_of(in), vtr::view_of(out));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'labels'"));
  CHECK(out == std::vector<index_t>(3, 9));
  const std::vector<index_t> ok = {0, 1, 1};
  s = vtr::ops::try_refine_clusters(vtr::view_of(ok), vtr::view_of(short_out));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'refined'"));
}

TEST_CASE("refine_clusters reproduces the golden cases") {
  const auto root = golden_dir() / "prunevid.refine";
  if (!std::filesystem::exists(root)) {
    WARN("golden cases not found under " << root.string() << "; skipped");
    return;
  }
  int cases = 0;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    const auto dir = e.path();
    CAPTURE(dir.string());
    const auto in64 = vtr::read_npy(dir / "in_labels.npy").to_int64();
    const std::vector<index_t> in(in64.begin(), in64.end());
    std::vector<index_t> out(in.size());
    vtr::ops::refine_clusters(vtr::view_of(in), vtr::view_of(out));
    const auto want = vtr::read_npy(dir / "out_refined.npy").to_int64();
    const auto want_len = vtr::read_npy(dir / "out_segment_lengths.npy").to_int64();
    CHECK(out == std::vector<index_t>(want.begin(), want.end()));
    CHECK(vtr::ops::segment_lengths(vtr::view_of(std::as_const(out))) == std::vector<index_t>(want_len.begin(), want_len.end()));
    ++cases;
  }
  CHECK(cases == 5);
}
