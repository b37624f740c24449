// vtr — attention rows from Q and K (ALGORITHMS §2.1, §0.6, §0.8; DESIGN §2.4).
//
// Engines built on FlashAttention/SDPA never materialise the attention matrix. The methods need only a
// few of its rows (the last prompt row, rater rows, suffix rows), so they are recomputed here:
//   p[h][r][j] = softmax_j( q[r, h] · k[j, g(h)] / √d  (+ causal mask) ),  g(h) = h / (H / H_kv)
// in fp32, subtracting the row maximum; masked keys are exactly 0 (§0.6).
// With at least a vector's worth of query rows per kv head (rater rows; GQA heads stacked), the logits
// come from vtr's own register-blocked kernel, which reads K in place (below); then one SIMD pass per row
// does max / exp / normalise while the row is still in cache. With fewer (one row, a small GQA group), a
// second kernel vectorises each dot product along d and reads K once, front to back (below), and the
// softmax passes follow.
//
// With the log-sum-exp of each full masked row (`lse[h][r]`, which FlashAttention kernels return), only
// the requested key columns [col_begin, col_end) need computing: p = exp(z − lse) (§2.1 LSE shortcut).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../simd/simd.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

/// How the logits are masked (§2.1 modes per method).
struct attention_mode {
  /// Key j is visible to a row at absolute position i only when j ≤ i. Off: every key (PruneVid).
  bool causal = true;
  /// Replace ±inf logits (not mask entries) by 0 — VScan-Qwen parity only (§3.4.6).
  bool nonfinite_to_zero = false;
};

namespace detail {

inline void zero_nonfinite(float* z, index_t n) noexcept {
  for (index_t j = 0; j < n; ++j)
    if (std::isinf(z[j])) z[j] = 0.0f;
}

/// z[0, n) ← softmax(z[0, n)) in place: subtract the max, exponentiate, normalise (§0.6). The last
/// partial vector is padded with −inf (max and exp neutral), so every element takes the same vector exp:
/// no libm call per row, and an element's bits do not depend on where in the row it lies.
template <class Arch>
void softmax_in_place(float* z, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  constexpr float ninf = -std::numeric_limits<float>::infinity();
  const index_t n_full = n - n % L;
  const auto tail = static_cast<std::size_t>(n - n_full);
  B mb(ninf);
  for (index_t j = 0; j < n_full; j += L) mb = simd::max(mb, simd::load<float, Arch>(z + j));
  if (tail) mb = simd::max(mb, simd::load_partial<Arch>(z + n_full, tail, ninf));
  const B mv(simd::reduce_max(mb));
  B sb(0.0f);
  for (index_t j = 0; j < n_full; j += L) {
    const B e = simd::exp(simd::load<float, Arch>(z + j) - mv);
    simd::store<float, Arch>(z + j, e);
    sb = sb + e;
  }
  if (tail) {
    const B e = simd::exp(simd::load_partial<Arch>(z + n_full, tail, ninf) - mv);
    simd::store_partial<Arch>(z + n_full, e, tail);
    sb = sb + e;
  }
  const B iv(1.0f / simd::reduce_add(sb));
  for (index_t j = 0; j < n_full; j += L) simd::store<float, Arch>(z + j, simd::load<float, Arch>(z + j) * iv);
  if (tail) simd::store_partial<Arch>(z + n_full, simd::load_partial<Arch>(z + n_full, tail, 0.0f) * iv, tail);
}

/// z[0, n) ← exp(z − lse) in place (§2.1 LSE shortcut); the partial vector as in softmax_in_place.
template <class Arch>
void exp_minus_in_place(float* z, index_t n, float lse) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const index_t n_full = n - n % L;
  const auto tail = static_cast<std::size_t>(n - n_full);
  const B lv(lse);
  for (index_t j = 0; j < n_full; j += L) simd::store<float, Arch>(z + j, simd::exp(simd::load<float, Arch>(z + j) - lv));
  if (tail) simd::store_partial<Arch>(z + n_full, simd::exp(simd::load_partial<Arch>(z + n_full, tail, 0.0f) - lv), tail);
}

