// vtr — DToMA D1: hierarchical quadtree merge per frame, at the encoder output (ALGORITHMS §3.6.2).
//
// DToMA has no published code (ALGORITHMS §3.6 "Status"): this is the design notes' mechanism made exact
// by the spec, NOT a port of official code. It is also exported under the neutral name
// vtr::policies::quadtree_merge (methods/dtoma.hpp).
//
// How it is computed. The cells of the quadtree depend only on the grid (ceil split, TL TR BL BR), so the
// tree, and the schedule below, are built once per call and every frame reuses them. The mean-cosine
// test uses the O(n·C) form hS = ‖Σ u_i‖² / n² (u_i = x_i / max(‖x_i‖, 1e-8)), and the unit-vector sums
// are formed bottom-up: each leaf cell sums its tokens once, each inner cell adds its children's sums —
// the same value as the recursive definition up to fp32 summation order (ALGORITHMS §3.6.2 allows either
// form; tests use 1e-5).
//
// The frame is read once, in memory (raster) order, as the hardware prefetcher likes it: each token is
// added to the sum of its leaf, and when a grid row ends, the cells whose last row it was are tested
// and added to their parents (children before parents, siblings in TL, TR, BL, BR order). A leaf's
// tokens thus arrive in raster order and a parent's children in order: the bits of summing each cell
// on its own. Only the cells spanning the current row hold a sum (at most Σ_d min(w, 2^d) rows of C
// floats, 15 for a 12×12 frame at depth 3): they stay in L2, where a buffer of every cell's sum (1.4 MB
// at 12×12×4096) did not, and walking the tree leaf by leaf jumped through memory.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/parallel.hpp"
#include "../../core/plan.hpp"
#include "../../core/stage.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/accumulate.hpp"
#include "../../ops/similarity.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace dtoma {

/// ALGORITHMS §3.6.1 defaults for D1.
struct quadtree_params {
  /// τ_m: a cell merges when its mean pairwise cosine is strictly greater than this.
  float merge_threshold = 0.8f;
  /// Depth of the deepest cells (root = depth 0). Cells at this depth that do not merge are emitted token
  /// by token. Must be ≥ 0.
  index_t max_depth = 3;
};

/// One output token's cell: frame t, rows [r0, r1), columns [c0, c1) of that frame's grid.
struct quadtree_cell {
  index_t t = 0, r0 = 0, r1 = 0, c0 = 0, c1 = 0;
  index_t size() const noexcept { return (r1 - r0) * (c1 - c0); }
  friend bool operator==(const quadtree_cell& a, const quadtree_cell& b) noexcept {
    return a.t == b.t && a.r0 == b.r0 && a.r1 == b.r1 && a.c0 == b.c0 && a.c1 == b.c1;
  }
};

