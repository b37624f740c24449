// ops/reduce.hpp against its scalar references (ALGORITHMS §2.2, §2.3), per SIMD level.
#include "catch.hpp"

#include <vtr/ops/reduce.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string>
#include <cstring>
#include <vector>

using vtr::index_t;
namespace ops = vtr::ops;

namespace {

bool has_text(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

/// A [H][R][C] attention block in padded storage (row pitch C + pad, head pitch R·pitch + pad).
struct attn_block {
  std::vector<float> buf;
  vtr::tensor_view<const float, 3> view;
  attn_block(index_t H, index_t R, index_t C, index_t pad, unsigned seed) {
    const index_t pitch = C + pad, hp = R * pitch + pad;
    buf.assign(static_cast<std::size_t>(std::max<index_t>(H * hp, 1)), std::nanf(""));  // padding is NaN: must never be read
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(0.0f, 1.0f);
    for (index_t h = 0; h < H; ++h)
      for (index_t r = 0; r < R; ++r)
        for (index_t c = 0; c < C; ++c) buf[std::size_t(h * hp + r * pitch + c)] = d(rng) / float(C);
    view = vtr::tensor_view<const float, 3>(buf.data(), {H, R, C}, {hp, pitch, 1});
  }
};

void check_close(const std::vector<float>& got, const std::vector<float>& want, double rtol = 2e-5) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("column " << i << " got " << got[i] << " want " << want[i]);
    CHECK(std::abs(double(got[i]) - double(want[i])) <= rtol * std::abs(double(want[i])) + 1e-9);
  }
}

}  // namespace

TEST_CASE("reduce_attention: every head/row combination matches the reference") {
  vtr::workspace ws;
  struct shape {
    index_t H, R, C;
  };
  const shape shapes[] = {{1, 1, 1}, {2, 3, 7}, {3, 5, 15}, {4, 2, 17}, {5, 3, 576}, {32, 40, 576}, {32, 40, 577},
                          {2, 3, 2880}, {3, 2, 5000}};
  for (const auto& sh : shapes)
    for (index_t pad : {index_t(0), index_t(3)}) {
      attn_block a(sh.H, sh.R, sh.C, pad, static_cast<unsigned>(sh.H * 100 + sh.C + pad));
      std::vector<std::vector<index_t>> row_sets{{}, {sh.R - 1}};
      if (sh.R > 2) row_sets.push_back({sh.R - 1, 0, 1, 1});  // arbitrary order, a duplicate
      for (auto h : {ops::head_reduce::mean, ops::head_reduce::max, ops::head_reduce::sum})
        for (auto r : {ops::row_reduce::mean, ops::row_reduce::sum, ops::row_reduce::max})
          for (const auto& rows : row_sets) {
            INFO("H=" << sh.H << " R=" << sh.R << " C=" << sh.C << " pad=" << pad << " head=" << int(h) << " row=" << int(r)
                      << " rows=" << rows.size());
            std::vector<float> out(std::size_t(sh.C), -1.0f);
            REQUIRE(ops::try_reduce_attention(a.view, h, r, vtr::view_of(out), ws, vtr::view_of(rows)).ok());
            check_close(out, ops::ref::reduce_attention(a.view, h, r, rows));
          }
    }
}

TEST_CASE("reduce_attention: heads first, then rows (§2.2 Fit&Prune order)") {
  vtr::workspace ws;
  // a[h][r][0]: head 0 looks at row 0, head 1 at row 1.
  const std::vector<float> a{1.0f, 0.0f, 0.0f, 1.0f};
  const vtr::tensor_view<const float, 3> v(a.data(), {2, 2, 1});
  std::vector<float> out(1);
  ops::reduce_attention(v, ops::head_reduce::max, ops::row_reduce::sum, vtr::view_of(out), ws);
  CHECK(out[0] == 2.0f);  // max over heads per row = 1, 1; summed = 2 (rows first would give 1)
  ops::reduce_attention(v, ops::head_reduce::sum, ops::row_reduce::max, vtr::view_of(out), ws);
  CHECK(out[0] == 1.0f);
  ops::reduce_attention(v, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(out), ws);
  CHECK(out[0] == 0.5f);
  // Single row subset (FastV: the last row).
  std::vector<index_t> last{1};
  ops::reduce_attention(v, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(out), ws, vtr::view_of(last));
  CHECK(out[0] == 0.5f);
}

TEST_CASE("reduce_attention: no scratch for same-kind reductions, no allocation when sized") {
  attn_block a(32, 40, 576, 0, 7);
  std::vector<float> out(576);
  vtr::workspace ws;
  ops::reduce_attention(a.view, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(out), ws);
  ops::reduce_attention(a.view, ops::head_reduce::max, ops::row_reduce::max, vtr::view_of(out), ws);
  CHECK(ws.high_water() == 0);
  ops::reduce_attention(a.view, ops::head_reduce::max, ops::row_reduce::sum, vtr::view_of(out), ws);
  CHECK(ws.high_water() <= ops::reduce_attention_workspace_bytes(576));
  const auto n = ws.allocations();
  ops::reduce_attention(a.view, ops::head_reduce::max, ops::row_reduce::sum, vtr::view_of(out), ws);
  CHECK(ws.allocations() == n);
}

