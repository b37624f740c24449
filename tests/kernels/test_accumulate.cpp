// ops/accumulate.hpp: row accumulation kernels vs their scalar references (ALGORITHMS §3.6.2 O(n·C) form).
#include "catch.hpp"

#include <vtr/ops/accumulate.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;

namespace {

const index_t acc_sizes[] = {1, 7, 15, 17, 576, 577, 2880};

std::vector<float> rand_vec(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST_CASE("add_scaled and add_to match the scalar reference at SIMD tails") {
  for (index_t n : acc_sizes) {
    CAPTURE(n);
    auto x = rand_vec(static_cast<std::size_t>(n + 1), 11);
    auto y = rand_vec(static_cast<std::size_t>(n + 1), 12);
    auto y_ref = y;
    vtr::ops::add_scaled(y.data() + 1, x.data() + 1, 0.37f, n);  // unaligned
    vtr::ops::ref::add_scaled(y_ref.data() + 1, x.data() + 1, 0.37f, n);
    for (index_t i = 0; i <= n; ++i) CHECK(std::fabs(y[i] - y_ref[i]) <= 1e-6f);
    vtr::ops::add_to(y.data(), x.data(), n);
    vtr::ops::ref::add_to(y_ref.data(), x.data(), n);
    for (index_t i = 0; i <= n; ++i) CHECK(std::fabs(y[i] - y_ref[i]) <= 1e-6f);
    CHECK(y[n] == y_ref[n]);  // nothing past n touched by add_to
  }
}

TEST_CASE("add_scaled<Start>, add_scaled_rows(_divide), squared_norm_and_add(s_rows): the bits of the separate passes") {
  using arch = vtr::simd::default_arch;
  for (index_t n : acc_sizes) {
    CAPTURE(n);
    auto x = rand_vec(static_cast<std::size_t>(n), 21);
    x[0] = -0.0f;  // −0·a + 0 is +0: Start must not leave the −0 a plain product gives
    if (n > 2) x[2] = 0.0f;
    std::vector<float> got(static_cast<std::size_t>(n), 7.0f), want(static_cast<std::size_t>(n), 0.0f);
    vtr::ops::add_scaled<arch, true>(got.data(), x.data(), 0.37f, n);
    vtr::ops::add_scaled<arch>(want.data(), x.data(), 0.37f, n);
    REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    CHECK_FALSE(std::signbit(got[0]));

    // From 8 rows on, a scalar tail summing the rows was vectorised over them by GCC: other bits.
    for (index_t count : {index_t(1), index_t(2), index_t(3), index_t(4), index_t(8), index_t(9), index_t(17)}) {
      CAPTURE(count);
      std::vector<std::vector<float>> rows;
      std::vector<const float*> ptrs;
      std::vector<float> scales;
      for (index_t k = 0; k < count; ++k) {
        rows.push_back(rand_vec(static_cast<std::size_t>(n), 30 + unsigned(k)));
        scales.push_back(0.25f + 0.1f * float(k));
      }
      for (const auto& r : rows) ptrs.push_back(r.data());
      // add_scaled_rows = add_scaled row after row (started or onto y), with or without a prefetch.
      for (bool start : {true, false}) {
        CAPTURE(start);
        auto y = rand_vec(static_cast<std::size_t>(n), 40);
        auto chain = y;
        if (start) {
          vtr::ops::add_scaled_rows<arch, true>(y.data(), ptrs.data(), scales.data(), count, n, rows[0].data(), 1, n);
          vtr::ops::add_scaled<arch, true>(chain.data(), ptrs[0], scales[0], n);
        } else {
          vtr::ops::add_scaled_rows<arch>(y.data(), ptrs.data(), scales.data(), count, n);
          vtr::ops::add_scaled<arch>(chain.data(), ptrs[0], scales[0], n);
        }
        for (index_t k = 1; k < count; ++k) vtr::ops::add_scaled<arch>(chain.data(), ptrs[std::size_t(k)], scales[std::size_t(k)], n);
        REQUIRE(std::memcmp(y.data(), chain.data(), y.size() * sizeof(float)) == 0);
        // add_scaled_rows_divide = add_scaled_rows, then each sum divided
        auto divided = rand_vec(static_cast<std::size_t>(n), 40);
        if (start) vtr::ops::add_scaled_rows_divide<arch, true>(divided.data(), ptrs.data(), scales.data(), count, n, 3.0f);
        else vtr::ops::add_scaled_rows_divide<arch>(divided.data(), ptrs.data(), scales.data(), count, n, 3.0f);
        for (float& v : chain) v /= 3.0f;
        REQUIRE(std::memcmp(divided.data(), chain.data(), divided.size() * sizeof(float)) == 0);
      }
      // squared_norm_and_add = squared_norm, then copy (first row) or add_to (the others).
      std::vector<float> sum(static_cast<std::size_t>(n), 7.0f), chain = rows[0];
      for (index_t k = 0; k < count; ++k) {
        const float* r = ptrs[std::size_t(k)];
        const float sq = k == 0 ? vtr::ops::squared_norm_and_add<arch, true>(sum.data(), r, n)
                                : vtr::ops::squared_norm_and_add<arch>(sum.data(), r, n);
        const float want_sq = vtr::ops::squared_norm<arch>(r, n);
        CHECK(std::memcmp(&sq, &want_sq, sizeof(float)) == 0);
        if (k > 0) vtr::ops::add_to<arch>(chain.data(), r, n);
      }
      REQUIRE(std::memcmp(sum.data(), chain.data(), sum.size() * sizeof(float)) == 0);

      // squared_norms_and_add_rows = squared_norm_and_add row after row (started: from a zero row).
      if (count > vtr::ops::norms_and_add_max_rows) continue;
      rows[0][0] = -0.0f;
      for (bool start : {true, false}) {
        CAPTURE(start);
        std::vector<float> y = start ? std::vector<float>(static_cast<std::size_t>(n), 7.0f) : rand_vec(static_cast<std::size_t>(n), 41);
        std::vector<float> one_by_one = start ? std::vector<float>(static_cast<std::size_t>(n), 0.0f) : y;
        std::vector<float> norms(static_cast<std::size_t>(count), -1.0f);
        if (start) vtr::ops::squared_norms_and_add_rows<arch, true>(y.data(), ptrs.data(), count, n, norms.data());
        else vtr::ops::squared_norms_and_add_rows<arch>(y.data(), ptrs.data(), count, n, norms.data());
        for (index_t k = 0; k < count; ++k) {
          const float want_sq = vtr::ops::squared_norm_and_add<arch>(one_by_one.data(), ptrs[std::size_t(k)], n);
          CHECK(std::memcmp(&norms[std::size_t(k)], &want_sq, sizeof(float)) == 0);
        }
        REQUIRE(std::memcmp(y.data(), one_by_one.data(), y.size() * sizeof(float)) == 0);
        if (start && count == 1) CHECK_FALSE(std::signbit(y[0]));  // +0 + −0 is +0, as in the zeroed row
      }
    }
  }
}

TEST_CASE("unit_row_sum matches the reference, including zero rows and strided input") {
  for (index_t c : acc_sizes) {
    CAPTURE(c);
    const index_t rows = 9, pitch = c + 3;
    auto buf = rand_vec(static_cast<std::size_t>(rows * pitch), 21);
    for (index_t i = 0; i < c; ++i) buf[static_cast<std::size_t>(4 * pitch + i)] = 0.0f;  // a zero row: u = 0
    const vtr::matrix_view<const float> x(buf.data(), {rows, c}, {pitch, 1});
    std::vector<float> got(static_cast<std::size_t>(c)), want(static_cast<std::size_t>(c));
    vtr::ops::unit_row_sum(x, vtr::ops::unit_norm_eps, vtr::view_of(got));
    vtr::ops::ref::unit_row_sum(x, vtr::ops::unit_norm_eps, want.data());
    for (index_t i = 0; i < c; ++i) CHECK(std::fabs(got[i] - want[i]) <= 1e-5f);
    // Each unit vector has norm 1, so ‖Σu‖ ≤ number of non-zero rows.
    CHECK(vtr::ops::squared_norm(got.data(), c) <= 64.0f + 1e-3f);
  }
}

TEST_CASE("unit_row_sum of identical rows is rows·u (the quadtree's uniform cell)") {
  std::vector<float> one = {3.0f, 4.0f, 0.0f};
  std::vector<float> buf;
  for (int r = 0; r < 5; ++r) buf.insert(buf.end(), one.begin(), one.end());
  std::vector<float> out(3);
  vtr::ops::unit_row_sum(vtr::matrix_view<const float>(buf.data(), {5, 3}), vtr::ops::unit_norm_eps, vtr::view_of(out));
  CHECK(out[0] == Approx(3.0f).epsilon(1e-6));
  CHECK(out[1] == Approx(4.0f).epsilon(1e-6));
  CHECK(vtr::ops::squared_norm(out.data(), 3) / 25.0f == Approx(1.0f).epsilon(1e-6));
}

TEST_CASE("unit_row_sum rejects a wrong output shape and a bad eps, naming the argument") {
  std::vector<float> x(12, 1.0f), out(3, 7.0f);
  const vtr::matrix_view<const float> xv(x.data(), {3, 4});
  auto s = vtr::ops::try_unit_row_sum(xv, 1e-8f, vtr::view_of(out));
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("'out'") != std::string::npos);
  CHECK(out[0] == 7.0f);  // untouched
  std::vector<float> out4(4);
  auto e = vtr::ops::try_unit_row_sum(xv, -1.0f, vtr::view_of(out4));
  REQUIRE_FALSE(e.ok());
  CHECK(e.message().find("'eps'") != std::string::npos);
}
