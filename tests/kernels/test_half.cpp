// Half-precision inputs (core/half.hpp, simd::load_as_float, the half overloads of the scoring kernels),
// per SIMD level: conversions are exact (NaN, ±inf, subnormals, ties included), and every kernel on a half
// view gives bit for bit what it gives on the same data converted to float.
#include "catch.hpp"

#include <vtr/core/half.hpp>
#include <vtr/ops/convert.hpp>
#include <vtr/ops/reduce.hpp>
#include <vtr/ops/similarity.hpp>
#include <vtr/ops/topk.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using vtr::bfloat16;
using vtr::float16;
using vtr::index_t;
namespace ops = vtr::ops;
namespace simd = vtr::simd;

namespace {

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
bool same_bits(float a, float b) { return bits_of(a) == bits_of(b); }

/// binary16 value of a bit pattern, from the IEEE definition in double (independent of the library).
double half_value(std::uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0x1f) return m ? std::numeric_limits<double>::quiet_NaN() : s * std::numeric_limits<double>::infinity();
  if (e == 0) return s * std::ldexp(double(m), -24);
  return s * std::ldexp(1.0 + m / 1024.0, e - 15);
}

/// Reference float → binary16, round to nearest even: the nearest of all finite halves, found by
/// search over the 31744 non-negative finite patterns (ties → even pattern), overflow by the IEEE rule
/// (|x| ≥ 65520 → inf).
std::uint16_t half_reference(float f) {
  if (std::isnan(f)) return 0x7e00;
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(double(f));
  if (a >= 65520.0) return sign | 0x7c00;
  // Halves are monotone in their pattern for non-negative values: binary search the last ≤ a.
  std::uint16_t lo = 0, hi = 0x7bff;
  while (lo < hi) {
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi + 1) / 2);
    if (half_value(mid) <= a) lo = mid; else hi = static_cast<std::uint16_t>(mid - 1);
  }
  std::uint16_t best = lo;
  if (lo < 0x7bff || a > half_value(0x7bff)) {
    const std::uint16_t up = static_cast<std::uint16_t>(lo + 1);
    const double dl = a - half_value(lo), du = half_value(up) - a;
    if (du < dl || (du == dl && (up & 1) == 0)) best = up;
  }
  return sign | best;
}

/// Reference float → bfloat16: the nearer of truncation and truncation + 1 ulp (ties → even), in double.
std::uint16_t bf16_reference(float f) {
  if (std::isnan(f)) return static_cast<std::uint16_t>((bits_of(f) >> 16) | 0x40);
  const std::uint32_t u = bits_of(f);
  const std::uint16_t t = static_cast<std::uint16_t>(u >> 16);
  if ((u & 0xffff) == 0) return t;
  const double x = std::fabs(double(f));
  const double lo = std::fabs(double(float_of(std::uint32_t(t) << 16)));
  // Above the largest finite bfloat16 the next value is 2^128 (rounding there gives inf).
  const double hi = (t & 0x7fff) == 0x7f7f ? std::ldexp(1.0, 128) : std::fabs(double(float_of(std::uint32_t(t + 1) << 16)));
  const double dl = x - lo, du = hi - x;
  if (du < dl || (du == dl && ((t + 1) & 1) == 0)) return static_cast<std::uint16_t>(t + 1);
  return t;
}

template <class H>
std::vector<H> round_all(const std::vector<float>& v) {
  std::vector<H> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = H(v[i]);
  return out;
}
template <class H>
std::vector<float> widen_all(const std::vector<H>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = vtr::to_float(v[i]);
  return out;
}

