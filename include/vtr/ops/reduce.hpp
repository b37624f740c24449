// vtr — attention reductions (ALGORITHMS §2.2 head reductions, §2.3 query-row reductions).
//
// Input is a post-softmax attention block A[h][r][c] (heads, query rows, key columns). The scores the
// methods rank are  out[c] = row_reduce_{r ∈ rows}( head_reduce_h A[h][r][c] ), head reduction FIRST
// (§2.2: it matters for max-heads/sum-rows, Fit&Prune).
//
// These kernels are memory-bound: every input value is read exactly once, streaming whole attention
// rows (8 at a time) into an accumulator tile of the output that stays in L1. When the head and row
// operators are of one kind (sum-like or max) every (h, r) row is folded straight into `out`; mixed
// kinds fold the heads of one query row into a small scratch tile first. Means are applied as one
// scale at the end (a positive scale commutes with max, so mean-heads/max-rows also takes that path).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/half.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../simd/simd.hpp"
#include "topk.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

/// Reduction over heads (§2.2).
enum class head_reduce { mean, max, sum };
/// Reduction over query rows (§2.3).
enum class row_reduce { mean, sum, max };

namespace detail {

struct add_op {
  template <class B>
  static B apply(const B& a, const B& b) noexcept {
    return a + b;
  }
  static float apply(float a, float b) noexcept { return a + b; }
};
struct max_op {
  template <class B>
  static B apply(const B& a, const B& b) noexcept {
    return simd::max(a, b);
  }
  static float apply(float a, float b) noexcept { return a < b ? b : a; }
};

/// Output tile width (floats): the accumulator and scratch tiles stay in L1 while rows stream through.
inline constexpr index_t reduce_tile = 2048;

/// Pairwise Op over the M rows' values at column c (a tree keeps the dependency chains short). T is
/// float, float16 or bfloat16: half rows are widened on load, the fold is fp32.
template <class Arch, class Op, int M, class T>
simd::batch<float, Arch> fold_tree(const T* const* p, index_t c) noexcept {
  if constexpr (M == 1) {
    return simd::load_as_float<Arch>(p[0] + c);
  } else {
    constexpr int H = M / 2;
    return Op::apply(fold_tree<Arch, Op, H>(p, c), fold_tree<Arch, Op, M - H>(p + H, c));
  }
}

/// The scalar twin of fold_tree, with the same pairing: a column folds to the same bits whether it falls
/// in a SIMD vector or in a scalar tail, so results do not depend on the arch's lane count or on where a
/// buffer starts.
template <class Op, int M, class T>
float fold_tree_scalar(const T* const* p, index_t c) noexcept {
  if constexpr (M == 1) {
    return to_float(p[0][c]);
  } else {
    constexpr int H = M / 2;
    return Op::apply(fold_tree_scalar<Op, H>(p, c), fold_tree_scalar<Op, M - H>(p + H, c));
  }
}

/// fold_tree over bfloat16 rows split into their even and odd columns (simd::load_bfloat16_split):
/// columns c … c + 2·lanes − 1 with the same pairing, so each column folds to the same bits.
template <class Arch, class Op, int M>
void fold_tree_split(const bfloat16* const* p, index_t c, simd::batch<float, Arch>& even, simd::batch<float, Arch>& odd) noexcept {
  if constexpr (M == 1) {
    simd::load_bfloat16_split<Arch>(p[0] + c, even, odd);
  } else {
    constexpr int H = M / 2;
    simd::batch<float, Arch> e1, o1, e2, o2;
    fold_tree_split<Arch, Op, H>(p, c, e1, o1);
    fold_tree_split<Arch, Op, M - H>(p + H, c, e2, o2);
    even = Op::apply(e1, e2);
    odd = Op::apply(o1, o2);
  }
}

/// dst[0, n) = Op(dst (unless Init), p[0][·], …, p[M−1][·]) — M ∈ 1…8 rows folded in one pass, so the
/// accumulator is read and written once per M input rows. bfloat16 rows are folded as even and odd
/// columns, put back in order once per M rows: widening costs a shift or a mask per value instead of a
/// cross-lane zero-extension, which was what set the time of a cache-resident block (2.2× its read).
template <class Arch, class Op, int M, bool Init, class T>
void fold_rows(float* dst, const T* const* p, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  auto finish = [&](index_t c, B v) {
    if constexpr (!Init) v = Op::apply(simd::load<float, Arch>(dst + c), v);
    simd::store<float, Arch>(dst + c, v);
  };
  auto combine = [&](index_t c) { finish(c, fold_tree<Arch, Op, M>(p, c)); };
  index_t c = 0;
  if constexpr (std::is_same_v<T, bfloat16> && simd::has_bfloat16_split<Arch>) {
    for (; c + 2 * L <= n; c += 2 * L) {
      B even, odd, lo, hi;
      fold_tree_split<Arch, Op, M>(p, c, even, odd);
      simd::interleave<Arch>(even, odd, lo, hi);
      finish(c, lo);
      finish(c + L, hi);
    }
  }
  for (; c + 2 * L <= n; c += 2 * L) {
    combine(c);
    combine(c + L);
  }
  for (; c + L <= n; c += L) combine(c);
  for (; c < n; ++c) {
    const float v = fold_tree_scalar<Op, M>(p, c);
    dst[c] = Init ? v : Op::apply(dst[c], v);
  }
}

template <class Arch, class Op, int M, class T>
void fold_rows_rt(float* dst, const T* const* p, index_t n, bool init) noexcept {
  if (init) fold_rows<Arch, Op, M, true>(dst, p, n);
  else fold_rows<Arch, Op, M, false>(dst, p, n);
}

/// Folds `count` rows, produced by row_ptr(i) (pointer to the tile start), into dst[0, n) with Op,
/// eight at a time. Init: the first group overwrites dst instead of reading it.
template <class Arch, class Op, class RowPtr>
void fold_many(float* dst, index_t n, index_t count, bool init, RowPtr&& row_ptr) noexcept {
  using T = std::remove_cv_t<std::remove_pointer_t<decltype(row_ptr(index_t(0)))>>;  // float or a half type
  constexpr int G = 8;
  const T* p[G];
  index_t i = 0;
  for (; i + G <= count; i += G) {
    for (int j = 0; j < G; ++j) p[j] = row_ptr(i + j);
    fold_rows_rt<Arch, Op, G>(dst, p, n, init);
    init = false;
  }
  const index_t rest = count - i;
  for (index_t j = 0; j < rest; ++j) p[j] = row_ptr(i + j);
  switch (rest) {
    case 1: fold_rows_rt<Arch, Op, 1>(dst, p, n, init); break;
    case 2: fold_rows_rt<Arch, Op, 2>(dst, p, n, init); break;
    case 3: fold_rows_rt<Arch, Op, 3>(dst, p, n, init); break;
    case 4: fold_rows_rt<Arch, Op, 4>(dst, p, n, init); break;
    case 5: fold_rows_rt<Arch, Op, 5>(dst, p, n, init); break;
    case 6: fold_rows_rt<Arch, Op, 6>(dst, p, n, init); break;
    case 7: fold_rows_rt<Arch, Op, 7>(dst, p, n, init); break;
    default: break;
  }
}

/// Row blocking of column_sum. A block that fits the L2 cache (≤ column_cached_elements) is reduced in one
/// pass of register tiles over all its rows; larger blocks come from memory in blocks of
/// column_block_rows rows (a multiple of 8, so blocks start on fold_many's groups), whose rows the
/// prefetchers and the TLB keep up with. Measured with bench column_mean (AVX-512, fastest repetition):
/// one pass ≈0.9× the read floor at 576×576 (blocks of 32: 1.2×, fold_many: 1.2–1.8×); blocks of 32
/// ≈1.0× at 2880×2880 (one pass: 1.4×, its strided walk over 2880 rows outruns the prefetchers).
inline constexpr index_t column_cached_elements = index_t(1) << 19;  // 2 MiB of floats
inline constexpr index_t column_block_rows = 32;

/// fold_tree with a run-time row count m ∈ 1…8.
template <class Arch, class Op, class T>
simd::batch<float, Arch> fold_tree_rt(const T* const* p, int m, index_t c) noexcept {
  switch (m) {
    case 1: return fold_tree<Arch, Op, 1>(p, c);
    case 2: return fold_tree<Arch, Op, 2>(p, c);
    case 3: return fold_tree<Arch, Op, 3>(p, c);
    case 4: return fold_tree<Arch, Op, 4>(p, c);
    case 5: return fold_tree<Arch, Op, 5>(p, c);
    case 6: return fold_tree<Arch, Op, 6>(p, c);
    case 7: return fold_tree<Arch, Op, 7>(p, c);
    default: return fold_tree<Arch, Op, 8>(p, c);
  }
}

/// dst[0, K·lanes) = Op(dst (unless init), rows 0 … count−1) — row_ptr(i) → the tile start in row i —
/// with the K accumulators held in registers, so dst is read and written once per call. Rows are folded
/// in groups of eight by the same tree, in the same order, as fold_many: both give identical bits.
template <class Arch, class Op, int K, class RowPtr>
void fold_column_tile(float* dst, index_t count, bool init, RowPtr&& row_ptr) noexcept {
  using T = std::remove_cv_t<std::remove_pointer_t<decltype(row_ptr(index_t(0)))>>;
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  B acc[K];
  const T* p[8];
  const auto group = [&](index_t i, int m) {
    for (int j = 0; j < m; ++j) p[j] = row_ptr(i + j);
  };
  index_t i = 0;
  if (init) {  // count ≥ 1: the first group initialises the accumulators
    const int first = static_cast<int>(std::min<index_t>(8, count));
    group(0, first);
    for (int k = 0; k < K; ++k) acc[k] = fold_tree_rt<Arch, Op>(p, first, k * L);
    i = first;
  } else {
    for (int k = 0; k < K; ++k) acc[k] = simd::load<float, Arch>(dst + k * L);
  }
  for (; i + 8 <= count; i += 8) {
    group(i, 8);
    for (int k = 0; k < K; ++k) acc[k] = Op::apply(acc[k], fold_tree<Arch, Op, 8>(p, k * L));
  }
  if (i < count) {
    const int m = static_cast<int>(count - i);
    group(i, m);
    for (int k = 0; k < K; ++k) acc[k] = Op::apply(acc[k], fold_tree_rt<Arch, Op>(p, m, k * L));
  }
  for (int k = 0; k < K; ++k) simd::store<float, Arch>(dst + k * L, acc[k]);
}

template <class Arch>
void scale_in_place(float* x, index_t n, float f) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const B fb(f);
  index_t c = 0;
  for (; c + L <= n; c += L) simd::store<float, Arch>(x + c, simd::load<float, Arch>(x + c) * fb);
  for (; c < n; ++c) x[c] *= f;
}

