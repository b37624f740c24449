// Core: views, Eigen adapters, plans, apply, workspace, errors.
#include "catch.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/eigen.hpp>
#include <vtr/core/plan.hpp>
#include <vtr/core/workspace.hpp>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

using vtr::index_t;

namespace {
std::vector<float> iota_floats(std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("tensor_view: contiguous and strided access") {
  auto buf = iota_floats(3 * 5);
  vtr::matrix_view<float> m(buf.data(), {3, 4}, {5, 1});  // 3 rows of 4, row pitch 5
  CHECK(m.extent(0) == 3);
  CHECK(m.extent(1) == 4);
  CHECK(m.stride(0) == 5);
  CHECK(m(2, 3) == 13.0f);
  CHECK(m.row(1)[0] == 5.0f);
  CHECK(m[2](1) == 11.0f);
  CHECK(m.size() == 12);
  auto sub = m.subrows(1, 2);
  CHECK(sub.extent(0) == 2);
  CHECK(sub(0, 0) == 5.0f);
  vtr::matrix_view<const float> c = m;  // mutable → const
  CHECK(c(1, 1) == 6.0f);

  std::vector<float> t(2 * 3 * 4);
  vtr::tensor_view<float, 3> v3(t.data(), {2, 3, 4});
  CHECK(v3.stride(0) == 12);
  CHECK(v3.stride(1) == 4);
  v3(1, 2, 3) = 7.0f;
  CHECK(t[12 + 8 + 3] == 7.0f);
  CHECK(v3[1][2](3) == 7.0f);
}

TEST_CASE("validate_view and expect_shape name the argument and the shapes") {
  std::vector<float> buf(8);
  vtr::matrix_view<float> bad_inner(buf.data(), {2, 2}, {4, 2});
  auto s = vtr::validate_view("features", bad_inner);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'features'"));
  CHECK(contains(s.message(), "[2, 2]"));

  vtr::matrix_view<float> null_view(nullptr, {2, 2});
  CHECK_FALSE(vtr::validate_view("x", null_view).ok());
  vtr::matrix_view<float> empty_null(nullptr, {0, 4});
  CHECK(vtr::validate_view("x", empty_null).ok());

  vtr::matrix_view<float> m(buf.data(), {2, 4});
  auto e = vtr::expect_shape("attn", m, {3, -1});
  REQUIRE_FALSE(e.ok());
  CHECK(contains(e.message(), "'attn' has shape [2, 4], expected [3, *]"));
  CHECK(vtr::expect_shape("attn", m, {2, 4}).ok());
}

TEST_CASE("views_overlap detects shared bytes only") {
  std::vector<float> buf(20);
  vtr::matrix_view<float> a(buf.data(), {2, 5});
  vtr::matrix_view<float> b(buf.data() + 10, {2, 5});
  vtr::matrix_view<float> c(buf.data() + 9, {1, 5});
  CHECK_FALSE(vtr::views_overlap(a, b));
  CHECK(vtr::views_overlap(a, c));
  CHECK(vtr::views_overlap(b, c));
  auto s = vtr::expect_no_alias("dst", c, "src", a);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'dst'"));
  CHECK(contains(s.message(), "'src'"));
}

TEST_CASE("Eigen adapters both ways") {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(3, 4);
  m << 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11;
  auto v = vtr::as_matrix_view(m);
  static_assert(std::is_same_v<decltype(v), vtr::matrix_view<float>>);
  CHECK(v(2, 1) == 9.0f);
  auto blk = vtr::as_matrix_view(m.block(1, 1, 2, 2));
  CHECK(blk.stride(0) == 4);
  CHECK(blk(1, 1) == 10.0f);
  const auto& cm = m;
  auto cv = vtr::as_matrix_view(cm);
  static_assert(std::is_same_v<decltype(cv), vtr::matrix_view<const float>>);

  auto back = vtr::as_eigen(blk);
  CHECK(back(0, 0) == 5.0f);
  back(0, 0) = 50.0f;
  CHECK(m(1, 1) == 50.0f);

  Eigen::VectorXf x = Eigen::VectorXf::LinSpaced(5, 0, 4);
  auto xv = vtr::as_vector_view(x);
  CHECK(xv(4) == 4.0f);
  CHECK(vtr::as_eigen(xv).sum() == 10.0f);
}

TEST_CASE("plan: selection, merges and validation") {
  vtr::plan p = vtr::plan::select(5, {0, 2, 4});
  CHECK(p.is_selection());
  CHECK(p.size() == 3);
  CHECK(p.kept() == std::vector<index_t>{0, 2, 4});
  CHECK(vtr::validate_plan(p).ok());

  p.reset(5);
  p.add_copy(1);
  const index_t src[] = {2, 3};
  const float w[] = {1.0f, 3.0f};
  p.add_merge(2, src, 2, w, 4.0f);
  p.add_merge(vtr::plan::appended, src, 2, nullptr, 2.0f);
  p.add_copy(4);
  CHECK_FALSE(p.is_selection());
  CHECK(p.size() == 4);
  CHECK(p.appended_rows() == 1);
  CHECK(p.kept() == std::vector<index_t>{1, 2, 4});
  CHECK(p.offsets == std::vector<index_t>{0, 1, 3, 5, 6});
  REQUIRE(vtr::validate_plan(p).ok());
  auto [b, e] = p.sources_of(1);
  CHECK(e - b == 2);

  vtr::plan broken = p;
  broken.sources[0] = 9;
  auto s = vtr::validate_plan(broken);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "outside the input's 5 rows"));
  vtr::plan bad_origin = vtr::plan::select(3, {0, 3});
  CHECK_FALSE(vtr::validate_plan(bad_origin).ok());
}

