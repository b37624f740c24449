// Fuzz target: media layouts, budgets and per-unit plans (vtr/core/media.hpp), batch apply
// (vtr/core/batch.hpp) and the per-unit top-k policy (vtr/policies/media_topk.hpp), picked by the first byte.
//
// A layout is built from a decoded list of pieces (text, images, videos, LLaVA-NeXT anyres images with odd
// tile grids, unpad rectangles from anyres_unpad or arbitrary ones, newline/base switches); a builder that
// fails must leave the layout exactly as it was, one that succeeds must keep the layout's invariants (spans
// tile the sequence, unit rows point back at their spans, counts add up). On top of it:
//   * budgets (total / ratio / uniform / given / per item, split_budget): they add up to the request or its
//     documented clamp, never exceed a unit's or item's tokens, and split by the largest remainder;
//   * run_units + combine with random unit plans (selections, merges, appended rows, broken plans) in both
//     index spaces and all merge_terms modes: the outcome (ok or error) is predicted independently, a
//     combined plan passes validate_plan, keeps every text and newline row, is ascending, and applying it to
//     a tensor gives what the unit plans give on their tokens (recomputed here in double);
//   * split_stream: the stream's rows land in their units in order, the other units stay untouched;
//   * M-RoPE positions of image/video layouts, unit_values;
//   * batch::apply_padded / apply_ragged: equal to vtr::apply per sequence, nothing written on error;
//   * media_topk: per-unit top budget[u] by (score desc, index asc), text/newline kept, counts as kept_count.
// Layouts whose tokens would need real memory (a legitimate but large request) are not built; requests that
// no allocation can hold are, and must fail cleanly.
#include "fuzz_common.hpp"

#include <vtr/core/batch.hpp>
#include <vtr/core/media.hpp>
#include <vtr/policies/media_topk.hpp>

#include <algorithm>
#include <numeric>
#include <string>

using namespace vtr_fuzz;
namespace media = vtr::media;

namespace {

// ---- sizes ---------------------------------------------------------------------------------------------

using big = __int128;
constexpr big big_cap = big(1) << 100;
big mul(big a, big b) {  // saturating at big_cap (operands are ≥ 0 here)
  if (a <= 0 || b <= 0) return 0;
  if (a > big_cap / b) return big_cap;
  return a * b;
}
// What a piece allocates, in index_t slots: small enough to build, or beyond anything allocatable (the
// library must then fail without trying). In between is a legitimate large request: not built.
constexpr big small_alloc = 1 << 14;
constexpr big unallocatable = big(1) << 61;
// A piece is sent when its tables are small, or so large that no allocation can hold them (the builder must
// then fail, not throw std::length_error or exhaust memory; regress-media-image-length-error,
// regress-media-video-units-oom).
bool buildable(big slots) {
  return slots <= small_alloc || slots > unallocatable;
}

// ---- layout snapshot and invariants ------------------------------------------------------------------

bool same_layout(const media::layout& a, const media::layout& b) {
  if (a.size() != b.size() || a.spans().size() != b.spans().size() || a.units().size() != b.units().size() ||
      a.items().size() != b.items().size())
    return false;
  for (std::size_t i = 0; i < a.spans().size(); ++i) {
    const media::span &x = a.spans()[i], &y = b.spans()[i];
    if (x.kind != y.kind || x.begin != y.begin || x.count != y.count || x.unit != y.unit || x.unit_first != y.unit_first ||
        x.item != y.item)
      return false;
  }
  for (std::size_t i = 0; i < a.units().size(); ++i) {
    const media::unit &x = a.units()[i], &y = b.units()[i];
    if (x.kind != y.kind || x.item != y.item || x.index != y.index || x.grid_h != y.grid_h || x.grid_w != y.grid_w ||
        x.tile_row != y.tile_row || x.tile_col != y.tile_col || x.rows != y.rows || x.present != y.present)
      return false;
  }
  for (std::size_t i = 0; i < a.items().size(); ++i) {
    const media::item &x = a.items()[i], &y = b.items()[i];
    if (x.kind != y.kind || x.begin != y.begin || x.end != y.end || x.first_unit != y.first_unit || x.units != y.units ||
        x.visual != y.visual || x.newlines != y.newlines)
      return false;
  }
  return true;
}

void check_layout(const media::layout& lay) {
  const auto& spans = lay.spans();
  const auto& units = lay.units();
  const auto& items = lay.items();
  index_t at = 0, text = 0, nl = 0;
  std::vector<index_t> seen(units.size(), 0);
  for (const media::span& s : spans) {
    vtr_fuzz_check(s.begin == at && s.count > 0);
    at += s.count;
    switch (s.kind) {
      case media::span_kind::text:
        vtr_fuzz_check(s.unit == -1 && s.item == -1);
        text += s.count;
        break;
      case media::span_kind::newline:
        vtr_fuzz_check(s.unit == -1 && s.item >= 0 && s.item < static_cast<index_t>(items.size()));
        vtr_fuzz_check(items[static_cast<std::size_t>(s.item)].kind == media::item_kind::anyres);
        nl += s.count;
        break;
      default: {
        vtr_fuzz_check(s.unit >= 0 && s.unit < static_cast<index_t>(units.size()));
        const media::unit& u = units[static_cast<std::size_t>(s.unit)];
        vtr_fuzz_check(u.kind == s.kind && u.item == s.item);
        vtr_fuzz_check(s.unit_first >= 0 && s.unit_first + s.count <= u.tokens());
        for (index_t i = 0; i < s.count; ++i) vtr_fuzz_check(u.rows[static_cast<std::size_t>(s.unit_first + i)] == s.begin + i);
        seen[static_cast<std::size_t>(s.unit)] += s.count;
      }
    }
  }
  vtr_fuzz_check(at == lay.size());
  vtr_fuzz_check(lay.text_tokens() == text && lay.newline_tokens() == nl && lay.visual_tokens() == at - text - nl);
  index_t visual = 0;
  for (std::size_t u = 0; u < units.size(); ++u) {
    const media::unit& x = units[u];
    vtr_fuzz_check(x.grid_h >= 1 && x.grid_w >= 1 && static_cast<index_t>(x.rows.size()) == x.tokens());
    index_t present = 0, prev = -1;
    for (index_t q : x.rows) {
      if (q == media::unit::absent) continue;
      vtr_fuzz_check(q > prev && q < lay.size());  // unit-local order is sequence order
      prev = q;
      ++present;
    }
    vtr_fuzz_check(present == x.present && present == seen[u]);
    vtr_fuzz_check(x.present_rows().size() == static_cast<std::size_t>(present));
    if (x.kind != media::span_kind::tile) vtr_fuzz_check(present == x.tokens());
    visual += present;
  }
  vtr_fuzz_check(visual == lay.visual_tokens());
  index_t unit_at = 0, prev_end = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const media::item& it = items[i];
    vtr_fuzz_check(it.first_unit == unit_at && it.units >= 1 && it.begin >= prev_end && it.end >= it.begin);
    unit_at += it.units;
    prev_end = it.end;
    index_t v = 0;
    for (index_t u = it.first_unit; u < it.first_unit + it.units; ++u) {
      vtr_fuzz_check(units[static_cast<std::size_t>(u)].item == static_cast<index_t>(i));
      v += units[static_cast<std::size_t>(u)].present;
    }
    vtr_fuzz_check(it.visual == v && it.newlines == it.end - it.begin - v && it.newlines >= 0);
  }
  vtr_fuzz_check(unit_at == static_cast<index_t>(units.size()));
}