inline bool is_max(head_reduce h) noexcept { return h == head_reduce::max; }
inline bool is_max(row_reduce r) noexcept { return r == row_reduce::max; }

inline status check_rows(const char* name, const vector_view<const index_t>& rows, index_t limit, const char* of) {
  VTR_TRY(validate_view(name, rows));
  for (index_t i = 0; i < rows.extent(0); ++i)
    if (rows(i) < 0 || rows(i) >= limit)
      return fail("argument '", name, "'[", i, "] = ", rows(i), " is out of range [0, ", limit, ") for the rows of '", of, "'");
  return {};
}

}  // namespace detail

/// Bytes of workspace try_reduce_attention takes (at most; 0 for same-kind head/row reductions).
inline std::size_t reduce_attention_workspace_bytes(index_t cols) noexcept {
  return sizeof(float) * static_cast<std::size_t>(std::min(std::max<index_t>(cols, 1), detail::reduce_tile)) + workspace::alignment;
}

namespace detail {
template <class Arch, class T>
status reduce_attention_impl(tensor_view<const T, 3> attn, head_reduce h, row_reduce r, vector_view<float> out,
                             workspace& ws, vector_view<const index_t> rows) {
  VTR_TRY(validate_view("attn", attn));
  const index_t H = attn.extent(0), R = attn.extent(1), C = attn.extent(2);
  VTR_TRY(expect_shape("out", out, {C}));
  if (H == 0) return fail("argument 'attn' has shape ", shape_of(attn), ": no heads to reduce");
  VTR_TRY(detail::check_rows("rows", rows, R, "attn"));
  VTR_TRY(expect_no_alias("out", out, "attn", attn));
  VTR_TRY(expect_no_alias("out", out, "rows", rows));
  const bool all_rows = rows.extent(0) == 0;
  const index_t nr = all_rows ? R : rows.extent(0);
  if (nr == 0) {
    if (r != row_reduce::sum)
      return fail("argument 'attn' has shape ", shape_of(attn), " and no query rows are selected: a ",
                  r == row_reduce::mean ? "mean" : "max", " over zero rows is undefined");
    std::fill(out.data_handle(), out.data_handle() + C, 0.0f);
    return {};
  }
  if (C == 0) return {};

  const T* base = attn.data_handle();
  const index_t sh = attn.stride(0), sr = attn.stride(1);
  auto row_id = [&](index_t i) { return all_rows ? i : rows(i); };
  float* o = out.data_handle();
  // Means become one final scale; computed in double so (1/H)·(1/|R|) is rounded once.
  const double scale = (h == head_reduce::mean ? 1.0 / double(H) : 1.0) * (r == row_reduce::mean ? 1.0 / double(nr) : 1.0);

  const bool same_kind = detail::is_max(h) == detail::is_max(r);
  workspace::scope sc(ws);
  float* tmp = same_kind ? nullptr : ws.take<float>(static_cast<std::size_t>(std::min(C, detail::reduce_tile)));

  for (index_t c0 = 0; c0 < C; c0 += detail::reduce_tile) {
    const index_t w = std::min(detail::reduce_tile, C - c0);
    float* dst = o + c0;
    if (same_kind) {
      // Every (row, head) pair folds straight into out: one pass, no scratch.
      auto ptr = [&](index_t i) { return base + (i % H) * sh + row_id(i / H) * sr + c0; };
      if (detail::is_max(h)) detail::fold_many<Arch, detail::max_op>(dst, w, nr * H, true, ptr);
      else detail::fold_many<Arch, detail::add_op>(dst, w, nr * H, true, ptr);
    } else {
      for (index_t i = 0; i < nr; ++i) {
        const T* row0 = base + row_id(i) * sr + c0;
        auto ptr = [&](index_t hh) { return row0 + hh * sh; };
        // The first query row's head reduction goes straight into out; later ones via tmp.
        float* into = i == 0 ? dst : tmp;
        if (detail::is_max(h)) detail::fold_many<Arch, detail::max_op>(into, w, H, true, ptr);
        else detail::fold_many<Arch, detail::add_op>(into, w, H, true, ptr);
        if (i == 0) continue;
        const float* one[1] = {tmp};
        if (detail::is_max(r)) detail::fold_rows<Arch, detail::max_op, 1, false>(dst, one, w);
        else detail::fold_rows<Arch, detail::add_op, 1, false>(dst, one, w);
      }
    }
    if (scale != 1.0) detail::scale_in_place<Arch>(dst, w, static_cast<float>(scale));
  }
  return {};
}
}  // namespace detail

