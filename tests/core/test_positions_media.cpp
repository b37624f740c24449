// Position ids after a reduction of multi-media sequences (ALGORITHMS §1.4, §2.11): dense renumbering,
// original ids with gaps, and M-RoPE (t, h, w) triples with the text offset that follows the media, in the
// [N][3], [3][N] and [4][N] layouts — every expected value below is worked out by hand in the comments.
//
// M-RoPE rule (Qwen2-VL / Qwen2.5-VL rope index, positions::try_mrope_index): a text token takes (p, p, p),
// p = one past the largest component so far; a media block starts at that offset s, token (i, y, x) takes
// (s + t(i), s + y, s + x) with t(i) = i (Qwen2-VL: one step per temporal patch) or
// trunc(i · seconds_per_grid · tokens_per_second) in fp32 (Qwen2.5-VL).
#include "catch.hpp"

#include <vtr/core/media.hpp>
#include <vtr/core/positions.hpp>

#include <cstdint>
#include <string>
#include <vector>

using vtr::index_t;
using i64 = std::int64_t;
using triples = std::vector<std::vector<i64>>;  // one (t, h, w) per token
namespace media = vtr::media;
namespace pos = vtr::positions;

namespace {

// The three layouts of one set of triples.
std::vector<i64> as_rows(const triples& t) {
  std::vector<i64> r;
  for (const auto& x : t) r.insert(r.end(), x.begin(), x.end());
  return r;
}
std::vector<i64> as_planar(const triples& t) {
  std::vector<i64> r(3 * t.size());
  for (std::size_t i = 0; i < t.size(); ++i)
    for (std::size_t c = 0; c < 3; ++c) r[c * t.size() + i] = t[i][c];
  return r;
}
std::vector<i64> as_planar4(const std::vector<i64>& text_row, const triples& t) {
  std::vector<i64> r = text_row;
  const auto p = as_planar(t);
  r.insert(r.end(), p.begin(), p.end());
  return r;
}
std::vector<i64> iota64(index_t n, i64 start = 0) {
  std::vector<i64> v(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = start + i;
  return v;
}

// Checks, for a layout and a selection over its sequence: the unreduced M-RoPE triples and next position in
// all three layouts, then the dense / original 1-D ids and the gathered triples with their text offset.
void check_all(const media::layout& lay, const triples& full, i64 full_next, const vtr::plan& keep,
               const std::vector<i64>& kept_original, const triples& kept_triples, i64 kept_offset) {
  const index_t n = lay.size(), m = keep.size();
  REQUIRE(static_cast<index_t>(full.size()) == n);

  // Unreduced triples: [N][3], [3][N], and planes 1…3 of a [4][N] buffer.
  std::vector<i64> rows(static_cast<std::size_t>(3 * n)), planar(static_cast<std::size_t>(3 * n)),
      planar4(static_cast<std::size_t>(4 * n));
  CHECK(media::mrope_positions(lay, pos::mrope_layout::rows, vtr::matrix_view<i64>(rows.data(), {n, 3})) == full_next);
  CHECK(rows == as_rows(full));
  CHECK(media::mrope_positions(lay, pos::mrope_layout::planar, vtr::matrix_view<i64>(planar.data(), {3, n})) == full_next);
  CHECK(planar == as_planar(full));
  const vtr::matrix_view<i64> p4(planar4.data(), {4, n});
  pos::dense(p4[0]);  // the leading 1-D row of a [4][N] buffer: plain sequence positions
  CHECK(media::mrope_positions(lay, pos::mrope_layout::planar, p4.subrows(1, 3)) == full_next);
  CHECK(planar4 == as_planar4(iota64(n), full));

  // Dense renumbering and original ids with gaps.
  std::vector<i64> dense(static_cast<std::size_t>(m)), orig(static_cast<std::size_t>(m));
  pos::dense(vtr::view_of(dense));
  CHECK(dense == iota64(m));
  const auto ids = iota64(n);
  pos::gather(keep, vtr::view_of(ids), vtr::view_of(orig));
  CHECK(orig == kept_original);

  // Gathered triples with the text offset that follows them, in each layout.
  std::vector<i64> out_rows(static_cast<std::size_t>(3 * m)), out_planar(static_cast<std::size_t>(3 * m)),
      out4(static_cast<std::size_t>(4 * m));
  CHECK(pos::mrope_gather(keep, vtr::matrix_view<const i64>(rows.data(), {n, 3}), pos::mrope_layout::rows,
                          vtr::matrix_view<i64>(out_rows.data(), {m, 3})) == kept_offset);
  CHECK(out_rows == as_rows(kept_triples));
  CHECK(pos::mrope_gather(keep, vtr::matrix_view<const i64>(planar.data(), {3, n}), pos::mrope_layout::planar,
                          vtr::matrix_view<i64>(out_planar.data(), {3, m})) == kept_offset);
  CHECK(out_planar == as_planar(kept_triples));
  // [4][N]: the leading row keeps the original ids, or is renumbered densely.
  CHECK(pos::mrope_gather4(keep, vtr::matrix_view<const i64>(planar4.data(), {4, n}), vtr::matrix_view<i64>(out4.data(), {4, m})) ==
        kept_offset);
  CHECK(out4 == as_planar4(kept_original, kept_triples));
  CHECK(pos::mrope_gather4(keep, vtr::matrix_view<const i64>(planar4.data(), {4, n}), vtr::matrix_view<i64>(out4.data(), {4, m}),
                           pos::policy::dense) == kept_offset);
  CHECK(out4 == as_planar4(iota64(m), kept_triples));
}

}  // namespace

TEST_CASE("positions/media: multi-image prompt") {
  // rows 0-1 text | 2-5 image 0 (2×2) | 6 text | 7-9 image 1 (1×3) | 10-11 text
  media::layout lay;
  lay.text(2).image(2, 2).text(1).image(1, 3).text(2);
  // text (0,0,0) (1,1,1); image 0 at s = 2 → h, w ∈ 2 + {0, 1}, max 3; text (4,4,4); image 1 at s = 5 →
  // w ∈ 5 + {0, 1, 2}, max 7; text (8,8,8) (9,9,9); next position 10.
  const triples full = {{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {2, 2, 3}, {2, 3, 2}, {2, 3, 3},
                        {4, 4, 4}, {5, 5, 5}, {5, 5, 6}, {5, 5, 7}, {8, 8, 8}, {9, 9, 9}};
  // Keep image 0's tokens 1, 2 (rows 3, 4) and image 1's tokens 0, 2 (rows 7, 9).
  const vtr::plan keep = vtr::plan::select(12, {0, 1, 3, 4, 6, 7, 9, 10, 11});
  check_all(lay, full, 10, keep, {0, 1, 3, 4, 6, 7, 9, 10, 11},
            {{0, 0, 0}, {1, 1, 1}, {2, 2, 3}, {2, 3, 2}, {4, 4, 4}, {5, 5, 5}, {5, 5, 7}, {8, 8, 8}, {9, 9, 9}}, 10);

  // The offset of text appended after a pruned media block is max(kept) + 1, not the unreduced one: image 1
  // alone keeping its tokens 0, 1 ends at w = 6 → 7 (the prompt's own text after it keeps (8,8,8), the rope
  // index being computed before pruning).
  std::vector<i64> rows(36);
  media::mrope_positions(lay, pos::mrope_layout::rows, vtr::matrix_view<i64>(rows.data(), {12, 3}));
  std::vector<i64> img1(6);
  CHECK(pos::mrope_gather(vtr::plan::select(3, {0, 1}), vtr::matrix_view<const i64>(rows.data() + 7 * 3, {3, 3}),
                          pos::mrope_layout::rows, vtr::matrix_view<i64>(img1.data(), {2, 3})) == 7);
  CHECK(img1 == std::vector<i64>{5, 5, 5, 5, 5, 6});
}

TEST_CASE("positions/media: video and image in one sequence (Qwen2.5-VL temporal scale)") {
  // rows 0 text | 1-6 video: 3 temporal patches of 1×2, seconds_per_grid 1 (fps 2, patch 2), 2 tokens per
  // second | 7-8 text | 9-10 image 2×1 | 11 text
  media::layout lay;
  lay.text(1).video(3, 1, 2, 1.0f, 2.0f).text(2).image(2, 1).text(1);
  // video at s = 1: t(i) = trunc(i·1·2) = 0, 2, 4 → t ∈ {1, 3, 5}, h = 1, w ∈ {1, 2}; max 5.
  // text (6,6,6) (7,7,7); image at s = 8: h ∈ {8, 9}, w = 8; max 9; text (10,10,10); next 11.
  const triples full = {{0, 0, 0}, {1, 1, 1}, {1, 1, 2}, {3, 1, 1}, {3, 1, 2}, {5, 1, 1},
                        {5, 1, 2}, {6, 6, 6}, {7, 7, 7}, {8, 8, 8}, {8, 9, 8}, {10, 10, 10}};
  // Keep video tokens 0, 3, 5 (rows 1, 4, 6) and image token 1 (row 10).
  const vtr::plan keep = vtr::plan::select(12, {0, 1, 4, 6, 7, 8, 10, 11});
  check_all(lay, full, 11, keep, {0, 1, 4, 6, 7, 8, 10, 11},
            {{0, 0, 0}, {1, 1, 1}, {3, 1, 2}, {5, 1, 2}, {6, 6, 6}, {7, 7, 7}, {8, 9, 8}, {10, 10, 10}}, 11);

  // Image first, then the video, no text between them: the video starts one past the image's max.
  media::layout two;
  two.image(1, 2).video(2, 1, 1);
  // image at 0: (0,0,0) (0,0,1), max 1; video at s = 2 (Qwen2-VL step): (2,2,2) (3,2,2); next 4.
  std::vector<i64> r(12);
  CHECK(media::mrope_positions(two, pos::mrope_layout::rows, vtr::matrix_view<i64>(r.data(), {4, 3})) == 4);
  CHECK(r == std::vector<i64>{0, 0, 0, 0, 0, 1, 2, 2, 2, 3, 2, 2});
}

TEST_CASE("positions/media: consecutive video frames, temporal index per temporal patch") {
  // Qwen2-VL: 8 input frames with temporal_patch_size 2 are 4 temporal patches (units); each advances t by 1.
  // rows 0-1 text | 2-5 video 4×(1×1) | 6 text
  media::layout lay;
  lay.text(2).video(4, 1, 1).text(1);
  // video at s = 2: t = 2 + {0, 1, 2, 3}, h = w = 2; max 5; text (6,6,6); next 7.
  const triples full = {{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 2, 2}, {4, 2, 2}, {5, 2, 2}, {6, 6, 6}};
  // Drop temporal patches 1 and 3: the kept frames keep their t (2 and 4), gaps included.
  const vtr::plan keep = vtr::plan::select(7, {0, 1, 2, 4, 6});
  check_all(lay, full, 7, keep, {0, 1, 2, 4, 6}, {{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {4, 2, 2}, {6, 6, 6}}, 7);

  // Qwen2.5-VL at fps 1.5: seconds_per_grid = 2/1.5 = 1.3333334f, 2 tokens per second → fp32
  // t(i) = trunc(i·1.3333334·2) = 0, trunc(2.6666667) = 2, trunc(5.3333335) = 5, trunc(4.0·2) = 8.
  media::layout slow;
  slow.text(1).video(4, 1, 1, 2.0f / 1.5f, 2.0f).text(1);
  // video at s = 1 → t ∈ {1, 3, 6, 9}; text (10,10,10); next 11.
  const triples full2 = {{0, 0, 0}, {1, 1, 1}, {3, 1, 1}, {6, 1, 1}, {9, 1, 1}, {10, 10, 10}};
  // Keep the first and last temporal patches.
  check_all(slow, full2, 11, vtr::plan::select(6, {0, 1, 4, 5}), {0, 1, 4, 5}, {{0, 0, 0}, {1, 1, 1}, {9, 1, 1}, {10, 10, 10}},
            11);

  // A video as the last thing in the prompt: pruning its last patch lowers the decode offset to max(kept)+1.
  media::layout tail;
  tail.text(1).video(3, 1, 1);  // t ∈ {1, 2, 3}, next 4
  std::vector<i64> r(12), out(9);
  CHECK(media::mrope_positions(tail, pos::mrope_layout::rows, vtr::matrix_view<i64>(r.data(), {4, 3})) == 4);
  CHECK(pos::mrope_gather(vtr::plan::select(4, {0, 1, 2}), vtr::matrix_view<const i64>(r.data(), {4, 3}), pos::mrope_layout::rows,
                          vtr::matrix_view<i64>(out.data(), {3, 3})) == 3);
}

TEST_CASE("positions/media: anyres with newline tokens (1-D positions)") {
  // text 2 | base 2×2 | tiles 1×2 of 2×2 → a 2×4 map, each row + one newline | text 1
  // rows: 0-1 text; 2-5 base; 6,7 tile (0,0) tokens 0,1; 8,9 tile (0,1) tokens 0,1; 10 newline;
  //       11,12 tile (0,0) tokens 2,3; 13,14 tile (0,1) tokens 2,3; 15 newline; 16 text.
  media::anyres_spec a;
  a.tile_rows = 1;
  a.tile_cols = 2;
  a.grid_h = a.grid_w = 2;
  media::layout lay;
  lay.text(2).anyres(a).text(1);
  REQUIRE(lay.size() == 17);

  // Per crop: base keeps token 3, tile (0,0) tokens 1, 2, tile (0,1) token 3 (grid space).
  std::vector<vtr::plan> per = {vtr::plan::select(4, {3}), vtr::plan::select(4, {1, 2}), vtr::plan::select(4, {3})};
  const vtr::plan keep = media::combine(lay, per);
  // base 3 → row 5; tile (0,0) 1 → 7, 2 → 11; tile (0,1) 3 → 14; newlines 10, 15 always kept.
  const std::vector<i64> want = {0, 1, 5, 7, 10, 11, 14, 15, 16};
  std::vector<i64> orig(9), dense(9);
  const auto ids = iota64(17);
  pos::gather(keep, vtr::view_of(ids), vtr::view_of(orig));
  CHECK(orig == want);
  pos::dense(vtr::view_of(dense));
  CHECK(dense == iota64(9));

  // Unpadded: 2×2 tiles of 2×2 (a 4×4 map) for an 8×4 image keep map rows [1, 3).
  media::anyres_spec u;
  u.grid_h = u.grid_w = 2;
  u.keep = media::anyres_unpad(8, 4, 4, 4);
  media::layout lu;
  lu.text(1).anyres(u).text(1);
  // rows: 0 text; 1-4 base; map row 1 = tiles (0,·) local row 1: 5,6 tile (0,0) 2,3; 7,8 tile (0,1) 2,3;
  //       9 newline; map row 2 = tiles (1,·) local row 0: 10,11 tile (1,0) 0,1; 12,13 tile (1,1) 0,1;
  //       14 newline; 15 text.
  REQUIRE(lu.size() == 16);
  // Base kept whole; tile (0,0) keeps 0 (unpadded away: dropped) and 2; tile (0,1) nothing; tile (1,0) 1;
  // tile (1,1) 0 and 1.
  media::combine_report rep;
  const vtr::plan k2 = media::combine(lu, {vtr::plan::select(4, {0, 1, 2, 3}), vtr::plan::select(4, {0, 2}), vtr::plan::select(4, {}),
                                           vtr::plan::select(4, {1}), vtr::plan::select(4, {0, 1})},
                                      {}, &rep);
  CHECK(rep.dropped_rows == 1);
  std::vector<i64> o2(static_cast<std::size_t>(k2.size()));
  const auto ids2 = iota64(16);
  pos::gather(k2, vtr::view_of(ids2), vtr::view_of(o2));
  CHECK(o2 == std::vector<i64>{0, 1, 2, 3, 4, 5, 9, 11, 12, 13, 14, 15});

  // LLaVA-NeXT has no M-RoPE: asking for triples is an error that says so.
  std::vector<i64> t(3 * 17);
  auto r = media::try_mrope_positions(lay, pos::mrope_layout::rows, vtr::matrix_view<i64>(t.data(), {17, 3}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("anyres") != std::string::npos);
}

TEST_CASE("positions/media: mrope_index and mrope_gather4 check their arguments") {
  std::vector<pos::mrope_block> b(1);
  b[0].text = 2;
  b[0].grid_t = 1;  // h, w = 0: half a grid
  std::vector<i64> out(3 * 2, -7);
  auto r = pos::try_mrope_index(vtr::view_of(std::as_const(b)), pos::mrope_layout::rows, vtr::matrix_view<i64>(out.data(), {2, 3}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("blocks[0]") != std::string::npos);
  b[0].grid_t = 0;
  // Wrong output shape names 'out' and leaves it untouched.
  r = pos::try_mrope_index(vtr::view_of(std::as_const(b)), pos::mrope_layout::planar, vtr::matrix_view<i64>(out.data(), {2, 3}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("'out'") != std::string::npos);
  CHECK(out == std::vector<i64>(6, -7));
  // Empty sequence: next position 0.
  CHECK(pos::try_mrope_index(vtr::vector_view<const pos::mrope_block>(nullptr, {0}), pos::mrope_layout::rows,
                             vtr::matrix_view<i64>(nullptr, {0, 3}))
            .value() == 0);

  std::vector<i64> p4(4 * 3, 1), o4(4 * 2, -1);
  auto g = pos::try_mrope_gather4(vtr::plan::select(3, {0, 2}), vtr::matrix_view<const i64>(p4.data(), {3, 4}),
                                  vtr::matrix_view<i64>(o4.data(), {4, 2}));
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().message().find("'pos4'") != std::string::npos);
  CHECK(o4 == std::vector<i64>(8, -1));
}