// ---- building ------------------------------------------------------------------------------------------

struct built {
  media::layout lay;
  bool anyres = false;
};

// Applies `call` to a copy; an error must leave the layout as it was (and carry a message).
template <class Call>
bool try_piece(media::layout& lay, Call&& call) {
  media::layout before = lay;
  const vtr::status s = call(lay);
  if (!s.ok()) {
    vtr_fuzz_check(!s.message().empty());
    vtr_fuzz_check(same_layout(lay, before));
    return false;
  }
  return true;
}

media::unpad_region region(reader& r, index_t map_h, index_t map_w) {
  media::unpad_region k;
  switch (r.byte() % 4) {
    case 0: return k;  // all of the map
    case 1: {
      const index_t iw = r.scalar(1, 40), ih = r.scalar(1, 40);
      // (Past 2^53 the double product rounds; the region must still lie inside the map:
      // regress-media-unpad-rounding.)
      auto u = media::try_anyres_unpad(iw, ih, map_h, map_w);
      if (!u) {
        vtr_fuzz_check(iw < 1 || ih < 1 || map_h < 1 || map_w < 1);
        return k;
      }
      vtr_fuzz_check(iw >= 1 && ih >= 1 && map_h >= 1 && map_w >= 1);
      k = u.value();
      // LLaVA's rectangle: centred, inside the map, the full extent along the other axis.
      vtr_fuzz_check(k.row0 >= 0 && k.rows >= 0 && k.row0 + k.rows <= map_h && k.row0 == (map_h - k.rows) / 2);
      vtr_fuzz_check(k.col0 >= 0 && k.cols >= 0 && k.col0 + k.cols <= map_w && k.col0 == (map_w - k.cols) / 2);
      vtr_fuzz_check(k.rows == map_h || k.cols == map_w);
      return k;
    }
    default:
      k.row0 = r.scalar(0, std::max<index_t>(map_h, 0));
      k.rows = r.scalar(-1, std::max<index_t>(map_h, 0));
      k.col0 = r.scalar(0, std::max<index_t>(map_w, 0));
      k.cols = r.scalar(-1, std::max<index_t>(map_w, 0));
      return k;
  }
}

void add_anyres(reader& r, built& b) {
  media::anyres_spec a;
  a.tile_rows = r.scalar(0, 3);
  a.tile_cols = r.byte() >= 226 ? r.scalar(0, 3) : (a.tile_rows == 0 ? 0 : r.extent(1, 3));
  a.grid_h = r.scalar(1, 4);
  a.grid_w = r.byte() < 60 ? r.scalar(1, 4) : a.grid_h;
  a.newline = r.byte() < 200;
  a.base = r.byte() < 220;
  const bool dims_ok = a.tile_rows >= 0 && a.tile_cols >= 0 && a.grid_h >= 0 && a.grid_w >= 0;
  const big map_h = mul(a.tile_rows, a.grid_h), map_w = mul(a.tile_cols, a.grid_w);
  a.keep = region(r, map_h < big(1) << 62 ? static_cast<index_t>(map_h) : -1, map_w < big(1) << 62 ? static_cast<index_t>(map_w) : -1);
  // Slots: the base's and every tile's rows, and one unit per tile (a few dozen bytes each).
  const big slots = dims_ok ? mul(a.grid_h, a.grid_w) * (a.base ? 2 : 1) + mul(mul(a.tile_rows, a.tile_cols), mul(a.grid_h, a.grid_w) + 16) : 0;
  if (!buildable(slots)) return;
  const index_t size0 = b.lay.size(), units0 = static_cast<index_t>(b.lay.units().size());
  if (!try_piece(b.lay, [&](media::layout& l) { return l.try_anyres(a); })) return;
  // (An anyres image with no token in the sequence — no base, an empty unpad region — has no span for the
  // M-RoPE builder to refuse.)
  if (b.lay.size() > size0) b.anyres = true;
  // The sequence grew by base + kept rows × (kept columns + newline), or base + one newline without tiles.
  const index_t mh = a.tile_rows * a.grid_h, mw = a.tile_cols * a.grid_w;
  const bool tiles = a.tile_rows > 0;  // (without tiles the region is ignored)
  const index_t nr = !tiles ? 0 : a.keep.rows < 0 ? mh - a.keep.row0 : a.keep.rows;
  const index_t nc = !tiles ? 0 : a.keep.cols < 0 ? mw - a.keep.col0 : a.keep.cols;
  const index_t want = (a.base ? a.grid_h * a.grid_w : 0) + (tiles ? nr * (nc + (a.newline ? 1 : 0)) : (a.newline ? 1 : 0));
  vtr_fuzz_check(b.lay.size() - size0 == want);
  vtr_fuzz_check(static_cast<index_t>(b.lay.units().size()) - units0 == (a.base ? 1 : 0) + a.tile_rows * a.tile_cols);
  // Tile (tr, tc) holds the kept map cells of its block: map cell (y, x) is tile-local (y % gh, x % gw).
  for (index_t tr = 0; tr < a.tile_rows; ++tr)
    for (index_t tc = 0; tc < a.tile_cols; ++tc) {
      const media::unit& u = b.lay.units()[static_cast<std::size_t>(units0 + (a.base ? 1 : 0) + tr * a.tile_cols + tc)];
      vtr_fuzz_check(u.kind == media::span_kind::tile && u.tile_row == tr && u.tile_col == tc);
      for (index_t y = 0; y < a.grid_h; ++y)
        for (index_t x = 0; x < a.grid_w; ++x) {
          const index_t my = tr * a.grid_h + y, mx = tc * a.grid_w + x;
          const bool kept = my >= a.keep.row0 && my < a.keep.row0 + nr && mx >= a.keep.col0 && mx < a.keep.col0 + nc;
          vtr_fuzz_check((u.rows[static_cast<std::size_t>(y * a.grid_w + x)] != media::unit::absent) == kept);
        }
    }
}

built build(reader& r, index_t max_pieces) {
  built b;
  const index_t pieces = r.extent(0, max_pieces);
  for (index_t i = 0; i < pieces && r.remaining() > 0; ++i) {
    switch (r.byte() % 5) {
      case 0:
      case 1: {
        const index_t n = r.byte() < 250 ? r.extent(0, 6) : r.scalar(0, 6);
        try_piece(b.lay, [&](media::layout& l) { return l.try_text(n); });
        break;
      }
      case 2: {
        const index_t gh = r.scalar(1, 5), gw = r.scalar(1, 5);
        if (!buildable(gh >= 0 && gw >= 0 ? mul(gh, gw) : 0)) break;
        const index_t size0 = b.lay.size();
        if (try_piece(b.lay, [&](media::layout& l) { return l.try_image(gh, gw); })) vtr_fuzz_check(b.lay.size() - size0 == gh * gw);
        break;
      }
      case 3: {
        const index_t f = r.scalar(1, 4), gh = r.scalar(1, 4), gw = r.scalar(1, 4);
        const float spg = r.byte() < 200 ? 1.0f : static_cast<float>(r.real(0.0, 3.0));
        const float tps = r.byte() < 200 ? (r.flag() ? 1.0f : 2.0f) : static_cast<float>(r.real(0.0, 3.0));
        if (!buildable(f >= 0 && gh >= 0 && gw >= 0 ? mul(mul(f, gh), gw) + mul(f, 16) : 0)) break;
        const index_t size0 = b.lay.size();
        if (try_piece(b.lay, [&](media::layout& l) { return l.try_video(f, gh, gw, spg, tps); }))
          vtr_fuzz_check(b.lay.size() - size0 == f * gh * gw);
        break;
      }
      default: add_anyres(r, b); break;
    }
  }
  check_layout(b.lay);
  return b;
}