struct attention_shape {
  index_t rows, heads, kv_heads, d, keys;
};

inline status check_attention(const tensor_view<const float, 3>& q, const tensor_view<const float, 3>& k,
                              const vector_view<const index_t>& row_positions, const attention_mode& mode,
                              attention_shape& sh) {
  VTR_TRY(validate_view("q", q));
  VTR_TRY(validate_view("k", k));
  sh = {q.extent(0), q.extent(1), k.extent(1), q.extent(2), k.extent(0)};
  if (k.extent(2) != sh.d)
    return fail("arguments 'q' ", shape_of(q), " and 'k' ", shape_of(k), " disagree on the head dimension d (", sh.d, " vs ",
                k.extent(2), ")");
  if (sh.d < 1) return fail("argument 'q' has shape ", shape_of(q), ": the head dimension must be at least 1");
  if (sh.kv_heads < 1) return fail("argument 'k' has shape ", shape_of(k), ": it needs at least one key/value head");
  if (sh.heads % sh.kv_heads != 0)
    return fail("argument 'q' has ", sh.heads, " heads and 'k' has ", sh.kv_heads,
                " key/value heads (shapes ", shape_of(q), ", ", shape_of(k), "): query heads must be a multiple of kv heads (GQA)");
  if (sh.rows > 0 && sh.heads > 0 && sh.keys == 0)
    return fail("argument 'k' has shape ", shape_of(k), ": a softmax needs at least one key");
  VTR_TRY(validate_view("row_positions", row_positions));
  const bool need_pos = mode.causal;
  if (need_pos || row_positions.extent(0) != 0) {
    if (row_positions.extent(0) != sh.rows)
      return fail("argument 'row_positions' has shape ", shape_of(row_positions), ", expected [", sh.rows,
                  "] (one absolute position per row of 'q' ", shape_of(q), ")");
    for (index_t r = 0; r < sh.rows; ++r)
      if (row_positions(r) < 0 || row_positions(r) >= sh.keys)
        return fail("argument 'row_positions'[", r, "] = ", row_positions(r), " is out of range [0, ", sh.keys,
                    ") (the keys of 'k' ", shape_of(k), ")");
  }
  return {};
}

template <class T, std::size_t R>
status check_out_alias(const tensor_view<float, 3>& out, const char* name, const tensor_view<T, R>& in) {
  return expect_no_alias("out", out, name, in);
}

// ---------------------------------------------------------------------------------------------------
// Logits of many query rows (rater rows, stacked GQA heads): a kernel that reads K where it lies.
// At 40 rows Eigen spent a third of its GEMM packing K (a transpose of every d-slice it multiplies
// once) and re-packed Q for every key tile. Here Q is packed once per call, transposed into blocks of
// V·L rows ([d][V·L], zero-padded), and each K row is read in place: a register block holds V vectors
// of query rows × 4G keys, one broadcast of K[key][t] feeds V FMAs, and the finished block is stored
// transposed (simd::store_columns4). Each logit is one multiply-add chain over t = 0 … d−1 (fused where
// the arch has FMA), then × 1/√d.

/// Register blocking: V·L query rows × 4G keys of accumulators. AVX-512 has 32 registers (24 for the
/// accumulators, 3 for Q, 1 for a broadcast); SSE and AVX2 have 16 (12 + 3 + 1).
template <class Arch>
struct logits_blocking {
  static constexpr index_t lanes = static_cast<index_t>(simd::lanes<float, Arch>);
  static constexpr int vectors = 3;
  static constexpr int key_quads = lanes >= 16 ? 2 : 1;
  static constexpr index_t rows = vectors * lanes;
  static constexpr index_t keys = 4 * key_quads;
};

/// Where a register block's operands lie: the packed query block, the first of its key rows (the rest
/// follow every `key_stride` floats) and the output rows.
struct logits_operands {
  const float* qp;          // [d][V·L]
  const float* k0;          // K row of the block's first key, at its kv head
  index_t key_stride;       // floats from one K row to the next
  float* const* dst;        // output row of each query row
  index_t col;              // output column of the first key
};

