// vtr — temporal kernels over a frame-major video block X[F][n_f][C] (ALGORITHMS §2.9, §3.5.2):
//   * frame_means          f_t = (1/n_f)·Σ_l X[t][l]   — PruneVid's frame descriptors (§3.5.2 step 1);
//   * temporal_similarity  sim[l] = (‖Σ_w n̂[w][l]‖² − W) / (W·(W−1)) — the mean pairwise cosine of one
//                          position over the W frames of a segment, in O(W·C) per position instead of the
//                          reference's O(W²·C) einsum (§2.9, §5.2);
//   * static_mask          sim[l] > τ (strict), with the W = 1 rule (all dynamic);
//   * temporal_mean_rows   S[i] = (1/W)·Σ_w X[w][pos[i]] — the temporal average of the static positions.
// Each has a plain scalar reference in ops::ref (the kernel tests compare them).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../simd/rows.hpp"
#include "../simd/simd.hpp"
#include "accumulate.hpp"
#include "similarity.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

namespace detail {
/// x[0, n) /= d.
template <class Arch>
void divide_in_place(float* x, float d, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const B vd(d);
  index_t i = 0;
  for (; i + L <= n; i += L) simd::store<float, Arch>(x + i, simd::load<float, Arch>(x + i) / vd);
  for (; i < n; ++i) x[i] /= d;
}

/// Row pointer X[w][l] of a rank-3 view.
inline const float* row3(const tensor_view<const float, 3>& x, index_t w, index_t l) noexcept {
  return x.data_handle() + w * x.stride(0) + l * x.stride(1);
}

/// §2.9's sim formula from the squared norm of the sum of unit vectors. W = 1 is 0/0 upstream: NaN.
inline float similarity_from_sum(float sum_sq, index_t w) noexcept {
  if (w < 2) return std::numeric_limits<float>::quiet_NaN();
  const float wf = static_cast<float>(w);
  return (sum_sq - wf) / (wf * static_cast<float>(w - 1));
}

inline status check_video(const char* name, const tensor_view<const float, 3>& x) {
  VTR_TRY(validate_view(name, x));
  if (x.extent(2) > 1 && x.stride(2) != 1)
    return fail("argument '", name, "' must be contiguous in its last dimension (shape ", shape_of(x), ")");
  return {};
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// Frame means (§3.5.2 step 1).

/// out[t] = (Σ_l x[t][l]) / n_f. x: [F][n_f][C] with n_f ≥ 1; out: [F][C], not overlapping x. A sum then a
/// division, as torch's mean does. row_norms2, when not empty ([F][n_f]), receives ‖x[t][l]‖² of every
/// token with the bits of squared_norm, taken in the same pass: what the static test (temporal_similarity's
/// sq_norms) would otherwise read the video again for.
template <class Arch = simd::default_arch>
status try_frame_means(tensor_view<const float, 3> x, matrix_view<float> out, matrix_view<float> row_norms2 = {}) {
  VTR_TRY(detail::check_video("x", x));
  VTR_TRY(expect_shape("out", out, {x.extent(0), x.extent(2)}));
  VTR_TRY(expect_no_alias("out", out, "x", x));
  const bool norms = !row_norms2.empty();
  if (norms) {
    VTR_TRY(expect_shape("row_norms2", row_norms2, {x.extent(0), x.extent(1)}));
    VTR_TRY(expect_no_alias("row_norms2", row_norms2, "x", x));
    VTR_TRY(expect_no_alias("row_norms2", row_norms2, "out", out));
  }
  const index_t f = x.extent(0), n = x.extent(1), c = x.extent(2);
  if (f > 0 && n == 0) return fail("argument 'x' has shape ", shape_of(x), ": a frame mean needs at least one token per frame");
  // A frame's rows are added in groups of 8 in one pass over its sum, each group the bits of adding its
  // rows one after another (a = 1 is exact: a plain sum), so the rows stream at the memory's pace; one
  // row per pass over the sum ran at 1.25–1.6× a plain read of the video (Zen 3).
  constexpr index_t group = norms_and_add_max_rows;
  const float* rows[group];
  float ones[group];
  float sq[group];
  std::fill(ones, ones + group, 1.0f);
  for (index_t t = 0; t < f; ++t) {
    float* o = out.row(t);
    for (index_t l = 0; l < n; l += group) {
      const index_t k = std::min(group, n - l);
      for (index_t j = 0; j < k; ++j) rows[j] = detail::row3(x, t, l + j);
      if (norms) {
        if (l == 0) squared_norms_and_add_rows<Arch, true>(o, rows, k, c, sq);
        else squared_norms_and_add_rows<Arch>(o, rows, k, c, sq);
        for (index_t j = 0; j < k; ++j) row_norms2(t, l + j) = sq[j];
      } else if (l == 0) {
        add_scaled_rows<Arch, true>(o, rows, ones, k, c);
      } else {
        add_scaled_rows<Arch>(o, rows, ones, k, c);
      }
    }
    detail::divide_in_place<Arch>(o, static_cast<float>(n), c);
  }
  return {};
}
template <class Arch = simd::default_arch>
void frame_means(tensor_view<const float, 3> x, matrix_view<float> out, matrix_view<float> row_norms2 = {}) {
  raise_if_error(try_frame_means<Arch>(x, out, row_norms2));
}

// ---------------------------------------------------------------------------------------------------
// Static/dynamic similarity (§2.9).

/// Bytes of workspace try_temporal_similarity / try_static_mask take for C features.
inline std::size_t temporal_similarity_workspace_bytes(index_t c) noexcept {
  return sizeof(float) * static_cast<std::size_t>(std::max<index_t>(c, 1)) + workspace::alignment;
}

/// sim[l] = (‖Σ_w n̂[w][l]‖² − W) / (W·(W−1)), n̂ = x / max(‖x‖, 1e-12): the mean cosine over the ordered
/// pairs w ≠ t of position l (§2.9), evaluated in O(W·C) per position. seg: [W][n_f][C]; sim: [n_f].
/// W = 1 writes NaN (the reference's 0/0; static_mask turns it into "dynamic"). A zero vector's unit vector
/// is 0 (cosine 0 with everything), yet W is still subtracted in full, exactly as the reference subtracts 1
/// per frame (pv-pllava.py:784): identical frames plus one zero frame give (W−1)²−W over W(W−1), not 1.
/// sq_norms, when not empty ([W][n_f]): the squared norms of seg's rows as squared_norm gives them (e.g.
/// from frame_means' row_norms2), used instead of a norm pass over each row; the result is the same bits.
template <class Arch = simd::default_arch>
status try_temporal_similarity(tensor_view<const float, 3> seg, vector_view<float> sim, workspace& ws,
                               matrix_view<const float> sq_norms = {}) {
  VTR_TRY(detail::check_video("seg", seg));
  VTR_TRY(expect_shape("sim", sim, {seg.extent(1)}));
  VTR_TRY(expect_no_alias("sim", sim, "seg", seg));
  const bool given = !sq_norms.empty();
  if (given) {
    VTR_TRY(validate_view("sq_norms", sq_norms));
    VTR_TRY(expect_shape("sq_norms", sq_norms, {seg.extent(0), seg.extent(1)}));
    VTR_TRY(expect_no_alias("sim", sim, "sq_norms", sq_norms));
  }
  const index_t w = seg.extent(0), n = seg.extent(1), c = seg.extent(2);
  if (w == 0) return fail("argument 'seg' has shape ", shape_of(seg), ": a segment needs at least one frame");
  workspace::scope sc(ws);
  float* acc = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(c, 1)));
  // With the norms given, a position's W unit vectors are summed in one pass over acc per 8 frames
  // (add_scaled_rows: the bits of adding them one after another), so acc is not read and written once
  // per row and the rows stream from memory (static_mask 2.1× → 1.2–1.3× its read floor at PLLaVA).
  // Not more than 8: a position's rows lie whole frames apart, at addresses equal modulo 4 KiB when a
  // frame is a multiple of it, so more rows than an 8-way L1 has ways evict each other's lines before
  // their second vector is read (16 frames a pass: 10 frames 1.45–1.59× the read floor, 8: 1.17–1.24×).
  // Without them each row is added right after its norm pass, from L1, while the next row is requested:
  // there, grouping the adds after the rows' norm passes left memory idle during them (1.25× slower at
  // W = 10), and requesting the next position's rows meanwhile was slower still.
  constexpr index_t group = simd::rows_per_pass;
  const float* rows[group];
  float scale[group];
  // n̂ as x·(1/d), one reciprocal per row: the sum-of-vectors form already sums in another order than
  // the reference's pairwise einsum, so a per-element division would buy no bit parity, and it cost
  // more than reading the segment (static_mask 2.5× its read floor).
  const auto inverse_norm = [](float sq) { return 1.0f / std::max(std::sqrt(sq), normalize_eps); };
  for (index_t l = 0; l < n; ++l) {
    if (w < 2) {
      sim(l) = detail::similarity_from_sum(0.0f, w);
      continue;
    }
    if (given) {
      for (index_t t0 = 0; t0 < w; t0 += group) {
        const index_t nt = std::min(group, w - t0);
        for (index_t k = 0; k < nt; ++k) {
          rows[k] = detail::row3(seg, t0 + k, l);
          scale[k] = inverse_norm(sq_norms(t0 + k, l));
        }
        if (t0 == 0) add_scaled_rows<Arch, true>(acc, rows, scale, nt, c);
        else add_scaled_rows<Arch>(acc, rows, scale, nt, c);
      }
    } else {
      for (index_t t = 0; t < w; ++t) {
        const float* r = detail::row3(seg, t, l);
        const float a = inverse_norm(squared_norm<Arch>(r, c));
        // the row read next (next frame, or the next position's first): the rows lie a frame apart,
        // where no prefetcher guesses them
        const float* next = t + 1 < w ? detail::row3(seg, t + 1, l) : l + 1 < n ? detail::row3(seg, 0, l + 1) : nullptr;
        if (t == 0) add_scaled<Arch, true>(acc, r, a, c, next);
        else add_scaled<Arch>(acc, r, a, c, next);
      }
    }
    sim(l) = detail::similarity_from_sum(squared_norm<Arch>(acc, c), w);
  }
  return {};
}
template <class Arch = simd::default_arch>
void temporal_similarity(tensor_view<const float, 3> seg, vector_view<float> sim, workspace& ws,
                         matrix_view<const float> sq_norms = {}) {
  raise_if_error(try_temporal_similarity<Arch>(seg, sim, ws, sq_norms));
}