// ---- random plans ----------------------------------------------------------------------------------------

// Weights and divisors from a small dyadic set, so float sums of them are exact (and so comparable).
float dyadic(reader& r) { return static_cast<float>(r.extent(1, 16)) / 4.0f; }

// A plan over n rows: identity, selection (ascending or not), merges with appended rows, empty; sometimes
// broken (wrong input_rows, an index out of range, a zero divisor, a repeated origin).
vtr::plan gen_plan(reader& r, index_t n, bool allow_bad) {
  vtr::plan p;
  p.reset(n);
  const std::uint8_t kind = r.byte();
  if (kind < 40) {
    for (index_t i = 0; i < n; ++i) p.add_copy(i);
  } else if (kind < 110) {
    for (index_t i = 0; i < n; ++i)
      if (r.byte() < 128) p.add_copy(i);
    if (r.byte() < 40) std::reverse(p.origin.begin(), p.origin.end());
  } else if (kind < 240) {
    std::vector<index_t> src;
    std::vector<float> w;
    const bool appended = r.byte() < 80;
    for (index_t i = 0; i < n + (appended ? 2 : 0); ++i) {
      if (r.byte() < 100) continue;
      const index_t o = i < n ? i : vtr::plan::appended;
      const index_t k = r.extent(1, 3);
      src.clear();
      w.clear();
      if (o >= 0 && r.byte() < 200) {  // the usual merge: the origin is a term
        src.push_back(o);
        w.push_back(dyadic(r));
      }
      for (index_t t = static_cast<index_t>(src.size()); t < k && n > 0; ++t) {
        src.push_back(r.extent(0, n - 1));
        w.push_back(dyadic(r));
      }
      if (src.empty()) {
        if (o < 0) continue;
        src.push_back(o);
        w.push_back(1.0f);
      }
      float d = 0.0f;
      for (float x : w) d += x;
      if (r.byte() >= 226) d = dyadic(r) * (r.flag() ? 1.0f : -1.0f);
      p.add_merge(o, src.data(), static_cast<index_t>(src.size()), w.data(), d);
    }
    if (p.is_selection() && r.flag() && n > 0) {  // make sure some plans carry terms
      const index_t o = r.extent(0, n - 1);
      const float one = 1.0f;
      p.add_merge(o, &o, 1, &one, 1.0f);
    }
  }  // else: empty
  if (allow_bad && r.byte() >= 244) {
    switch (r.byte() % 5) {
      case 0: p.input_rows += r.flag() ? 1 : -1; break;
      case 1:
        if (!p.origin.empty()) p.origin[static_cast<std::size_t>(r.extent(0, p.size() - 1))] = r.scalar(0, n);
        break;
      case 2:
        if (!p.divisors.empty()) p.divisors.back() = 0.0f;
        break;
      case 3:
        if (!p.sources.empty()) p.sources.front() = r.scalar(0, n);
        break;
      default:
        if (!p.origin.empty()) {
          const index_t o = p.origin.front();
          if (p.is_selection()) {
            p.add_copy(o);
          } else {
            const float one = 1.0f;
            p.add_merge(o, &p.sources.front(), 1, &one, 1.0f);
          }
        }
    }
  }
  return p;
}

// A tensor over the sequence rows with small integer values (exact in float sums).
std::vector<float> seq_values(index_t rows, index_t cols) {
  std::vector<float> x(static_cast<std::size_t>(std::max<index_t>(rows * cols, 1)));
  for (index_t i = 0; i < rows; ++i)
    for (index_t c = 0; c < cols; ++c) x[static_cast<std::size_t>(i * cols + c)] = static_cast<float>((i * 7 + c * 3) % 11 + 1);
  return x;
}

// ---- layout, budgets -------------------------------------------------------------------------------------

// Largest remainder: every part is ⌊quota⌋ or ⌊quota⌋ + 1, and the +1 go to the largest remainders (ties
// to the lower index).
void check_hamilton(index_t total, const std::vector<index_t>& w, const std::vector<index_t>& out) {
  big sum = 0;
  for (index_t x : w) sum += x;
  const big t = std::min<big>(total, sum);
  big given = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    given += out[i];
    vtr_fuzz_check(out[i] >= 0 && out[i] <= w[i]);
    if (sum == 0) continue;
    const big q = t * w[i] / sum;
    vtr_fuzz_check(out[i] == q || out[i] == q + 1);
  }
  vtr_fuzz_check(given == (sum == 0 ? 0 : t));
  if (sum == 0) return;
  for (std::size_t i = 0; i < w.size(); ++i)
    for (std::size_t j = 0; j < w.size(); ++j) {
      const big ri = t * w[i] % sum, rj = t * w[j] % sum;
      const bool up_i = out[i] == t * w[i] / sum + 1, up_j = out[j] == t * w[j] / sum + 1;
      // A part that got the extra one ranks before one that did not.
      if (up_i && !up_j) vtr_fuzz_check(ri > rj || (ri == rj && i < j));
    }
}

void check_budgets(const media::layout& lay, const media::budgets& b, index_t want_total) {
  vtr_fuzz_check(b.per_item.size() == lay.items().size() && b.per_unit.size() == lay.units().size());
  vtr_fuzz_check(b.total() == want_total);
  std::vector<index_t> per_item(lay.items().size(), 0);
  for (std::size_t u = 0; u < b.per_unit.size(); ++u) {
    const media::unit& x = lay.units()[u];
    vtr_fuzz_check(b.per_unit[u] >= 0 && b.per_unit[u] <= x.present);
    per_item[static_cast<std::size_t>(x.item)] += b.per_unit[u];
  }
  vtr_fuzz_check(per_item == b.per_item);
  for (std::size_t i = 0; i < per_item.size(); ++i) vtr_fuzz_check(per_item[i] <= lay.items()[i].visual);
}

// The per-item shares split over the units by the largest remainder (present tokens as weights).
void check_unit_split(const media::layout& lay, const media::budgets& b) {
  for (const media::item& it : lay.items()) {
    std::vector<index_t> w, part;
    for (index_t u = it.first_unit; u < it.first_unit + it.units; ++u) {
      w.push_back(lay.units()[static_cast<std::size_t>(u)].present);
      part.push_back(b.per_unit[static_cast<std::size_t>(u)]);
    }
    check_hamilton(b.per_item[static_cast<std::size_t>(&it - lay.items().data())], w, part);
  }
}