/// One register block: query rows [0, nrows) against keys [0, width) (width ≤ 4G; the missing keys of a
/// partial block repeat the last one and are not stored), scaled, written to dst[i][col, col + width).
/// nrows > (V − 1)·L. Every 64 bytes of depth, a line of each key row 4G keys ahead is prefetched, and
/// a few of the output lines the next block writes: neither is a pattern the hardware prefetchers
/// follow (4G rows far apart read in step; up to V·L rows written 32 bytes at a time), and without it
/// each FMA chain waits on K, and the transposed stores on their lines.
template <class Arch, int V>
void logits_block(const logits_operands& op, index_t d, float scale, index_t nrows, index_t width) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = logits_blocking<Arch>::lanes, C = logits_blocking<Arch>::keys;
  constexpr int G = logits_blocking<Arch>::key_quads;
  constexpr index_t line = 64 / sizeof(float);
  const float* kp[C];
  for (index_t c = 0; c < C; ++c) kp[c] = op.k0 + std::min(c, width - 1) * op.key_stride;
  // Prefetch addresses may lie past K's end (the last block): computed as integers, never dereferenced.
  const auto ahead = static_cast<std::uintptr_t>(C * op.key_stride) * sizeof(float);
  const index_t steps = (d + line - 1) / line, rows_per_step = (nrows + steps - 1) / steps;
  B acc[C][V];
  VTR_UNROLL for (int c = 0; c < C; ++c)
    VTR_UNROLL for (int v = 0; v < V; ++v) acc[c][v] = B(0.0f);
  for (index_t t0 = 0, i0 = 0; t0 < d; t0 += line, i0 += rows_per_step) {
    VTR_UNROLL for (int c = 0; c < C; ++c) simd::prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(kp[c] + t0) + ahead));
    for (index_t i = i0; i < std::min(nrows, i0 + rows_per_step); ++i)
      simd::prefetch<true>(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(op.dst[i] + op.col) + 64));
    const index_t t1 = std::min(d, t0 + line);
    for (index_t t = t0; t < t1; ++t) {
      B qv[V];
      VTR_UNROLL for (int v = 0; v < V; ++v) qv[v] = simd::load<float, Arch>(op.qp + (t * V + v) * L);
      VTR_UNROLL for (int c = 0; c < C; ++c) {
        const B kb(kp[c][t]);
        VTR_UNROLL for (int v = 0; v < V; ++v) acc[c][v] = simd::fma(qv[v], kb, acc[c][v]);
      }
    }
  }
  const B sv(scale);
  VTR_UNROLL for (int v = 0; v < V; ++v) {
    const auto nr = static_cast<std::size_t>(std::min<index_t>(L, nrows - v * L));
    VTR_UNROLL for (int g = 0; g < G; ++g) {
      if (4 * g >= width) break;
      simd::store_columns4<Arch>(acc[4 * g][v] * sv, acc[4 * g + 1][v] * sv, acc[4 * g + 2][v] * sv, acc[4 * g + 3][v] * sv,
                                 op.dst + v * L, op.col + 4 * g, nr, static_cast<std::size_t>(std::min<index_t>(4, width - 4 * g)));
    }
  }
}

/// Packs kv head g's stacked query rows (s = t·rows + r is query head g·group + t, row r) into blocks of
/// logits_blocking::rows: block b holds rows [b·R, b·R + n) as [d][V_b·L], V_b = ⌈n / L⌉, zero-padded.
/// Also records each stacked row's output row in dst. qp holds packed_query_floats(m, d) floats.
template <class Arch>
void pack_query_blocks(const tensor_view<const float, 3>& q, index_t g, index_t group, const tensor_view<float, 3>& out,
                          float* qp, float** dst) noexcept {
  const index_t rows = q.extent(0), d = q.extent(2), m = group * rows;
  constexpr index_t L = logits_blocking<Arch>::lanes, R = logits_blocking<Arch>::rows;
  index_t written = 0;
  for (index_t s0 = 0; s0 < m; s0 += R) {
    const index_t n = std::min(R, m - s0), w = (n + L - 1) / L * L;
    float* const blk = qp + written;
    const float* src[R];
    for (index_t i = 0; i < n; ++i) {
      const index_t s = s0 + i, h = g * group + s / rows, r = s % rows;
      src[i] = q.data_handle() + r * q.stride(0) + h * q.stride(1);
      dst[s] = out.data_handle() + h * out.stride(0) + r * out.stride(1);
    }
    // Depth-major, so the block is written in order (the n source rows stay in L1 meanwhile).
    for (index_t t = 0; t < d; ++t) {
      float* const col = blk + t * w;
      for (index_t i = 0; i < n; ++i) col[i] = src[i][t];
      std::fill(col + n, col + w, 0.0f);
    }
    written += d * w;
  }
}

