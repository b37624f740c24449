// ops/similarity.hpp: SIMD kernels vs their scalar references (ALGORITHMS §0.7), matrix forms vs loops.
#include "catch.hpp"

#include <vtr/ops/similarity.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;

namespace {

const index_t sizes[] = {1, 7, 15, 17, 576, 577, 2880};

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A strided [rows, cols] view over a buffer with row pitch cols + pad.
struct strided {
  std::vector<float> buf;
  vtr::matrix_view<float> v;
  strided(index_t rows, index_t cols, unsigned seed, index_t pad = 3) {
    buf = random_vec(static_cast<std::size_t>(rows * (cols + pad) + 1), seed);
    v = vtr::matrix_view<float>(buf.data(), {rows, cols}, {cols + pad, 1});
  }
  vtr::matrix_view<const float> c() const { return v; }
};

float abs_dot(const float* a, const float* b, index_t n) {
  float s = 0;
  for (index_t i = 0; i < n; ++i) s += std::fabs(a[i] * b[i]);
  return s;
}

}  // namespace

TEST_CASE("dot, squared_norm, cosine match the scalar reference at SIMD tails") {
  for (index_t n : sizes) {
    CAPTURE(n);
    // Offset by one float so the loads are unaligned.
    auto a = random_vec(static_cast<std::size_t>(n + 1), 1);
    auto b = random_vec(static_cast<std::size_t>(n + 1), 2);
    const float* pa = a.data() + 1;
    const float* pb = b.data() + 1;
    const float tol = 1e-5f * abs_dot(pa, pb, n) + 1e-30f;
    CHECK(std::fabs(vtr::ops::dot(pa, pb, n) - vtr::ops::ref::dot(pa, pb, n)) <= tol);
    const float na = vtr::ops::ref::squared_norm(pa, n);
    CHECK(std::fabs(vtr::ops::squared_norm(pa, n) - na) <= 1e-5f * na);
    const float c = vtr::ops::cosine(pa, pb, n), cr = vtr::ops::ref::cosine(pa, pb, n);
    CHECK(std::fabs(c - cr) <= 1e-5f);
    CHECK(vtr::ops::cosine(pa, pa, n) == Approx(1.0f).epsilon(1e-5));
  }
}

TEST_CASE("cosine: zero vector gives 0, tiny vectors use the 1e-16 clamp (ALGORITHMS §0.7)") {
  std::vector<float> z(17, 0.0f), a = random_vec(17, 3);
  CHECK(vtr::ops::cosine(z.data(), a.data(), 17) == 0.0f);
  CHECK(vtr::ops::cosine(z.data(), z.data(), 17) == 0.0f);
  // ‖x‖²‖y‖² = 1e-20 < 1e-16: the denominator is 1e-8, so x·y/1e-8 = 1e-10/1e-8 = 0.01.
  std::vector<float> x(1, 1e-5f), y(1, 1e-5f);
  CHECK(vtr::ops::cosine(x.data(), y.data(), 1) == Approx(0.01f).epsilon(1e-5));
  CHECK(vtr::ops::ref::cosine(x.data(), y.data(), 1) == Approx(0.01f).epsilon(1e-5));
}

TEST_CASE("l2_normalize_rows matches F.normalize on strided views, in place too") {
  for (index_t d : sizes) {
    CAPTURE(d);
    strided x(5, d, 10), out(5, d, 11, 5);
    std::fill(x.v.row(2), x.v.row(2) + d, 0.0f);  // a zero row stays zero (eps clamp)
    vtr::ops::l2_normalize_rows(x.c(), 1e-12f, out.v);
    std::vector<float> want(static_cast<std::size_t>(5 * d));
    vtr::ops::ref::l2_normalize_rows(x.c(), 1e-12f, vtr::matrix_view<float>(want.data(), {5, d}));
    for (index_t i = 0; i < 5; ++i)
      for (index_t c = 0; c < d; ++c) REQUIRE(out.v(i, c) == Approx(want[i * d + c]).margin(1e-7).epsilon(1e-6));
    for (index_t c = 0; c < d; ++c) CHECK(out.v(2, c) == 0.0f);
    // In place: the same view as input and output.
    vtr::ops::l2_normalize_rows(x.v, 1e-12f, x.v);
    for (index_t c = 0; c < d; ++c) REQUIRE(x.v(4, c) == out.v(4, c));
  }
}

TEST_CASE("l2_normalize_rows rejects bad shapes and overlapping outputs, writing nothing") {
  strided x(4, 8, 1);
  std::vector<float> o(3 * 8, -7.0f);
  auto s = vtr::ops::try_l2_normalize_rows(x.c(), 1e-12f, vtr::matrix_view<float>(o.data(), {3, 8}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'out'"));
  CHECK(contains(s.message(), "[3, 8]"));
  CHECK(o[0] == -7.0f);
  // Overlapping but not identical.
  vtr::matrix_view<float> shifted(x.buf.data() + 1, {4, 8}, {11, 1});
  s = vtr::ops::try_l2_normalize_rows(x.c(), 1e-12f, shifted);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "overlaps"));
  CHECK_THROWS_AS(vtr::ops::l2_normalize_rows(x.c(), -1.0f, x.v), vtr::invalid_input);
}