void layouts(reader& r) {
  const built b = build(r, 6);
  const media::layout& lay = b.lay;
  const index_t v = lay.visual_tokens();
  switch (r.byte() % 6) {
    case 0: {
      const index_t total = r.scalar(0, v + 4);
      auto res = media::try_budgets_total(lay, total);
      if (!res) {
        vtr_fuzz_check(total < 0);
        return;
      }
      vtr_fuzz_check(total >= 0);
      check_budgets(lay, res.value(), std::min(total, v));
      std::vector<index_t> w;
      for (const media::item& it : lay.items()) w.push_back(it.visual);
      check_hamilton(total, w, res.value().per_item);
      check_unit_split(lay, res.value());
      return;
    }
    case 1: {
      const double ratio = r.real(0.0, 1.2);
      auto res = media::try_budgets_ratio(lay, ratio);
      if (!res) {
        vtr_fuzz_check(!(ratio >= 0.0) || !std::isfinite(ratio));
        return;
      }
      const double x = static_cast<double>(v) * ratio;
      const index_t want = x >= static_cast<double>(v) ? v : static_cast<index_t>(std::floor(x));
      check_budgets(lay, res.value(), want);
      check_unit_split(lay, res.value());
      return;
    }
    case 2: {
      const index_t k = r.scalar(0, 8);
      auto res = media::try_budgets_uniform(lay, k);
      if (!res) {
        vtr_fuzz_check(k < 0);
        return;
      }
      index_t want = 0;
      for (std::size_t u = 0; u < lay.units().size(); ++u) {
        const index_t e = std::min(k, lay.units()[u].present);
        vtr_fuzz_check(res.value().per_unit[u] == e);
        want += e;
      }
      check_budgets(lay, res.value(), want);
      return;
    }
    case 3: {
      std::vector<index_t> per(lay.units().size() + (r.byte() >= 246 ? 1 : 0));
      bool valid = per.size() == lay.units().size();
      index_t want = 0;
      for (std::size_t u = 0; u < per.size(); ++u) {
        const index_t p = u < lay.units().size() ? lay.units()[u].present : 0;
        per[u] = r.byte() < 240 ? r.extent(0, p) : r.scalar(0, p);
        if (per[u] < 0 || per[u] > p) valid = false;
        want += std::max<index_t>(per[u], 0) % (index_t(1) << 40);
      }
      auto res = media::try_budgets_given(lay, per);
      vtr_fuzz_check(res.ok() == valid);
      if (res) {
        vtr_fuzz_check(res.value().per_unit == per);
        check_budgets(lay, res.value(), want);
      }
      // media_topk::kept_count agrees: text and newlines plus the budgets.
      auto kc = vtr::policies::media_topk::kept_count(lay, per);
      vtr_fuzz_check(kc.ok() == valid);
      if (kc) vtr_fuzz_check(kc.value() == lay.size() - v + want);
      return;
    }
    case 4: {
      std::vector<index_t> per(lay.items().size() + (r.byte() >= 246 ? 1 : 0));
      bool valid = per.size() == lay.items().size();
      index_t want = 0;
      for (std::size_t i = 0; i < per.size(); ++i) {
        const index_t p = i < lay.items().size() ? lay.items()[i].visual : 0;
        per[i] = r.byte() < 240 ? r.extent(0, p) : r.scalar(0, p);
        if (per[i] < 0 || per[i] > p) valid = false;
        want += std::max<index_t>(per[i], 0) % (index_t(1) << 40);
      }
      auto res = media::try_budgets_per_item(lay, per);
      vtr_fuzz_check(res.ok() == valid);
      if (res) {
        vtr_fuzz_check(res.value().per_item == per);
        check_budgets(lay, res.value(), want);
        check_unit_split(lay, res.value());
      }
      return;
    }
    default: {  // split_budget on its own, with sizes that may be anything
      const index_t total = r.scalar(0, 40);
      std::vector<index_t> w(static_cast<std::size_t>(r.extent(0, 6)));
      for (auto& x : w) x = r.byte() < 220 ? r.extent(0, 12) : r.scalar(0, 12);
      std::vector<index_t> out(w.size() + (r.byte() >= 246 ? 1 : 0), -3);
      const vtr::status s = media::try_split_budget(total, vtr::view_of(std::as_const(w)), vtr::view_of(out));
      if (!s.ok()) {
        vtr_fuzz_check(!s.message().empty());
        for (index_t x : out) vtr_fuzz_check(x == -3);
        return;
      }
      vtr_fuzz_check(out.size() == w.size() && total >= 0);
      for (index_t x : w) vtr_fuzz_check(x >= 0);
      check_hamilton(total, w, out);
    }
  }
}

// ---- run_units + combine -------------------------------------------------------------------------------

struct expectation {
  bool ok = true;
  std::vector<index_t> origin;
  std::vector<double> values;  // [rows][cols]
  index_t dropped_rows = 0, dropped_terms = 0;
};

// combine recomputed from its contract, on values: text/newline rows copied, unit plan rows at their
// origin's sequence row (dropped when unpadding removed it), appended rows after the unit's last token.
expectation expect_combine(const media::layout& lay, const std::vector<vtr::plan>& plans, const media::combine_options& opt,
                           const std::vector<float>& x, index_t cols) {
  expectation e;
  const auto& units = lay.units();
  if (plans.size() != units.size()) return e.ok = false, e;
  const bool grid = opt.space == media::unit_space::grid;
  std::vector<std::vector<index_t>> map(units.size()), row_at(units.size()), rank(units.size());
  std::vector<index_t> last(units.size(), -1);
  for (std::size_t u = 0; u < units.size(); ++u) {
    const vtr::plan& p = plans[u];
    if (!vtr::validate_plan(p).ok()) return e.ok = false, e;
    map[u] = grid ? units[u].rows : units[u].present_rows();
    rank[u].assign(units[u].rows.size(), -1);
    index_t c = 0;
    for (std::size_t g = 0; g < units[u].rows.size(); ++g)
      if (units[u].rows[g] != media::unit::absent) rank[u][g] = c++;
    if (p.input_rows != static_cast<index_t>(map[u].size())) return e.ok = false, e;
    row_at[u].assign(map[u].size(), -1);
    for (index_t i = 0; i < p.size(); ++i) {
      const index_t o = p.origin[static_cast<std::size_t>(i)];
      if (o == vtr::plan::appended) {
        if (opt.terms == media::merge_terms::ignore) return e.ok = false, e;
        continue;
      }
      if (row_at[u][static_cast<std::size_t>(o)] >= 0) return e.ok = false, e;
      row_at[u][static_cast<std::size_t>(o)] = i;
      if (map[u][static_cast<std::size_t>(o)] == media::unit::absent) ++e.dropped_rows;
    }
    for (index_t q : map[u]) last[u] = std::max(last[u], q);
    if (last[u] < 0 && p.appended_rows() > 0) return e.ok = false, e;
  }
  const auto emit = [&](std::size_t u, index_t i) {
    const vtr::plan& p = plans[u];
    const index_t o = p.origin[static_cast<std::size_t>(i)];
    const index_t seq = o == vtr::plan::appended ? o : map[u][static_cast<std::size_t>(o)];
    e.origin.push_back(seq);
    if (p.is_selection() || opt.terms == media::merge_terms::ignore) {
      for (index_t c = 0; c < cols; ++c) e.values.push_back(x[static_cast<std::size_t>(seq * cols + c)]);
      return true;
    }
    std::vector<double> acc(static_cast<std::size_t>(cols), 0.0);
    double d = p.divisors[static_cast<std::size_t>(i)];
    index_t terms = 0;
    for (index_t t = p.offsets[static_cast<std::size_t>(i)]; t < p.offsets[static_cast<std::size_t>(i) + 1]; ++t) {
      const index_t q = map[u][static_cast<std::size_t>(p.sources[static_cast<std::size_t>(t)])];
      const double w = p.weights[static_cast<std::size_t>(t)];
      if (q == media::unit::absent) {
        if (opt.terms == media::merge_terms::keep) return false;
        d -= w;
        ++e.dropped_terms;
        continue;
      }
      ++terms;
      for (index_t c = 0; c < cols; ++c) acc[static_cast<std::size_t>(c)] += w * x[static_cast<std::size_t>(q * cols + c)];
    }
    if (terms == 0 || d == 0.0) return false;
    for (double a : acc) e.values.push_back(a / d);
    return true;
  };
  for (const media::span& s : lay.spans()) {
    for (index_t i = 0; i < s.count; ++i) {
      const index_t q = s.begin + i;
      if (s.unit < 0) {
        e.origin.push_back(q);
        for (index_t c = 0; c < cols; ++c) e.values.push_back(x[static_cast<std::size_t>(q * cols + c)]);
        continue;
      }
      const auto u = static_cast<std::size_t>(s.unit);
      const index_t g = s.unit_first + i;
      const index_t idx = grid ? g : rank[u][static_cast<std::size_t>(g)];
      const index_t row = row_at[u][static_cast<std::size_t>(idx)];
      if (row >= 0 && !emit(u, row)) return e.ok = false, e;
      if (q == last[u])
        for (index_t a = 0; a < plans[u].size(); ++a)
          if (plans[u].origin[static_cast<std::size_t>(a)] == vtr::plan::appended && !emit(u, a)) return e.ok = false, e;
    }
  }
  return e;
}