/// mask[l] = 1 when sim[l] > tau (strict), else 0; a one-frame segment is all dynamic (§2.9 W = 1 rule,
/// whatever tau). Returns the number of static positions. seg: [W][n_f][C]; mask: [n_f]; `sim`, when not
/// empty ([n_f]), receives the similarities; `sq_norms` as temporal_similarity's.
template <class Arch = simd::default_arch>
result<index_t> try_static_mask(tensor_view<const float, 3> seg, float tau, vector_view<std::uint8_t> mask, workspace& ws,
                                vector_view<float> sim = {}, matrix_view<const float> sq_norms = {}) {
  VTR_TRY(detail::check_video("seg", seg));
  if (std::isnan(tau)) return fail("argument 'tau' is NaN");
  VTR_TRY(expect_shape("mask", mask, {seg.extent(1)}));
  VTR_TRY(expect_no_alias("mask", mask, "seg", seg));
  if (sim.extent(0) != 0) {
    VTR_TRY(expect_shape("sim", sim, {seg.extent(1)}));
    VTR_TRY(expect_no_alias("sim", sim, "mask", mask));
  }
  const index_t n = seg.extent(1);
  workspace::scope sc(ws);
  vector_view<float> s = sim;
  if (s.extent(0) == 0) s = vector_view<float>(ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1))), {n});
  VTR_TRY(try_temporal_similarity<Arch>(seg, s, ws, sq_norms));
  index_t count = 0;
  for (index_t l = 0; l < n; ++l) {
    const bool st = seg.extent(0) >= 2 && s(l) > tau;  // NaN compares false as well
    mask(l) = st ? 1 : 0;
    count += st;
  }
  return count;
}

