// ops/attention.hpp against a naive double-precision softmax (ALGORITHMS §2.1, §0.6, §0.8), per SIMD level.
#include "catch.hpp"

#include <vtr/ops/attention.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;
namespace ops = vtr::ops;

namespace {

bool contains_text(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

/// [n][H][d] in padded storage (head pitch d + 3, row pitch H·(d + 3) + 1).
struct qk_tensor {
  std::vector<float> buf;
  vtr::tensor_view<const float, 3> view;
  qk_tensor(index_t n, index_t H, index_t d, unsigned seed, float scale = 1.0f) {
    const index_t hp = d + 3, rp = H * hp + 1;
    buf.assign(static_cast<std::size_t>(std::max<index_t>(n * rp, 1)), std::nanf(""));
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, scale);
    for (index_t i = 0; i < n; ++i)
      for (index_t h = 0; h < H; ++h)
        for (index_t t = 0; t < d; ++t) buf[std::size_t(i * rp + h * hp + t)] = g(rng);
    view = vtr::tensor_view<const float, 3>(buf.data(), {n, H, d}, {rp, hp, 1});
  }
};


/// One edge case of a logits kernel: q [rows][H][d] and k [keys][H_kv][d] (padded storage) against the
/// double-precision reference, causal and not, into an output whose rows and heads are padded; the
/// padding must stay untouched.
void check_edge_case(index_t rows, index_t H, index_t Hkv, index_t keys, index_t d, unsigned q_seed, unsigned k_seed,
                     const std::vector<index_t>& pos, vtr::workspace& ws) {
  qk_tensor q(rows, H, d, q_seed, 1.5f);
  qk_tensor k(keys, Hkv, d, k_seed);
  const index_t pitch = keys + 3, head_pitch = rows * pitch + 7;
  std::vector<float> ob(std::size_t(H * head_pitch), -3.0f);
  const vtr::tensor_view<float, 3> out(ob.data(), {H, rows, keys}, {head_pitch, pitch, 1});
  for (bool causal : {true, false}) {
    INFO("rows " << rows << " H " << H << " Hkv " << Hkv << " d " << d << " keys " << keys << " causal " << causal);
    const ops::attention_mode mode{causal, false};
    REQUIRE(ops::try_attention_rows(q.view, k.view, vtr::view_of(pos), mode, out, ws).ok());
    const auto want = ops::ref::attention_rows(q.view, k.view, pos, mode);
    for (index_t h = 0; h < H; ++h)
      for (index_t r = 0; r < rows; ++r)
        for (index_t j = 0; j < keys; ++j) {
          const double w = want[std::size_t((h * rows + r) * keys + j)];
          CHECK(std::abs(double(out(h, r, j)) - w) <= 1e-5 * w + 1e-7);
        }
    for (std::size_t i = 0; i < ob.size(); ++i) {  // the padding between rows and heads untouched
      const index_t within = static_cast<index_t>(i) % head_pitch;
      if (within >= rows * pitch || within % pitch >= keys) CHECK(ob[i] == -3.0f);
    }
  }
}

}  // namespace

TEST_CASE("attention_rows: matches a double-precision softmax (causal, non-causal, GQA, strided)") {
  vtr::workspace ws;
  struct cfg {
    index_t rows, H, Hkv, d, keys;
  };
  const cfg cfgs[] = {{1, 1, 1, 1, 1},    {1, 4, 4, 8, 7},     {3, 4, 2, 16, 15}, {2, 8, 1, 32, 17},
                      {1, 32, 32, 128, 651}, {5, 6, 3, 64, 577}, {4, 2, 2, 7, 300}, {2, 2, 1, 128, 2880},
                      {40, 8, 2, 128, 300},  // stacks 4 × 40 query rows per kv head: several chunks
                      // few stacked rows over many kv heads, GQA and per head (the few-rows kernel
                      // walks every head of a key block before the next block)
                      {3, 20, 10, 128, 300}, {2, 6, 6, 256, 200}};
  for (const auto& c : cfgs)
    for (bool causal : {true, false}) {
      qk_tensor q(c.rows, c.H, c.d, static_cast<unsigned>(c.keys + c.d), 2.0f);
      qk_tensor k(c.keys, c.Hkv, c.d, static_cast<unsigned>(c.keys * 3 + 1));
      std::vector<index_t> pos;
      std::mt19937 rng(static_cast<unsigned>(c.keys));
      for (index_t r = 0; r < c.rows; ++r)  // the last row sees everything; others at random positions
        pos.push_back(r == c.rows - 1 ? c.keys - 1 : std::uniform_int_distribution<index_t>(0, c.keys - 1)(rng));
      // Output with padded rows.
      const index_t pitch = c.keys + 5;
      std::vector<float> ob(std::size_t(c.H * c.rows * pitch), -3.0f);
      const vtr::tensor_view<float, 3> out(ob.data(), {c.H, c.rows, c.keys}, {c.rows * pitch, pitch, 1});
      const ops::attention_mode mode{causal, false};
      INFO("rows " << c.rows << " H " << c.H << " Hkv " << c.Hkv << " d " << c.d << " keys " << c.keys << " causal " << causal);
      REQUIRE(ops::try_attention_rows(q.view, k.view, vtr::view_of(pos), mode, out, ws).ok());
      const auto want = ops::ref::attention_rows(q.view, k.view, pos, mode);
      double worst = 0;
      for (index_t h = 0; h < c.H; ++h)
        for (index_t r = 0; r < c.rows; ++r) {
          double sum = 0;
          for (index_t j = 0; j < c.keys; ++j) {
            const double w = want[std::size_t((h * c.rows + r) * c.keys + j)];
            const double g = out(h, r, j);
            sum += g;
            worst = std::max(worst, std::abs(g - w) / (1e-6 + w));
            if (causal && j > pos[std::size_t(r)]) CHECK(out(h, r, j) == 0.0f);  // masked: exactly 0
          }
          CHECK(std::abs(sum - 1.0) < 1e-4);
          CHECK(ob[std::size_t((h * c.rows + r) * pitch + c.keys)] == -3.0f);  // padding untouched
        }
      CHECK(worst < 1e-3);
    }
}

