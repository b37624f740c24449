// vtr — the media layout of one prompt sequence: several images, LLaVA-NeXT anyres images (base + tiles +
// newline tokens), videos; visual-token budgets split over them; and the one sequence plan built from a plan
// per image / crop / frame (ALGORITHMS §0.2, §1.4, §3.4.4).
//
// A layout is an ordered list of spans that tile the sequence [0, size()): text, visual tokens and newline
// tokens. Visual tokens belong to units — the groups a method runs on independently:
//
//   unit kind   what it is                                          its tokens (unit-local order)
//   image       a whole image (LLaVA-1.5, Qwen2-VL image)           raster over its grid_h × grid_w grid
//   base        the base (global) image of an anyres image          raster over its grid
//   tile        one tile (crop) of an anyres image                  raster over its grid
//   frame       one frame of a video (for Qwen2-VL: one temporal    raster over its grid
//               patch, i.e. temporal_patch_size input frames)
//
// Units belong to items (one image or video of the prompt). A unit-local index is the token's place in the
// unit's full grid, which is the order an encoder emits it in; `unit::rows` maps it to its sequence row. For
// most units the rows are one contiguous span. LLaVA-NeXT tiles are not: the sequence walks the tiled feature
// map row by row across all tiles (below), so a tile is spread over many spans, and unpadding can remove some
// of its tokens from the sequence altogether (row = unit::absent).
//
// LLaVA-NeXT anyres layout, mm_patch_merge_type "spatial_unpad" (the LLaVA-NeXT / VScan code path,
// ALGORITHMS §3.4.4), as built by layout::anyres:
//   * crops are the base image then the tiles, row-major over the tile grid (tile_rows × tile_cols), each a
//     grid_h × grid_w grid (24 × 24 for CLIP-L/336);
//   * the tiles form one feature map of (tile_rows·grid_h) × (tile_cols·grid_w) tokens; unpadding keeps a
//     rectangle of it (anyres_unpad computes LLaVA's rectangle from the image size; all of it by default);
//   * sequence order: the base image's grid_h·grid_w tokens in raster order (no newline), then each kept row
//     of the map, left to right across the tiles, followed by ONE newline token — so an anyres image holds
//     grid_h·grid_w + rows·(cols + 1) tokens;
//   * with no tiles (tile grid 0 × 0) the base is followed by a single newline token;
//   * `newline = false` gives the "spatial" layout (no newline tokens), `base = false` LLaVA's "nobase".
// Newline tokens belong to no unit: they are never pruned and never counted in a budget.
//
// A plan per unit — over the unit's grid (unit_space::grid, what an encoder-side method such as VScan stage 1
// sees) or over its tokens present in the sequence (unit_space::present, what a method reading the LLM
// sequence sees) — is combined into one plan over the whole sequence: text and newline rows kept, each unit's
// rows at its tokens' sequence rows, output in ascending sequence order. It is the multi-span form of
// select_in_sequence / embed_in_sequence (for one contiguous unit it gives exactly their plan).
#pragma once

#include "../config.hpp"
#include "error.hpp"
#include "plan.hpp"
#include "positions.hpp"
#include "tensor_view.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace media {

/// What a span of the sequence holds.
enum class span_kind : unsigned char {
  text,     ///< text tokens (prompt, template, vision start/end markers)
  image,    ///< tokens of a whole image
  base,     ///< tokens of an anyres image's base (global) crop
  tile,     ///< tokens of one anyres tile, one row segment of the tiled map
  newline,  ///< anyres newline token(s): always kept, never budgeted
  frame,    ///< tokens of one video frame (temporal patch)
};

inline const char* kind_name(span_kind k) noexcept {
  switch (k) {
    case span_kind::text: return "text";
    case span_kind::image: return "image";
    case span_kind::base: return "base";
    case span_kind::tile: return "tile";
    case span_kind::newline: return "newline";
    case span_kind::frame: return "frame";
  }
  return "?";
}

/// What a media item is.
enum class item_kind : unsigned char { image, anyres, video };

/// A group of visual tokens a method runs on independently (see the file comment).
struct unit {
  /// Row of a unit token that is not in the sequence (removed by anyres unpadding).
  static constexpr index_t absent = -1;

  span_kind kind = span_kind::image;  ///< image, base, tile or frame
  index_t item = 0;                   ///< the media item it belongs to (index into layout::items())
  index_t index = 0;                  ///< its place in the item: crop number (base 0, tiles 1… row-major) or frame
  index_t grid_h = 0;
  index_t grid_w = 0;
  index_t tile_row = -1;  ///< tiles: position in the tile grid (−1 otherwise)
  index_t tile_col = -1;
  std::vector<index_t> rows;  ///< sequence row of each unit-local token (raster over the grid), or absent
  index_t present = 0;        ///< tokens with a sequence row

  index_t tokens() const noexcept { return grid_h * grid_w; }
  /// The sequence rows of the present tokens, in unit-local (= sequence) order.
  std::vector<index_t> present_rows() const {
    std::vector<index_t> r;
    r.reserve(static_cast<std::size_t>(present));
    for (index_t x : rows)
      if (x != absent) r.push_back(x);
    return r;
  }
};

/// A run of consecutive sequence rows of one kind. Visual spans cover the unit-local tokens
/// [unit_first, unit_first + count) of `unit`, in order.
struct span {
  span_kind kind = span_kind::text;
  index_t begin = 0;
  index_t count = 0;
  index_t unit = -1;       ///< visual spans: index into layout::units()
  index_t unit_first = 0;  ///< visual spans: unit-local index of the first token
  index_t item = -1;       ///< visual and newline spans: index into layout::items()
};

/// One image or video of the prompt.
struct item {
  item_kind kind = item_kind::image;
  index_t begin = 0;  ///< its sequence rows [begin, end), newline tokens included
  index_t end = 0;
  index_t first_unit = 0;  ///< its units [first_unit, first_unit + units)
  index_t units = 0;
  index_t visual = 0;    ///< its visual tokens in the sequence (what budgets split; newlines excluded)
  index_t newlines = 0;  ///< its newline tokens
  /// Videos: the M-RoPE temporal scale (positions::mrope_block).
  float seconds_per_grid = 1.0f;
  float tokens_per_second = 1.0f;
};