std::vector<float> random_floats(std::size_t n, unsigned seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST_CASE("half: the storage types are two trivially copyable bytes") {
  STATIC_REQUIRE(sizeof(float16) == 2);
  STATIC_REQUIRE(sizeof(bfloat16) == 2);
  STATIC_REQUIRE(std::is_trivially_copyable_v<float16>);
  STATIC_REQUIRE(std::is_trivially_copyable_v<bfloat16>);
  STATIC_REQUIRE(vtr::is_half_v<const bfloat16>);
  STATIC_REQUIRE_FALSE(vtr::is_half_v<float>);
  // Usable as view element types.
  std::vector<bfloat16> buf(6, bfloat16(1.5f));
  vtr::matrix_view<const bfloat16> v(buf.data(), {2, 3});
  CHECK(vtr::to_float(v(1, 2)) == 1.5f);
}

TEST_CASE("half: binary16 → float is exact for all 65536 patterns, and round trips") {
  int checked = 0;
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto hb = static_cast<std::uint16_t>(h);
    const float f = float16::to_float(hb);
    const double want = half_value(hb);
    INFO("pattern " << std::hex << h);
    if (std::isnan(want)) {
      REQUIRE(std::isnan(f));
      CHECK(std::signbit(f) == bool(h & 0x8000));
      CHECK((bits_of(f) & 0x00400000u) != 0);  // comes back quiet
      CHECK(std::isnan(float(float16(f))));
      continue;
    }
    REQUIRE(double(f) == want);
    REQUIRE(std::signbit(f) == bool(h & 0x8000));  // −0 stays −0
    REQUIRE(float16::from_float(f) == hb);
    ++checked;
  }
  CHECK(checked == 65536 - 2 * 1023 + 0);  // every non-NaN pattern
}

TEST_CASE("half: float → binary16 rounds to nearest even (ties, subnormals, overflow)") {
  std::vector<float> probes = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e30f,
                               std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::denorm_min(), std::ldexp(1.0f, -24), std::ldexp(1.0f, -25),
                               std::nextafter(std::ldexp(1.0f, -25), 1.0f), std::ldexp(1.0f, -14),
                               std::ldexp(1.5f, -24), std::ldexp(2.5f, -24), 1.0f + std::ldexp(1.0f, -11),
                               1.0f + 3 * std::ldexp(1.0f, -11)};
  // Every midpoint between consecutive halves (and its float neighbours) — the tie cases.
  for (std::uint16_t h = 0; h < 0x7bff; ++h) {
    const float mid = static_cast<float>((half_value(h) + half_value(static_cast<std::uint16_t>(h + 1))) / 2);
    probes.push_back(mid);
    probes.push_back(std::nextafter(mid, 0.0f));
    probes.push_back(std::nextafter(mid, 1e9f));
    probes.push_back(-mid);
  }
  auto rnd = random_floats(20000, 7, -70000.0f, 70000.0f);
  probes.insert(probes.end(), rnd.begin(), rnd.end());
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) probes.push_back(float_of(static_cast<std::uint32_t>(rng())));  // any bit pattern
  for (float f : probes) {
    INFO("float bits " << std::hex << bits_of(f));
    const std::uint16_t got = float16::from_float(f);
    if (std::isnan(f)) {
      CHECK((got & 0x7c00) == 0x7c00);
      CHECK((got & 0x3ff) != 0);
      continue;
    }
    REQUIRE(got == half_reference(f));
#if defined(__FLT16_MAX__) && !defined(__clang__)
    // Independent cross-check with the compiler's own _Float16 conversion where it has one.
    const _Float16 c = static_cast<_Float16>(f);
    std::uint16_t cb;
    std::memcpy(&cb, &c, 2);
    REQUIRE(got == cb);
#endif
  }
  CHECK(float16::from_float(65520.0f) == 0x7c00);
  CHECK(float16::from_float(std::ldexp(1.0f, -25)) == 0x0000);  // tie → even (zero)
  CHECK(float16::from_float(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 ulp → tie → even (2)
}

TEST_CASE("half: bfloat16 conversions are exact and round to nearest even") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto hb = static_cast<std::uint16_t>(h);
    const float f = bfloat16::to_float(hb);
    REQUIRE(bits_of(f) == h << 16);  // a shift: exact, NaN payloads included
    if (!std::isnan(f)) REQUIRE(bfloat16::from_float(f) == hb);
  }
  std::vector<float> probes = {0.0f, -0.0f, 1.0f, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::infinity(),
                               float_of(0x3f808000u), float_of(0x3f818000u), float_of(0x3f808001u), float_of(0x7f7f8000u),
                               float_of(0x7f7f7fffu)};
  std::mt19937 rng(11);
  for (int i = 0; i < 100000; ++i) probes.push_back(float_of(static_cast<std::uint32_t>(rng())));
  for (int i = 0; i < 20000; ++i) probes.push_back(float_of((static_cast<std::uint32_t>(rng()) & 0xffff0000u) | 0x8000u));  // exact ties
  for (float f : probes) {
    INFO("float bits " << std::hex << bits_of(f));
    const std::uint16_t got = bfloat16::from_float(f);
    if (std::isnan(f)) {
      CHECK(std::isnan(bfloat16::to_float(got)));
      continue;
    }
    REQUIRE(got == bf16_reference(f));
  }
  CHECK(bfloat16::from_float(float_of(0x3f808000u)) == 0x3f80);  // tie → even
  CHECK(bfloat16::from_float(float_of(0x3f818000u)) == 0x3f82);  // tie → even (up)
  CHECK(bfloat16::from_float(float_of(0x7f7f8000u)) == 0x7f80);  // rounds up to inf
}