TEST_CASE("attention_rows: the packed logits kernel at every edge: partial vectors and blocks, key tails, padded heads") {
  // From one vector of stacked rows per kv head (rows × H/H_kv ≥ lanes) the logits come from the packed
  // kernel: blocks of 3 vectors of rows × 4 or 8 keys. Row counts around the vector and block sizes,
  // key counts that leave every tail width, and an output whose heads are not contiguous.
  using Arch = vtr::simd::default_arch;
  const index_t L = static_cast<index_t>(vtr::simd::lanes<float, Arch>);
  vtr::workspace ws;
  struct cfg {
    index_t rows, H, Hkv;
  };
  // Also half vectors past whole ones: L + L/2, 2L + L/2 (the 40 rater rows on AVX-512), 3L + L/2 (a
  // second block of half a vector), and 5 query heads of L/2 rows stacked.
  const index_t hl = L / 2;
  const cfg cfgs[] = {{L - 1, 1, 1},          {L, 1, 1},         {L + 1, 2, 2},  {2 * L - 1, 1, 1},      {3 * L, 1, 1},
                      {3 * L + 1, 2, 1},      {2, 3 * L, 3},     {L + 3, 4, 2},  {L + hl, 1, 1},         {2 * L + hl, 1, 1},
                      {2 * L + hl + 1, 1, 1}, {3 * L + hl, 1, 1}, {hl, 5, 1}};
  for (const auto& c : cfgs)
    for (index_t keys : {1, 3, 8, 9, 13, 37})
      for (index_t d : {1, 5, 16}) {
        std::vector<index_t> pos;
        for (index_t r = 0; r < c.rows; ++r) pos.push_back((r * 5 + 2) % keys);
        check_edge_case(c.rows, c.H, c.Hkv, keys, d, static_cast<unsigned>(keys * 7 + d), static_cast<unsigned>(keys + 31 * d), pos, ws);
      }
}

TEST_CASE("attention_rows: the few-rows kernel at every edge: each chunk of stacked rows, partial key blocks, depth tails") {
  // Below one vector of stacked rows per kv head (rows × H/H_kv < lanes) the logits come from the
  // few-rows kernel: register blocks of M = 8, 4, 2, 1 stacked rows × (8 or 16)/M keys, each logit
  // summed along d in vectors. Every stacked-row count below a vector (so every chunk combination),
  // stacked as rows, as GQA heads, and over two kv heads; key counts that leave every block width;
  // depths with and without a partial vector; strided q, k and output.
  using Arch = vtr::simd::default_arch;
  const index_t L = static_cast<index_t>(vtr::simd::lanes<float, Arch>);
  vtr::workspace ws;
  for (index_t m = 1; m < L; ++m) {
    struct cfg {
      index_t rows, H, Hkv;
    };
    const cfg cfgs[] = {{m, 1, 1}, {1, m, 1}, {1, 2 * m, 2}};
    for (const auto& c : cfgs)
      for (index_t keys : {1, 3, 8, 9, 13, 17, 37})
        for (index_t d : {index_t(1), index_t(5), L, L + 3, 2 * L + 1}) {
          std::vector<index_t> pos;
          for (index_t r = 0; r < c.rows; ++r) pos.push_back(r == 0 ? keys - 1 : (r * 5 + 2) % keys);
          check_edge_case(c.rows, c.H, c.Hkv, keys, d, static_cast<unsigned>(keys * 5 + d + m),
                          static_cast<unsigned>(keys + 17 * d + m), pos, ws);
        }
  }
}