/// The kept rectangle of an anyres tiled feature map: rows [row0, row0 + rows), columns [col0, col0 + cols);
/// −1 = to the end of the map.
struct unpad_region {
  index_t row0 = 0;
  index_t rows = -1;
  index_t col0 = 0;
  index_t cols = -1;
};

/// An anyres image (LLaVA-NeXT "spatial_unpad", see the file comment).
struct anyres_spec {
  index_t tile_rows = 2;  ///< tile grid, LLaVA's num_patch_height × num_patch_width (0 × 0: base only)
  index_t tile_cols = 2;
  index_t grid_h = 24;  ///< tokens per side of the base and of every tile
  index_t grid_w = 24;
  unpad_region keep{};  ///< kept rectangle of the tiled map (anyres_unpad); default: all of it
  bool newline = true;  ///< one newline token after each kept row of the map (false: "spatial")
  bool base = true;     ///< the base image comes first (false: "nobase")
};

/// LLaVA's unpad rectangle for an image of image_w × image_h pixels whose tiles form a map_h × map_w token
/// map (llava_arch.py unpad_image, computed in double as the reference's Python floats): when the image is
/// wider than the map, the map keeps rows [p, map_h − p) with p = ⌊(map_h − ⌊image_h·(map_w/image_w)⌋)/2⌋,
/// otherwise columns, symmetrically. (HF transformers rounds the product to 7 decimals first; the results
/// differ only when it lies within 1e-7 below an integer — pass an explicit region then.)
inline result<unpad_region> try_anyres_unpad(index_t image_w, index_t image_h, index_t map_h, index_t map_w) {
  if (image_w < 1 || image_h < 1)
    return fail("image size ", image_w, "x", image_h, " (arguments 'image_w', 'image_h') must be at least 1x1");
  if (map_h < 1 || map_w < 1)
    return fail("feature map ", map_h, "x", map_w, " (arguments 'map_h', 'map_w') must be at least 1x1");
  const double ow = static_cast<double>(image_w), oh = static_cast<double>(image_h);
  const double cw = static_cast<double>(map_w), ch = static_cast<double>(map_h);
  unpad_region r;
  if (ow / oh > cw / ch) {
    // Clamped in double: past 2^53 the product can round beyond the map (a negative pad) or past index_t.
    const index_t new_h = vtr::detail::clamp_count(oh * (cw / ow), map_h);
    const index_t pad = (map_h - new_h) / 2;
    r.row0 = pad;
    r.rows = map_h - 2 * pad;
    r.cols = map_w;
  } else {
    const index_t new_w = vtr::detail::clamp_count(ow * (ch / oh), map_w);
    const index_t pad = (map_w - new_w) / 2;
    r.col0 = pad;
    r.cols = map_w - 2 * pad;
    r.rows = map_h;
  }
  return r;
}
inline unpad_region anyres_unpad(index_t image_w, index_t image_h, index_t map_h, index_t map_w) {
  return try_anyres_unpad(image_w, image_h, map_h, map_w).value();
}

/// The media layout of one sequence. Build it in sequence order:
///   media::layout lay;  lay.text(35).anyres({2, 2}).text(40);           // LLaVA-NeXT, one image
///   lay.text(5).image(24, 24).text(3).image(24, 24).text(20);           // two images
///   lay.text(4).video(8, 12, 12, {1.0f, 2.0f}).text(2).image(16, 16);   // video + image (Qwen2.5-VL)
/// Each try_ form checks its arguments and leaves the layout unchanged on error.
class layout {
 public:
  index_t size() const noexcept { return size_; }
  const std::vector<span>& spans() const noexcept { return spans_; }
  const std::vector<unit>& units() const noexcept { return units_; }
  const std::vector<item>& items() const noexcept { return items_; }
  index_t text_tokens() const noexcept { return count_of(span_kind::text); }
  index_t newline_tokens() const noexcept { return count_of(span_kind::newline); }
  /// Visual tokens present in the sequence (newlines excluded): what budgets split.
  index_t visual_tokens() const noexcept { return size_ - text_tokens() - newline_tokens(); }