/// out[c] = row-reduce over `rows` (all rows when `rows` is empty) of head-reduce over heads of
/// attn[h][r][c] (§2.2, §2.3; heads first). attn: [H][R][C] with a contiguous last dimension; out: [C].
/// Errors: H = 0; no rows for mean/max (an empty sum is 0); a row index outside [0, R); shape mismatch;
/// out overlapping attn.
template <class Arch = simd::default_arch>
status try_reduce_attention(tensor_view<const float, 3> attn, head_reduce h, row_reduce r, vector_view<float> out,
                            workspace& ws, vector_view<const index_t> rows = {}) {
  return detail::reduce_attention_impl<Arch, float>(attn, h, r, out, ws, rows);
}
/// The same on half-precision attention (engines that keep probabilities in fp16/bf16): each value is
/// widened to fp32 on load, every fold and the result are fp32 — bit-identical to the float overload on
/// the converted block, at half the bytes read.
template <class Arch = simd::default_arch>
status try_reduce_attention(tensor_view<const float16, 3> attn, head_reduce h, row_reduce r, vector_view<float> out,
                            workspace& ws, vector_view<const index_t> rows = {}) {
  return detail::reduce_attention_impl<Arch, float16>(attn, h, r, out, ws, rows);
}
template <class Arch = simd::default_arch>
status try_reduce_attention(tensor_view<const bfloat16, 3> attn, head_reduce h, row_reduce r, vector_view<float> out,
                            workspace& ws, vector_view<const index_t> rows = {}) {
  return detail::reduce_attention_impl<Arch, bfloat16>(attn, h, r, out, ws, rows);
}