TEST_CASE("attention_rows: GQA maps head h to kv head h / (H / H_kv)") {
  vtr::workspace ws;
  // Kv head 1 is a copy of kv head 0 scaled: query heads 2, 3 (group 1) must differ from 0, 1.
  qk_tensor q(1, 4, 8, 5);
  qk_tensor k(9, 2, 8, 6);
  std::vector<float> ob(4 * 9);
  const vtr::tensor_view<float, 3> out(ob.data(), {4, 1, 9});
  std::vector<index_t> pos{8};
  ops::attention_rows(q.view, k.view, vtr::view_of(pos), {}, out, ws);
  const auto want = ops::ref::attention_rows(q.view, k.view, pos, {});
  for (std::size_t i = 0; i < ob.size(); ++i) CHECK(ob[i] == Approx(want[i]).epsilon(1e-4).margin(1e-7));
  // Same query for all heads: heads 0 and 1 equal (same kv head), head 2 differs.
  std::vector<float> qs(4 * 8, 0.0f), ks(9 * 2 * 8);
  for (index_t t = 0; t < 8; ++t)
    for (index_t h = 0; h < 4; ++h) qs[std::size_t(h * 8 + t)] = 0.3f * float(t);
  for (std::size_t i = 0; i < ks.size(); ++i) ks[i] = std::sin(float(i));
  const vtr::tensor_view<const float, 3> qv(qs.data(), {1, 4, 8}), kv(ks.data(), {9, 2, 8});
  ops::attention_rows(qv, kv, vtr::view_of(pos), {}, out, ws);
  for (index_t j = 0; j < 9; ++j) {
    CHECK(out(0, 0, j) == out(1, 0, j));
    CHECK(out(2, 0, j) == out(3, 0, j));
  }
  CHECK(out(0, 0, 0) != out(2, 0, 0));
}

TEST_CASE("attention_rows: the LSE path equals the full path on the requested columns (§2.1)") {
  vtr::workspace ws;
  for (bool causal : {true, false}) {
    const index_t rows = 4, H = 8, Hkv = 2, d = 64, keys = 651;
    qk_tensor q(rows, H, d, 11, 1.5f);
    qk_tensor k(keys, Hkv, d, 12);
    std::vector<index_t> pos{keys - 100, 40, 600, keys - 1};
    const ops::attention_mode mode{causal, false};
    std::vector<float> full(std::size_t(H * rows * keys));
    const vtr::tensor_view<float, 3> fv(full.data(), {H, rows, keys});
    ops::attention_rows(q.view, k.view, vtr::view_of(pos), mode, fv, ws);
    const auto lse = ops::ref::attention_lse(q.view, k.view, pos, mode);
    const vtr::tensor_view<const float, 2> lv(lse.data(), {H, rows});
    for (auto [cb, ce] : {std::array<index_t, 2>{35, 611}, {0, keys}, {600, 601}, {640, 651}, {10, 10}}) {
      INFO("causal " << causal << " columns [" << cb << ", " << ce << ")");
      std::vector<float> part(std::size_t(H * rows * (ce - cb)), -1.0f);
      const vtr::tensor_view<float, 3> pv(part.data(), {H, rows, ce - cb});
      REQUIRE(ops::try_attention_rows(q.view, k.view, vtr::view_of(pos), mode, lv, cb, ce, pv, ws).ok());
      for (index_t h = 0; h < H; ++h)
        for (index_t r = 0; r < rows; ++r)
          for (index_t j = cb; j < ce; ++j) {
            const float f = fv(h, r, j), p = pv(h, r, j - cb);
            if (causal && j > pos[std::size_t(r)]) CHECK(p == 0.0f);
            CHECK(std::abs(double(p) - double(f)) <= 2e-4 * double(f) + 1e-9);
          }
    }
  }
}