  /// `n` text tokens (0 adds nothing).
  status try_text(index_t n) {
    if (n < 0) return fail("argument 'n' (text tokens) = ", n, " must be non-negative");
    VTR_TRY(check_room(n));
    push_span(span_kind::text, n, -1, 0, -1);
    return {};
  }
  /// One whole image of grid_h × grid_w tokens (one unit).
  status try_image(index_t grid_h, index_t grid_w) {
    VTR_TRY(check_grid("grid_h", grid_h, "grid_w", grid_w));
    VTR_TRY(check_room(grid_h * grid_w));
    VTR_TRY(check_storage(1, static_cast<std::size_t>(grid_h * grid_w)));
    item it;
    it.kind = item_kind::image;
    begin_item(it);
    add_full_unit(span_kind::image, 0, grid_h, grid_w);
    end_item(it);
    return {};
  }
  /// A video of `frames` frames (temporal patches) of grid_h × grid_w tokens, frame-major (one unit per
  /// frame). seconds_per_grid / tokens_per_second: its M-RoPE temporal scale (positions::mrope_block).
  status try_video(index_t frames, index_t grid_h, index_t grid_w, float seconds_per_grid = 1.0f,
                   float tokens_per_second = 1.0f) {
    if (frames < 1) return fail("argument 'frames' = ", frames, " must be at least 1");
    VTR_TRY(check_grid("grid_h", grid_h, "grid_w", grid_w));
    if (!vtr::detail::product_fits(frames, grid_h * grid_w))
      return fail("a video of ", frames, " frames of ", grid_h, "x", grid_w, " tokens has more tokens than index_t can count");
    VTR_TRY(check_room(frames * grid_h * grid_w));
    VTR_TRY(check_storage(static_cast<std::size_t>(frames), static_cast<std::size_t>(frames * grid_h * grid_w)));
    if (!(seconds_per_grid >= 0.0f) || !std::isfinite(seconds_per_grid) || !(tokens_per_second >= 0.0f) ||
        !std::isfinite(tokens_per_second))
      return fail("arguments 'seconds_per_grid' = ", seconds_per_grid, ", 'tokens_per_second' = ", tokens_per_second,
                  " must be finite and >= 0");
    item it;
    it.kind = item_kind::video;
    it.seconds_per_grid = seconds_per_grid;
    it.tokens_per_second = tokens_per_second;
    begin_item(it);
    for (index_t f = 0; f < frames; ++f) add_full_unit(span_kind::frame, f, grid_h, grid_w);
    end_item(it);
    return {};
  }
  /// A LLaVA-NeXT anyres image (see the file comment for the exact layout).
  status try_anyres(const anyres_spec& a) {
    VTR_TRY(check_grid("grid_h", a.grid_h, "grid_w", a.grid_w));
    if (a.tile_rows < 0 || a.tile_cols < 0 || (a.tile_rows == 0) != (a.tile_cols == 0))
      return fail("tile grid ", a.tile_rows, "x", a.tile_cols, " (arguments 'tile_rows', 'tile_cols') must be at least 1x1, "
                  "or 0x0 for the base image alone");
    if (a.tile_rows == 0 && !a.base) return fail("an anyres image without tiles needs its base image ('base' = false)");
    const bool tiles = a.tile_rows > 0;
    if (tiles && (!vtr::detail::product_fits(a.tile_rows, a.grid_h) || !vtr::detail::product_fits(a.tile_cols, a.grid_w) ||
                  !vtr::detail::product_fits(a.tile_rows * a.grid_h, a.tile_cols * a.grid_w)))
      return fail("the ", a.tile_rows, "x", a.tile_cols, " tiles of ", a.grid_h, "x", a.grid_w, " tokens are more than index_t can count");
    const index_t map_h = a.tile_rows * a.grid_h, map_w = a.tile_cols * a.grid_w;
    // Every crop stores a row per grid token (the tiles together: the whole map, unpadded or not).
    VTR_TRY(check_storage(static_cast<std::size_t>(a.tile_rows * a.tile_cols) + (a.base ? 1 : 0),
                          static_cast<std::size_t>(map_h * map_w) + (a.base ? static_cast<std::size_t>(a.grid_h * a.grid_w) : 0)));
    // The origin is checked before "to the end" extents are formed from it (map_h − r0 overflows otherwise).
    const index_t r0 = a.keep.row0, c0 = a.keep.col0;
    if (tiles && (r0 < 0 || c0 < 0 || r0 > map_h || c0 > map_w))
      return fail("unpad region origin (row ", r0, ", column ", c0, ") (argument 'keep') is not inside the ", map_h, "x", map_w,
                  " tiled feature map");
    const index_t nr = !tiles ? 0 : a.keep.rows < 0 ? map_h - r0 : a.keep.rows;
    const index_t nc = !tiles ? 0 : a.keep.cols < 0 ? map_w - c0 : a.keep.cols;
    if (tiles && (nr > map_h - r0 || nc > map_w - c0))
      return fail("unpad region rows ", span_text{r0, nr}, ", columns ", span_text{c0, nc}, " (argument 'keep') is not inside the ",
                  map_h, "x", map_w, " tiled feature map");
    index_t total = a.base ? a.grid_h * a.grid_w : 0;
    if (tiles) {
      if (nc == std::numeric_limits<index_t>::max() || !vtr::detail::product_fits(nr, nc + 1))
        return fail("the anyres image has more tokens than index_t can count");
      total += nr * (nc + (a.newline ? 1 : 0));
    } else if (a.newline) {
      total += 1;
    }
    VTR_TRY(check_room(total));

    item it;
    it.kind = item_kind::anyres;
    begin_item(it);
    const index_t item_index = static_cast<index_t>(items_.size());
    if (a.base) add_full_unit(span_kind::base, 0, a.grid_h, a.grid_w);
    if (!tiles) {
      if (a.newline) push_span(span_kind::newline, 1, -1, 0, item_index);
      end_item(it);
      return {};
    }
    const index_t first_tile = static_cast<index_t>(units_.size());
    for (index_t tr = 0; tr < a.tile_rows; ++tr)
      for (index_t tc = 0; tc < a.tile_cols; ++tc) {
        unit u;
        u.kind = span_kind::tile;
        u.item = item_index;
        u.index = (a.base ? 1 : 0) + tr * a.tile_cols + tc;
        u.grid_h = a.grid_h;
        u.grid_w = a.grid_w;
        u.tile_row = tr;
        u.tile_col = tc;
        u.rows.assign(static_cast<std::size_t>(a.grid_h * a.grid_w), unit::absent);
        units_.push_back(std::move(u));
      }
    for (index_t r = r0; r < r0 + nr; ++r) {
      const index_t tr = r / a.grid_h, lr = r % a.grid_h;
      // One span per tile the row crosses: its tokens are consecutive in the tile's raster order too.
      for (index_t c = c0; c < c0 + nc;) {
        const index_t tc = c / a.grid_w, c_end = std::min(c0 + nc, (tc + 1) * a.grid_w);
        const index_t u = first_tile + tr * a.tile_cols + tc;
        push_span(span_kind::tile, c_end - c, u, lr * a.grid_w + (c - tc * a.grid_w), item_index);
        c = c_end;
      }
      if (a.newline) push_span(span_kind::newline, 1, -1, 0, item_index);
    }
    end_item(it);
    return {};
  }

  layout& text(index_t n) {
    raise_if_error(try_text(n));
    return *this;
  }
  layout& image(index_t grid_h, index_t grid_w) {
    raise_if_error(try_image(grid_h, grid_w));
    return *this;
  }
  layout& video(index_t frames, index_t grid_h, index_t grid_w, float seconds_per_grid = 1.0f, float tokens_per_second = 1.0f) {
    raise_if_error(try_video(frames, grid_h, grid_w, seconds_per_grid, tokens_per_second));
    return *this;
  }
  layout& anyres(const anyres_spec& a) {
    raise_if_error(try_anyres(a));
    return *this;
  }