TEST_CASE("gram (SYRK), cross_dot (GEMM) and cosine_matrix match loops on strided views") {
  vtr::workspace ws;
  for (index_t d : sizes) {
    for (index_t n : {index_t(1), index_t(7), index_t(17), index_t(40)}) {
      CAPTURE(d, n);
      strided a(n, d, 20), b(n + 3, d, 21), g(n, n, 22, 2), x(n, n + 3, 23, 1), cm(n, n + 3, 24, 4);
      vtr::ops::gram(a.c(), g.v);
      vtr::ops::cross_dot(a.c(), b.c(), x.v);
      vtr::ops::cosine_matrix(a.c(), b.c(), cm.v, ws);
      for (index_t i = 0; i < n; ++i) {
        for (index_t j = 0; j < n; ++j) {
          const float want = vtr::ops::ref::dot(a.v.row(i), a.v.row(j), d);
          REQUIRE(g.v(i, j) == Approx(want).margin(1e-5f * abs_dot(a.v.row(i), a.v.row(j), d)));
          REQUIRE(g.v(i, j) == g.v(j, i));  // mirrored exactly
        }
        for (index_t j = 0; j < n + 3; ++j) {
          const float want = vtr::ops::ref::dot(a.v.row(i), b.v.row(j), d);
          REQUIRE(x.v(i, j) == Approx(want).margin(1e-5f * abs_dot(a.v.row(i), b.v.row(j), d)));
          REQUIRE(cm.v(i, j) == Approx(vtr::ops::ref::cosine(a.v.row(i), b.v.row(j), d)).margin(1e-5));
        }
      }
    }
  }
}

TEST_CASE("cross_dot names the mismatched argument") {
  strided a(3, 8, 1), b(4, 9, 2), o(3, 4, 3);
  auto s = vtr::ops::try_cross_dot(a.c(), b.c(), o.v);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'b'"));
  CHECK(contains(s.message(), "[4, 9]"));
  strided bad(2, 3, 4);
  vtr::workspace ws;
  CHECK_THROWS_AS(vtr::ops::cosine_matrix(a.c(), a.c(), bad.v, ws), vtr::invalid_input);
}

TEST_CASE("pairwise_distances: both forms vs the direct reference; zero diagonal, symmetric") {
  for (index_t d : sizes) {
    for (index_t n : {index_t(1), index_t(7), index_t(26), index_t(64)}) {
      CAPTURE(d, n);
      strided x(n, d, 30);
      std::vector<float> want(static_cast<std::size_t>(n * n));
      const float scale = 1.0f / std::sqrt(static_cast<float>(d));
      vtr::ops::ref::pairwise_distances(x.c(), vtr::matrix_view<float>(want.data(), {n, n}), scale);
      for (auto form : {vtr::ops::distance_form::gram, vtr::ops::distance_form::direct, vtr::ops::distance_form::automatic}) {
        strided o(n, n, 31, 2);
        vtr::ops::pairwise_distances(x.c(), o.v, scale, form);
        for (index_t i = 0; i < n; ++i) {
          REQUIRE(o.v(i, i) == 0.0f);
          for (index_t j = 0; j < n; ++j) {
            REQUIRE(o.v(i, j) == o.v(j, i));
            // The Gram form loses ~eps·(‖xi‖² + ‖xj‖²) of the squared distance to cancellation.
            const bool exact = form == vtr::ops::distance_form::direct ||
                               (form == vtr::ops::distance_form::automatic && n <= vtr::ops::cdist_direct_max_rows);
            const float ni = vtr::ops::ref::squared_norm(x.v.row(i), d), nj = vtr::ops::ref::squared_norm(x.v.row(j), d);
            const float margin = exact ? 0.0f : scale * std::sqrt(4 * 6e-8f * (ni + nj));
            REQUIRE(o.v(i, j) == Approx(want[i * n + j]).epsilon(1e-5).margin(margin));
          }
        }
      }
    }
  }
}

TEST_CASE("pairwise_distances: the Gram form clamps negative squared distances of equal rows at 0") {
  std::vector<float> x(3 * 33);
  auto r = random_vec(33, 40, 100.0f, 101.0f);
  for (int i = 0; i < 3; ++i) std::copy(r.begin(), r.end(), x.begin() + i * 33);
  std::vector<float> o(9, -1.0f);
  vtr::ops::pairwise_distances(vtr::matrix_view<const float>(x.data(), {3, 33}), vtr::matrix_view<float>(o.data(), {3, 3}),
                               1.0f, vtr::ops::distance_form::gram);
  for (float v : o) {
    CHECK(std::isfinite(v));
    CHECK(v >= 0.0f);
    CHECK(v < 0.1f);  // √(rounding residue of ‖x‖² ≈ 3.4e5), not NaN
  }
  auto s = vtr::ops::try_pairwise_distances(vtr::matrix_view<const float>(x.data(), {3, 33}),
                                            vtr::matrix_view<float>(o.data(), {3, 2}), 1.0f);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'out'"));
}
