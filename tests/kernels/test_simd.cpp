// The simd layer's own helpers (simd/simd.hpp) that the kernels build on, per SIMD level.
#include "catch.hpp"

#include <vtr/simd/simd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace simd = vtr::simd;

TEST_CASE("simd: reduce_max / reduce_min find the extreme in whichever lane it lies") {
  using Arch = simd::default_arch;
  constexpr std::size_t L = simd::lanes<float, Arch>;
  INFO("on " << simd::arch_name<Arch>());
  for (std::size_t at = 0; at < L; ++at) {
    alignas(64) float v[L];
    for (std::size_t i = 0; i < L; ++i) v[i] = 1.0f + 0.25f * float(i % 3);
    v[at] = 9.5f;
    CHECK(simd::reduce_max(simd::batch<float, Arch>::load_aligned(v)) == 9.5f);
    v[at] = -std::numeric_limits<float>::infinity();
    CHECK(simd::reduce_min(simd::batch<float, Arch>::load_aligned(v)) == -std::numeric_limits<float>::infinity());
    CHECK(simd::reduce_max(simd::batch<float, Arch>::load_aligned(v)) == *std::max_element(v, v + L));
  }
}

TEST_CASE("simd: load_partial reads n lanes and fills the rest; store_partial writes n lanes only") {
  using Arch = simd::default_arch;
  using B = simd::batch<float, Arch>;
  constexpr std::size_t L = simd::lanes<float, Arch>;
  for (std::size_t n = 0; n < L; ++n) {
    INFO("n " << n << " on " << simd::arch_name<Arch>());
    std::vector<float> src(n);  // exactly n floats: a read past them is a heap overflow under ASan
    for (std::size_t i = 0; i < n; ++i) src[i] = float(i) + 0.5f;
    alignas(64) float got[L];
    simd::load_partial<Arch>(src.data(), n, -2.0f).store_aligned(got);
    for (std::size_t i = 0; i < L; ++i) CHECK(got[i] == (i < n ? float(i) + 0.5f : -2.0f));
    std::vector<float> dst(L, 7.0f);
    simd::store_partial<Arch>(dst.data(), B(3.0f), n);
    for (std::size_t i = 0; i < L; ++i) CHECK(dst[i] == (i < n ? 3.0f : 7.0f));
  }
}

TEST_CASE("simd: reduce_add_each puts the sum of register i in lane i") {
  // Lane j of register i holds 2^i·(j + 1) + 1000·i: small integers, so every sum is exact in any order
  // and each register's sum is distinct. (xsimd 8's AVX-512 haddp put register 4's sum in lane 2.)
  using Arch = simd::default_arch;
  using B = simd::batch<float, Arch>;
  constexpr std::size_t L = simd::lanes<float, Arch>;
  INFO("on " << simd::arch_name<Arch>());
  B rows[L];
  for (std::size_t i = 0; i < L; ++i) {
    alignas(64) float v[L];
    for (std::size_t j = 0; j < L; ++j) v[j] = float((1u << i) * (j + 1) + 1000 * i);
    rows[i] = B::load_aligned(v);
  }
  alignas(64) float got[L];
  simd::reduce_add_each<Arch>(rows).store_aligned(got);
  for (std::size_t i = 0; i < L; ++i) {
    CAPTURE(i);
    CHECK(got[i] == float((1u << i) * (L * (L + 1) / 2) + 1000 * i * L));
  }
}

TEST_CASE("simd: store_columns4 writes lane i of register c to row i, column c, and nothing else") {
  using Arch = simd::default_arch;
  using B = simd::batch<float, Arch>;
  constexpr std::size_t L = simd::lanes<float, Arch>;
  alignas(64) float r[4][L];
  for (std::size_t c = 0; c < 4; ++c)
    for (std::size_t i = 0; i < L; ++i) r[c][i] = float(100 * c + i);
  const std::ptrdiff_t pitch = 9, col = 3;
  for (std::size_t rows = 0; rows <= L; ++rows)
    for (std::size_t width = 1; width <= 4; ++width) {
      INFO("rows " << rows << " width " << width << " on " << simd::arch_name<Arch>());
      std::vector<float> out(L * std::size_t(pitch), -1.0f);
      std::vector<float*> dst(L);
      for (std::size_t i = 0; i < L; ++i) dst[i] = out.data() + std::ptrdiff_t(i) * pitch;
      simd::store_columns4<Arch>(B::load_aligned(r[0]), B::load_aligned(r[1]), B::load_aligned(r[2]), B::load_aligned(r[3]),
                                 dst.data(), col, rows, width);
      for (std::size_t i = 0; i < L; ++i)
        for (std::ptrdiff_t j = 0; j < pitch; ++j) {
          const bool written = i < rows && j >= col && j < col + std::ptrdiff_t(width);
          CHECK(out[i * std::size_t(pitch) + std::size_t(j)] == (written ? r[j - col][i] : -1.0f));
        }
    }
}