  /// "unit 3 (tile (0, 1) of anyres item 0)": how errors name a unit.
  std::string describe_unit(index_t u) const {
    const unit& x = units_[static_cast<std::size_t>(u)];
    const item& it = items_[static_cast<std::size_t>(x.item)];
    const char* ik = it.kind == item_kind::video ? "video" : it.kind == item_kind::anyres ? "anyres image" : "image";
    switch (x.kind) {
      case span_kind::tile:
        return vtr::detail::concat("unit ", u, " (tile (", x.tile_row, ", ", x.tile_col, ") of ", ik, " item ", x.item, ")");
      case span_kind::frame: return vtr::detail::concat("unit ", u, " (frame ", x.index, " of ", ik, " item ", x.item, ")");
      case span_kind::base: return vtr::detail::concat("unit ", u, " (base of ", ik, " item ", x.item, ")");
      default: return vtr::detail::concat("unit ", u, " (", ik, " item ", x.item, ")");
    }
  }

 private:
  index_t count_of(span_kind k) const noexcept {
    index_t n = 0;
    for (const span& s : spans_)
      if (s.kind == k) n += s.count;
    return n;
  }
  static status check_grid(const char* hn, index_t h, const char* wn, index_t w) {
    if (h < 1 || w < 1) return fail("grid ", h, "x", w, " (arguments '", hn, "', '", wn, "') must be at least 1x1");
    if (!vtr::detail::product_fits(h, w)) return fail("grid ", h, "x", w, " has more tokens than index_t can count");
    return {};
  }
  status check_room(index_t n) const {
    if (n > std::numeric_limits<index_t>::max() - size_) return fail("the sequence would be longer than index_t can count");
    return {};
  }
  /// A piece's units and their grid tokens (the layout stores a sequence row per grid token) must fit what
  /// an allocation can hold: a count index_t can hold but no vector can (an image of 2^63 − 1 × 1 tokens)
  /// is an error, not a std::length_error or an exhausted memory.
  static status check_storage(std::size_t units, std::size_t tokens) {
    if (units > std::vector<unit>().max_size() || tokens > std::vector<index_t>().max_size())
      return fail("the piece needs ", units, " units of ", tokens, " grid tokens in all, more than a layout can hold");
    return {};
  }
  void push_span(span_kind k, index_t n, index_t u, index_t first, index_t it) {
    if (n == 0) return;
    span s;
    s.kind = k;
    s.begin = size_;
    s.count = n;
    s.unit = u;
    s.unit_first = first;
    s.item = it;
    if (u >= 0) {
      unit& x = units_[static_cast<std::size_t>(u)];
      for (index_t i = 0; i < n; ++i) x.rows[static_cast<std::size_t>(first + i)] = size_ + i;
      x.present += n;
    }
    // A span continuing the previous one (same kind, unit and unit order) is merged into it.
    if (!spans_.empty()) {
      span& p = spans_.back();
      if (p.kind == k && p.unit == u && p.item == it && k != span_kind::newline && p.begin + p.count == size_ &&
          (u < 0 || p.unit_first + p.count == first)) {
        p.count += n;
        size_ += n;
        return;
      }
    }
    spans_.push_back(s);
    size_ += n;
  }
  void begin_item(item& it) const {
    it.begin = size_;
    it.first_unit = static_cast<index_t>(units_.size());
  }
  void end_item(item& it) {
    it.end = size_;
    it.units = static_cast<index_t>(units_.size()) - it.first_unit;
    for (index_t u = it.first_unit; u < it.first_unit + it.units; ++u) it.visual += units_[static_cast<std::size_t>(u)].present;
    it.newlines = it.end - it.begin - it.visual;
    items_.push_back(it);
  }
  void add_full_unit(span_kind k, index_t index_in_item, index_t gh, index_t gw) {
    const index_t item_index = static_cast<index_t>(items_.size());
    unit u;
    u.kind = k;
    u.item = item_index;
    u.index = index_in_item;
    u.grid_h = gh;
    u.grid_w = gw;
    u.rows.assign(static_cast<std::size_t>(gh * gw), unit::absent);
    units_.push_back(std::move(u));
    push_span(k, gh * gw, static_cast<index_t>(units_.size()) - 1, 0, item_index);
  }

  index_t size_ = 0;
  std::vector<span> spans_;
  std::vector<unit> units_;
  std::vector<item> items_;
};

/// [prefix text | image 0 | separator text | image 1 | … | suffix text]: several images of given grids
/// ({grid_h, grid_w} pairs) in one prompt.
inline result<layout> try_multi_image(index_t prefix, const std::vector<std::pair<index_t, index_t>>& grids,
                                      index_t separator, index_t suffix) {
  layout lay;
  VTR_TRY(lay.try_text(prefix));
  for (std::size_t i = 0; i < grids.size(); ++i) {
    if (i > 0) VTR_TRY(lay.try_text(separator));
    status s = lay.try_image(grids[i].first, grids[i].second);
    if (!s.ok()) return fail("image ", i, ": ", s.message());
  }
  VTR_TRY(lay.try_text(suffix));
  return lay;
}
inline layout multi_image(index_t prefix, const std::vector<std::pair<index_t, index_t>>& grids, index_t separator,
                          index_t suffix) {
  return try_multi_image(prefix, grids, separator, suffix).value();
}

// ---------------------------------------------------------------------------------------------------------
// Budgets