TEST_CASE("reduce_attention: errors name the argument, output untouched") {
  vtr::workspace ws;
  attn_block a(2, 3, 5, 0, 1);
  std::vector<float> out(5, -1.0f), wrong(4, -1.0f);
  auto st = ops::try_reduce_attention(a.view, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(wrong), ws);
  REQUIRE(!st.ok());
  CHECK(has_text(st.message(), "'out'"));
  CHECK(has_text(st.message(), "[4]"));
  std::vector<index_t> rows{0, 3};
  st = ops::try_reduce_attention(a.view, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(out), ws, vtr::view_of(rows));
  REQUIRE(!st.ok());
  CHECK(has_text(st.message(), "'rows'"));
  CHECK(out == std::vector<float>(5, -1.0f));
  CHECK_THROWS_AS(ops::reduce_attention(a.view, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(out), ws,
                                        vtr::view_of(rows)),
                  vtr::invalid_input);
  // No heads; no rows (mean/max undefined, sum is zero).
  const vtr::tensor_view<const float, 3> noh(a.buf.data(), {0, 3, 5});
  st = ops::try_reduce_attention(noh, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(out), ws);
  REQUIRE(!st.ok());
  CHECK(has_text(st.message(), "'attn'"));
  const vtr::tensor_view<const float, 3> nor(a.buf.data(), {2, 0, 5}, {15, 5, 1});
  st = ops::try_reduce_attention(nor, ops::head_reduce::max, ops::row_reduce::max, vtr::view_of(out), ws);
  REQUIRE(!st.ok());
  CHECK(has_text(st.message(), "'attn'"));
  ops::reduce_attention(nor, ops::head_reduce::max, ops::row_reduce::sum, vtr::view_of(out), ws);
  CHECK(out == std::vector<float>(5, 0.0f));
  // Non-contiguous last dimension.
  const vtr::tensor_view<const float, 3> strided(a.buf.data(), {2, 3, 2}, {15, 5, 2});
  std::vector<float> o2(2);
  st = ops::try_reduce_attention(strided, ops::head_reduce::mean, ops::row_reduce::mean, vtr::view_of(o2), ws);
  REQUIRE(!st.ok());
  CHECK(has_text(st.message(), "'attn'"));
  // Output aliasing the input.
  std::vector<float> buf(30, 0.1f);
  const vtr::tensor_view<const float, 3> in(buf.data(), {2, 3, 5});
  st = ops::try_reduce_attention(in, ops::head_reduce::mean, ops::row_reduce::mean, vtr::vector_view<float>(buf.data() + 5, {5}), ws);
  REQUIRE(!st.ok());
  CHECK(has_text(st.message(), "overlaps"));
}

TEST_CASE("column_mean / column_sum match the reference (§2.3 colmean_block)") {
  for (index_t rows : {index_t(1), index_t(3), index_t(7), index_t(576)})
    for (index_t cols : {index_t(1), index_t(7), index_t(15), index_t(17), index_t(576), index_t(577), index_t(2880)}) {
      if (rows * cols > 576 * 577) continue;
      attn_block a(1, rows, cols, 5, static_cast<unsigned>(rows * 7 + cols));
      const vtr::matrix_view<const float> block = a.view[0];
      std::vector<float> out(static_cast<std::size_t>(cols));
      INFO("rows " << rows << " cols " << cols);
      ops::column_mean(block, vtr::view_of(out));
      check_close(out, ops::ref::column_mean(block));
      ops::column_sum(block, vtr::view_of(out));
      check_close(out, ops::ref::column_mean(block, false));
    }
  std::vector<float> z(3, -1.0f);
  const vtr::matrix_view<const float> empty(z.data(), {0, 3});
  auto st = ops::try_column_mean(empty, vtr::view_of(z));
  REQUIRE(!st.ok());
  CHECK(has_text(st.message(), "'block'"));
  ops::column_sum(empty, vtr::view_of(z));
  CHECK(z == std::vector<float>(3, 0.0f));
}

TEST_CASE("column_sum: every row blocking folds in fold_many's order (the same bits on every path)") {
  // Cache-resident blocks take one pass of register tiles, larger ones blocks of 32 rows; both must give
  // exactly what one fold_many over all rows gives (so results never depend on the block size).
  for (auto [rows, cols] : {std::array<index_t, 2>{576, 576}, {1003, 577}, {200, 2880}, {33, 17}, {1100, 600}}) {
    attn_block a(1, rows, cols, 5, static_cast<unsigned>(rows + cols));
    const vtr::matrix_view<const float> block = a.view[0];
    std::vector<float> out(static_cast<std::size_t>(cols)), want(out.size());
    ops::column_sum(block, vtr::view_of(out));
    for (index_t c0 = 0; c0 < cols; c0 += ops::detail::reduce_tile) {
      const index_t w = std::min(ops::detail::reduce_tile, cols - c0);
      ops::detail::fold_many<vtr::simd::default_arch, ops::detail::add_op>(want.data() + c0, w, rows, true,
                                                                           [&](index_t i) { return block.row(i) + c0; });
    }
    INFO("rows " << rows << " cols " << cols);
    CHECK(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)) == 0);
    check_close(out, ops::ref::column_mean(block, false));
  }
}

