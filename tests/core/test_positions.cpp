// Position ids after a reduction (ALGORITHMS §1.4, §2.11), on hand-computed cases.
#include "catch.hpp"

#include <vtr/core/positions.hpp>

#include <vector>

using vtr::index_t;

TEST_CASE("positions: dense and original ids") {
  std::vector<std::int64_t> d(4);
  vtr::positions::dense(vtr::view_of(d), 3);
  CHECK(d == std::vector<std::int64_t>{3, 4, 5, 6});

  // FastV-style: prefix 0..1, image 2..5 keeps {3, 5}, text 6..7 → original ids with gaps.
  const vtr::plan p = vtr::plan::select(8, {0, 1, 3, 5, 6, 7});
  std::vector<std::int64_t> pos = {0, 1, 2, 3, 4, 5, 6, 7}, out(6);
  vtr::positions::gather(p, vtr::view_of(std::as_const(pos)), vtr::view_of(out));
  CHECK(out == std::vector<std::int64_t>{0, 1, 3, 5, 6, 7});

  vtr::plan with_appended = vtr::plan::select(3, {0});
  const index_t src[] = {1, 2};
  with_appended.add_merge(vtr::plan::appended, src, 2, nullptr, 2.0f);
  std::vector<std::int64_t> pos3 = {0, 1, 2}, out2(2, -5);
  auto s = vtr::positions::try_gather(with_appended, vtr::view_of(std::as_const(pos3)), vtr::view_of(out2));
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("positions::dense") != std::string::npos);
  CHECK(out2 == std::vector<std::int64_t>{-5, -5});
}

TEST_CASE("positions: M-RoPE triples in both layouts with the text offset") {
  // A 2-frame 2×2 video after a 3-token prefix: t ∈ {3, 4}, h, w ∈ 3 + {0, 1}.
  std::vector<std::int64_t> rows;
  for (std::int64_t t = 0; t < 2; ++t)
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t w = 0; w < 2; ++w) rows.insert(rows.end(), {3 + t, 3 + h, 3 + w});
  const vtr::plan p = vtr::plan::select(8, {0, 3, 5});
  std::vector<std::int64_t> out(9);
  const auto offset = vtr::positions::mrope_gather(p, vtr::matrix_view<const std::int64_t>(rows.data(), {8, 3}),
                                                   vtr::positions::mrope_layout::rows,
                                                   vtr::matrix_view<std::int64_t>(out.data(), {3, 3}));
  CHECK(out == std::vector<std::int64_t>{3, 3, 3, 3, 4, 4, 4, 3, 4});
  CHECK(offset == 5);

  std::vector<std::int64_t> planar(24), planar_out(9);
  for (index_t i = 0; i < 8; ++i)
    for (index_t c = 0; c < 3; ++c) planar[static_cast<std::size_t>(c * 8 + i)] = rows[static_cast<std::size_t>(i * 3 + c)];
  const auto offset2 = vtr::positions::mrope_gather(p, vtr::matrix_view<const std::int64_t>(planar.data(), {3, 8}),
                                                    vtr::positions::mrope_layout::planar,
                                                    vtr::matrix_view<std::int64_t>(planar_out.data(), {3, 3}));
  CHECK(planar_out == std::vector<std::int64_t>{3, 3, 4, 3, 4, 3, 3, 4, 4});
  CHECK(offset2 == 5);
}