template <class Arch = simd::default_arch>
void reduce_attention(tensor_view<const float, 3> attn, head_reduce h, row_reduce r, vector_view<float> out, workspace& ws,
                      vector_view<const index_t> rows = {}) {
  raise_if_error(try_reduce_attention<Arch>(attn, h, r, out, ws, rows));
}
template <class Arch = simd::default_arch>
void reduce_attention(tensor_view<const float16, 3> attn, head_reduce h, row_reduce r, vector_view<float> out,
                      workspace& ws, vector_view<const index_t> rows = {}) {
  raise_if_error(try_reduce_attention<Arch>(attn, h, r, out, ws, rows));
}
template <class Arch = simd::default_arch>
void reduce_attention(tensor_view<const bfloat16, 3> attn, head_reduce h, row_reduce r, vector_view<float> out,
                      workspace& ws, vector_view<const index_t> rows = {}) {
  raise_if_error(try_reduce_attention<Arch>(attn, h, r, out, ws, rows));
}

// ---------------------------------------------------------------------------------------------------
// Column reductions of one block (§2.3 colmean_block, e.g. Fit&Prune's self term)

/// out[c] = Σ_r block[r][c]. block: [rows][cols]; out: [cols]. Zero rows give zeros.
template <class Arch = simd::default_arch>
status try_column_sum(matrix_view<const float> block, vector_view<float> out) {
  VTR_TRY(validate_view("block", block));
  const index_t R = block.extent(0), C = block.extent(1);
  VTR_TRY(expect_shape("out", out, {C}));
  VTR_TRY(expect_no_alias("out", out, "block", block));
  float* o = out.data_handle();
  if (R == 0) {
    std::fill(o, o + C, 0.0f);
    return {};
  }
  // Row blocks (all rows when the block is cache-resident); within a block, column tiles of 8 SIMD
  // vectors (then one tile of the rest) accumulate in registers and add into `out` once, so `out` is
  // read and written once per block instead of once per 8 rows. Every path folds a column's rows in
  // fold_many's order: the bits do not depend on the arch, the blocking or the alignment.
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  // Tiles load whole aligned vectors when every row starts at the same offset within a vector (the row
  // stride is a multiple of L): the first `head` columns and the last partial vector are then one
  // unaligned vector each, overlapping the tiles and written back only where they do not. (A block 16
  // bytes past a cache line, malloc's usual offset, otherwise splits every load over two lines: 1.6–1.9×
  // the read floor for a cache-resident 576×576 block instead of 1.1×; scalar edge columns cost as much.)
  constexpr auto vector_bytes = static_cast<std::uintptr_t>(L) * sizeof(float);
  const auto misalign = reinterpret_cast<std::uintptr_t>(block.data_handle()) % vector_bytes;
  const bool vectors = C >= L;
  const index_t head = !vectors || block.stride(0) % L != 0 || misalign % sizeof(float) != 0
                           ? 0
                           : static_cast<index_t>((vector_bytes - misalign) % vector_bytes / sizeof(float));
  const index_t vec_end = head + (C - head) / L * L;
  const index_t block_rows = R <= detail::column_cached_elements / std::max<index_t>(C, 1) ? R : detail::column_block_rows;
  for (index_t r0 = 0; r0 < R; r0 += block_rows) {
    const index_t nr = std::min(block_rows, R - r0);
    const bool init = r0 == 0;
    const auto rows_from = [&block, r0](index_t c0) { return [&block, r0, c0](index_t i) { return block.row(r0 + i) + c0; }; };
    // Columns [c, c + L) folded apart, of which [c + from, c + to) are written back.
    const auto edge_vector = [&](index_t c, index_t from, index_t to) {
      alignas(64) float part[L];
      if (!init) std::copy(o + c, o + c + L, part);
      detail::fold_column_tile<Arch, detail::add_op, 1>(part, nr, init, rows_from(c));
      std::copy(part + from, part + to, o + c + from);
    };
    if (head > 0) edge_vector(0, 0, head);
    index_t c = head;
    for (; c + 8 * L <= vec_end; c += 8 * L) detail::fold_column_tile<Arch, detail::add_op, 8>(o + c, nr, init, rows_from(c));
    switch ((vec_end - c) / L) {
      case 7: detail::fold_column_tile<Arch, detail::add_op, 7>(o + c, nr, init, rows_from(c)); break;
      case 6: detail::fold_column_tile<Arch, detail::add_op, 6>(o + c, nr, init, rows_from(c)); break;
      case 5: detail::fold_column_tile<Arch, detail::add_op, 5>(o + c, nr, init, rows_from(c)); break;
      case 4: detail::fold_column_tile<Arch, detail::add_op, 4>(o + c, nr, init, rows_from(c)); break;
      case 3: detail::fold_column_tile<Arch, detail::add_op, 3>(o + c, nr, init, rows_from(c)); break;
      case 2: detail::fold_column_tile<Arch, detail::add_op, 2>(o + c, nr, init, rows_from(c)); break;
      case 1: detail::fold_column_tile<Arch, detail::add_op, 1>(o + c, nr, init, rows_from(c)); break;
      default: break;
    }
    if (vec_end < C) {
      if (vectors) edge_vector(C - L, vec_end - (C - L), L);
      else detail::fold_many<Arch, detail::add_op>(o + vec_end, C - vec_end, nr, init, rows_from(vec_end));
    }
  }
  return {};
}
template <class Arch = simd::default_arch>
void column_sum(matrix_view<const float> block, vector_view<float> out) {
  raise_if_error(try_column_sum<Arch>(block, out));
}