TEST_CASE("apply: selection copies exactly, merges average, integers select") {
  const auto x = iota_floats(5 * 3);  // row i = (3i, 3i+1, 3i+2)
  vtr::matrix_view<const float> src(x.data(), {5, 3});

  vtr::plan sel = vtr::plan::select(5, {4, 0});
  std::vector<float> y(2 * 3);
  vtr::apply(sel, src, vtr::matrix_view<float>(y.data(), {2, 3}));
  CHECK(y == std::vector<float>{12, 13, 14, 0, 1, 2});

  vtr::plan m;
  m.reset(5);
  m.add_copy(0);
  const index_t s12[] = {1, 2};
  const float w12[] = {1.0f, 3.0f};
  m.add_merge(1, s12, 2, w12, 4.0f);  // (x1 + 3·x2) / 4
  const index_t s34[] = {3, 4};
  m.add_merge(vtr::plan::appended, s34, 2, nullptr, 2.0f);  // mean of rows 3, 4
  std::vector<float> z(3 * 3);
  vtr::apply(m, src, vtr::matrix_view<float>(z.data(), {3, 3}));
  CHECK(z == std::vector<float>{0, 1, 2, 5.25f, 6.25f, 7.25f, 10.5f, 11.5f, 12.5f});

  std::vector<std::int64_t> pos = {10, 11, 12, 13, 14}, out(2);
  vtr::apply(sel, vtr::vector_view<const std::int64_t>(pos.data(), {5}), vtr::vector_view<std::int64_t>(out.data(), {2}));
  CHECK(out == std::vector<std::int64_t>{14, 10});

  std::vector<std::int64_t> out3(3, -1);
  auto st = vtr::try_apply(m, vtr::vector_view<const std::int64_t>(pos.data(), {5}),
                           vtr::vector_view<std::int64_t>(out3.data(), {3}));
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.message(), "floating-point"));
  CHECK(out3 == std::vector<std::int64_t>{-1, -1, -1});
}

TEST_CASE("apply: merged float rows are the weighted sum in term order, then the division, at SIMD tails") {
  // The float path sums a row's terms with one fma each, 8 terms to a pass over the output row: checked
  // against the same chain in scalar std::fma (the bits wherever the arch has FMA) and a double sum.
  for (index_t cols : {1, 7, 15, 17, 576, 577, 2880})
    for (index_t terms : {1, 2, 8, 9, 20}) {
      CAPTURE(cols, terms);
      const index_t rows = 24;
      std::vector<float> x(static_cast<std::size_t>(rows * cols));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
      std::vector<index_t> src;
      std::vector<float> w;
      for (index_t t = 0; t < terms; ++t) {
        src.push_back((5 * t + 3) % rows);
        w.push_back(0.25f + 0.125f * static_cast<float>(t % 5));
      }
      vtr::plan p;
      p.reset(rows);
      p.add_copy(0);
      p.add_merge(vtr::plan::appended, src.data(), terms, w.data(), 3.0f);
      std::vector<float> y(static_cast<std::size_t>(2 * cols), 99.0f);
      vtr::apply(p, vtr::matrix_view<const float>(x.data(), {rows, cols}), vtr::matrix_view<float>(y.data(), {2, cols}));
      for (index_t c = 0; c < cols; ++c) {
        CHECK(y[static_cast<std::size_t>(c)] == x[static_cast<std::size_t>(c)]);
        float chain = 0.0f;
        double exact = 0.0;
        for (index_t t = 0; t < terms; ++t) {
          const float v = x[static_cast<std::size_t>(src[static_cast<std::size_t>(t)] * cols + c)];
          chain = std::fma(w[static_cast<std::size_t>(t)], v, chain);
          exact += double(w[static_cast<std::size_t>(t)]) * double(v);
        }
        const float got = y[static_cast<std::size_t>(cols + c)];
        if (vtr::simd::native_fma<vtr::simd::default_arch>) CHECK(got == chain / 3.0f);
        CHECK(std::fabs(double(got) - exact / 3.0) <= 1e-5 * (1.0 + std::fabs(exact)));
      }
    }
}