TEST_CASE("half: load_as_float equals the scalar conversion on every pattern, at this SIMD level") {
  using arch = simd::default_arch;
  constexpr std::size_t L = simd::lanes<float, arch>;
  std::vector<float16> h(65536 + L);
  std::vector<bfloat16> b(65536 + L);
  for (std::uint32_t i = 0; i < h.size(); ++i) {
    h[i] = float16::from_bits(static_cast<std::uint16_t>(i));
    b[i] = bfloat16::from_bits(static_cast<std::uint16_t>(i));
  }
  alignas(64) float got[64];
  int mismatches = 0;
  for (std::size_t base = 0; base < 65536; base += 3) {  // unaligned starts too
    simd::load_as_float<arch>(h.data() + base).store_aligned(got);
    for (std::size_t i = 0; i < L; ++i) mismatches += !same_bits(got[i], vtr::to_float(h[base + i]));
    simd::load_as_float<arch>(b.data() + base).store_aligned(got);
    for (std::size_t i = 0; i < L; ++i) mismatches += !same_bits(got[i], vtr::to_float(b[base + i]));
  }
  INFO("arch " << simd::arch_name<arch>());
  CHECK(mismatches == 0);
}

TEST_CASE("half: load_bfloat16_split and interleave give every pattern back in order, at this SIMD level") {
  using arch = simd::default_arch;
  if constexpr (simd::has_bfloat16_split<arch>) {
    constexpr std::size_t L = simd::lanes<float, arch>;
    std::vector<bfloat16> b(65536 + 2 * L);
    for (std::uint32_t i = 0; i < b.size(); ++i) b[i] = bfloat16::from_bits(static_cast<std::uint16_t>(i * 40503u));
    alignas(64) float even[64], odd[64], lo[64], hi[64];
    int mismatches = 0;
    for (std::size_t base = 0; base < 65536; base += 5) {  // odd starts: 32-bit words split across bfloat16 pairs
      simd::batch<float, arch> e, o, l, h;
      simd::load_bfloat16_split<arch>(b.data() + base, e, o);
      simd::interleave<arch>(e, o, l, h);
      e.store_aligned(even);
      o.store_aligned(odd);
      l.store_aligned(lo);
      h.store_aligned(hi);
      for (std::size_t i = 0; i < L; ++i) {
        mismatches += !same_bits(even[i], vtr::to_float(b[base + 2 * i]));
        mismatches += !same_bits(odd[i], vtr::to_float(b[base + 2 * i + 1]));
        mismatches += !same_bits(lo[i], vtr::to_float(b[base + i]));
        mismatches += !same_bits(hi[i], vtr::to_float(b[base + L + i]));
      }
    }
    INFO("arch " << simd::arch_name<arch>());
    CHECK(mismatches == 0);
  }
}

