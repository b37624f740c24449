// vtr-visualize: following tokens through a chain of vtr::plans, and drawing what survived.
//
// The picture of a reduction, per patch of the original grid:
//   * dropped (no output token covers it)             a dark, half-desaturated square of its mean colour
//                                                      (the context stays readable, the detail is gone);
//   * kept as it is (an output row copies it)          its pixels, outlined in yellow;
//   * merged (one of several patches of an output row) tinted with the merged token's colour (the mean
//                                                      colour of its patches), a dark line between
//                                                      neighbouring groups; the row's representative patch
//                                                      (plan.origin) is outlined in yellow;
//   * merged into a new token with no origin           tinted and hatched (SparseVLM's recycled clusters);
//   * merged across frames (video)                     every merged copy outlined in cyan.
#pragma once

#include "image.hpp"

#include <vtr/core/plan.hpp>

#include <algorithm>
#include <vector>

namespace viz {

using vtr::index_t;

/// One current token: the original patches it stands for and its representative (or −1 for a row a method
/// appended, e.g. a recycled cluster).
struct token {
  std::vector<index_t> members;
  index_t rep = -1;
};
using token_list = std::vector<token>;

inline token_list identity_tokens(index_t n) {
  token_list t(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) t[static_cast<std::size_t>(i)] = {{i}, i};
  return t;
}

/// The tokens after plan p (over the rows of `cur`): each output row gathers the patches of its sources;
/// its representative is that of its origin row.
inline token_list follow(const token_list& cur, const vtr::plan& p) {
  token_list out(static_cast<std::size_t>(p.size()));
  for (index_t r = 0; r < p.size(); ++r) {
    token& t = out[static_cast<std::size_t>(r)];
    const auto [b, e] = p.sources_of(r);
    for (const index_t* s = b; s != e; ++s) {
      const token& src = cur[static_cast<std::size_t>(*s)];
      t.members.insert(t.members.end(), src.members.begin(), src.members.end());
    }
    std::sort(t.members.begin(), t.members.end());
    t.members.erase(std::unique(t.members.begin(), t.members.end()), t.members.end());
    const index_t o = p.origin[static_cast<std::size_t>(r)];
    t.rep = o == vtr::plan::appended ? -1 : cur[static_cast<std::size_t>(o)].rep;
  }
  return out;
}

/// The visual part of a selection over a sequence [prefix | n visual | suffix], as a selection over the
/// n visual rows (FastV, Fit&Prune, VScan stage 2 and PruneVid stage 2 return whole-sequence plans).
inline vtr::plan visual_part(const vtr::plan& seq, index_t prefix, index_t n) {
  std::vector<index_t> kept;
  for (index_t o : seq.origin)
    if (o >= prefix && o < prefix + n) kept.push_back(o - prefix);
  return vtr::plan::select(n, std::move(kept));
}

/// Counts for the one-line summary of a result.
struct tally {
  index_t tokens = 0, unchanged = 0, merged_patches = 0, merged_tokens = 0, dropped = 0;
};
inline tally count(const token_list& final_tokens, index_t patches) {
  tally c;
  c.tokens = static_cast<index_t>(final_tokens.size());
  index_t covered = 0;
  for (const token& t : final_tokens) {
    const auto m = static_cast<index_t>(t.members.size());
    covered += m;
    if (m == 1 && t.rep >= 0) {
      ++c.unchanged;
    } else {
      c.merged_patches += m;
      ++c.merged_tokens;
    }
  }
  c.dropped = patches - covered;
  return c;
}

namespace render_detail {
const rgb kKept{1.0f, 0.86f, 0.10f};       // outline of a kept token / a merged token's representative
const rgb kTemporal{0.20f, 0.90f, 1.00f};  // outline of a patch merged across frames
const rgb kEdge{0.04f, 0.04f, 0.06f};      // line between neighbouring merge groups
}  // namespace render_detail

/// Draws frame f of a result: `view` is that frame's pixels (gh·cell × gw·cell), `colour` the mean colour of
/// every original patch (all frames, frame-major), `final_tokens` the result.
inline image render_frame(const image& view, index_t f, index_t gh, index_t gw, index_t cell, const std::vector<rgb>& colour,
                          const token_list& final_tokens) {
  using namespace render_detail;
  const index_t nf = gh * gw, n = static_cast<index_t>(colour.size());
  std::vector<index_t> owner(static_cast<std::size_t>(n), -1);
  for (index_t r = 0; r < static_cast<index_t>(final_tokens.size()); ++r)
    for (index_t m : final_tokens[static_cast<std::size_t>(r)].members)
      if (owner[static_cast<std::size_t>(m)] < 0) owner[static_cast<std::size_t>(m)] = r;
  std::vector<rgb> group_colour(final_tokens.size());
  std::vector<char> across_frames(final_tokens.size(), 0);
  for (std::size_t r = 0; r < final_tokens.size(); ++r) {
    const auto& mem = final_tokens[r].members;
    rgb acc{};
    for (index_t m : mem) acc = acc + colour[static_cast<std::size_t>(m)];
    group_colour[r] = (1.0f / static_cast<float>(std::max<std::size_t>(mem.size(), 1))) * acc;
    across_frames[r] = !mem.empty() && mem.front() / nf != mem.back() / nf;
  }
  auto own = [&](index_t r, index_t c) { return owner[static_cast<std::size_t>(f * nf + r * gw + c)]; };
  auto merged = [&](index_t o) {
    return o >= 0 && (final_tokens[static_cast<std::size_t>(o)].members.size() > 1 || final_tokens[static_cast<std::size_t>(o)].rep < 0);
  };

  image out = view;
  for (index_t r = 0; r < gh; ++r)
    for (index_t c = 0; c < gw; ++c) {
      const index_t o = own(r, c);
      for (index_t y = r * cell; y < (r + 1) * cell; ++y)
        for (index_t x = c * cell; x < (c + 1) * cell; ++x) {
          rgb& p = out.at(x, y);
          if (o < 0) {
            const rgb m = colour[static_cast<std::size_t>(f * nf + r * gw + c)];
            p = 0.38f * mix(m, rgb{luma(m), luma(m), luma(m)}, 0.5f);
          } else if (merged(o)) {
            p = mix(p, group_colour[static_cast<std::size_t>(o)], 0.75f);
            if (final_tokens[static_cast<std::size_t>(o)].rep < 0 && (x + y) % 4 == 0) p = mix(p, kEdge, 0.55f);
          }
        }
    }
  // Lines between neighbouring patches of different tokens where a merged group is involved.
  for (index_t r = 0; r < gh; ++r)
    for (index_t c = 0; c < gw; ++c) {
      const index_t o = own(r, c);
      if (c + 1 < gw) {
        const index_t q = own(r, c + 1);
        if (o != q && (merged(o) || merged(q))) fill_rect(out, (c + 1) * cell - 1, r * cell, 1, cell, kEdge);
      }
      if (r + 1 < gh) {
        const index_t q = own(r + 1, c);
        if (o != q && (merged(o) || merged(q))) fill_rect(out, c * cell, (r + 1) * cell - 1, cell, 1, kEdge);
      }
    }
  // Outlines: representatives (yellow) and copies merged across frames (cyan).
  for (index_t r = 0; r < gh; ++r)
    for (index_t c = 0; c < gw; ++c) {
      const index_t t = f * nf + r * gw + c, o = own(r, c);
      if (o < 0) continue;
      const token& tok = final_tokens[static_cast<std::size_t>(o)];
      if (tok.rep == t)
        outline_rect(out, c * cell, r * cell, cell, cell, kKept);
      else if (across_frames[static_cast<std::size_t>(o)])
        outline_rect(out, c * cell, r * cell, cell, cell, kTemporal);
    }
  return out;
}

/// A dark canvas holding `tiles` in rows of `per_row` with `gap` pixels between them, and under each tile
/// an optional bar of `bar` pixels in the given colour (PruneVid's segments).
inline image tile(const std::vector<image>& tiles, index_t per_row, index_t gap, index_t bar, const std::vector<rgb>& bar_colour) {
  const index_t tw = tiles.front().w, th = tiles.front().h, n = static_cast<index_t>(tiles.size());
  const index_t rows = (n + per_row - 1) / per_row, cols = std::min(n, per_row);
  const index_t bh = bar > 0 ? bar + gap / 2 : 0;
  image out(cols * tw + (cols + 1) * gap, rows * (th + bh) + (rows + 1) * gap, rgb{0.12f, 0.12f, 0.13f});
  for (index_t i = 0; i < n; ++i) {
    const index_t x = gap + (i % per_row) * (tw + gap), y = gap + (i / per_row) * (th + bh + gap);
    blit(out, tiles[static_cast<std::size_t>(i)], x, y);
    if (bar > 0 && static_cast<std::size_t>(i) < bar_colour.size())
      fill_rect(out, x, y + th + gap / 2, tw, bar, bar_colour[static_cast<std::size_t>(i)]);
  }
  return out;
}

}  // namespace viz