/// Logits of one packed block (qp, V_b = vb vectors; n rows written through dst) against kv head g's
/// keys [j0, je), written at column j − cb.
template <class Arch>
void packed_block_logits(const float* qp, index_t vb, float* const* dst, index_t n, const tensor_view<const float, 3>& k,
                         index_t g, index_t j0, index_t je, index_t cb, float scale) noexcept {
  const index_t d = k.extent(2);
  constexpr index_t C = logits_blocking<Arch>::keys;
  for (index_t j = j0; j < je; j += C) {
    const logits_operands op{qp, k.data_handle() + j * k.stride(0) + g * k.stride(1), k.stride(0), dst, j - cb};
    const index_t width = std::min(C, je - j);
    if (vb == 3) logits_block<Arch, 3>(op, d, scale, n, width);
    else if (vb == 2) logits_block<Arch, 2>(op, d, scale, n, width);
    else logits_block<Arch, 1>(op, d, scale, n, width);
  }
}

/// Floats pack_query_blocks writes for m stacked rows (each block padded to whole vectors).
template <class Arch>
index_t packed_query_floats(index_t m, index_t d) noexcept {
  constexpr index_t L = logits_blocking<Arch>::lanes;
  return (m + L - 1) / L * L * d;
}

// ---------------------------------------------------------------------------------------------------
// Logits of a few query rows (fewer stacked rows per kv head than a vector: one row, a small GQA group).
// A GEMM kernel would leave most of its lanes idle here, and Eigen's GEMV per key tile and head read
// K's rows in d-float slices a kv-head stride apart. This kernel vectorises each dot product along d:
// a register block holds N accumulators (M stacked rows × C ≤ N/M keys), each the lane-wise partial
// sums of one logit (or of half its vectors along d), and one transposing horizontal add per `lanes` of
// them (simd::reduce_add_each) gives the logits. K is read in memory order: a block's keys at a time,
// each kv head in turn, so those key rows are read front to back in step, streams the prefetchers
// follow, and a head's slices stay in L1 while every chunk of its stacked rows uses them.

/// Accumulators per register block: 8 on the 16-register levels (8 + up to 4 query vectors + 1 of K),
/// one register's lanes on AVX-512 (16 + up to 8 + 1 of its 32).
template <class Arch>
inline constexpr index_t few_rows_accumulators = std::max<index_t>(8, static_cast<index_t>(simd::lanes<float, Arch>));

/// Keys whose rows the kernel reads side by side: each kv head in turn takes its blocks over these keys.
/// On AVX-512 a lone row's 16 accumulators used to cover 16 keys, and 16 key rows streamed at once are
/// followed worse by the prefetchers than 8; they now hold 8 keys × the even and the odd vectors of d.
/// With that (and reduce_add_each inlined, so the accumulators are not spilled) one row at 2955 keys ×
/// 32 heads went from 1.4–1.7× to 1.07–1.12× Eigen's per-head GEMV (Zen 5, a harness alternating both).
inline constexpr index_t few_rows_key_span = 8;

/// Keys of a register block of m stacked rows: its N/m accumulators' worth, at most the span.
template <class Arch>
constexpr index_t few_rows_keys(index_t m) noexcept {
  return std::min<index_t>(few_rows_accumulators<Arch> / m, few_rows_key_span);
}