TEST_CASE("apply: rejects bad shapes and aliasing without touching dst") {
  auto x = iota_floats(5 * 3);
  vtr::plan sel = vtr::plan::select(5, {1, 3});
  std::vector<float> y(3 * 3, -7.0f);
  auto s = vtr::try_apply(sel, vtr::matrix_view<const float>(x.data(), {5, 3}), vtr::matrix_view<float>(y.data(), {3, 3}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'dst' has shape [3, 3], expected [2, 3]"));
  CHECK(y == std::vector<float>(9, -7.0f));

  s = vtr::try_apply(sel, vtr::matrix_view<const float>(x.data(), {4, 3}), vtr::matrix_view<float>(y.data(), {2, 3}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "'src' has shape [4, 3], expected [5, *]"));

  s = vtr::try_apply(sel, vtr::matrix_view<const float>(x.data(), {5, 3}), vtr::matrix_view<float>(x.data() + 3, {2, 3}));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "overlaps"));

#ifndef VTR_NO_EXCEPTIONS
  CHECK_THROWS_AS(vtr::apply(sel, vtr::matrix_view<const float>(x.data(), {5, 3}), vtr::matrix_view<float>(y.data(), {3, 3})),
                  vtr::invalid_input);
#endif
}

TEST_CASE("compact_in_place moves ascending selections and refuses the rest") {
  auto x = iota_floats(6 * 2);
  vtr::matrix_view<float> v(x.data(), {6, 2});
  vtr::compact_in_place(vtr::plan::select(6, {1, 2, 5}), v);
  CHECK(std::vector<float>(x.begin(), x.begin() + 6) == std::vector<float>{2, 3, 4, 5, 10, 11});
  CHECK(x[10] == 10.0f);  // rows past the plan untouched
  CHECK_FALSE(vtr::try_compact_in_place(vtr::plan::select(6, {3, 1}), v).ok());
}

TEST_CASE("workspace: aligned blocks, LIFO scopes, no allocation once sized") {
  vtr::workspace ws;
  {
    vtr::workspace::scope s(ws);
    float* a = ws.take<float>(100);
    double* b = ws.take<double>(3);
    CHECK(reinterpret_cast<std::uintptr_t>(a) % vtr::workspace::alignment == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % vtr::workspace::alignment == 0);
    a[99] = 1.0f;
    b[2] = 2.0;
  }
  const std::size_t after_first = ws.allocations();
  CHECK(ws.capacity() >= ws.high_water());
  for (int round = 0; round < 3; ++round) {
    vtr::workspace::scope s(ws);
    (void)ws.take<float>(100);
    (void)ws.take<double>(3);
  }
  CHECK(ws.allocations() == after_first);

  vtr::workspace sized(1 << 16);
  {
    vtr::workspace::scope s(sized);
    (void)sized.take<float>(1000);
  }
  CHECK(sized.allocations() == 0);
}

TEST_CASE("result: value or error") {
  vtr::result<int> good(3);
  CHECK(good.ok());
  CHECK(good.value() == 3);
  vtr::result<int> bad(vtr::fail("argument 'k' is ", -1));
  CHECK_FALSE(bad.ok());
  CHECK(bad.error().message() == "argument 'k' is -1");
#ifndef VTR_NO_EXCEPTIONS
  CHECK_THROWS_WITH(bad.value(), "vtr: argument 'k' is -1");
#endif
}