void combine(reader& r) {
  const built b = build(r, 5);
  const media::layout& lay = b.lay;
  if (lay.size() > 4096) return;
  media::combine_options opt;
  opt.space = r.flag() ? media::unit_space::grid : media::unit_space::present;
  opt.terms = static_cast<media::merge_terms>(r.byte() % 3);
  const bool grid = opt.space == media::unit_space::grid;

  // The unit plans, collected through run_units (whose callback sometimes fails).
  std::vector<vtr::plan> made;
  for (const media::unit& u : lay.units()) made.push_back(gen_plan(r, grid ? u.tokens() : u.present, true));
  if (r.byte() >= 248) made.push_back(gen_plan(r, 3, false));  // one plan too many
  const index_t fail_at = r.byte() >= 236 ? r.extent(0, static_cast<index_t>(lay.units().size())) : -1;
  std::vector<vtr::plan> plans(1, poisoned_plan());
  const vtr::status rs = media::try_run_units(
      lay,
      [&](index_t u, const media::unit& x, vtr::plan& out) -> vtr::status {
        vtr_fuzz_check(&x == &lay.units()[static_cast<std::size_t>(u)]);
        if (u == fail_at) return vtr::fail("the callback refused");
        out = made[static_cast<std::size_t>(u)];
        return {};
      },
      plans);
  if (!rs.ok()) {
    vtr_fuzz_check(fail_at >= 0 && fail_at < static_cast<index_t>(lay.units().size()));
    vtr_fuzz_check(rs.message().find("the callback refused") != std::string::npos);
    vtr_fuzz_check(plans.size() == 1 && same_plan(plans[0], poisoned_plan()));
    plans = made;
  } else {
    vtr_fuzz_check(fail_at < 0 || fail_at >= static_cast<index_t>(lay.units().size()));
    vtr_fuzz_check(plans.size() == lay.units().size());
    for (std::size_t u = 0; u < plans.size(); ++u) vtr_fuzz_check(same_plan(plans[u], made[u]));
    plans = made;  // (with the extra plan, when there is one)
  }

  const index_t cols = r.extent(1, 3);
  const std::vector<float> x = seq_values(lay.size(), cols);
  const expectation e = expect_combine(lay, plans, opt, x, cols);
  vtr::plan out = poisoned_plan();
  media::combine_report rep{-9, -9};
  const vtr::status s = media::try_combine(lay, plans, out, opt, r.flag() ? &rep : nullptr);
  if (s.ok() != e.ok) {
    std::fprintf(stderr, "combine: library %s, expected %s\n", s.ok() ? "ok" : s.message().c_str(), e.ok ? "ok" : "an error");
    vtr_fuzz_fail("combine's outcome differs from its contract");
  }
  if (!s.ok()) {
    vtr_fuzz_check(!s.message().empty());
    vtr_fuzz_check(same_plan(out, poisoned_plan()));
    vtr_fuzz_check(rep.dropped_rows == -9 && rep.dropped_terms == -9);
    return;
  }
  check_plan(out, lay.size(), true, static_cast<index_t>(e.origin.size()));
  vtr_fuzz_check(out.origin == e.origin);
  if (rep.dropped_rows != -9) vtr_fuzz_check(rep.dropped_rows == e.dropped_rows && rep.dropped_terms == e.dropped_terms);
  // Text and newline rows are always kept, as exact copies.
  const std::vector<index_t> kept = out.kept();  // ascending (appended rows left out)
  for (const media::span& sp : lay.spans()) {
    if (sp.unit >= 0) continue;
    for (index_t i = 0; i < sp.count; ++i) vtr_fuzz_check(std::binary_search(kept.begin(), kept.end(), sp.begin + i));
  }
  std::vector<float> y(static_cast<std::size_t>(std::max<index_t>(out.size() * cols, 1)));
  vtr_fuzz_check(vtr::try_apply(out, vtr::matrix_view<const float>(x.data(), {lay.size(), cols}),
                                vtr::matrix_view<float>(y.data(), {out.size(), cols}))
                     .ok());
  for (std::size_t i = 0; i < e.values.size(); ++i) {
    const double want = e.values[i], got = y[i];
    if (!(std::fabs(got - want) <= 1e-5 * std::max(1.0, std::fabs(want)))) {
      std::fprintf(stderr, "combined value %zu: %g, expected %g\n", i, got, want);
      vtr_fuzz_fail("the combined plan does not give what the unit plans give");
    }
  }
  // Identity unit plans give the identity over the sequence.
  if (r.byte() >= 226) {
    vtr::plan id;
    const media::combine_options o2{opt.space, media::merge_terms::keep};
    vtr_fuzz_check(media::try_combine(lay, media::identity_plans(lay, opt.space), id, o2).ok());
    vtr_fuzz_check(id.is_selection() && id.size() == lay.size());
    for (index_t i = 0; i < id.size(); ++i) vtr_fuzz_check(id.origin[static_cast<std::size_t>(i)] == i);
  }
}

// ---- split_stream ------------------------------------------------------------------------------------------