/// One vector of d at offset t (Partial: its first `tail` floats, zero-filled) of the stacked rows
/// qr[0, M) and the key rows kp[0, C), into acc[i·C + c].
template <class Arch, int M, int C, bool Partial>
VTR_ALWAYS_INLINE void few_rows_step(simd::batch<float, Arch>* acc, const float* const* qr, const float* const* kp, index_t t,
                                     std::size_t tail) noexcept {
  using B = simd::batch<float, Arch>;
  B qv[M];
  VTR_UNROLL for (int i = 0; i < M; ++i) qv[i] = Partial ? simd::load_partial<Arch>(qr[i] + t, tail, 0.0f) : simd::load<float, Arch>(qr[i] + t);
  VTR_UNROLL for (int c = 0; c < C; ++c) {
    const B kv = Partial ? simd::load_partial<Arch>(kp[c] + t, tail, 0.0f) : simd::load<float, Arch>(kp[c] + t);
    VTR_UNROLL for (int i = 0; i < M; ++i) acc[i * C + c] = simd::fma(qv[i], kv, acc[i * C + c]);
  }
}

/// Stacked rows qr[0, M) against the keys [0, width) of a block of C = few_rows_keys(M) keys starting at
/// k0 (key c at k0 + c·key_stride; missing keys of a partial block repeat the last and are not stored),
/// scaled, written to dst[i][col, col + width). With fewer keys than accumulators allow (S = 2), each
/// logit has two accumulators, for the even and the odd vectors of d, added before the horizontal sum.
/// The last partial vector of d is read with zero fill.
template <class Arch, int M>
void few_rows_block(const float* const* qr, const float* k0, index_t key_stride, index_t d, float scale, float* const* dst,
                    index_t col, index_t width) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>), N = few_rows_accumulators<Arch>;
  constexpr int C = static_cast<int>(few_rows_keys<Arch>(M)), MC = M * C, S = static_cast<int>(N) / MC;
  static_assert(S == 1 || S == 2, "a logit has one or two accumulators");
  const float* kp[C];
  for (index_t c = 0; c < C; ++c) kp[c] = k0 + std::min<index_t>(c, width - 1) * key_stride;
  B acc[N];
  VTR_UNROLL for (int a = 0; a < N; ++a) acc[a] = B(0.0f);
  const index_t d_full = d - d % L;
  index_t t = 0;
  for (; t + S * L <= d_full; t += S * L) {
    few_rows_step<Arch, M, C, false>(acc, qr, kp, t, 0);
    if constexpr (S == 2) few_rows_step<Arch, M, C, false>(acc + MC, qr, kp, t + L, 0);
  }
  if (t < d_full) few_rows_step<Arch, M, C, false>(acc, qr, kp, t, 0);  // S = 2, an odd count of vectors
  if (d_full < d) few_rows_step<Arch, M, C, true>(acc, qr, kp, d_full, static_cast<std::size_t>(d - d_full));
  if constexpr (S == 2)
    VTR_UNROLL for (int a = 0; a < MC; ++a) acc[a] = acc[a] + acc[MC + a];
  const B sv(scale);
  if (M == 1 && width == C) {  // one row's C logits straight from the registers
    VTR_UNROLL for (int a = 0; a < MC; a += L) {
      const B v = simd::reduce_add_each<Arch>(acc + a) * sv;
      if (a + L <= MC) simd::store<float, Arch>(dst[0] + col + a, v);
      else simd::store_partial<Arch>(dst[0] + col + a, v, static_cast<std::size_t>(MC - a));
    }
    return;
  }
  alignas(64) float z[N];
  VTR_UNROLL for (int a = 0; a < N; a += L) simd::store<float, Arch>(z + a, simd::reduce_add_each<Arch>(acc + a) * sv);
  for (int i = 0; i < M; ++i)
    for (index_t c = 0; c < width; ++c) dst[i][col + c] = z[i * C + c];
}