namespace detail {
/// A node of the (per-frame, data-independent) quadtree. Children are node ids, −1 when absent; the
/// root's parent is −1. `slot`: the row of the sums buffer that holds the cell's sum while it is open.
struct qt_node {
  index_t r0, r1, c0, c1, depth;
  index_t child[4];
  index_t children;
  index_t parent;
  index_t slot;
  index_t size() const noexcept { return (r1 - r0) * (c1 - c0); }
  bool leaf() const noexcept { return children == 0; }
};

/// Size of the cell tree of an h×w grid: its nodes and its levels (deepest depth + 1). A cell with one
/// token or at max_depth is a leaf; other cells split at the ceiling midpoint into the non-empty ones of
/// TL, TR, BL, BR (§3.6.2).
struct qt_extent {
  index_t nodes, levels;
};
inline qt_extent qt_measure(index_t r0, index_t r1, index_t c0, index_t c1, index_t depth, index_t max_depth) noexcept {
  if ((r1 - r0) * (c1 - c0) <= 1 || depth >= max_depth) return {1, 1};
  const index_t rm = r0 + (r1 - r0 + 1) / 2, cm = c0 + (c1 - c0 + 1) / 2;
  const index_t cells[4][4] = {{r0, rm, c0, cm}, {r0, rm, cm, c1}, {rm, r1, c0, cm}, {rm, r1, cm, c1}};
  qt_extent e{1, 1};
  for (const auto& c : cells)
    if (c[1] > c[0] && c[3] > c[2]) {
      const qt_extent k = qt_measure(c[0], c[1], c[2], c[3], depth + 1, max_depth);
      e.nodes += k.nodes;
      e.levels = std::max(e.levels, k.levels + 1);
    }
  return e;
}

/// Rows of the sums buffer: the cells open at once span one grid row, and those of one depth d are
/// disjoint in columns, so there are at most min(w, 2^d) of them.
inline index_t qt_slots(index_t w, index_t levels) noexcept {
  index_t n = 0;
  for (index_t d = 0; d < levels; ++d) n += d < 62 ? std::min<index_t>(w, index_t(1) << d) : w;
  return n;
}

/// Fills nodes in pre-order (a parent's id is below its children's); returns the node's id.
inline index_t qt_build(qt_node* nodes, index_t& next, index_t r0, index_t r1, index_t c0, index_t c1, index_t depth,
                        index_t max_depth, index_t parent = -1) noexcept {
  const index_t id = next++;
  qt_node& nd = nodes[id];
  nd = qt_node{r0, r1, c0, c1, depth, {-1, -1, -1, -1}, 0, parent, -1};
  if ((r1 - r0) * (c1 - c0) <= 1 || depth >= max_depth) return id;
  const index_t rm = r0 + (r1 - r0 + 1) / 2, cm = c0 + (c1 - c0 + 1) / 2;
  const index_t cells[4][4] = {{r0, rm, c0, cm}, {r0, rm, cm, c1}, {rm, r1, c0, cm}, {rm, r1, cm, c1}};
  index_t k = 0;
  for (const auto& c : cells)
    if (c[1] > c[0] && c[3] > c[2]) {
      const index_t child = qt_build(nodes, next, c[0], c[1], c[2], c[3], depth + 1, max_depth, id);
      nodes[id].child[k++] = child;
    }
  nodes[id].children = k;
  return id;
}

/// Appends the subtree of `id` in post-order (children, left to right, before their parent).
inline void qt_post_order(const qt_node* nodes, index_t id, index_t* out, index_t& n) noexcept {
  for (index_t k = 0; k < nodes[id].children; ++k) qt_post_order(nodes, nodes[id].child[k], out, n);
  out[n++] = id;
}

/// Stable bucket sort of ids[0, n) by a row key in [0, h): out holds them bucket by bucket, bucket r is
/// out[at[r], at[r + 1]).
template <class Key>
void qt_bucket_by_row(const index_t* ids, index_t n, index_t h, Key key, index_t* out, index_t* at) noexcept {
  std::fill(at, at + h + 1, index_t(0));
  for (index_t k = 0; k < n; ++k) ++at[key(ids[k]) + 1];
  for (index_t r = 0; r < h; ++r) at[r + 1] += at[r];
  for (index_t k = 0; k < n; ++k) out[at[key(ids[k])]++] = ids[k];  // at[r] ends as bucket r + 1's start
  for (index_t r = h; r > 0; --r) at[r] = at[r - 1];
  at[0] = 0;
}

/// Indices of scratch qt_schedule needs.
inline std::size_t qt_schedule_scratch(index_t nodes, index_t h, index_t slots) noexcept {
  return std::size_t(2 * nodes + h + 1 + slots);
}

/// The per-frame schedule of a raster-order pass: leaf_of[i] is token i's leaf; closing[closing_at[r],
/// closing_at[r + 1]) are the cells whose last grid row is r, in post-order. Also gives every node its
/// slot: a cell takes one when its first row starts and frees it after its last, so a slot passes only
/// to a cell that opens on a later row, and at most `slots` (qt_slots) are taken at once.
inline void qt_schedule(qt_node* nodes, index_t n_nodes, index_t h, index_t w, index_t slots, index_t* leaf_of,
                        index_t* closing, index_t* closing_at, index_t* scratch) noexcept {
  for (index_t id = 0; id < n_nodes; ++id) {
    const qt_node& nd = nodes[id];
    if (!nd.leaf()) continue;
    for (index_t r = nd.r0; r < nd.r1; ++r)
      for (index_t c = nd.c0; c < nd.c1; ++c) leaf_of[r * w + c] = id;
  }
  index_t* ids = scratch;                // pre-order, then post-order
  index_t* opening = ids + n_nodes;      // pre-order by first row
  index_t* opening_at = opening + n_nodes;
  index_t* free_slots = opening_at + h + 1;  // a stack
  for (index_t id = 0; id < n_nodes; ++id) ids[id] = id;
  qt_bucket_by_row(ids, n_nodes, h, [nodes](index_t id) { return nodes[id].r0; }, opening, opening_at);
  index_t n = 0;
  qt_post_order(nodes, 0, ids, n);
  qt_bucket_by_row(ids, n_nodes, h, [nodes](index_t id) { return nodes[id].r1 - 1; }, closing, closing_at);
  index_t n_free = slots;
  for (index_t s = 0; s < slots; ++s) free_slots[s] = slots - 1 - s;
  for (index_t r = 0; r < h; ++r) {
    for (index_t k = opening_at[r]; k < opening_at[r + 1]; ++k) {
      VTR_ASSERT(n_free > 0);
      nodes[opening[k]].slot = free_slots[--n_free];
    }
    for (index_t k = closing_at[r]; k < closing_at[r + 1]; ++k) free_slots[n_free++] = nodes[closing[k]].slot;
  }
}
}  // namespace detail