/// Splits `total` over parts of sizes w[0 … n) in proportion to the sizes, by the largest-remainder
/// (Hamilton) method: part i gets ⌊total·w_i / W⌋ (W = Σ w), and the total − Σ⌊…⌋ parts with the largest
/// remainders (total·w_i mod W) get one more, ties to the lower index. Exact integer arithmetic, so the
/// result is deterministic and adds up to total; no part exceeds its size. total is clamped to [0, W]
/// (a budget at least the token count keeps everything). Nothing is written on error.
inline status try_split_budget(index_t total, const vector_view<const index_t>& w, const vector_view<index_t>& out) {
  VTR_TRY(validate_view("w", w));
  VTR_TRY(expect_shape("out", out, {w.extent(0)}));
  VTR_TRY(expect_no_alias("out", out, "w", w));
  if (total < 0) return fail("argument 'total' (budget) = ", total, " must be non-negative");
  const index_t n = w.extent(0);
  index_t sum = 0;
  for (index_t i = 0; i < n; ++i) {
    if (w(i) < 0) return fail("argument 'w' has the negative size ", w(i), " at ", i);
    if (w(i) > std::numeric_limits<index_t>::max() - sum) return fail("the sizes in argument 'w' add up past index_t");
    sum += w(i);
  }
  const index_t t = std::min(total, sum);
  for (index_t i = 0; i < n; ++i)
    if (!vtr::detail::product_fits(t, w(i)))
      return fail("budget ", t, " times size ", w(i), " overflows index_t; split a smaller budget");
  if (sum == 0) {
    for (index_t i = 0; i < n; ++i) out(i) = 0;
    return {};
  }
  std::vector<std::pair<index_t, index_t>> rem;  // (remainder, index)
  rem.reserve(static_cast<std::size_t>(n));
  index_t given = 0;
  std::vector<index_t> q(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    const index_t p = t * w(i);
    q[static_cast<std::size_t>(i)] = p / sum;
    given += p / sum;
    rem.emplace_back(p % sum, i);
  }
  const index_t left = t - given;  // < n: each floor loses less than one
  std::sort(rem.begin(), rem.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  for (index_t k = 0; k < left; ++k) ++q[static_cast<std::size_t>(rem[static_cast<std::size_t>(k)].second)];
  for (index_t i = 0; i < n; ++i) out(i) = q[static_cast<std::size_t>(i)];
  return {};
}
inline std::vector<index_t> split_budget(index_t total, const std::vector<index_t>& w) {
  std::vector<index_t> out(w.size());
  raise_if_error(try_split_budget(total, view_of(w), view_of(out)));
  return out;
}

/// Kept-token budgets of a layout: per item (image / video) and per unit (base, tile, frame, image). Newline
/// and text tokens are not budgeted: they are always kept.
struct budgets {
  std::vector<index_t> per_item;
  std::vector<index_t> per_unit;
  index_t total() const noexcept { return std::accumulate(per_unit.begin(), per_unit.end(), index_t(0)); }
};

namespace detail {
inline status split_items_over_units(const layout& lay, budgets& b) {
  b.per_unit.assign(lay.units().size(), 0);
  std::vector<index_t> w, part;
  for (std::size_t i = 0; i < lay.items().size(); ++i) {
    const item& it = lay.items()[i];
    w.resize(static_cast<std::size_t>(it.units));
    part.resize(w.size());
    for (index_t u = 0; u < it.units; ++u) w[static_cast<std::size_t>(u)] = lay.units()[static_cast<std::size_t>(it.first_unit + u)].present;
    VTR_TRY(try_split_budget(b.per_item[i], view_of(std::as_const(w)), view_of(part)));
    for (index_t u = 0; u < it.units; ++u) b.per_unit[static_cast<std::size_t>(it.first_unit + u)] = part[static_cast<std::size_t>(u)];
  }
  return {};
}
}  // namespace detail

/// Given per-item budgets (one per image / video, each at most the item's visual tokens), split each over
/// its units in proportion to their tokens in the sequence (largest remainder).
inline result<budgets> try_budgets_per_item(const layout& lay, std::vector<index_t> per_item) {
  if (per_item.size() != lay.items().size())
    return fail("argument 'per_item' has ", per_item.size(), " budgets; the layout has ", lay.items().size(), " items");
  for (std::size_t i = 0; i < per_item.size(); ++i)
    if (per_item[i] < 0 || per_item[i] > lay.items()[i].visual)
      return fail("argument 'per_item'[", i, "] = ", per_item[i], " is outside [0, ", lay.items()[i].visual,
                  "] (the visual tokens of item ", i, ")");
  budgets b;
  b.per_item = std::move(per_item);
  VTR_TRY(detail::split_items_over_units(lay, b));
  return b;
}

/// Split a total visual-token budget over the items in proportion to their visual tokens, then each item's
/// share over its units — both by the largest remainder, so per_unit adds up to per_item and per_item to
/// min(total, visual_tokens()).
inline result<budgets> try_budgets_total(const layout& lay, index_t total) {
  if (total < 0) return fail("argument 'total' (budget) = ", total, " must be non-negative");
  std::vector<index_t> w, per_item(lay.items().size());
  for (const item& it : lay.items()) w.push_back(it.visual);
  VTR_TRY(try_split_budget(total, view_of(std::as_const(w)), view_of(per_item)));
  return try_budgets_per_item(lay, std::move(per_item));
}

/// A keep ratio: total = ⌊ratio·visual_tokens()⌋ (one double product, ALGORITHMS §0.5), split as
/// try_budgets_total does. (Per-unit ⌊ratio·n_u⌋ — each crop rounding down on its own — is what a method
/// run per unit with its own ratio gives instead; it can keep fewer tokens.)
inline result<budgets> try_budgets_ratio(const layout& lay, double ratio) {
  if (!(ratio >= 0.0) || !std::isfinite(ratio)) return fail("argument 'ratio' = ", ratio, " must be finite and >= 0");
  const index_t v = lay.visual_tokens();
  return try_budgets_total(lay, vtr::detail::clamp_count(static_cast<double>(v) * ratio, v));
}

/// The same budget for every unit, min(per_unit, its tokens in the sequence) — VScan's "same T per crop" on
/// LLaVA-NeXT (ALGORITHMS §3.4.4).
inline result<budgets> try_budgets_uniform(const layout& lay, index_t per_unit) {
  if (per_unit < 0) return fail("argument 'per_unit' (budget) = ", per_unit, " must be non-negative");
  budgets b;
  b.per_item.assign(lay.items().size(), 0);
  for (const unit& u : lay.units()) {
    b.per_unit.push_back(std::min(per_unit, u.present));
    b.per_item[static_cast<std::size_t>(u.item)] += b.per_unit.back();
  }
  return b;
}

/// User-given per-unit budgets, checked: one per unit, each in [0, the unit's tokens in the sequence].
inline result<budgets> try_budgets_given(const layout& lay, std::vector<index_t> per_unit) {
  if (per_unit.size() != lay.units().size())
    return fail("argument 'per_unit' has ", per_unit.size(), " budgets; the layout has ", lay.units().size(), " units");
  budgets b;
  b.per_item.assign(lay.items().size(), 0);
  for (std::size_t u = 0; u < per_unit.size(); ++u) {
    const unit& x = lay.units()[u];
    if (per_unit[u] < 0 || per_unit[u] > x.present)
      return fail("argument 'per_unit'[", u, "] = ", per_unit[u], " is outside [0, ", x.present, "] for ",
                  lay.describe_unit(static_cast<index_t>(u)));
    b.per_item[static_cast<std::size_t>(x.item)] += per_unit[u];
  }
  b.per_unit = std::move(per_unit);
  return b;
}

inline budgets budgets_per_item(const layout& lay, std::vector<index_t> per_item) {
  return try_budgets_per_item(lay, std::move(per_item)).value();
}
inline budgets budgets_total(const layout& lay, index_t total) { return try_budgets_total(lay, total).value(); }
inline budgets budgets_ratio(const layout& lay, double ratio) { return try_budgets_ratio(lay, ratio).value(); }
inline budgets budgets_uniform(const layout& lay, index_t per_unit) { return try_budgets_uniform(lay, per_unit).value(); }
inline budgets budgets_given(const layout& lay, std::vector<index_t> per_unit) {
  return try_budgets_given(lay, std::move(per_unit)).value();
}

// ---------------------------------------------------------------------------------------------------------
// Per-unit plans → one sequence plan

/// Which indices a unit plan uses (its input rows).
enum class unit_space {
  grid,     ///< the unit's full grid (input_rows = unit::tokens()): encoder/projector-side methods
  present,  ///< the unit's tokens present in the sequence, in sequence order (input_rows = unit::present)
};

/// What happens to a unit plan's merge terms.
enum class merge_terms {
  keep,          ///< every source must be in the sequence (an unpadded source is an error)
  drop_absent,   ///< terms whose source is not in the sequence are dropped and their weight taken off the
                 ///< divisor: the row stays the weighted mean Σw·x / Σw (as every merging method's rows are)
                 ///< over the tokens that are in the sequence
  ignore,        ///< rows become copies of their origin: the merges were applied in unit space already and
                 ///< their values written to the kept tokens (VScan's "merged values replace the kept tokens
                 ///< in place", ALGORITHMS §1.3) before the sequence was packed
};

struct combine_options {
  unit_space space = unit_space::grid;
  merge_terms terms = merge_terms::keep;
};

/// Counts of what combining dropped (unit space grid only: rows whose origin unpadding removed).
struct combine_report {
  index_t dropped_rows = 0;   ///< unit-plan rows whose origin is not in the sequence (ALGORITHMS §3.4.4)
  index_t dropped_terms = 0;  ///< merge terms dropped under merge_terms::drop_absent
};

/// Identity plans, one per unit (a unit left as it is), in the given index space.
inline std::vector<plan> identity_plans(const layout& lay, unit_space space = unit_space::grid) {
  std::vector<plan> out;
  for (const unit& u : lay.units()) {
    const index_t n = space == unit_space::grid ? u.tokens() : u.present;
    std::vector<index_t> all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), index_t(0));
    out.push_back(plan::select(n, std::move(all)));
  }
  return out;
}