/// Logits of the m = group·rows stacked rows of every kv head (qr, dst: m pointers per head, head-major)
/// for key columns [cb, je), written at column j − cb. Each head's rows go in chunks of M = 8, 4, 2, 1
/// (largest first; m < lanes, so at most one of each).
template <class Arch>
void few_rows_logits(const float* const* qr, float* const* dst, index_t m, const tensor_view<const float, 3>& k, index_t cb,
                     index_t je, float scale) noexcept {
  constexpr index_t N = few_rows_accumulators<Arch>;
  const index_t Hkv = k.extent(1), d = k.extent(2), ks = k.stride(0);
  for (index_t j0 = cb; j0 < je; j0 += few_rows_key_span) {
    const index_t nj = std::min(few_rows_key_span, je - j0);
    for (index_t g = 0; g < Hkv; ++g) {
      const float* const k0 = k.data_handle() + j0 * ks + g * k.stride(1);
      for (index_t s0 = 0; s0 < m;) {
        const index_t left = m - s0;
        const index_t M = left >= 8 && N >= 16 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1, C = few_rows_keys<Arch>(M);
        const float* const* q_s = qr + g * m + s0;
        float* const* d_s = dst + g * m + s0;
        for (index_t c0 = 0; c0 < nj; c0 += C) {
          const index_t w = std::min(C, nj - c0), col = j0 - cb + c0;
          const float* const kc = k0 + c0 * ks;
          if constexpr (N >= 16) {
            if (M == 8) { few_rows_block<Arch, 8>(q_s, kc, ks, d, scale, d_s, col, w); continue; }
          }
          if (M == 4) few_rows_block<Arch, 4>(q_s, kc, ks, d, scale, d_s, col, w);
          else if (M == 2) few_rows_block<Arch, 2>(q_s, kc, ks, d, scale, d_s, col, w);
          else few_rows_block<Arch, 1>(q_s, kc, ks, d, scale, d_s, col, w);
        }
        s0 += M;
      }
    }
  }
}

template <class Arch>
void attention_impl(const tensor_view<const float, 3>& q, const tensor_view<const float, 3>& k,
                    const vector_view<const index_t>& row_positions, const attention_mode& mode,
                    const tensor_view<const float, 2>* lse, index_t cb, index_t ce, const tensor_view<float, 3>& out,
                    workspace& ws) {
  const index_t rows = q.extent(0), H = q.extent(1), Hkv = k.extent(1), d = q.extent(2);
  const index_t ncols = ce - cb;
  if (rows == 0 || H == 0 || ncols == 0) return;
  const index_t group = H / Hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  // Causal: row r sees keys [0, pos_r]; no row sees past the largest position.
  auto vis_end = [&](index_t r) { return mode.causal ? std::min(ce, row_positions(r) + 1) : ce; };
  auto finish_row = [&](index_t h, index_t r) {
    float* z = out.data_handle() + h * out.stride(0) + r * out.stride(1);
    const index_t nv = std::max<index_t>(vis_end(r) - cb, 0);
    if (mode.nonfinite_to_zero) zero_nonfinite(z, nv);
    if (lse) exp_minus_in_place<Arch>(z, nv, (*lse)(h, r));
    else softmax_in_place<Arch>(z, nv);
    std::fill(z + nv, z + ncols, 0.0f);  // masked keys are exactly 0 (§0.6)
  };
  workspace::scope sc(ws);
  const index_t m = group * rows;  // stacked rows per kv head
  constexpr index_t L = logits_blocking<Arch>::lanes, R = logits_blocking<Arch>::rows;
  if (m >= L) {
    // The packed kernel, one block of stacked rows at a time over all the keys they see, then their
    // softmax while the block's logits (≤ R rows) are still in L2. K is read one kv head at a time:
    // the kernel prefetches its rows, and a kv head's keys stay in L2 for the head's next block.
    float* const qbuf = ws.take<float>(static_cast<std::size_t>(packed_query_floats<Arch>(m, d)));
    float** const dst = ws.take<float*>(static_cast<std::size_t>(m));
    for (index_t g = 0; g < Hkv; ++g) {
      pack_query_blocks<Arch>(q, g, group, out, qbuf, dst);
      const float* qp = qbuf;
      for (index_t s0 = 0; s0 < m; s0 += R) {
        const index_t n = std::min(R, m - s0), vb = (n + L - 1) / L;
        index_t je = cb;
        for (index_t s = s0; s < s0 + n; ++s) je = std::max(je, vis_end(s % rows));
        packed_block_logits<Arch>(qp, vb, dst + s0, n, k, g, cb, je, cb, scale);
        for (index_t s = s0; s < s0 + n; ++s) finish_row(g * group + s / rows, s % rows);
        qp += d * vb * L;
      }
    }
    return;
  }
  // Fewer stacked rows than a vector: the few-rows kernel over all keys any row sees, then the softmax.
  // Stacked row s = t·rows + r of kv head g is query head g·group + t, row r.
  index_t max_vis = cb;
  for (index_t r = 0; r < rows; ++r) max_vis = std::max(max_vis, vis_end(r));
  const float** const qr = ws.take<const float*>(static_cast<std::size_t>(Hkv * m));
  float** const dst = ws.take<float*>(static_cast<std::size_t>(Hkv * m));
  for (index_t h = 0; h < H; ++h)
    for (index_t r = 0; r < rows; ++r) {
      const index_t s = (h / group) * m + (h % group) * rows + r;
      qr[s] = q.data_handle() + r * q.stride(0) + h * q.stride(1);
      dst[s] = out.data_handle() + h * out.stride(0) + r * out.stride(1);
    }
  few_rows_logits<Arch>(qr, dst, m, k, cb, max_vis, scale);
  for (index_t h = 0; h < H; ++h)
    for (index_t r = 0; r < rows; ++r) finish_row(h, r);
}

}  // namespace detail