TEST_CASE("half: convert_rows and round_rows") {
  const index_t N = 5, D = 37, pitch = 41;
  auto src = random_floats(std::size_t(N * pitch), 5, -3.0f, 3.0f);
  std::vector<bfloat16> hb(src.size());
  std::vector<float16> hh(src.size());
  vtr::matrix_view<const float> in(src.data(), {N, D}, {pitch, 1});
  vtr::round_rows(in, vtr::matrix_view<bfloat16>(hb.data(), {N, D}, {pitch, 1}));
  vtr::round_rows(in, vtr::matrix_view<float16>(hh.data(), {N, D}, {pitch, 1}));
  std::vector<float> out(std::size_t(N * D));
  vtr::convert_rows(vtr::matrix_view<const bfloat16>(hb.data(), {N, D}, {pitch, 1}), vtr::matrix_view<float>(out.data(), {N, D}));
  for (index_t r = 0; r < N; ++r)
    for (index_t c = 0; c < D; ++c) {
      REQUIRE(same_bits(out[std::size_t(r * D + c)], vtr::to_float(bfloat16(src[std::size_t(r * pitch + c)]))));
      REQUIRE(std::abs(out[std::size_t(r * D + c)] - src[std::size_t(r * pitch + c)]) <= std::ldexp(1.0f, -8) * std::abs(src[std::size_t(r * pitch + c)]));
    }
  vtr::convert_rows(vtr::matrix_view<const float16>(hh.data(), {N, D}, {pitch, 1}), vtr::matrix_view<float>(out.data(), {N, D}));
  for (index_t r = 0; r < N; ++r)
    for (index_t c = 0; c < D; ++c)
      REQUIRE(same_bits(out[std::size_t(r * D + c)], vtr::to_float(float16(src[std::size_t(r * pitch + c)]))));
  // Wrong shape: rejected, output untouched.
  std::vector<float> small(4, -7.0f);
  const auto st = vtr::try_convert_rows(vtr::matrix_view<const float16>(hh.data(), {N, D}, {pitch, 1}),
                                        vtr::matrix_view<float>(small.data(), {2, 2}));
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("'out'") != std::string::npos);
  CHECK(small[0] == -7.0f);
}

TEST_CASE("half: convert_rows past the streaming size (non-temporal stores) gives the exact values") {
  // 1030 rows × 4097 (an odd width: every row starts at another alignment, so each peels a different head).
  const index_t N = 1030, D = 4097;
  static_assert(std::size_t(1030) * 4097 * sizeof(float) >= vtr::simd::streaming_store_bytes);
  auto src = random_floats(std::size_t(N * D), 9, -3.0f, 3.0f);
  std::vector<bfloat16> hb(src.size());
  vtr::round_rows(vtr::matrix_view<const float>(src.data(), {N, D}), vtr::matrix_view<bfloat16>(hb.data(), {N, D}));
  std::vector<float> out(src.size() + 1);
  vtr::convert_rows(vtr::matrix_view<const bfloat16>(hb.data(), {N, D}), vtr::matrix_view<float>(out.data() + 1, {N, D}));
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < src.size(); ++i) mismatches += !same_bits(out[i + 1], vtr::to_float(hb[i]));
  CHECK(mismatches == 0);
}