void split(reader& r) {
  const built b = build(r, 5);
  const media::layout& lay = b.lay;
  if (lay.size() > 4096) return;
  const index_t nu = static_cast<index_t>(lay.units().size());
  const index_t first = r.byte() < 230 ? r.extent(0, nu) : r.scalar(0, nu);
  const index_t count = r.byte() < 230 ? r.extent(0, std::max<index_t>(nu - std::max<index_t>(first, 0), 0)) : r.scalar(0, nu);
  const bool range_ok = first >= 0 && count >= 0 && first <= nu && count <= nu - first;
  std::vector<index_t> start(1, 0);
  for (index_t k = 0; range_ok && k < count; ++k)
    start.push_back(start.back() + lay.units()[static_cast<std::size_t>(first + k)].tokens());
  const index_t total = start.back();
  const auto unit_of = [&](index_t row) {
    return static_cast<index_t>(std::upper_bound(start.begin(), start.end(), row) - start.begin()) - 1;
  };
  // The stream: rows inside one unit each (a merge sometimes reaching into another unit).
  vtr::plan stream;
  stream.reset(r.byte() < 245 ? total : r.scalar(0, total));
  const bool terms = r.flag();
  bool crosses = false;
  const index_t rows = total > 0 ? r.extent(0, std::min<index_t>(total + 2, 40)) : 0;
  for (index_t i = 0; i < rows; ++i) {
    const index_t o = r.byte() < 230 || !terms ? r.extent(0, total - 1) : vtr::plan::appended;
    const index_t base_row = o >= 0 ? o : r.extent(0, total - 1);
    const index_t k = unit_of(base_row);
    if (!terms) {
      stream.add_copy(o);
      continue;
    }
    index_t src[3];
    float w[3];
    const index_t nt = r.extent(1, 3);
    for (index_t t = 0; t < nt; ++t) {
      src[t] = t == 0 ? base_row : (r.byte() < 240 ? r.extent(start[static_cast<std::size_t>(k)], start[static_cast<std::size_t>(k) + 1] - 1)
                                                   : r.extent(0, total - 1));
      if (unit_of(src[t]) != k) crosses = true;
      w[t] = dyadic(r);
    }
    stream.add_merge(o, src, nt, w, dyadic(r));
  }
  std::vector<vtr::plan> plans = media::identity_plans(lay);
  if (r.byte() >= 246 && !plans.empty()) plans.pop_back();
  for (auto& p : plans)
    if (r.byte() >= 226) p = poisoned_plan();
  const std::vector<vtr::plan> before = plans;
  const bool expect_ok = plans.size() == lay.units().size() && range_ok && stream.input_rows == total && !crosses;
  const vtr::status s = media::try_split_stream(lay, first, count, stream, plans);
  if (s.ok() != expect_ok) {
    std::fprintf(stderr, "split_stream: library %s, expected %s\n", s.ok() ? "ok" : s.message().c_str(), expect_ok ? "ok" : "an error");
    vtr_fuzz_fail("split_stream's outcome differs from its contract");
  }
  vtr_fuzz_check(plans.size() == before.size());
  if (!s.ok()) {
    vtr_fuzz_check(!s.message().empty());
    for (std::size_t u = 0; u < plans.size(); ++u) vtr_fuzz_check(same_plan(plans[u], before[u]));
    return;
  }
  // Units outside the range are untouched; inside, each gets the stream's rows of its unit, in order.
  std::vector<index_t> cursor(static_cast<std::size_t>(count), 0);
  for (index_t u = 0; u < nu; ++u) {
    if (u < first || u >= first + count) {
      vtr_fuzz_check(same_plan(plans[static_cast<std::size_t>(u)], before[static_cast<std::size_t>(u)]));
      continue;
    }
    const vtr::plan& p = plans[static_cast<std::size_t>(u)];
    vtr_fuzz_check(vtr::validate_plan(p).ok() && p.input_rows == lay.units()[static_cast<std::size_t>(u)].tokens());
    vtr_fuzz_check(p.is_selection() == stream.is_selection() || p.size() == 0);
  }
  for (index_t i = 0; i < stream.size(); ++i) {
    const auto se = stream.sources_of(i);
    const index_t o = stream.origin[static_cast<std::size_t>(i)];
    const index_t k = unit_of(o >= 0 ? o : *se.first);
    const index_t off = start[static_cast<std::size_t>(k)];
    const vtr::plan& p = plans[static_cast<std::size_t>(first + k)];
    const index_t row = cursor[static_cast<std::size_t>(k)]++;
    vtr_fuzz_check(row < p.size());
    vtr_fuzz_check(p.origin[static_cast<std::size_t>(row)] == (o >= 0 ? o - off : o));
    const auto pe = p.sources_of(row);
    vtr_fuzz_check(pe.second - pe.first == se.second - se.first);
    for (index_t t = 0; t < se.second - se.first; ++t) vtr_fuzz_check(pe.first[t] == se.first[t] - off);
    if (!stream.is_selection()) {
      vtr_fuzz_check(p.divisors[static_cast<std::size_t>(row)] == stream.divisors[static_cast<std::size_t>(i)]);
      for (index_t t = 0; t < se.second - se.first; ++t)
        vtr_fuzz_check(p.weights[static_cast<std::size_t>(p.offsets[static_cast<std::size_t>(row)] + t)] ==
                       stream.weights[static_cast<std::size_t>(stream.offsets[static_cast<std::size_t>(i)] + t)]);
    }
  }
  for (index_t k = 0; k < count; ++k)
    vtr_fuzz_check(cursor[static_cast<std::size_t>(k)] == plans[static_cast<std::size_t>(first + k)].size());
}

// ---- positions, unit values ------------------------------------------------------------------------------