/// Attention probabilities out[h][r][j] of the query rows q [rows][H][d] against all keys k [keys][H_kv][d]
/// (§2.1): fp32 softmax over every key the row may see. row_positions[r] is the absolute position of
/// row r (needed when mode.causal; may be empty otherwise). out: [H][rows][keys], last dim contiguous.
/// Errors: inconsistent d or heads (H must be a multiple of H_kv), positions outside [0, keys), out of
/// the wrong shape or overlapping an input.
template <class Arch = simd::default_arch>
status try_attention_rows(tensor_view<const float, 3> q, tensor_view<const float, 3> k, vector_view<const index_t> row_positions,
                          attention_mode mode, tensor_view<float, 3> out, workspace& ws) {
  detail::attention_shape sh{};
  VTR_TRY(detail::check_attention(q, k, row_positions, mode, sh));
  VTR_TRY(expect_shape("out", out, {sh.heads, sh.rows, sh.keys}));
  VTR_TRY(detail::check_out_alias(out, "q", q));
  VTR_TRY(detail::check_out_alias(out, "k", k));
  VTR_TRY(detail::check_out_alias(out, "row_positions", row_positions));
  detail::attention_impl<Arch>(q, k, row_positions, mode, nullptr, 0, sh.keys, out, ws);
  return {};
}
template <class Arch = simd::default_arch>
void attention_rows(tensor_view<const float, 3> q, tensor_view<const float, 3> k, vector_view<const index_t> row_positions,
                    attention_mode mode, tensor_view<float, 3> out, workspace& ws) {
  raise_if_error(try_attention_rows<Arch>(q, k, row_positions, mode, out, ws));
}

