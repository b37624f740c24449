// ops/temporal.hpp: frame means, the O(W·C) static/dynamic similarity (against the reference's pairwise
// form), the static mask rules and the temporal average (ALGORITHMS §2.9, §3.5.2).
#include "catch.hpp"

#include <vtr/ops/temporal.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;

namespace {

const index_t sizes[] = {1, 7, 15, 17, 576, 577, 2880};

// A [W][n][C] block with padded rows and frames (strides ≠ contiguous) filled from a normal distribution.
struct video {
  std::vector<float> buf;
  vtr::tensor_view<float, 3> v;
  video(index_t w, index_t n, index_t c, unsigned seed, index_t pad = 3) {
    const index_t rs = c + pad, fs = n * rs + 5;
    buf.assign(static_cast<std::size_t>(w * fs + 1), 0.0f);
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (auto& x : buf) x = d(rng);
    v = vtr::tensor_view<float, 3>(buf.data(), {w, n, c}, {fs, rs, 1});
  }
  vtr::tensor_view<const float, 3> c() const { return v; }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("frame_means matches the scalar reference at SIMD tails") {
  vtr::workspace ws;
  for (index_t c : sizes) {
    CAPTURE(c);
    video x(3, 5, c, 11);
    std::vector<float> got(static_cast<std::size_t>(3 * c)), want(got.size());
    vtr::ops::frame_means(x.c(), vtr::matrix_view<float>(got.data(), {3, c}));
    vtr::ops::ref::frame_means(x.c(), vtr::matrix_view<float>(want.data(), {3, c}));
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::fabs(got[i] - want[i]) <= 1e-5f * (1.0f + std::fabs(want[i])));
  }
}

TEST_CASE("frame_means' row norms are squared_norm's bits and leave the means as they were") {
  for (index_t c : sizes) {
    CAPTURE(c);
    for (index_t n : {5, 8, 19}) {  // fewer tokens than a group of rows, one group, groups and a rest
      CAPTURE(n);
      video x(3, n, c, 12);
      std::vector<float> plain(static_cast<std::size_t>(3 * c)), with(plain.size()), norms(static_cast<std::size_t>(3 * n), -1.0f);
      vtr::ops::frame_means(x.c(), vtr::matrix_view<float>(plain.data(), {3, c}));
      vtr::ops::frame_means(x.c(), vtr::matrix_view<float>(with.data(), {3, c}), vtr::matrix_view<float>(norms.data(), {3, n}));
      for (std::size_t i = 0; i < plain.size(); ++i) CHECK(with[i] == plain[i]);
      for (index_t t = 0; t < 3; ++t)
        for (index_t l = 0; l < n; ++l) CHECK(norms[static_cast<std::size_t>(t * n + l)] == vtr::ops::squared_norm(&x.v(t, l, 0), c));
      // the means are the bits of adding the rows one after another to a zeroed row, then dividing
      for (index_t t = 0; t < 3; ++t) {
        std::vector<float> chain(static_cast<std::size_t>(c), 0.0f);
        for (index_t l = 0; l < n; ++l) vtr::ops::add_to(chain.data(), &x.v(t, l, 0), c);
        for (index_t k = 0; k < c; ++k) CHECK(plain[static_cast<std::size_t>(t * c + k)] == chain[static_cast<std::size_t>(k)] / static_cast<float>(n));
      }
    }
  }
}

TEST_CASE("the static test on given squared norms has the bits of its own norm pass") {
  vtr::workspace ws;
  for (index_t c : sizes)
    for (index_t w : {1, 2, 5, 18}) {  // 18: more frames than the given-norms path adds in one pass
      CAPTURE(c, w);
      video x(w, 6, c, static_cast<unsigned>(7 * c + w));
      for (index_t t = 1; t < w; ++t)  // positions 0 and 2 nearly static
        for (index_t k = 0; k < c; ++k) {
          x.v(t, 0, k) = x.v(0, 0, k) + 0.05f * x.v(t, 0, k);
          x.v(t, 2, k) = 3.0f * x.v(0, 2, k);
        }
      for (index_t k = 0; k < c; ++k) x.v(0, 4, k) = 0.0f;  // a zero row: the eps clamp
      // squared norms in a padded [W][6] block, as frame_means' row_norms2 gives them
      std::vector<float> n2(static_cast<std::size_t>(w * 8), -1.0f), means(static_cast<std::size_t>(w * c));
      vtr::ops::frame_means(x.c(), vtr::matrix_view<float>(means.data(), {w, c}), vtr::matrix_view<float>(n2.data(), {w, 6}, {8, 1}));
      const vtr::matrix_view<const float> nv(n2.data(), {w, 6}, {8, 1});
      std::vector<float> own(6), given(6);
      std::vector<std::uint8_t> m_own(6), m_given(6);
      auto a = vtr::ops::try_static_mask(x.c(), 0.5f, vtr::view_of(m_own), ws, vtr::view_of(own));
      auto b = vtr::ops::try_static_mask(x.c(), 0.5f, vtr::view_of(m_given), ws, vtr::view_of(given), nv);
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      CHECK(a.value() == b.value());
      for (std::size_t i = 0; i < 6; ++i) {
        CHECK(m_own[i] == m_given[i]);
        if (w >= 2) CHECK(own[i] == given[i]);
        else CHECK((std::isnan(own[i]) && std::isnan(given[i])));
      }
      if (w >= 2) CHECK(m_given[2] == 1);
    }
}

TEST_CASE("temporal_similarity (sum of unit vectors) equals the pairwise mean cosine") {
  vtr::workspace ws;
  for (index_t c : sizes)
    for (index_t w : {2, 3, 7}) {
      CAPTURE(c, w);
      video x(w, 4, c, static_cast<unsigned>(c + w));
      // make position 1 nearly static: every frame a scaled copy of frame 0 plus a little noise
      for (index_t t = 1; t < w; ++t)
        for (index_t k = 0; k < c; ++k) x.v(t, 1, k) = 2.0f * x.v(0, 1, k) + 0.01f * x.v(t, 1, k);
      std::vector<float> got(4), want(4);
      vtr::ops::temporal_similarity(x.c(), vtr::view_of(got), ws);
      vtr::ops::ref::temporal_similarity_pairwise(x.c(), vtr::view_of(want));
      for (int l = 0; l < 4; ++l) CHECK(std::fabs(got[l] - want[l]) <= 2e-5f);
      if (c > 1) CHECK(got[1] > 0.99f);
    }
}

TEST_CASE("temporal_similarity: identical frames give 1, a zero vector has cosine 0, one frame is NaN") {
  vtr::workspace ws;
  video x(4, 3, 17, 5);
  for (index_t t = 1; t < 4; ++t)
    for (index_t l = 0; l < 3; ++l)
      for (index_t k = 0; k < 17; ++k) x.v(t, l, k) = x.v(0, l, k);
  for (index_t k = 0; k < 17; ++k) x.v(2, 2, k) = 0.0f;  // position 2: frame 2 is a zero vector
  std::vector<float> sim(3);
  vtr::ops::temporal_similarity(x.c(), vtr::view_of(sim), ws);
  CHECK(sim[0] == Approx(1.0f).epsilon(1e-5));
  CHECK(sim[1] == Approx(1.0f).epsilon(1e-5));
  // 3 identical unit vectors and a zero: Σ⟨n̂_w, n̂_t⟩ = 9, and the reference subtracts 1 per frame even for
  // the zero vector whose self-product is 0: (9 − 4) / 12.
  CHECK(sim[2] == Approx(5.0f / 12.0f).epsilon(1e-5));

  const auto one = x.c();
  const vtr::tensor_view<const float, 3> single(one.data_handle(), {1, 3, 17}, one.strides());
  vtr::ops::temporal_similarity(single, vtr::view_of(sim), ws);
  for (float s : sim) CHECK(std::isnan(s));
}

TEST_CASE("static_mask: strict threshold, W = 1 all dynamic whatever tau") {
  vtr::workspace ws;
  // Two frames, position 0 orthogonal (sim exactly 0), position 1 identical (sim 1).
  std::vector<float> buf = {1, 0, /*l1*/ 0.6f, 0.8f, /*frame 1*/ 0, 1, /*l1*/ 0.6f, 0.8f};
  const vtr::tensor_view<const float, 3> seg(buf.data(), {2, 2, 2});
  std::vector<std::uint8_t> mask(2);
  std::vector<float> sim(2);
  auto n = vtr::ops::try_static_mask(seg, 0.0f, vtr::view_of(mask), ws, vtr::view_of(sim));
  REQUIRE(n.ok());
  CHECK(sim[0] == 0.0f);
  CHECK(n.value() == 1);
  CHECK(mask == std::vector<std::uint8_t>{0, 1});  // 0 > 0 is false: strict
  n = vtr::ops::try_static_mask(seg, -0.1f, vtr::view_of(mask), ws);
  CHECK(n.value() == 2);
  n = vtr::ops::try_static_mask(seg, 1.0f, vtr::view_of(mask), ws);
  CHECK(n.value() == 0);  // sim 1 is not > 1
  const vtr::tensor_view<const float, 3> single(buf.data(), {1, 2, 2});
  n = vtr::ops::try_static_mask(single, -1.0f, vtr::view_of(mask), ws);
  CHECK(n.value() == 0);
  CHECK(mask == std::vector<std::uint8_t>{0, 0});
}

TEST_CASE("temporal_mean_rows matches the scalar reference bit for bit") {
  // The kernel sums a position's frames in the reference's order (up to 8 at a time, so 16, 17 and 37
  // frames take several passes), then divides: every bit is the reference's.
  for (index_t w : {1, 5, 16, 17, 37})
    for (index_t c : sizes) {
      CAPTURE(w, c);
      video x(w, 6, c, 3);
      const std::vector<index_t> pos = {5, 0, 3, 4};
      std::vector<float> got(static_cast<std::size_t>(4 * c)), want(got.size());
      vtr::ops::temporal_mean_rows(x.c(), vtr::view_of(pos), vtr::matrix_view<float>(got.data(), {4, c}));
      vtr::ops::ref::temporal_mean_rows(x.c(), pos, vtr::matrix_view<float>(want.data(), {4, c}));
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
    }
}

TEST_CASE("temporal kernels reject bad arguments and name them") {
  vtr::workspace ws;
  video x(2, 3, 4, 1);
  std::vector<float> out(7);
  auto s = vtr::ops::try_frame_means(x.c(), vtr::matrix_view<float>(out.data(), {2, 3}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'out'"));
  std::vector<float> sim(2);
  s = vtr::ops::try_temporal_similarity(x.c(), vtr::view_of(sim), ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'sim'"));
  const std::vector<index_t> pos = {3};
  std::vector<float> m(4);
  s = vtr::ops::try_temporal_mean_rows(x.c(), vtr::view_of(pos), vtr::matrix_view<float>(m.data(), {1, 4}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'pos'"));
  std::vector<std::uint8_t> mask(3);
  auto r = vtr::ops::try_static_mask(x.c(), std::nanf(""), vtr::view_of(mask), ws);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message(), "'tau'"));
  // Optional norm views of the wrong shape are named; nothing is written on error.
  std::vector<float> means(8, 7.0f), n2(5, 7.0f);
  s = vtr::ops::try_frame_means(x.c(), vtr::matrix_view<float>(means.data(), {2, 4}), vtr::matrix_view<float>(n2.data(), {1, 5}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'row_norms2'"));
  CHECK(means == std::vector<float>(8, 7.0f));
  CHECK(n2 == std::vector<float>(5, 7.0f));
  std::vector<float> sim3(3, 7.0f);
  s = vtr::ops::try_temporal_similarity(x.c(), vtr::view_of(sim3), ws, vtr::matrix_view<const float>(n2.data(), {3, 1}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'sq_norms'"));
  CHECK(sim3 == std::vector<float>(3, 7.0f));
  r = vtr::ops::try_static_mask(x.c(), 0.5f, vtr::view_of(mask), ws, {}, vtr::matrix_view<const float>(n2.data(), {2, 2}));
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message(), "'sq_norms'"));
}
