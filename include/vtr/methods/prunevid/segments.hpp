// vtr — PruneVid's segment metadata, the contract between stage 1 and stage 2 (ALGORITHMS §3.5.2 step 5,
// §3.5.3 "Grouped selection"): per segment s, in time order, the stage-1 output holds
//   [ static group: static_sizes[s] tokens | W_s frames × (dynamic_sizes[s] / W_s) dynamic tokens ].
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/tensor_view.hpp"

#include <cstdint>
#include <limits>

VTR_NAMESPACE_BEGIN
namespace prunevid {

/// The three per-segment arrays the reference passes from stage 1 to stage 2 (`static_sizes`,
/// `dynamic_sizes`, `window_sizes`, pv-pllava.py:818-827). All have one entry per segment.
struct segment_sizes {
  vector_view<const index_t> static_sizes{};   ///< |S_s|: static tokens of segment s (after any merge)
  vector_view<const index_t> dynamic_sizes{};  ///< W_s·|D_w|: dynamic tokens of segment s, all frames
  vector_view<const index_t> window_sizes{};   ///< W_s: frames of segment s (≥ 1)

  index_t segments() const noexcept { return window_sizes.extent(0); }
};

/// What a stage-1 output token is (§1.3 "per output token {segment, kind static / dynamic(frame)}").
enum class token_kind : std::uint8_t {
  static_token,   ///< a temporal average over the segment's frames (possibly also a spatial cluster mean)
  dynamic_token,  ///< one frame's token (possibly a spatial cluster mean within that frame)
};

/// Provenance of one stage-1 output token (the full list of averaged input rows is in the plan's sources).
struct token_info {
  index_t segment = 0;                          ///< segment index, time order
  token_kind kind = token_kind::dynamic_token;  ///< static or dynamic
  index_t frame = 0;                            ///< dynamic: its frame; static: the segment's first frame
  index_t frames = 1;                           ///< dynamic: 1; static: W_s (frames it averages)
};

namespace detail {
/// Checks a segment_sizes and returns the video token count Σ_s (static + dynamic). Names the arrays.
inline result<index_t> check_segments(const segment_sizes& seg) {
  VTR_TRY(validate_view("static_sizes", seg.static_sizes));
  VTR_TRY(validate_view("dynamic_sizes", seg.dynamic_sizes));
  VTR_TRY(validate_view("window_sizes", seg.window_sizes));
  const index_t s = seg.window_sizes.extent(0);
  if (seg.static_sizes.extent(0) != s || seg.dynamic_sizes.extent(0) != s)
    return fail("segment arrays disagree in length: 'static_sizes' ", shape_of(seg.static_sizes), ", 'dynamic_sizes' ",
                shape_of(seg.dynamic_sizes), ", 'window_sizes' ", shape_of(seg.window_sizes), " (one entry per segment)");
  index_t total = 0;
  for (index_t i = 0; i < s; ++i) {
    const index_t st = seg.static_sizes(i), dy = seg.dynamic_sizes(i), w = seg.window_sizes(i);
    if (w < 1) return fail("argument 'window_sizes'[", i, "] = ", w, ": a segment has at least one frame");
    if (st < 0) return fail("argument 'static_sizes'[", i, "] = ", st, " is negative");
    if (dy < 0) return fail("argument 'dynamic_sizes'[", i, "] = ", dy, " is negative");
    if (dy % w != 0)
      return fail("argument 'dynamic_sizes'[", i, "] = ", dy, " is not a multiple of 'window_sizes'[", i, "] = ", w,
                  " (the dynamic group is W frames of equal size)");
    if (st > std::numeric_limits<index_t>::max() - dy || total > std::numeric_limits<index_t>::max() - (st + dy))
      return fail("segment sizes up to segment ", i, " add up to more tokens than index_t can count");
    total += st + dy;
  }
  return total;
}
}  // namespace detail

}  // namespace prunevid
VTR_NAMESPACE_END