namespace {

// The fold order every column_sum path must follow, written out in scalar code: rows in groups of eight
// (the last group may be short), each group folded by the same pairwise tree, groups added left to right.
float tree_sum(const float* v, int m) {
  if (m == 1) return v[0];
  const int h = m / 2;
  return tree_sum(v, h) + tree_sum(v + h, m - h);
}
std::vector<float> column_sum_in_fold_order(const float* a, index_t rows, index_t cols) {
  std::vector<float> out(static_cast<std::size_t>(cols));
  for (index_t c = 0; c < cols; ++c) {
    float acc = 0;
    for (index_t r0 = 0; r0 < rows; r0 += 8) {
      const int m = static_cast<int>(std::min<index_t>(8, rows - r0));
      float g[8];
      for (int j = 0; j < m; ++j) g[j] = a[(r0 + j) * cols + c];
      acc = r0 == 0 ? tree_sum(g, m) : acc + tree_sum(g, m);
    }
    out[std::size_t(c)] = acc;
  }
  return out;
}

}  // namespace

TEST_CASE("column_sum: the same bits at every buffer offset, on every arch, for vector and edge columns") {
  // Contiguous rows whose stride is a multiple of the lane count take aligned tiles plus unaligned edge
  // vectors; narrower blocks take the scalar path. Every column must still fold in one fixed order, so
  // the result equals the scalar fold-order reference bit for bit whatever the start offset or arch.
  for (auto [rows, cols] : {std::array<index_t, 2>{576, 576}, {40, 600}, {9, 17}, {1100, 608}, {3, 16}, {13, 5}, {8, 48}}) {
    std::mt19937 rng(static_cast<unsigned>(rows * 31 + cols));
    std::uniform_real_distribution<float> d(0.0f, 1.0f);
    const std::size_t n = static_cast<std::size_t>(rows * cols);
    std::vector<float> src(n);
    for (float& v : src) v = d(rng) / float(cols);
    const std::vector<float> want = column_sum_in_fold_order(src.data(), rows, cols);
    std::vector<float> buf(n + 16);
    for (std::size_t off = 0; off < 16; ++off) {
      std::copy(src.begin(), src.end(), buf.begin() + static_cast<std::ptrdiff_t>(off));
      std::vector<float> out(static_cast<std::size_t>(cols), -1.0f);
      ops::column_sum(vtr::matrix_view<const float>(buf.data() + off, {rows, cols}), vtr::view_of(out));
      INFO("rows " << rows << " cols " << cols << " offset " << off << " floats");
      CHECK(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("top_heads: rank by region total, ties to the lower head (§2.2 top_h)") {
  vtr::workspace ws;
  for (auto [H, R, C] : {std::array<index_t, 3>{32, 40, 576}, {16, 3, 17}, {1, 1, 1}, {5, 7, 577}}) {
    attn_block a(H, R, C, 2, static_cast<unsigned>(H + R + C));
    std::vector<index_t> rows{R - 1, 0};
    if (R == 1) rows = {0};
    for (index_t h : {index_t(0), index_t(1), H / 2, H, H + 3}) {
      INFO("H " << H << " h " << h);
      std::vector<index_t> out(std::size_t(H) + 1, -1);
      const index_t c = ops::top_heads(a.view, vtr::view_of(rows), h, vtr::view_of(out), ws);
      out.resize(std::size_t(c));
      CHECK(out == ops::ref::top_heads(a.view, rows, h));
      const index_t c2 = ops::top_heads(a.view, {}, h, vtr::view_of(out), ws);
      CHECK(c2 == c);
    }
  }
  // All heads equal → lowest heads, in order.
  std::vector<float> eq(4 * 2 * 3, 0.25f);
  const vtr::tensor_view<const float, 3> v(eq.data(), {4, 2, 3});
  std::vector<index_t> out(2);
  CHECK(ops::top_heads(v, {}, 2, vtr::view_of(out), ws) == 2);
  CHECK(out == std::vector<index_t>{0, 1});
  eq[2 * 6] = 1.0f;  // head 2 gets more mass
  ops::top_heads(v, {}, 2, vtr::view_of(out), ws);
  CHECK(out == std::vector<index_t>{2, 0});
  std::vector<index_t> bad{2};
  auto r = ops::try_top_heads(v, vtr::view_of(bad), 2, vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has_text(r.error().message(), "'rows'"));
  std::vector<index_t> small(1);
  r = ops::try_top_heads(v, {}, 2, vtr::view_of(small), ws);
  REQUIRE(!r.ok());
  CHECK(has_text(r.error().message(), "'out'"));
}