/// One plan over the whole sequence from one plan per unit (`unit_plans[u]` over unit u in `opt.space`):
/// text and newline rows are kept as copies; each unit plan row goes to its origin token's sequence row,
/// with its merge terms mapped to sequence rows; rows appended by a unit plan (origin plan::appended) follow
/// the unit's last token in the sequence. Output rows are in ascending sequence order (so plan.kept() gives
/// positions with gaps and the plan compacts KV rows in place when it is a selection). Unit-plan rows whose
/// origin unpadding removed are dropped (counted in `report`). Nothing is written on error.
inline status try_combine(const layout& lay, const plan* unit_plans, index_t n_plans, plan& out,
                          const combine_options& opt = {}, combine_report* report = nullptr) {
  const auto& units = lay.units();
  const index_t nu = static_cast<index_t>(units.size());
  if (n_plans != nu) return fail("argument 'unit_plans' has ", n_plans, " plans; the layout has ", nu, " units");
  if (nu > 0 && unit_plans == nullptr) return fail("argument 'unit_plans' is null");
  // Per unit: plan-index → sequence row, and sequence-order lookup origin → plan row.
  // Per unit: plan index → sequence row (seq_of), plan index → the plan row whose origin it is (row_at), and
  // in `present` space grid index → plan index (rank_of; the identity in `grid` space).
  std::vector<std::vector<index_t>> seq_of(static_cast<std::size_t>(nu)), row_at(static_cast<std::size_t>(nu)),
      rank_of(static_cast<std::size_t>(nu));
  std::vector<index_t> last_row(static_cast<std::size_t>(nu), -1);
  combine_report rep;
  for (index_t u = 0; u < nu; ++u) {
    const unit& x = units[static_cast<std::size_t>(u)];
    const plan& p = unit_plans[u];
    status s = validate_plan(p);
    if (!s.ok()) return fail("unit_plans[", u, "] for ", lay.describe_unit(u), ": ", s.message());
    auto& map = seq_of[static_cast<std::size_t>(u)];
    map = opt.space == unit_space::grid ? x.rows : x.present_rows();
    if (opt.space == unit_space::present) {
      auto& rk = rank_of[static_cast<std::size_t>(u)];
      rk.assign(x.rows.size(), -1);
      index_t c = 0;
      for (std::size_t g = 0; g < x.rows.size(); ++g)
        if (x.rows[g] != unit::absent) rk[g] = c++;
    }
    const index_t want = static_cast<index_t>(map.size());
    if (p.input_rows != want)
      return fail("unit_plans[", u, "] for ", lay.describe_unit(u), " has input_rows ", p.input_rows, ", expected ", want,
                  opt.space == unit_space::grid ? " (the unit's grid)" : " (the unit's tokens in the sequence)");
    auto& at = row_at[static_cast<std::size_t>(u)];
    at.assign(static_cast<std::size_t>(want), -1);
    for (index_t r = 0; r < p.size(); ++r) {
      const index_t o = p.origin[static_cast<std::size_t>(r)];
      if (o == plan::appended) {
        if (opt.terms == merge_terms::ignore)
          return fail("unit_plans[", u, "] row ", r, " is appended (no origin); merge_terms::ignore needs every row to have one");
        continue;
      }
      if (at[static_cast<std::size_t>(o)] >= 0)
        return fail("unit_plans[", u, "] for ", lay.describe_unit(u), " has origin ", o, " in rows ",
                    at[static_cast<std::size_t>(o)], " and ", r, "; a unit plan keeps each token at most once");
      at[static_cast<std::size_t>(o)] = r;
      if (map[static_cast<std::size_t>(o)] == unit::absent) ++rep.dropped_rows;
    }
    for (index_t q : map) last_row[static_cast<std::size_t>(u)] = std::max(last_row[static_cast<std::size_t>(u)], q);
    if (last_row[static_cast<std::size_t>(u)] < 0 && p.appended_rows() > 0)
      return fail("unit_plans[", u, "] appends rows to ", lay.describe_unit(u), ", which has no token in the sequence");
  }

  plan res;
  res.reset(lay.size());
  std::vector<index_t> src;
  std::vector<float> wts;
  auto emit = [&](index_t u, index_t r) -> status {
    const plan& p = unit_plans[u];
    const auto& map = seq_of[static_cast<std::size_t>(u)];
    const index_t o = p.origin[static_cast<std::size_t>(r)];
    const index_t seq = o == plan::appended ? plan::appended : map[static_cast<std::size_t>(o)];
    if (p.is_selection() || opt.terms == merge_terms::ignore) {
      res.add_copy(seq);
      return {};
    }
    src.clear();
    wts.clear();
    float dropped = 0.0f;
    for (index_t t = p.offsets[static_cast<std::size_t>(r)]; t < p.offsets[static_cast<std::size_t>(r) + 1]; ++t) {
      const index_t q = map[static_cast<std::size_t>(p.sources[static_cast<std::size_t>(t)])];
      const float w = p.weights[static_cast<std::size_t>(t)];
      if (q == unit::absent) {
        if (opt.terms == merge_terms::keep)
          return fail("unit_plans[", u, "] row ", r, " of ", lay.describe_unit(u), " merges unit token ",
                      p.sources[static_cast<std::size_t>(t)], ", which unpadding removed from the sequence; pass "
                      "merge_terms::drop_absent, or apply the merges in unit space and pass merge_terms::ignore");
        dropped += w;
        ++rep.dropped_terms;
        continue;
      }
      src.push_back(q);
      wts.push_back(w);
    }
    const float d = p.divisors[static_cast<std::size_t>(r)] - dropped;
    if (src.empty() || !(d != 0.0f))
      return fail("unit_plans[", u, "] row ", r, " of ", lay.describe_unit(u), " has no merge term left in the sequence");
    res.add_merge(seq, src.data(), static_cast<index_t>(src.size()), wts.data(), d);
    return {};
  };
  for (const span& s : lay.spans()) {
    if (s.unit < 0) {
      for (index_t i = 0; i < s.count; ++i) res.add_copy(s.begin + i);
      continue;
    }
    const index_t u = s.unit;
    const auto& at = row_at[static_cast<std::size_t>(u)];
    for (index_t i = 0; i < s.count; ++i) {
      const index_t g = s.unit_first + i;
      const index_t idx = opt.space == unit_space::grid ? g : rank_of[static_cast<std::size_t>(u)][static_cast<std::size_t>(g)];
      const index_t r = at[static_cast<std::size_t>(idx)];
      if (r >= 0) VTR_TRY(emit(u, r));
      if (s.begin + i == last_row[static_cast<std::size_t>(u)]) {
        const plan& p = unit_plans[u];
        for (index_t a = 0; a < p.size(); ++a)
          if (p.origin[static_cast<std::size_t>(a)] == plan::appended) VTR_TRY(emit(u, a));
      }
    }
  }
  out = std::move(res);
  if (report) *report = rep;
  return {};
}
inline status try_combine(const layout& lay, const std::vector<plan>& unit_plans, plan& out, const combine_options& opt = {},
                          combine_report* report = nullptr) {
  return try_combine(lay, unit_plans.data(), static_cast<index_t>(unit_plans.size()), out, opt, report);
}
inline plan combine(const layout& lay, const std::vector<plan>& unit_plans, const combine_options& opt = {},
                    combine_report* report = nullptr) {
  plan p;
  raise_if_error(try_combine(lay, unit_plans, p, opt, report));
  return p;
}