// ---------------------------------------------------------------------------------------------------
// Temporal average of chosen positions (§2.9 "static tokens", §3.5.2 step 3).

/// out[i] = (Σ_w seg[w][pos[i]]) / W for every i. seg: [W][n_f][C] (W ≥ 1); pos: [n] in [0, n_f);
/// out: [n][C], not overlapping seg.
template <class Arch = simd::default_arch>
status try_temporal_mean_rows(tensor_view<const float, 3> seg, vector_view<const index_t> pos, matrix_view<float> out) {
  VTR_TRY(detail::check_video("seg", seg));
  VTR_TRY(validate_view("pos", pos));
  VTR_TRY(expect_shape("out", out, {pos.extent(0), seg.extent(2)}));
  VTR_TRY(expect_no_alias("out", out, "seg", seg));
  const index_t w = seg.extent(0), n = seg.extent(1), c = seg.extent(2);
  if (w == 0 && pos.extent(0) > 0) return fail("argument 'seg' has shape ", shape_of(seg), ": no frame to average");
  for (index_t i = 0; i < pos.extent(0); ++i)
    if (pos(i) < 0 || pos(i) >= n)
      return fail("argument 'pos'[", i, "] = ", pos(i), " is out of range for 'seg' of shape ", shape_of(seg));
  // Each position's W rows are summed in one pass over its output row (add_scaled_rows: the bits of
  // adding them one after another to a zeroed row), up to 8 frames at a time (as the static test, for
  // the L1's 8 ways), the last pass dividing the sums before it stores them: with W ≤ 8 the row is
  // written once (a division pass of its own cost 1.5× at 6 frames). (Requesting the next position's
  // rows meanwhile made it slower: the W rows read in step are streams the hardware prefetchers follow.)
  constexpr index_t chunk = simd::rows_per_pass;
  const float* rows[chunk];
  float ones[chunk];
  std::fill(ones, ones + chunk, 1.0f);
  for (index_t i = 0; i < pos.extent(0); ++i) {
    float* o = out.row(i);
    for (index_t t0 = 0; t0 < w; t0 += chunk) {
      const index_t nt = std::min(chunk, w - t0);
      for (index_t t = 0; t < nt; ++t) rows[t] = detail::row3(seg, t0 + t, pos(i));
      const bool first = t0 == 0, last = t0 + nt == w;
      const auto wf = static_cast<float>(w);
      if (first && last) add_scaled_rows_divide<Arch, true>(o, rows, ones, nt, c, wf);
      else if (first) add_scaled_rows<Arch, true>(o, rows, ones, nt, c);
      else if (last) add_scaled_rows_divide<Arch>(o, rows, ones, nt, c, wf);
      else add_scaled_rows<Arch>(o, rows, ones, nt, c);
    }
  }
  return {};
}
template <class Arch = simd::default_arch>
void temporal_mean_rows(tensor_view<const float, 3> seg, vector_view<const index_t> pos, matrix_view<float> out) {
  raise_if_error(try_temporal_mean_rows<Arch>(seg, pos, out));
}