namespace {
template <class Half>
void check_reduce_half_equals_float(unsigned seed) {
  vtr::workspace ws;
  struct shape {
    index_t H, R, C;
  };
  // Widths with every remainder past the bfloat16 pairs of vectors (2·lanes): a whole vector, a part, none.
  const shape shapes[] = {{1, 1, 1},  {2, 3, 7},    {3, 5, 15},   {4, 2, 17},   {3, 4, 50},
                          {9, 3, 83}, {5, 3, 576},  {32, 4, 577}, {2, 3, 2880}, {3, 2, 5000}};
  for (const auto& sh : shapes) {
    const index_t pad = 3, pitch = sh.C + pad, hp = sh.R * pitch + pad;
    auto vals = random_floats(std::size_t(sh.H * hp), seed + unsigned(sh.C), 0.0f, 2.0f / float(sh.C));
    auto half = round_all<Half>(vals);
    auto widened = widen_all(half);
    vtr::tensor_view<const Half, 3> hv(half.data(), {sh.H, sh.R, sh.C}, {hp, pitch, 1});
    vtr::tensor_view<const float, 3> fv(widened.data(), {sh.H, sh.R, sh.C}, {hp, pitch, 1});
    std::vector<std::vector<index_t>> row_sets{{}, {sh.R - 1}};
    for (auto h : {ops::head_reduce::mean, ops::head_reduce::max, ops::head_reduce::sum})
      for (auto r : {ops::row_reduce::mean, ops::row_reduce::sum, ops::row_reduce::max})
        for (const auto& rows : row_sets) {
          INFO("H=" << sh.H << " R=" << sh.R << " C=" << sh.C << " head=" << int(h) << " row=" << int(r) << " rows=" << rows.size());
          std::vector<float> a(std::size_t(sh.C)), b(std::size_t(sh.C));
          REQUIRE(ops::try_reduce_attention(hv, h, r, vtr::view_of(a), ws, vtr::view_of(rows)).ok());
          REQUIRE(ops::try_reduce_attention(fv, h, r, vtr::view_of(b), ws, vtr::view_of(rows)).ok());
          int diff = 0;
          for (std::size_t c = 0; c < a.size(); ++c) diff += !same_bits(a[c], b[c]);
          REQUIRE(diff == 0);
          // …and both are the §2.2/§2.3 reduction of the half values.
          const auto want = ops::ref::reduce_attention(fv, h, r, rows);
          for (std::size_t c = 0; c < a.size(); ++c)
            REQUIRE(std::abs(double(a[c]) - double(want[c])) <= 2e-5 * std::abs(double(want[c])) + 1e-9);
        }
  }
  // Errors name the argument and shapes, as for float.
  std::vector<Half> z(6, Half(0.5f));
  std::vector<float> out(2);
  const auto st = ops::try_reduce_attention(vtr::tensor_view<const Half, 3>(z.data(), {1, 2, 3}), ops::head_reduce::mean,
                                            ops::row_reduce::mean, vtr::view_of(out), ws);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("'out'") != std::string::npos);
}
}  // namespace

TEST_CASE("half: reduce_attention on float16/bfloat16 equals the float kernel on the converted block") {
  check_reduce_half_equals_float<float16>(100);
  check_reduce_half_equals_float<bfloat16>(200);
}