TEST_CASE("softmax_in_place / exp_minus_in_place: every length, partial vector included, nothing past n written") {
  using Arch = vtr::simd::default_arch;
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 4.0f);
  for (index_t n = 0; n <= 70; ++n) {
    INFO("n " << n << " on " << vtr::simd::arch_name<Arch>());
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = g(rng);
    std::vector<float> z(x);
    z.push_back(-7.0f);  // sentinel just past the row
    ops::detail::softmax_in_place<Arch>(z.data(), n);
    CHECK(z[std::size_t(n)] == -7.0f);
    double m = -1e300, tot = 0;
    for (float v : x) m = std::max(m, double(v));
    for (float v : x) tot += std::exp(double(v) - m);
    // Float error: the rounding of x − m (half an ulp of |x − m|, amplified by exp) plus a few ulp from
    // exp, the sum and the scaling.
    for (index_t j = 0; j < n; ++j) {
      const double xm = double(x[std::size_t(j)]) - m, want = std::exp(xm) / tot;
      CHECK(std::abs(double(z[std::size_t(j)]) - want) <= (5e-7 + std::abs(xm) * 6e-8) * want);
    }
    std::vector<float> e(x);
    e.push_back(-7.0f);
    ops::detail::exp_minus_in_place<Arch>(e.data(), n, 1.5f);
    CHECK(e[std::size_t(n)] == -7.0f);
    for (index_t j = 0; j < n; ++j) {
      const double xm = double(x[std::size_t(j)]) - 1.5, want = std::exp(xm);
      CHECK(std::abs(double(e[std::size_t(j)]) - want) <= (5e-7 + std::abs(xm) * 6e-8) * want);
    }
  }
}

TEST_CASE("attention_rows: nonfinite_to_zero, non-causal without positions") {
  vtr::workspace ws;
  // z = [inf, 0, 0] in fp32 → with nonfinite_to_zero every logit is 0 → uniform.
  std::vector<float> qs{1e30f}, ks{1e30f, 0.0f, 0.0f}, ob(3);
  const vtr::tensor_view<const float, 3> qv(qs.data(), {1, 1, 1}), kv(ks.data(), {3, 1, 1});
  const vtr::tensor_view<float, 3> out(ob.data(), {1, 1, 3});
  ops::attention_rows(qv, kv, {}, ops::attention_mode{false, true}, out, ws);
  for (float p : ob) CHECK(p == Approx(1.0f / 3.0f));
}

TEST_CASE("attention_rows: errors name the argument, output untouched") {
  vtr::workspace ws;
  qk_tensor q(2, 6, 8, 1), k(10, 4, 8, 2), k2(10, 3, 7, 3);
  std::vector<index_t> pos{3, 9};
  std::vector<float> ob(6 * 2 * 10, -1.0f);
  const vtr::tensor_view<float, 3> out(ob.data(), {6, 2, 10});
  auto st = ops::try_attention_rows(q.view, k.view, vtr::view_of(pos), {}, out, ws);  // 6 heads vs 4 kv heads
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "multiple"));
  CHECK(contains_text(st.message(), "'q'"));
  st = ops::try_attention_rows(q.view, k2.view, vtr::view_of(pos), {}, out, ws);  // d 8 vs 7
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "'k'"));
  qk_tensor k3(10, 3, 8, 4);
  std::vector<index_t> far{3, 10};
  st = ops::try_attention_rows(q.view, k3.view, vtr::view_of(far), {}, out, ws);
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "'row_positions'"));
  st = ops::try_attention_rows(q.view, k3.view, {}, {}, out, ws);  // causal needs positions
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "'row_positions'"));
  const vtr::tensor_view<float, 3> bad(ob.data(), {6, 2, 9});
  st = ops::try_attention_rows(q.view, k3.view, vtr::view_of(pos), {}, bad, ws);
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "'out'"));
  CHECK(ob == std::vector<float>(ob.size(), -1.0f));
  // Output overlapping q.
  std::vector<float> shared(6 * 2 * 10 + 200, 0.5f);
  const vtr::tensor_view<const float, 3> qa(shared.data(), {2, 6, 8});
  const vtr::tensor_view<float, 3> oa(shared.data() + 50, {6, 2, 10});
  st = ops::try_attention_rows(qa, k3.view, vtr::view_of(pos), {}, oa, ws);
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "overlaps"));
  // LSE form: bad range, bad lse shape.
  std::vector<float> lse(6 * 2, 0.0f);
  const vtr::tensor_view<const float, 2> lv(lse.data(), {6, 2}), lbad(lse.data(), {2, 6});
  const vtr::tensor_view<float, 3> po(ob.data(), {6, 2, 4});
  st = ops::try_attention_rows(q.view, k3.view, vtr::view_of(pos), {}, lv, 8, 12, po, ws);
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "'col_end'"));
  st = ops::try_attention_rows(q.view, k3.view, vtr::view_of(pos), {}, lbad, 2, 6, po, ws);
  REQUIRE(!st.ok());
  CHECK(contains_text(st.message(), "'lse'"));
  CHECK_THROWS_AS(ops::attention_rows(q.view, k.view, vtr::view_of(pos), {}, out, ws), vtr::invalid_input);
}