// ---------------------------------------------------------------------------------------------------
// Scalar references.
namespace ref {

inline void frame_means(const tensor_view<const float, 3>& x, const matrix_view<float>& out) {
  for (index_t t = 0; t < x.extent(0); ++t)
    for (index_t c = 0; c < x.extent(2); ++c) {
      float s = 0.0f;
      for (index_t l = 0; l < x.extent(1); ++l) s += x(t, l, c);
      out(t, c) = s / static_cast<float>(x.extent(1));
    }
}

/// The reference's pairwise form: (Σ_w Σ_t ⟨n̂_w, n̂_t⟩ − W) / (W(W−1)), O(W²·C) — used to check that the
/// O(W·C) kernel evaluates the same quantity.
inline void temporal_similarity_pairwise(const tensor_view<const float, 3>& seg, const vector_view<float>& sim) {
  const index_t w = seg.extent(0), n = seg.extent(1), c = seg.extent(2);
  for (index_t l = 0; l < n; ++l) {
    if (w < 2) {
      sim(l) = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    double total = 0.0;
    for (index_t a = 0; a < w; ++a) {
      const float na = std::max(std::sqrt(squared_norm(&seg(a, l, 0), c)), normalize_eps);
      for (index_t b = 0; b < w; ++b) {
        const float nb = std::max(std::sqrt(squared_norm(&seg(b, l, 0), c)), normalize_eps);
        float d = 0.0f;
        for (index_t k = 0; k < c; ++k) d += (seg(a, l, k) / na) * (seg(b, l, k) / nb);
        total += d;
      }
    }
    sim(l) = static_cast<float>((total - double(w)) / (double(w) * double(w - 1)));
  }
}

inline void temporal_mean_rows(const tensor_view<const float, 3>& seg, const std::vector<index_t>& pos,
                               const matrix_view<float>& out) {
  for (std::size_t i = 0; i < pos.size(); ++i)
    for (index_t c = 0; c < seg.extent(2); ++c) {
      float s = 0.0f;
      for (index_t t = 0; t < seg.extent(0); ++t) s += seg(t, pos[i], c);
      out(static_cast<index_t>(i), c) = s / static_cast<float>(seg.extent(0));
    }
}

}  // namespace ref

}  // namespace ops
VTR_NAMESPACE_END