/// Runs `fn(u, unit, plan&) -> status` for every unit u and collects the unit plans (errors name the unit).
/// Nothing is written to `unit_plans` on error.
template <class Fn>
status try_run_units(const layout& lay, Fn&& fn, std::vector<plan>& unit_plans) {
  std::vector<plan> res(lay.units().size());
  for (std::size_t u = 0; u < res.size(); ++u) {
    status s = fn(static_cast<index_t>(u), lay.units()[u], res[u]);
    if (!s.ok()) return fail(lay.describe_unit(static_cast<index_t>(u)), ": ", s.message());
  }
  unit_plans = std::move(res);
  return {};
}
template <class Fn>
std::vector<plan> run_units(const layout& lay, Fn&& fn) {
  std::vector<plan> p;
  raise_if_error(try_run_units(lay, std::forward<Fn>(fn), p));
  return p;
}

/// Splits a plan over the concatenated grids of units [first_unit, first_unit + count) — the crop-major
/// stream an encoder emits, e.g. vscan::stage1::plan_crops over an anyres image's base + tiles — into unit
/// plans (unit_space::grid) written to unit_plans[first_unit …]. Every row's origin and sources must lie in
/// one unit; an appended row belongs to the unit of its first source. unit_plans must hold one plan per
/// unit of the layout (identity_plans gives a start). Nothing is written on error.
inline status try_split_stream(const layout& lay, index_t first_unit, index_t count, const plan& stream,
                               std::vector<plan>& unit_plans) {
  const index_t nu = static_cast<index_t>(lay.units().size());
  if (static_cast<index_t>(unit_plans.size()) != nu)
    return fail("argument 'unit_plans' has ", unit_plans.size(), " plans; the layout has ", nu, " units");
  if (first_unit < 0 || count < 0 || first_unit > nu || count > nu - first_unit)
    return fail("units ", span_text{first_unit, count}, " (arguments 'first_unit', 'count') are not inside the layout's ", nu, " units");
  VTR_TRY(validate_plan(stream));
  std::vector<index_t> start(static_cast<std::size_t>(count) + 1, 0);
  for (index_t k = 0; k < count; ++k)
    start[static_cast<std::size_t>(k) + 1] = start[static_cast<std::size_t>(k)] + lay.units()[static_cast<std::size_t>(first_unit + k)].tokens();
  if (stream.input_rows != start.back())
    return fail("argument 'stream' has input_rows ", stream.input_rows, "; units ", span_text{first_unit, count},
                " hold ", start.back(), " grid tokens");
  auto unit_of = [&](index_t row) {
    return static_cast<index_t>(std::upper_bound(start.begin(), start.end(), row) - start.begin()) - 1;
  };
  std::vector<plan> res(static_cast<std::size_t>(count));
  for (index_t k = 0; k < count; ++k) res[static_cast<std::size_t>(k)].reset(start[static_cast<std::size_t>(k) + 1] - start[static_cast<std::size_t>(k)]);
  std::vector<index_t> src;
  for (index_t r = 0; r < stream.size(); ++r) {
    const auto se = stream.sources_of(r);
    const index_t o = stream.origin[static_cast<std::size_t>(r)];
    const index_t k = o != plan::appended ? unit_of(o) : unit_of(*se.first);
    const index_t off = start[static_cast<std::size_t>(k)];
    src.clear();
    for (const index_t* s = se.first; s != se.second; ++s) {
      if (unit_of(*s) != k)
        return fail("argument 'stream' row ", r, " merges stream row ", *s, " into ", lay.describe_unit(first_unit + k),
                    "; a row must stay inside one unit");
      src.push_back(*s - off);
    }
    plan& p = res[static_cast<std::size_t>(k)];
    const index_t lo = o == plan::appended ? plan::appended : o - off;
    if (stream.is_selection()) {
      p.add_copy(lo);
    } else {
      p.add_merge(lo, src.data(), static_cast<index_t>(src.size()), stream.weights.data() + stream.offsets[static_cast<std::size_t>(r)],
                  stream.divisors[static_cast<std::size_t>(r)]);
    }
  }
  for (index_t k = 0; k < count; ++k) unit_plans[static_cast<std::size_t>(first_unit + k)] = std::move(res[static_cast<std::size_t>(k)]);
  return {};
}
inline void split_stream(const layout& lay, index_t first_unit, index_t count, const plan& stream, std::vector<plan>& unit_plans) {
  raise_if_error(try_split_stream(lay, first_unit, count, stream, unit_plans));
}

