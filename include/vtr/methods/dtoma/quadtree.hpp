// vtr — DToMA D1: hierarchical quadtree merge per frame, at the encoder output (ALGORITHMS §3.6.2).
//
// DToMA has no published code (ALGORITHMS §3.6 "Status"): this is the design notes' mechanism made exact
// by the spec, NOT a port of official code. It is also exported under the neutral name
// vtr::policies::quadtree_merge (methods/dtoma.hpp).
//
// How it is computed. The cells of the quadtree depend only on the grid (ceil split, TL TR BL BR), so the
// tree is built once per call and every frame reuses it. The mean-cosine test uses the O(n·C) form
// hS = ‖Σ u_i‖² / n² (u_i = x_i / max(‖x_i‖, 1e-8)), and the unit-vector sums are formed bottom-up: each
// leaf cell sums its tokens once, each inner cell adds its children's sums. Every token is therefore read
// once (plus ~nodes·C adds), instead of once per depth as the recursive definition would — the same
// value up to fp32 summation order (ALGORITHMS §3.6.2 allows either form; tests use 1e-5).
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
/// A node of the (per-frame, data-independent) quadtree. Children are node ids, −1 when absent.
struct qt_node {
  index_t r0, r1, c0, c1, depth;
  index_t child[4];
  index_t children;
  index_t size() const noexcept { return (r1 - r0) * (c1 - c0); }
  bool leaf() const noexcept { return children == 0; }
};

/// Nodes of the cell tree of an h×w grid: a cell with one token or at max_depth is a leaf; other cells
/// split at the ceiling midpoint into the non-empty ones of TL, TR, BL, BR (§3.6.2).
inline index_t qt_count(index_t r0, index_t r1, index_t c0, index_t c1, index_t depth, index_t max_depth) noexcept {
  if ((r1 - r0) * (c1 - c0) <= 1 || depth >= max_depth) return 1;
  const index_t rm = r0 + (r1 - r0 + 1) / 2, cm = c0 + (c1 - c0 + 1) / 2;
  const index_t cells[4][4] = {{r0, rm, c0, cm}, {r0, rm, cm, c1}, {rm, r1, c0, cm}, {rm, r1, cm, c1}};
  index_t n = 1;
  for (const auto& c : cells)
    if (c[1] > c[0] && c[3] > c[2]) n += qt_count(c[0], c[1], c[2], c[3], depth + 1, max_depth);
  return n;
}