/// DToMA D1 (ALGORITHMS §3.6.2). Input: the tokens of F frames of an h×w grid, frame-major then raster,
/// as one matrix [F·h·w][C] (row = t·h·w + r·w + c). Output plan over those F·h·w rows, in depth-first
/// order per frame (frames in time order, ALGORITHMS §0.3): a merged cell is one row = the unweighted
/// mean of its tokens (sources in raster order, provenance), origin = the cell's top-left token (its
/// representative position, §1.4); an unmerged token is a copy of itself.
class quadtree {
 public:
  using params_type = quadtree_params;
  static constexpr vtr::stage stage = vtr::stage::projector;
  static constexpr bool is_query_conditioned = false;
  /// The count depends on the data (§1.5): between F (every frame one token) and F·h·w.
  static constexpr bool count_is_static = false;

  quadtree() = default;
  explicit quadtree(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  struct inputs {
    matrix_view<const float> tokens{};  ///< [frames·grid_h·grid_w][C], frame-major, raster order
    index_t frames = 1;
    index_t grid_h = 0;
    index_t grid_w = 0;
  };
  struct details {
    std::vector<quadtree_cell> cells;  ///< per output row: (t, r0, r1, c0, c1)
    std::vector<index_t> sizes;        ///< per output row: tokens averaged into it
  };

  /// Smallest possible output (one token per frame); the count is data-dependent.
  result<index_t> min_kept_count(index_t frames, index_t grid_h, index_t grid_w) const {
    VTR_TRY(check_shape(frames, grid_h, grid_w));
    return frames;
  }
  /// Largest possible output (nothing merges): F·h·w. Size placeholders with this bound.
  result<index_t> max_kept_count(index_t frames, index_t grid_h, index_t grid_w) const {
    VTR_TRY(check_shape(frames, grid_h, grid_w));
    return frames * grid_h * grid_w;
  }

  /// Bytes of workspace try_plan takes for this shape (reserve it once for allocation-free calls).
  std::size_t workspace_bytes(index_t frames, index_t grid_h, index_t grid_w, index_t channels) const {
    const std::size_t a = workspace::alignment;
    const index_t h = std::max<index_t>(grid_h, 1), w = std::max<index_t>(grid_w, 1);
    const detail::qt_extent e = p_.max_depth < 0 ? detail::qt_extent{1, 1} : detail::qt_measure(0, h, 0, w, 0, p_.max_depth);
    const index_t slots = detail::qt_slots(w, e.levels);
    const auto idx = [](std::size_t n) { return sizeof(index_t) * n + workspace::alignment; };
    return sizeof(detail::qt_node) * std::size_t(e.nodes) + a + idx(std::size_t(h * w)) + idx(std::size_t(e.nodes)) +
           idx(std::size_t(h + 1)) + idx(detail::qt_schedule_scratch(e.nodes, h, slots)) +
           sizeof(quadtree_cell) * std::size_t(std::max<index_t>(frames, 1) * h * w) + a +
           idx(std::size_t(std::max<index_t>(frames, 1))) + frame_workspace_bytes(e.nodes, slots, channels) +
           idx(std::size_t(h * w));
  }

  /// `exec` (core/parallel.hpp; nullptr = serial) may process the frames concurrently; the plan, details
  /// and errors are bit-identical to the serial run. A parallel executor's worker slots each take the
  /// per-frame sums (frame_workspace_bytes) instead of the caller's workspace.
  status try_plan(const inputs& in, plan& out, workspace& ws, details* extra = nullptr, executor* exec = nullptr) const {
    VTR_TRY(check_params());
    VTR_TRY(check_shape(in.frames, in.grid_h, in.grid_w));
    const index_t F = in.frames, h = in.grid_h, w = in.grid_w, n_f = h * w;
    VTR_TRY(expect_shape("tokens", in.tokens, {F * n_f, -1}));
    const index_t C = in.tokens.extent(1);
    if (C < 1) return fail("argument 'tokens' has shape ", shape_of(in.tokens), ": tokens need at least one feature");

    workspace::scope sc(ws);
    // The cell tree of one frame and the schedule of its raster-order pass (identical for every frame).
    const detail::qt_extent tree = detail::qt_measure(0, h, 0, w, 0, p_.max_depth);
    const index_t n_nodes = tree.nodes, slots = detail::qt_slots(w, tree.levels);
    auto* nodes = ws.take<detail::qt_node>(static_cast<std::size_t>(n_nodes));
    index_t next = 0;
    detail::qt_build(nodes, next, 0, h, 0, w, 0, p_.max_depth);
    VTR_ASSERT(next == n_nodes);
    schedule sch{nodes, n_nodes, slots, ws.take<index_t>(static_cast<std::size_t>(n_f)),
                 ws.take<index_t>(static_cast<std::size_t>(n_nodes)), ws.take<index_t>(static_cast<std::size_t>(h + 1))};
    {
      workspace::scope scratch_scope(ws);
      index_t* scratch = ws.take<index_t>(detail::qt_schedule_scratch(n_nodes, h, slots));
      detail::qt_schedule(nodes, n_nodes, h, w, slots, sch.leaf_of, sch.closing, sch.closing_at, scratch);
    }
    // Decisions are recorded first and written to `out` only when every frame was read without error:
    // frame t's cells go to emitted[t·n_f …) (at most n_f of them), their count to counts[t].
    auto* emitted = ws.take<quadtree_cell>(static_cast<std::size_t>(F * n_f));
    index_t* counts = ws.take<index_t>(static_cast<std::size_t>(F));

    // Frames are independent items (an executor may run them concurrently); each reads only its tokens and
    // the shared schedule, and writes only its own slice.
    auto frame_cells = [&](index_t t, index_t, workspace& fw) -> status {
      workspace::scope fs(fw);
      float* sums = fw.take<float>(static_cast<std::size_t>(slots * C));
      float* tests = fw.take<float>(static_cast<std::size_t>(n_nodes));
      VTR_TRY(cell_tests(in.tokens, t, h, w, sch, sums, tests));
      index_t n_frame = 0;
      emit(nodes, 0, tests, t, emitted + t * n_f, n_frame);
      counts[t] = n_frame;
      return {};
    };
    VTR_TRY(vtr::detail::run_items(exec, F, ws, frame_cells));
    index_t n_out = 0;  // compact the slices, frames in time order (a slice only moves towards the front)
    for (index_t t = 0; t < F; ++t) {
      if (n_out != t * n_f) std::copy(emitted + t * n_f, emitted + t * n_f + counts[t], emitted + n_out);
      n_out += counts[t];
    }

    // Write the plan: merged cells average their tokens in raster order; single tokens are copies.
    index_t* src = ws.take<index_t>(static_cast<std::size_t>(n_f));
    out.reset(F * n_f);
    out.origin.reserve(static_cast<std::size_t>(n_out));
    if (extra) {
      extra->cells.assign(emitted, emitted + n_out);
      extra->sizes.resize(static_cast<std::size_t>(n_out));
    }
    for (index_t o = 0; o < n_out; ++o) {
      const quadtree_cell& c = emitted[o];
      const index_t base = c.t * n_f;
      const index_t n = c.size();
      if (extra) extra->sizes[static_cast<std::size_t>(o)] = n;
      if (n == 1) {
        out.add_copy(base + c.r0 * w + c.c0);
        continue;
      }
      index_t m = 0;
      for (index_t r = c.r0; r < c.r1; ++r)
        for (index_t cc = c.c0; cc < c.c1; ++cc) src[m++] = base + r * w + cc;
      out.add_merge(src[0], src, m, nullptr, static_cast<float>(n));
    }
    return {};
  }

  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr, executor* exec = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan(in, p, ws, extra, exec));
    return p;
  }

 private:
  status check_params() const {
    if (!std::isfinite(p_.merge_threshold))
      return fail("parameter 'merge_threshold' must be finite (got ", p_.merge_threshold, ")");
    if (p_.max_depth < 0) return fail("parameter 'max_depth' must be >= 0 (got ", p_.max_depth, ")");
    return {};
  }
  static status check_shape(index_t frames, index_t h, index_t w) {
    if (frames < 1) return fail("argument 'frames' must be >= 1 (got ", frames, ")");
    if (h < 1 || w < 1) return fail("arguments 'grid_h' x 'grid_w' = ", h, " x ", w, " must both be >= 1");
    if (!vtr::detail::product_fits(h, w) || !vtr::detail::product_fits(frames, h * w))
      return fail("arguments 'frames' x 'grid_h' x 'grid_w' = ", frames, " x ", h, " x ", w, " count more tokens than index_t can");
    return {};
  }

  struct schedule {
    const detail::qt_node* nodes;
    index_t n_nodes, slots;
    index_t *leaf_of, *closing, *closing_at;  // detail::qt_schedule
  };

  static std::size_t frame_workspace_bytes(index_t nodes, index_t slots, index_t channels) noexcept {
    return sizeof(float) * std::size_t(slots * std::max<index_t>(channels, 1)) + workspace::alignment +
           sizeof(float) * std::size_t(nodes) + workspace::alignment;
  }

  // hS of every cell of the frame with more than one token, into tests[id] (§3.6.2, O(n·C) form), in one
  // raster-order pass (see the top of this file). sums: slots rows of C floats.
  static constexpr index_t max_run = 8;  // tokens of a leaf added in one pass over its sum

  static status cell_tests(const matrix_view<const float>& tokens, index_t t, index_t h, index_t w, const schedule& sch,
                           float* sums, float* tests) {
    const index_t C = tokens.extent(1), n_f = h * w;
    const matrix_view<const float> frame = tokens.subrows(t * n_f, n_f);
    const detail::qt_node* nodes = sch.nodes;
    for (index_t r = 0; r < h; ++r) {
      // Each run of the row's tokens that share a leaf: their norms, then one pass adding them to the
      // leaf's sum (the run is still in L1/L2).
      for (index_t c = 0; c < w;) {
        const detail::qt_node& leaf = nodes[sch.leaf_of[r * w + c]];
        const index_t run = std::min(leaf.c1 - c, index_t(max_run));
        const float* xs[max_run];
        float scales[max_run];
        for (index_t k = 0; k < run; ++k) {
          xs[k] = frame.row(r * w + c + k);
          const float sq = ops::squared_norm(xs[k], C);
          if (!std::isfinite(sq))
            return fail("argument 'tokens' ", shape_of(tokens), " has a non-finite value (or a norm that overflows) in row ",
                        t * n_f + r * w + c + k, " (frame ", t, ", cell row ", r, ", column ", c + k, ")");
          scales[k] = 1.0f / std::max(std::sqrt(sq), ops::unit_norm_eps);
        }
        // The rows after the run (the next run's, in memory order) are requested meanwhile, so the memory
        // is not idle during this pass.
        const index_t next = r * w + c + run, ahead = std::min(run, n_f - next);
        const float* next_row = ahead > 0 ? frame.row(next) : nullptr;
        const index_t stride = frame.stride(0);
        float* s = sums + leaf.slot * C;
        if (r == leaf.r0 && c == leaf.c0)
          ops::add_scaled_rows<simd::default_arch, true>(s, xs, scales, run, C, next_row, ahead, stride);
        else ops::add_scaled_rows(s, xs, scales, run, C, next_row, ahead, stride);
        c += run;
      }
      for (index_t k = sch.closing_at[r]; k < sch.closing_at[r + 1]; ++k) {
        const index_t id = sch.closing[k];
        const detail::qt_node& nd = nodes[id];
        const float* s = sums + nd.slot * C;
        const index_t n = nd.size();
        // The test value is fp32, compared with the fp32 threshold as the float32 reference compares (§0.6).
        const float nn = static_cast<float>(n) * static_cast<float>(n);
        if (nd.parent < 0) {
          tests[id] = ops::squared_norm(s, C) / nn;
          continue;
        }
        // Tested and added to the parent's sum in one pass (the first child starts it).
        float* ps = sums + nodes[nd.parent].slot * C;
        const float sq = nodes[nd.parent].child[0] == id ? ops::squared_norm_and_add<simd::default_arch, true>(ps, s, C)
                                                         : ops::squared_norm_and_add(ps, s, C);
        if (n > 1) tests[id] = sq / nn;
      }
    }
    return {};
  }

  // Depth-first emission (§3.6.2): one token cell; a merging cell; a max-depth cell token by token;
  // otherwise the children in TL, TR, BL, BR order.
  void emit(const detail::qt_node* nodes, index_t id, const float* tests, index_t t, quadtree_cell* outc,
            index_t& n_out) const {
    const detail::qt_node& nd = nodes[id];
    if (nd.size() == 1 || tests[id] > p_.merge_threshold) {
      outc[n_out++] = quadtree_cell{t, nd.r0, nd.r1, nd.c0, nd.c1};
    } else if (nd.leaf()) {  // at max_depth: every token individually, raster order
      for (index_t r = nd.r0; r < nd.r1; ++r)
        for (index_t c = nd.c0; c < nd.c1; ++c) outc[n_out++] = quadtree_cell{t, r, r + 1, c, c + 1};
    } else {
      for (index_t k = 0; k < nd.children; ++k) emit(nodes, nd.child[k], tests, t, outc, n_out);
    }
  }

  params_type p_{};
};

}  // namespace dtoma
VTR_NAMESPACE_END