/// The values of a per-sequence-row vector (scores, say) at unit u's present tokens, in sequence order.
template <class T>
status try_unit_values(const layout& lay, index_t u, const vector_view<const T>& seq_values, std::vector<T>& out) {
  VTR_TRY(expect_shape("seq_values", seq_values, {lay.size()}));
  if (u < 0 || u >= static_cast<index_t>(lay.units().size()))
    return fail("argument 'u' = ", u, " is not a unit of the layout (", lay.units().size(), " units)");
  std::vector<T> res;
  for (index_t q : lay.units()[static_cast<std::size_t>(u)].rows)
    if (q != unit::absent) res.push_back(seq_values(q));
  out = std::move(res);
  return {};
}
template <class T>
std::vector<T> unit_values(const layout& lay, index_t u, const vector_view<const T>& seq_values) {
  std::vector<T> out;
  raise_if_error(try_unit_values(lay, u, seq_values, out));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Positions

/// The M-RoPE (t, h, w) triples of the unreduced sequence (positions::try_mrope_index): an image is a
/// 1 × grid_h × grid_w block, a video a frames × grid_h × grid_w block with its temporal scale, text
/// between them text. LLaVA-NeXT anyres images have no M-RoPE rule (the model uses 1-D positions): an error.
inline result<std::int64_t> try_mrope_positions(const layout& lay, positions::mrope_layout ml,
                                                const matrix_view<std::int64_t>& out) {
  std::vector<positions::mrope_block> blocks;
  positions::mrope_block cur;
  for (const span& s : lay.spans()) {
    if (s.kind == span_kind::text) {
      cur.text += s.count;
      continue;
    }
    const item& it = lay.items()[static_cast<std::size_t>(s.item)];
    if (it.kind == item_kind::anyres)
      return fail("item ", s.item, " is a LLaVA-NeXT anyres image, whose model uses 1-D positions; M-RoPE triples "
                  "are defined for image and video items");
    if (s.begin != it.begin) continue;  // the item's first span stands for all of it
    const unit& x = lay.units()[static_cast<std::size_t>(it.first_unit)];
    cur.grid_t = it.units;  // 1 for an image, frames for a video
    cur.grid_h = x.grid_h;
    cur.grid_w = x.grid_w;
    cur.seconds_per_grid = it.seconds_per_grid;
    cur.tokens_per_second = it.tokens_per_second;
    blocks.push_back(cur);
    cur = positions::mrope_block{};
  }
  if (cur.text > 0) blocks.push_back(cur);
  return positions::try_mrope_index(vector_view<const positions::mrope_block>(blocks.data(), {static_cast<index_t>(blocks.size())}),
                                    ml, out);
}
inline std::int64_t mrope_positions(const layout& lay, positions::mrope_layout ml, const matrix_view<std::int64_t>& out) {
  return try_mrope_positions(lay, ml, out).value();
}

}  // namespace media
VTR_NAMESPACE_END