TEST_CASE("half: top-k of scores from fp16 vs fp32 attention agree wherever the scores are tie-free") {
  // fp16 keeps 11 significant bits: with score gaps at the selection boundary larger than the fp16
  // rounding of the scores, the kept indices are identical (DESIGN §2.7 total order on both).
  vtr::workspace ws;
  const index_t H = 8, C = 576, keep = 64;
  // Scores spread on a grid with gaps ≥ 2^-7 relative (far above fp16's 2^-11 per element).
  std::vector<float> base(static_cast<std::size_t>(C));
  std::mt19937 rng(9);
  std::vector<index_t> perm(static_cast<std::size_t>(C));
  for (index_t i = 0; i < C; ++i) perm[std::size_t(i)] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  for (index_t i = 0; i < C; ++i) base[std::size_t(perm[std::size_t(i)])] = 0.25f + 0.75f * float(i) / float(C);
  std::vector<float> attn(static_cast<std::size_t>(H * C));
  std::uniform_real_distribution<float> jit(-1e-4f, 1e-4f);
  for (index_t h = 0; h < H; ++h)
    for (index_t c = 0; c < C; ++c) attn[std::size_t(h * C + c)] = base[std::size_t(c)] * (1.0f + jit(rng)) / float(C);
  auto half = round_all<float16>(attn);
  std::vector<float> s32(static_cast<std::size_t>(C)), s16(static_cast<std::size_t>(C));
  ops::reduce_attention(vtr::tensor_view<const float, 3>(attn.data(), {H, 1, C}), ops::head_reduce::mean, ops::row_reduce::mean,
                        vtr::view_of(s32), ws);
  ops::reduce_attention(vtr::tensor_view<const float16, 3>(half.data(), {H, 1, C}), ops::head_reduce::mean,
                        ops::row_reduce::mean, vtr::view_of(s16), ws);
  CHECK(ops::ref::topk(s32, keep, ops::order::ascending) == ops::ref::topk(s16, keep, ops::order::ascending));
}

namespace {
template <class Half>
void check_similarity_half_equals_float() {
  for (index_t n : {index_t(1), index_t(7), index_t(15), index_t(17), index_t(64), index_t(576), index_t(577), index_t(4096)}) {
    INFO("n=" << n);
    auto a = random_floats(std::size_t(n), unsigned(n), -2.0f, 2.0f), b = random_floats(std::size_t(n), unsigned(n) + 1, -2.0f, 2.0f);
    auto ah = round_all<Half>(a), bh = round_all<Half>(b);
    auto af = widen_all(ah), bf = widen_all(bh);
    REQUIRE(same_bits(ops::dot(ah.data(), bh.data(), n), ops::dot(af.data(), bf.data(), n)));
    REQUIRE(same_bits(ops::dot(a.data(), bh.data(), n), ops::dot(a.data(), bf.data(), n)));  // mixed
    REQUIRE(same_bits(ops::squared_norm(ah.data(), n), ops::squared_norm(af.data(), n)));
    REQUIRE(same_bits(ops::cosine(ah.data(), bh.data(), n), ops::cosine(af.data(), bf.data(), n)));
  }
  const index_t N = 9, D = 577;
  auto x = random_floats(std::size_t(N * D), 4, -1.0f, 1.0f);
  for (index_t c = 0; c < D; ++c) x[std::size_t(3 * D + c)] = 0.0f;  // a zero row: eps clamp
  auto xh = round_all<Half>(x);
  auto xf = widen_all(xh);
  std::vector<float> o1(x.size()), o2(x.size());
  ops::l2_normalize_rows(vtr::matrix_view<const Half>(xh.data(), {N, D}), ops::normalize_eps, vtr::matrix_view<float>(o1.data(), {N, D}));
  ops::l2_normalize_rows(vtr::matrix_view<const float>(xf.data(), {N, D}), ops::normalize_eps, vtr::matrix_view<float>(o2.data(), {N, D}));
  int diff = 0;
  for (std::size_t i = 0; i < o1.size(); ++i) diff += !same_bits(o1[i], o2[i]);
  CHECK(diff == 0);
  // An output overlapping the half input is rejected (the half form cannot run in place).
  const auto st = ops::try_l2_normalize_rows(vtr::matrix_view<const Half>(xh.data(), {2, 2}), 1e-12f,
                                             vtr::matrix_view<float>(reinterpret_cast<float*>(xh.data()), {2, 2}));
  CHECK_FALSE(st.ok());
}
}  // namespace

TEST_CASE("half: dot, squared_norm, cosine and l2_normalize_rows on half rows equal the float kernels") {
  check_similarity_half_equals_float<float16>();
  check_similarity_half_equals_float<bfloat16>();
}