/// out[c] = (Σ_r block[r][c]) / rows (§2.3 colmean_block). Errors: zero rows.
template <class Arch = simd::default_arch>
status try_column_mean(matrix_view<const float> block, vector_view<float> out) {
  VTR_TRY(validate_view("block", block));
  if (block.extent(0) == 0) return fail("argument 'block' has shape ", shape_of(block), ": a column mean over zero rows is undefined");
  VTR_TRY(try_column_sum<Arch>(block, out));
  detail::scale_in_place<Arch>(out.data_handle(), out.extent(0), static_cast<float>(1.0 / double(block.extent(0))));
  return {};
}
template <class Arch = simd::default_arch>
void column_mean(matrix_view<const float> block, vector_view<float> out) {
  raise_if_error(try_column_mean<Arch>(block, out));
}

// ---------------------------------------------------------------------------------------------------
// top_heads (§2.2 top_h, SparseVLM+)

/// The min(max(h, 0), H) heads with the largest total Σ_{r ∈ rows, c} attn[head][r][c] (rows empty = all
/// rows), ranked by §0.4 (ties → lower head), written to out in rank order. Returns the count.
template <class Arch = simd::default_arch>
result<index_t> try_top_heads(tensor_view<const float, 3> attn, vector_view<const index_t> rows, index_t h,
                              vector_view<index_t> out, workspace& ws) {
  VTR_TRY(validate_view("attn", attn));
  const index_t H = attn.extent(0), R = attn.extent(1), C = attn.extent(2);
  VTR_TRY(detail::check_rows("rows", rows, R, "attn"));
  const index_t count = std::clamp<index_t>(h, 0, H);
  VTR_TRY(detail::check_out("out", out, count));
  VTR_TRY(expect_no_alias("out", out, "attn", attn));
  VTR_TRY(expect_no_alias("out", out, "rows", rows));
  const bool all_rows = rows.extent(0) == 0;
  const index_t nr = all_rows ? R : rows.extent(0);

  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  workspace::scope sc(ws);
  std::uint64_t* keys = ws.take<std::uint64_t>(static_cast<std::size_t>(std::max<index_t>(H, 1)));
  for (index_t hh = 0; hh < H; ++hh) {
    B acc(0.0f);
    float tail = 0.0f;
    for (index_t i = 0; i < nr; ++i) {
      const float* p = attn.data_handle() + hh * attn.stride(0) + (all_rows ? i : rows(i)) * attn.stride(1);
      index_t c = 0;
      for (; c + L <= C; c += L) acc = acc + simd::load<float, Arch>(p + c);
      for (; c < C; ++c) tail += p[c];
    }
    const float total = simd::reduce_add(acc) + tail;
    if (total != total) return fail("argument 'attn' (shape ", shape_of(attn), ") gives a NaN total for head ", hh);
    keys[hh] = detail::desc_key(total, hh);
  }
  detail::select_keys(keys, H, count, order::by_rank, out.data_handle(), 0, ws);
  return count;
}
template <class Arch = simd::default_arch>
index_t top_heads(tensor_view<const float, 3> attn, vector_view<const index_t> rows, index_t h, vector_view<index_t> out,
                  workspace& ws) {
  return try_top_heads<Arch>(attn, rows, h, out, ws).value();
}

