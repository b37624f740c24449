// vtr — the RoPE-only score matrix (ALGORITHMS §3.2.8 step 1, SparseVLM+ "attention gravity").
//
// G[i][j] = RoPE(1, pos_i) · RoPE(1, pos_j) / √d: the attention logit that rotary embedding alone gives
// two all-ones vectors at positions pos_i and pos_j. Mathematically (2/√d)·Σ_f cos((pos_i − pos_j)·θ_f),
// θ_f = base^(−2f/d); evaluated the way the reference builds it (LLaMA rotary in fp32):
//   inv_freq[f] = 1 / base^(2f/d)          (f < d/2; the exponent 2f/d in float32)
//   a = float(pos)·inv_freq[f];  c = cos a;  s = sin a
//   RoPE(1, pos) = 1·cos + rotate_half(1)·sin, rotate_half pairing element f with f + d/2:
//       element f       → c − s
//       element f + d/2 → c + s
// then a dot product of d terms and one division by √d (as float).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"

#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

/// LLaMA's inv_freq in float32: out[f] = 1 / base^(2f/d), f < d/2.
inline void rope_inv_freq(index_t head_dim, double base, float* out) noexcept {
  const float b = static_cast<float>(base);
  for (index_t f = 0; f < head_dim / 2; ++f)
    out[f] = 1.0f / std::pow(b, static_cast<float>(2 * f) / static_cast<float>(head_dim));
}

/// RoPE applied to the all-ones vector at position `pos` (rotate_half convention): out[d].
inline void rope_ones(index_t pos, index_t head_dim, const float* inv_freq, float* out) noexcept {
  const index_t half = head_dim / 2;
  const float p = static_cast<float>(pos);
  for (index_t f = 0; f < half; ++f) {
    const float a = p * inv_freq[f];
    const float c = std::cos(a), s = std::sin(a);
    out[f] = c - s;
    out[f + half] = c + s;
  }
}

/// Bytes of workspace try_rope_gravity takes.
inline std::size_t rope_gravity_workspace_bytes(index_t rows, index_t cols, index_t head_dim) noexcept {
  return sizeof(float) * static_cast<std::size_t>((rows + cols + 1) * head_dim) + 3 * workspace::alignment;
}

/// out[i][j] = RoPE(1, row_pos[i]) · RoPE(1, col_pos[j]) / √head_dim (see the header comment).
/// row_pos: [R], col_pos: [C] (position ids ≥ 0), out: [R, C]. Errors: odd or non-positive head_dim,
/// base ≤ 0, negative positions, shape mismatch.
inline status try_rope_gravity(vector_view<const index_t> row_pos, vector_view<const index_t> col_pos, index_t head_dim,
                               double base, matrix_view<float> out, workspace& ws) {
  VTR_TRY(validate_view("row_pos", row_pos));
  VTR_TRY(validate_view("col_pos", col_pos));
  VTR_TRY(expect_shape("out", out, {row_pos.extent(0), col_pos.extent(0)}));
  if (head_dim < 2 || head_dim % 2 != 0) return fail("argument 'head_dim' = ", head_dim, " must be even and >= 2");
  if (!(base > 0.0) || !std::isfinite(base)) return fail("argument 'base' = ", base, " must be finite and > 0");
  for (index_t i = 0; i < row_pos.extent(0); ++i)
    if (row_pos(i) < 0) return fail("argument 'row_pos'[", i, "] = ", row_pos(i), " is negative");
  for (index_t j = 0; j < col_pos.extent(0); ++j)
    if (col_pos(j) < 0) return fail("argument 'col_pos'[", j, "] = ", col_pos(j), " is negative");
  const index_t R = row_pos.extent(0), C = col_pos.extent(0), d = head_dim;
  if (!vtr::detail::product_fits(R + C + 1, d) || !vtr::detail::product_fits(R * d + C * d + d, static_cast<index_t>(sizeof(float))))
    return fail("argument 'head_dim' = ", head_dim, " with ", R, " + ", C, " positions needs more scratch than can be addressed");
  workspace::scope sc(ws);
  float* inv = ws.take<float>(static_cast<std::size_t>(d));
  float* rv = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(R * d, 1)));
  float* cv = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(C * d, 1)));
  rope_inv_freq(d, base, inv);
  for (index_t i = 0; i < R; ++i) rope_ones(row_pos(i), d, inv, rv + i * d);
  for (index_t j = 0; j < C; ++j) rope_ones(col_pos(j), d, inv, cv + j * d);
  const float root = static_cast<float>(std::sqrt(static_cast<double>(d)));
  for (index_t i = 0; i < R; ++i) {
    const float* a = rv + i * d;
    float* o = out.row(i);
    for (index_t j = 0; j < C; ++j) {
      const float* b = cv + j * d;
      double s = 0.0;  // an fp32 GEMM's result to within rounding; double keeps it order-independent
      for (index_t t = 0; t < d; ++t) s += static_cast<double>(a[t]) * static_cast<double>(b[t]);
      o[j] = static_cast<float>(s) / root;
    }
  }
  return {};
}
inline void rope_gravity(vector_view<const index_t> row_pos, vector_view<const index_t> col_pos, index_t head_dim,
                         double base, matrix_view<float> out, workspace& ws) {
  raise_if_error(try_rope_gravity(row_pos, col_pos, head_dim, base, out, ws));
}

namespace ref {
/// The closed form (2/√d)·Σ_f cos((p_i − p_j)·θ_f) in double (tests: agrees with the kernel to ~1e-5·d).
inline double rope_gravity(index_t pi, index_t pj, index_t head_dim, double base) {
  double s = 0.0;
  for (index_t f = 0; f < head_dim / 2; ++f) {
    const double theta = std::pow(base, -2.0 * static_cast<double>(f) / static_cast<double>(head_dim));
    s += std::cos(static_cast<double>(pi - pj) * theta);
  }
  return 2.0 * s / std::sqrt(static_cast<double>(head_dim));
}
}  // namespace ref

}  // namespace ops
VTR_NAMESPACE_END
