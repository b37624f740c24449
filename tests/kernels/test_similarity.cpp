// ops/similarity.hpp: SIMD kernels vs their scalar references (ALGORITHMS §0.7), matrix forms vs loops.
#include "catch.hpp"

#include <vtr/ops/similarity.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
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

TEST_CASE("l2 normalisation's row division equals a division bit for bit, on every value class") {
  // detail::divide_row replaces the division by a reciprocal and fused corrections where the arch has FMA;
  // the result must be exactly x / d, including zeros (−0), tiny, huge, infinite and NaN values and
  // divisors on both sides of its fast range.
  std::mt19937 rng(97);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> expo(-100, 100);
  const float specials[] = {0.0f, -0.0f, 0x1p-81f, -0x1p-79f, 0x1p81f, 1e-45f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), std::nanf(""), 3.4e38f};
  for (float d : {1.0f, 3.0f, 0.7f, 0x1p-40f, 0x1p40f, 0x1.fffffep-41f, 0x1p41f, 1e-12f, 12345.678f, 1e-30f}) {
    for (int trial = 0; trial < 200; ++trial) {
      const index_t n = 1 + static_cast<index_t>(rng() % 70);
      std::vector<float> x(static_cast<std::size_t>(n)), got(x.size()), streamed(x.size() + 16);
      for (float& v : x) {
        v = std::ldexp(mant(rng), trial % 2 ? expo(rng) : expo(rng) / 4) * (rng() % 2 ? 1.0f : -1.0f);
        if (rng() % 50 == 0) v = specials[rng() % 10];
      }
      vtr::ops::detail::divide_row<vtr::simd::default_arch>(x.data(), d, got.data(), n);
      float* const s = streamed.data() + trial % 16;  // the streamed form peels to an aligned start
      vtr::ops::detail::divide_row<vtr::simd::default_arch, true>(x.data(), d, s, n);
      vtr::simd::stream_fence();
      for (index_t i = 0; i < n; ++i) {
        const float want = x[std::size_t(i)] / d;
        INFO("x " << x[std::size_t(i)] << " d " << d);
        CHECK((std::memcmp(&got[std::size_t(i)], &want, sizeof(float)) == 0 || (std::isnan(want) && std::isnan(got[std::size_t(i)]))));
        CHECK((std::memcmp(&s[i], &want, sizeof(float)) == 0 || (std::isnan(want) && std::isnan(s[i]))));
      }
    }
  }
}

TEST_CASE("l2_normalize_rows: outputs past the streaming size give the same bits as row by row") {
  // 1100 × 4096 floats (17.2 MB) take non-temporal stores; one row at a time stays below the size.
  const index_t n = 1100, d = 4096;
  static_assert(std::size_t(1100) * 4096 * sizeof(float) >= vtr::simd::streaming_store_bytes);
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(n * d)), whole(x.size() + 3), rows(x.size());
  for (float& v : x) v = g(rng);
  const vtr::matrix_view<const float> xv(x.data(), {n, d});
  vtr::ops::l2_normalize_rows(xv, vtr::ops::normalize_eps, vtr::matrix_view<float>(whole.data() + 3, {n, d}));
  for (index_t i = 0; i < n; ++i)
    vtr::ops::l2_normalize_rows(vtr::matrix_view<const float>(x.data() + i * d, {1, d}), vtr::ops::normalize_eps,
                                vtr::matrix_view<float>(rows.data() + i * d, {1, d}));
  CHECK(std::memcmp(whole.data() + 3, rows.data(), rows.size() * sizeof(float)) == 0);
}

TEST_CASE("squared_norm_copy: a row gathered in chunks has the norm bits of one pass over it") {
  for (index_t n : {0, 1, 15, 17, 255, 256, 300, 577, 4103}) {
    const auto src = random_vec(static_cast<std::size_t>(n) + 1, static_cast<unsigned>(n) + 40, -3.0f, 3.0f);
    std::vector<float> whole(src.size(), -1.0f);
    const float want = vtr::ops::detail::copy_squared_norm<vtr::simd::default_arch>(src.data(), whole.data(), n);
    for (index_t chunk : {index_t(64), index_t(256)}) {  // multiples of 2·lanes, as callers must use
      CAPTURE(n, chunk);
      std::vector<float> dst(src.size(), -1.0f);
      vtr::ops::detail::squared_norm_copy<vtr::simd::default_arch> acc;
      for (index_t c0 = 0; c0 < n; c0 += chunk) acc.copy(src.data() + c0, dst.data() + c0, std::min(chunk, n - c0));
      const float got = acc.finish();
      REQUIRE(std::memcmp(&got, &want, sizeof got) == 0);
      REQUIRE(std::equal(dst.begin(), dst.begin() + n, src.begin()));
      REQUIRE(dst[std::size_t(n)] == -1.0f);  // nothing past the row
    }
  }
}

TEST_CASE("dots_to_cosines equals the scalar §0.7 formula bit for bit, clamp included") {
  for (index_t m : {1, 3}) {
    for (index_t n : {1, 7, 16, 17, 40}) {
      CAPTURE(m, n);
      auto na2 = random_vec(std::size_t(m), 50, 0.0f, 4.0f), nb2 = random_vec(std::size_t(n), 51, 0.0f, 4.0f);
      nb2[0] = 0.0f;                                // a zero row: cosine 0
      if (n > 2) nb2[2] = 1e-30f;                   // under the clamp
      auto dots = random_vec(std::size_t(m * n), 52, -2.0f, 2.0f);
      std::vector<float> want = dots;
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
          float& w = want[std::size_t(i * n + j)];
          w = w / std::sqrt(std::max(na2[std::size_t(i)] * nb2[std::size_t(j)], vtr::ops::cosine_eps_squared));
        }
      vtr::ops::detail::dots_to_cosines<vtr::simd::default_arch>(na2.data(), nb2.data(), vtr::matrix_view<float>(dots.data(), {m, n}));
      REQUIRE(std::memcmp(dots.data(), want.data(), sizeof(float) * want.size()) == 0);
    }
  }
}