/// The LSE shortcut (§2.1): with lse[h][r] = log Σ_j exp(z[h][r][j]) over the row's full masked key set,
/// only key columns [col_begin, col_end) are computed: out[h][r][j − col_begin] = exp(z − lse), masked
/// keys 0. out: [H][rows][col_end − col_begin]. Errors as above, plus a bad column range or lse shape.
template <class Arch = simd::default_arch>
status try_attention_rows(tensor_view<const float, 3> q, tensor_view<const float, 3> k, vector_view<const index_t> row_positions,
                          attention_mode mode, tensor_view<const float, 2> lse, index_t col_begin, index_t col_end,
                          tensor_view<float, 3> out, workspace& ws) {
  detail::attention_shape sh{};
  VTR_TRY(detail::check_attention(q, k, row_positions, mode, sh));
  if (col_begin < 0 || col_end < col_begin || col_end > sh.keys)
    return fail("arguments 'col_begin' = ", col_begin, ", 'col_end' = ", col_end, " are not a column range inside [0, ",
                sh.keys, "] (the keys of 'k' ", shape_of(k), ")");
  VTR_TRY(expect_shape("lse", lse, {sh.heads, sh.rows}));
  VTR_TRY(expect_shape("out", out, {sh.heads, sh.rows, col_end - col_begin}));
  VTR_TRY(detail::check_out_alias(out, "q", q));
  VTR_TRY(detail::check_out_alias(out, "k", k));
  VTR_TRY(detail::check_out_alias(out, "row_positions", row_positions));
  VTR_TRY(detail::check_out_alias(out, "lse", lse));
  detail::attention_impl<Arch>(q, k, row_positions, mode, &lse, col_begin, col_end, out, ws);
  return {};
}
template <class Arch = simd::default_arch>
void attention_rows(tensor_view<const float, 3> q, tensor_view<const float, 3> k, vector_view<const index_t> row_positions,
                    attention_mode mode, tensor_view<const float, 2> lse, index_t col_begin, index_t col_end,
                    tensor_view<float, 3> out, workspace& ws) {
  raise_if_error(try_attention_rows<Arch>(q, k, row_positions, mode, lse, col_begin, col_end, out, ws));
}

namespace ref {

/// Naive double-precision attention rows (tests): out[h][r][j] for all keys.
inline std::vector<double> attention_rows(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                                          const std::vector<index_t>& pos, attention_mode mode) {
  const index_t rows = q.extent(0), H = q.extent(1), d = q.extent(2), keys = k.extent(0), Hkv = k.extent(1);
  std::vector<double> out(static_cast<std::size_t>(H * rows * keys), 0.0);
  for (index_t h = 0; h < H; ++h) {
    const index_t g = h / (H / Hkv);
    for (index_t r = 0; r < rows; ++r) {
      const index_t vis = mode.causal ? pos[std::size_t(r)] + 1 : keys;
      std::vector<double> z(static_cast<std::size_t>(vis));
      double m = -std::numeric_limits<double>::infinity();
      for (index_t j = 0; j < vis; ++j) {
        double s = 0;
        for (index_t t = 0; t < d; ++t) s += double(q(r, h, t)) * double(k(j, g, t));
        s /= std::sqrt(double(d));
        if (mode.nonfinite_to_zero && std::isinf(s)) s = 0;
        z[std::size_t(j)] = s;
        m = std::max(m, s);
      }
      double tot = 0;
      for (auto& v : z) tot += (v = std::exp(v - m));
      for (index_t j = 0; j < vis; ++j) out[std::size_t((h * rows + r) * keys + j)] = z[std::size_t(j)] / tot;
    }
  }
  return out;
}

/// Log-sum-exp of each full masked row, [H][rows] (tests use it to feed the LSE shortcut).
inline std::vector<float> attention_lse(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                                        const std::vector<index_t>& pos, attention_mode mode) {
  const index_t rows = q.extent(0), H = q.extent(1), d = q.extent(2), keys = k.extent(0), Hkv = k.extent(1);
  std::vector<float> out(static_cast<std::size_t>(H * rows));
  for (index_t h = 0; h < H; ++h)
    for (index_t r = 0; r < rows; ++r) {
      const index_t vis = mode.causal ? pos[std::size_t(r)] + 1 : keys;
      std::vector<double> z;
      double m = -std::numeric_limits<double>::infinity();
      for (index_t j = 0; j < vis; ++j) {
        double s = 0;
        for (index_t t = 0; t < d; ++t) s += double(q(r, h, t)) * double(k(j, h / (H / Hkv), t));
        z.push_back(s / std::sqrt(double(d)));
        m = std::max(m, z.back());
      }
      double tot = 0;
      for (double v : z) tot += std::exp(v - m);
      out[std::size_t(h * rows + r)] = static_cast<float>(m + std::log(tot));
    }
  return out;
}

}  // namespace ref

}  // namespace ops
VTR_NAMESPACE_END