/// Fills nodes in pre-order (a parent's id is below its children's); returns the node's id.
inline index_t qt_build(qt_node* nodes, index_t& next, index_t r0, index_t r1, index_t c0, index_t c1, index_t depth,
                        index_t max_depth) noexcept {
  const index_t id = next++;
  qt_node& nd = nodes[id];
  nd = qt_node{r0, r1, c0, c1, depth, {-1, -1, -1, -1}, 0};
  if ((r1 - r0) * (c1 - c0) <= 1 || depth >= max_depth) return id;
  const index_t rm = r0 + (r1 - r0 + 1) / 2, cm = c0 + (c1 - c0 + 1) / 2;
  const index_t cells[4][4] = {{r0, rm, c0, cm}, {r0, rm, cm, c1}, {rm, r1, c0, cm}, {rm, r1, cm, c1}};
  index_t k = 0;
  for (const auto& c : cells)
    if (c[1] > c[0] && c[3] > c[2]) {
      const index_t child = qt_build(nodes, next, c[0], c[1], c[2], c[3], depth + 1, max_depth);
      nodes[id].child[k++] = child;
    }
  nodes[id].children = k;
  return id;
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
    const index_t nodes = p_.max_depth < 0 ? 1 : detail::qt_count(0, grid_h, 0, grid_w, 0, p_.max_depth);
    const std::size_t a = workspace::alignment;
    return sizeof(detail::qt_node) * std::size_t(nodes) + a + sizeof(float) * std::size_t(nodes * channels) + a +
           sizeof(quadtree_cell) * std::size_t(std::max<index_t>(frames * grid_h * grid_w, 1)) + a +
           sizeof(index_t) * std::size_t(std::max<index_t>(frames, 1)) + a +
           sizeof(index_t) * std::size_t(std::max<index_t>(grid_h * grid_w, 1)) + a;
  }

  /// `exec` (core/parallel.hpp; nullptr = serial) may process the frames concurrently; the plan, details
  /// and errors are bit-identical to the serial run. A parallel executor's worker slots each take the
  /// per-frame cell sums (nodes·C floats) instead of the caller's workspace.
  status try_plan(const inputs& in, plan& out, workspace& ws, details* extra = nullptr, executor* exec = nullptr) const {
    VTR_TRY(check_params());
    VTR_TRY(check_shape(in.frames, in.grid_h, in.grid_w));
    const index_t F = in.frames, h = in.grid_h, w = in.grid_w, n_f = h * w;
    VTR_TRY(expect_shape("tokens", in.tokens, {F * n_f, -1}));
    const index_t C = in.tokens.extent(1);
    if (C < 1) return fail("argument 'tokens' has shape ", shape_of(in.tokens), ": tokens need at least one feature");

    workspace::scope sc(ws);
    // The cell tree of one frame (identical for every frame).
    const index_t n_nodes = detail::qt_count(0, h, 0, w, 0, p_.max_depth);
    auto* nodes = ws.take<detail::qt_node>(static_cast<std::size_t>(n_nodes));
    index_t next = 0;
    detail::qt_build(nodes, next, 0, h, 0, w, 0, p_.max_depth);
    VTR_ASSERT(next == n_nodes);
    // Decisions are recorded first and written to `out` only when every frame was read without error:
    // frame t's cells go to emitted[t·n_f …) (at most n_f of them), their count to counts[t].
    auto* emitted = ws.take<quadtree_cell>(static_cast<std::size_t>(F * n_f));
    index_t* counts = ws.take<index_t>(static_cast<std::size_t>(F));

    // Frames are independent items (an executor may run them concurrently); each reads only its tokens and
    // the shared tree, and writes only its own slice.
    auto frame_cells = [&](index_t t, index_t, workspace& fw) -> status {
      workspace::scope fs(fw);
      float* sums = fw.take<float>(static_cast<std::size_t>(n_nodes * C));
      const matrix_view<const float> frame = in.tokens.subrows(t * n_f, n_f);
      // Bottom-up unit-vector sums: reverse pre-order visits children before their parent.
      for (index_t id = n_nodes - 1; id >= 0; --id) {
        const detail::qt_node& nd = nodes[id];
        float* s = sums + id * C;
        if (nd.leaf()) {
          bool first = true;  // the first token starts the sum (no zero fill; same bits)
          for (index_t r = nd.r0; r < nd.r1; ++r) {
            const matrix_view<const float> row_run = frame.subrows(r * w + nd.c0, nd.c1 - nd.c0);
            for (index_t i = 0; i < row_run.extent(0); ++i) {
              const float* x = row_run.row(i);
              const float sq = ops::squared_norm(x, C);
              if (!std::isfinite(sq))
                return fail("argument 'tokens' ", shape_of(in.tokens), " has a non-finite value (or a norm that overflows) in row ",
                            t * n_f + r * w + nd.c0 + i, " (frame ", t, ", cell row ", r, ", column ", nd.c0 + i, ")");
              const float a = 1.0f / std::max(std::sqrt(sq), ops::unit_norm_eps);
              if (first) ops::add_scaled<simd::default_arch, true>(s, x, a, C);
              else ops::add_scaled(s, x, a, C);
              first = false;
            }
          }
        } else {
          const float* kids[4];
          for (index_t k = 0; k < nd.children; ++k) kids[k] = sums + nd.child[k] * C;
          ops::sum_rows(s, kids, nd.children, C);
        }
      }
      index_t n_frame = 0;
      emit(nodes, 0, sums, C, t, emitted + t * n_f, n_frame);
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

  // Depth-first emission (§3.6.2): one token cell; a merging cell; a max-depth cell token by token;
  // otherwise the children in TL, TR, BL, BR order.
  void emit(const detail::qt_node* nodes, index_t id, const float* sums, index_t C, index_t t, quadtree_cell* outc,
            index_t& n_out) const {
    const detail::qt_node& nd = nodes[id];
    const index_t n = nd.size();
    if (n == 1) {
      outc[n_out++] = quadtree_cell{t, nd.r0, nd.r1, nd.c0, nd.c1};
      return;
    }
    // fp32 test against the fp32 threshold, as the float32 reference compares (§0.6).
    const float hs = ops::squared_norm(sums + id * C, C) / (static_cast<float>(n) * static_cast<float>(n));
    if (hs > p_.merge_threshold) {
      outc[n_out++] = quadtree_cell{t, nd.r0, nd.r1, nd.c0, nd.c1};
    } else if (nd.leaf()) {  // at max_depth: every token individually, raster order
      for (index_t r = nd.r0; r < nd.r1; ++r)
        for (index_t c = nd.c0; c < nd.c1; ++c) outc[n_out++] = quadtree_cell{t, r, r + 1, c, c + 1};
    } else {
      for (index_t k = 0; k < nd.children; ++k) emit(nodes, nd.child[k], sums, C, t, outc, n_out);
    }
  }

  params_type p_{};
};

}  // namespace dtoma
VTR_NAMESPACE_END