// ---------------------------------------------------------------------------------------------------
// Scalar references (tests): the definitions of §2.2/§2.3 written out literally, in double.

namespace ref {

inline std::vector<float> reduce_attention(tensor_view<const float, 3> attn, head_reduce h, row_reduce r,
                                           const std::vector<index_t>& rows_in = {}) {
  const index_t H = attn.extent(0), R = attn.extent(1), C = attn.extent(2);
  std::vector<index_t> rows = rows_in;
  if (rows.empty())
    for (index_t i = 0; i < R; ++i) rows.push_back(i);
  std::vector<float> out(static_cast<std::size_t>(C));
  for (index_t c = 0; c < C; ++c) {
    double acc = r == row_reduce::max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (index_t row : rows) {
      double hv = h == head_reduce::max ? -std::numeric_limits<double>::infinity() : 0.0;
      for (index_t hh = 0; hh < H; ++hh) {
        const double a = attn(hh, row, c);
        hv = h == head_reduce::max ? std::max(hv, a) : hv + a;
      }
      if (h == head_reduce::mean) hv /= double(H);
      acc = r == row_reduce::max ? std::max(acc, hv) : acc + hv;
    }
    if (r == row_reduce::mean) acc /= double(rows.size());
    out[std::size_t(c)] = static_cast<float>(acc);
  }
  return out;
}

inline std::vector<float> column_mean(matrix_view<const float> block, bool mean = true) {
  std::vector<float> out(static_cast<std::size_t>(block.extent(1)));
  for (index_t c = 0; c < block.extent(1); ++c) {
    double s = 0;
    for (index_t r = 0; r < block.extent(0); ++r) s += block(r, c);
    out[std::size_t(c)] = static_cast<float>(mean ? s / double(block.extent(0)) : s);
  }
  return out;
}

inline std::vector<index_t> top_heads(tensor_view<const float, 3> attn, const std::vector<index_t>& rows_in, index_t h) {
  const index_t H = attn.extent(0);
  std::vector<float> tot(static_cast<std::size_t>(H));
  for (index_t hh = 0; hh < H; ++hh) {
    double s = 0;
    for (index_t r = 0; r < attn.extent(1); ++r) {
      if (!rows_in.empty() && std::find(rows_in.begin(), rows_in.end(), r) == rows_in.end()) continue;
      for (index_t c = 0; c < attn.extent(2); ++c) s += attn(hh, r, c);
    }
    tot[std::size_t(hh)] = static_cast<float>(s);
  }
  return ops::ref::topk(tot, h, order::by_rank);
}

}  // namespace ref

}  // namespace ops
VTR_NAMESPACE_END