void positions(reader& r) {
  const built b = build(r, 5);
  const media::layout& lay = b.lay;
  if (lay.size() > 4096) return;
  const bool rows = r.flag();
  const index_t n = r.byte() < 245 ? lay.size() : r.extent(0, lay.size() + 2);
  std::vector<std::int64_t> out(static_cast<std::size_t>(std::max<index_t>(3 * n, 1)), -77);
  const vtr::matrix_view<std::int64_t> ov(out.data(), rows ? std::array<index_t, 2>{n, 3} : std::array<index_t, 2>{3, n});
  auto res = media::try_mrope_positions(lay, rows ? vtr::positions::mrope_layout::rows : vtr::positions::mrope_layout::planar, ov);
  if (!res) {
    vtr_fuzz_check(!res.error().message().empty());
    // Anyres images have no M-RoPE rule; a video's temporal index may overflow int64 (a huge time scale).
    bool t_overflow = false;
    for (const media::item& it : lay.items())
      if (it.kind == media::item_kind::video &&
          static_cast<float>(it.units - 1) * it.seconds_per_grid * it.tokens_per_second > 4.0e18f)
        t_overflow = true;
    vtr_fuzz_check(b.anyres || n != lay.size() || t_overflow);
    for (auto v : out) vtr_fuzz_check(v == -77);
  } else {
    vtr_fuzz_check(!b.anyres && n == lay.size());
    const auto at = [&](index_t i, index_t c) { return rows ? ov(i, c) : ov(c, i); };
    std::int64_t top = -1;
    for (index_t i = 0; i < n; ++i)
      for (index_t c = 0; c < 3; ++c) top = std::max(top, at(i, c));
    vtr_fuzz_check(res.value() == top + 1);
    std::int64_t next = 0;  // text: (p, p, p), one past everything before it
    for (const media::span& s : lay.spans()) {
      if (s.kind == media::span_kind::text) {
        for (index_t i = s.begin; i < s.begin + s.count; ++i) {
          vtr_fuzz_check(at(i, 0) == next && at(i, 1) == next && at(i, 2) == next);
          ++next;
        }
        continue;
      }
      // A media token (y, x) of its unit's grid sits at (s + t, s + y, s + x) with s its item's start.
      const media::unit& u = lay.units()[static_cast<std::size_t>(s.unit)];
      const media::item& it = lay.items()[static_cast<std::size_t>(s.item)];
      const std::int64_t s0 = at(it.begin, 1);
      vtr_fuzz_check(s0 == next || s.begin != it.begin);
      for (index_t i = 0; i < s.count; ++i) {
        const index_t g = s.unit_first + i;
        vtr_fuzz_check(at(s.begin + i, 1) == s0 + g / u.grid_w && at(s.begin + i, 2) == s0 + g % u.grid_w);
        vtr_fuzz_check(at(s.begin + i, 0) >= s0);
        if (it.seconds_per_grid == 1.0f && it.tokens_per_second == 1.0f) vtr_fuzz_check(at(s.begin + i, 0) == s0 + u.index);
      }
      if (s.begin + s.count == it.end) {
        std::int64_t m = -1;
        for (index_t i = it.begin; i < it.end; ++i)
          for (index_t c = 0; c < 3; ++c) m = std::max(m, at(i, c));
        next = m + 1;
      }
    }
  }
  // unit_values gathers a per-row vector at a unit's present rows.
  std::vector<float> vals(static_cast<std::size_t>(lay.size()));
  for (std::size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<float>(i);
  const index_t u = r.scalar(0, static_cast<index_t>(lay.units().size()));
  std::vector<float> got = {-1.0f};
  const vtr::status s = media::try_unit_values(lay, u, vtr::view_of(std::as_const(vals)), got);
  if (!s.ok()) {
    vtr_fuzz_check(u < 0 || u >= static_cast<index_t>(lay.units().size()));
    vtr_fuzz_check(got.size() == 1 && got[0] == -1.0f);
    return;
  }
  const std::vector<index_t> pr = lay.units()[static_cast<std::size_t>(u)].present_rows();
  vtr_fuzz_check(got.size() == pr.size());
  for (std::size_t i = 0; i < pr.size(); ++i) vtr_fuzz_check(got[i] == static_cast<float>(pr[i]));
}

// ---- batch -----------------------------------------------------------------------------------------------

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void batch(reader& r) {
  const index_t nb = r.extent(0, 4), d = r.extent(0, 3);
  std::vector<vtr::plan> plans;
  std::vector<index_t> n;
  for (index_t b = 0; b < nb; ++b) {
    n.push_back(r.extent(0, 8));
    plans.push_back(gen_plan(r, n.back(), true));
  }
  bool plans_ok = true;
  for (const auto& p : plans) plans_ok = plans_ok && vtr::validate_plan(p).ok();
  index_t max_in = 0, max_out = 0, sum_in = 0, sum_out = 0;
  for (const auto& p : plans) {
    max_in = std::max(max_in, p.input_rows);
    max_out = std::max(max_out, p.size());
    sum_in += std::max<index_t>(p.input_rows, 0);
    sum_out += p.size();
  }
  const float sentinel = -7.0f;
  if (r.flag()) {  // padded
    const index_t bs = r.byte() < 240 ? nb : r.extent(0, 5), bd = r.byte() < 240 ? nb : r.extent(0, 5);
    const index_t rows_in = std::max<index_t>(0, max_in + (r.byte() < 220 ? r.extent(0, 2) : -1));
    const index_t rows_out = std::max<index_t>(0, max_out + (r.byte() < 220 ? r.extent(0, 2) : -1));
    const index_t dd = r.byte() < 240 ? d : r.extent(0, 3);
    std::vector<float> src(static_cast<std::size_t>(std::max<index_t>(bs * rows_in * d, 1)));
    r.fill(src, r.byte() < 40);
    const std::vector<float> src0 = src;
    const bool alias = r.byte() < 8;
    std::vector<float> dst(alias ? 0 : static_cast<std::size_t>(std::max<index_t>(bd * rows_out * dd, 1)), sentinel);
    float* dp = alias ? src.data() : dst.data();
    const vtr::tensor_view<const float, 3> sv(src.data(), {bs, rows_in, d});
    const vtr::tensor_view<float, 3> dv(dp, alias ? std::array<index_t, 3>{bs, rows_in, d} : std::array<index_t, 3>{bd, rows_out, dd});
    const bool alias_overlaps = alias && bs * rows_in * d > 0;
    const bool expect_ok =
        plans_ok && bs == nb && (alias ? bs : bd) == nb && (alias ? d : dd) == d && !alias_overlaps && max_in <= rows_in &&
        max_out <= (alias ? rows_in : rows_out);
    const vtr::status s = vtr::batch::try_apply_padded(plans, sv, dv);
    if (s.ok() != expect_ok) {
      std::fprintf(stderr, "apply_padded: library %s, expected %s\n", s.ok() ? "ok" : s.message().c_str(), expect_ok ? "ok" : "an error");
      vtr_fuzz_fail("apply_padded's outcome differs from its contract");
    }
    if (alias) {
      if (!s.ok()) vtr_fuzz_check(same_bits(src, src0));
      return;
    }
    vtr_fuzz_check(same_bits(src, src0));
    if (!s.ok()) {
      vtr_fuzz_check(!s.message().empty());
      for (float v : dst) vtr_fuzz_check(v == sentinel);
      return;
    }
    for (index_t b = 0; b < nb; ++b) {
      const vtr::plan& p = plans[static_cast<std::size_t>(b)];
      std::vector<float> want(static_cast<std::size_t>(std::max<index_t>(p.size() * d, 1)), sentinel);
      vtr_fuzz_check(vtr::try_apply(p, vtr::matrix_view<const float>(src.data() + b * rows_in * d, {p.input_rows, d}),
                                    vtr::matrix_view<float>(want.data(), {p.size(), d}))
                         .ok());
      for (index_t i = 0; i < rows_out; ++i)
        for (index_t c = 0; c < d; ++c) {
          const float got = dst[static_cast<std::size_t>((b * rows_out + i) * d + c)];
          if (i >= p.size()) vtr_fuzz_check(got == sentinel);  // padding rows are never written
          else vtr_fuzz_check(std::memcmp(&got, &want[static_cast<std::size_t>(i * d + c)], sizeof(float)) == 0);
        }
    }
    return;
  }
  // Ragged: offsets usually right, sometimes shifted; dst sometimes short.
  std::vector<index_t> so(1, 0);
  for (const auto& p : plans) so.push_back(so.back() + std::max<index_t>(p.input_rows, 0));
  if (r.byte() >= 226 && !so.empty()) so[static_cast<std::size_t>(r.extent(0, nb))] += r.flag() ? 1 : -1;
  if (r.byte() >= 248) so.push_back(so.back());
  const index_t rows_in = std::max<index_t>(0, sum_in + (r.byte() < 220 ? r.extent(0, 2) : -1));
  const index_t rows_out = std::max<index_t>(0, sum_out + (r.byte() < 220 ? r.extent(0, 2) : -1));
  const index_t dd = r.byte() < 240 ? d : r.extent(0, 3);
  std::vector<float> src(static_cast<std::size_t>(std::max<index_t>(rows_in * d, 1)));
  r.fill(src, r.byte() < 40);
  const std::vector<float> src0 = src;
  std::vector<float> dst(static_cast<std::size_t>(std::max<index_t>(rows_out * dd, 1)), sentinel);
  std::vector<index_t> dof(static_cast<std::size_t>(nb + 1 + (r.byte() >= 248 ? 1 : 0)), -5);
  bool expect_ok = plans_ok && static_cast<index_t>(so.size()) == nb + 1 && static_cast<index_t>(dof.size()) == nb + 1 &&
                   dd == d && so[0] == 0;
  index_t total = 0;
  for (index_t b = 0; expect_ok && b < nb; ++b) {
    const vtr::plan& p = plans[static_cast<std::size_t>(b)];
    const index_t lo = so[static_cast<std::size_t>(b)], hi = so[static_cast<std::size_t>(b) + 1];
    if (hi < lo || hi > rows_in || lo < 0 || hi - lo != p.input_rows || p.size() > rows_out - total) expect_ok = false;
    total += p.size();
  }
  const vtr::status s = vtr::batch::try_apply_ragged(plans, vtr::matrix_view<const float>(src.data(), {rows_in, d}),
                                                     vtr::view_of(std::as_const(so)),
                                                     vtr::matrix_view<float>(dst.data(), {rows_out, dd}), vtr::view_of(dof));
  if (s.ok() != expect_ok) {
    std::fprintf(stderr, "apply_ragged: library %s, expected %s\n", s.ok() ? "ok" : s.message().c_str(), expect_ok ? "ok" : "an error");
    vtr_fuzz_fail("apply_ragged's outcome differs from its contract");
  }
  vtr_fuzz_check(same_bits(src, src0));
  if (!s.ok()) {
    vtr_fuzz_check(!s.message().empty());
    for (float v : dst) vtr_fuzz_check(v == sentinel);
    for (index_t v : dof) vtr_fuzz_check(v == -5);
    return;
  }
  const std::vector<index_t> want_off = vtr::batch::offsets(plans, true);
  vtr_fuzz_check(std::vector<index_t>(dof.begin(), dof.end()) == want_off);
  vtr_fuzz_check(vtr::batch::offsets(plans, false) == so);
  vtr_fuzz_check(vtr::batch::kept_counts(plans).size() == plans.size());
  for (index_t b = 0; b < nb; ++b) {
    const vtr::plan& p = plans[static_cast<std::size_t>(b)];
    std::vector<float> want(static_cast<std::size_t>(std::max<index_t>(p.size() * d, 1)), sentinel);
    vtr_fuzz_check(vtr::try_apply(p, vtr::matrix_view<const float>(src.data() + so[static_cast<std::size_t>(b)] * d, {p.input_rows, d}),
                                  vtr::matrix_view<float>(want.data(), {p.size(), d}))
                       .ok());
    vtr_fuzz_check(p.size() * d == 0 ||
                   std::memcmp(dst.data() + want_off[static_cast<std::size_t>(b)] * d, want.data(), sizeof(float) * static_cast<std::size_t>(p.size() * d)) == 0);
  }
  for (index_t i = want_off.back() * d; i < rows_out * d; ++i) vtr_fuzz_check(dst[static_cast<std::size_t>(i)] == sentinel);
}

// ---- media_topk ------------------------------------------------------------------------------------------

void topk(reader& r) {
  const built b = build(r, 4);
  const media::layout& lay = b.lay;
  if (lay.size() > 2048) return;
  vtr::policies::media_topk_params p;
  p.heads = static_cast<vtr::ops::head_reduce>(r.byte() % 3);
  p.rows = static_cast<vtr::ops::row_reduce>(r.byte() % 3);
  const vtr::policies::media_topk m(p);
  std::vector<index_t> budget(lay.units().size() + (r.byte() >= 248 ? 1 : 0));
  for (std::size_t u = 0; u < budget.size(); ++u) {
    const index_t pr = u < lay.units().size() ? lay.units()[u].present : 0;
    budget[u] = r.byte() < 245 ? r.extent(0, pr) : r.scalar(0, pr);
  }
  vtr::policies::media_topk::inputs in;
  std::vector<float> scores;
  std::unique_ptr<attention> at;
  if (r.byte() < 160) {
    scores.resize(static_cast<std::size_t>(r.byte() < 245 ? lay.size() : r.extent(0, lay.size() + 2)));
    for (auto& x : scores) x = r.byte() < 220 ? static_cast<float>(r.byte() % 16) / 4.0f : r.value();
    in.scores = vtr::view_of(std::as_const(scores));
  } else {
    if (lay.size() > 256) return;
    const index_t keys = r.byte() < 245 ? lay.size() : r.extent(0, lay.size() + 2);
    at = std::make_unique<attention>(r, r.extent(0, 3), r.extent(0, 3), keys);
    in.attn = at->in;
    in.visual_begin = r.byte() < 245 ? 0 : r.scalar(0, keys);
    in.visual_count = r.byte() < 200 ? -1 : r.scalar(0, keys);
  }
  std::vector<vtr::plan> per(1, poisoned_plan());
  const bool want_units = r.flag();
  vtr::plan out;
  const vtr::status s = run_checked(
      [&](vtr::plan& o, vtr::workspace& ws) {
        std::vector<vtr::plan> tmp(1, poisoned_plan());
        const vtr::status st = m.try_plan(lay, budget, in, o, ws, want_units ? &tmp : nullptr);
        if (!st.ok()) vtr_fuzz_check(tmp.size() == 1 && same_plan(tmp[0], poisoned_plan()));
        if (&ws != &dirty_workspace()) per = std::move(tmp);
        return st;
      },
      out);
  auto kc = vtr::policies::media_topk::kept_count(lay, budget);
  if (!s.ok()) return;
  vtr_fuzz_check(kc.ok());
  check_plan(out, lay.size(), true, kc.value());
  // Text and newline rows kept; each unit keeps exactly its budget of its present rows.
  std::vector<char> kept(static_cast<std::size_t>(lay.size()), 0);
  for (index_t o : out.origin) kept[static_cast<std::size_t>(o)] = 1;
  for (const media::span& sp : lay.spans())
    if (sp.unit < 0)
      for (index_t i = 0; i < sp.count; ++i) vtr_fuzz_check(kept[static_cast<std::size_t>(sp.begin + i)]);
  for (std::size_t u = 0; u < lay.units().size(); ++u) {
    const std::vector<index_t> pr = lay.units()[u].present_rows();
    index_t k = 0;
    for (index_t q : pr) k += kept[static_cast<std::size_t>(q)];
    vtr_fuzz_check(k == budget[u]);
    if (want_units) {
      vtr_fuzz_check(per.size() == lay.units().size());
      vtr_fuzz_check(per[u].is_selection() && per[u].input_rows == static_cast<index_t>(pr.size()) && per[u].size() == budget[u]);
      for (index_t o : per[u].origin) vtr_fuzz_check(kept[static_cast<std::size_t>(pr[static_cast<std::size_t>(o)])]);
    }
    // Caller scores: the kept tokens rank before the dropped ones by (score desc, index asc) (§0.4).
    if (scores.empty()) continue;
    for (index_t a : pr) {
      if (!kept[static_cast<std::size_t>(a)]) continue;
      for (index_t d : pr) {
        if (kept[static_cast<std::size_t>(d)]) continue;
        const float sa = scores[static_cast<std::size_t>(a)], sd = scores[static_cast<std::size_t>(d)];
        if (!(sa > sd || (sa == sd && a < d))) {
          std::fprintf(stderr, "unit %zu keeps row %td (score %g) over row %td (score %g)\n", u, a, static_cast<double>(sa), d,
                       static_cast<double>(sd));
          vtr_fuzz_fail("media_topk breaks the top-k order");
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  switch (r.byte() % 6) {
    case 0: layouts(r); break;
    case 1: combine(r); break;
    case 2: split(r); break;
    case 3: positions(r); break;
    case 4: batch(r); break;
    default: topk(r); break;
  }
  return 0;
}
