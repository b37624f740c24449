// A small but real LLaMA-style decoder layer in Eigen (RMSNorm, RoPE, causal multi-head attention with
// grouped KV heads, SwiGLU MLP), fp32, random weights. It is the "one decoder layer" reference the
// benchmarks compare each method against, and the engine the examples prune inside.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace mini_llm {

using index = Eigen::Index;
using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct config {
  index dim = 4096;       // model width D
  index heads = 32;       // query heads H
  index kv_heads = 32;    // key/value heads (H must be a multiple)
  index ffn = 11008;      // MLP hidden width
  float rope_base = 10000.0f;
  float norm_eps = 1e-6f;
  index head_dim() const { return dim / heads; }
};

/// One layer's weights, stored [out][in] (row-major) as engines keep them; x·Wᵀ applies them.
struct layer_weights {
  matrix wq, wk, wv, wo, w_gate, w_up, w_down;
  Eigen::RowVectorXf norm_attn, norm_mlp;

  static layer_weights random(const config& c, unsigned seed) {
    std::mt19937 rng(seed);
    auto init = [&](index rows, index cols) {
      // Uniform with variance 1/cols keeps activations O(1) through the layer.
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      const float scale = std::sqrt(3.0f / static_cast<float>(cols));
      matrix m(rows, cols);
      for (index i = 0; i < m.size(); ++i) m.data()[i] = u(rng) * scale;
      return m;
    };
    const index kv = c.kv_heads * c.head_dim();
    layer_weights w;
    w.wq = init(c.dim, c.dim);
    w.wk = init(kv, c.dim);
    w.wv = init(kv, c.dim);
    w.wo = init(c.dim, c.dim);
    w.w_gate = init(c.ffn, c.dim);
    w.w_up = init(c.ffn, c.dim);
    w.w_down = init(c.dim, c.ffn);
    w.norm_attn = Eigen::RowVectorXf::Ones(c.dim);
    w.norm_mlp = Eigen::RowVectorXf::Ones(c.dim);
    return w;
  }
};

inline matrix rms_norm(const matrix& x, const Eigen::RowVectorXf& g, float eps) {
  matrix y(x.rows(), x.cols());
  for (index i = 0; i < x.rows(); ++i) {
    const float inv = 1.0f / std::sqrt(x.row(i).squaredNorm() / static_cast<float>(x.cols()) + eps);
    y.row(i) = x.row(i).cwiseProduct(g) * inv;
  }
  return y;
}

/// Rotary embedding in the rotate-half convention, in place on [L][heads·hd].
inline void apply_rope(matrix& x, index heads, index hd, const std::vector<std::int64_t>& pos, float base) {
  const index half = hd / 2;
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  for (index i = 0; i < half; ++i)
    inv_freq[static_cast<std::size_t>(i)] = std::pow(base, -2.0f * static_cast<float>(i) / static_cast<float>(hd));
  for (index t = 0; t < x.rows(); ++t) {
    for (index i = 0; i < half; ++i) {
      const float a = static_cast<float>(pos[static_cast<std::size_t>(t)]) * inv_freq[static_cast<std::size_t>(i)];
      const float c = std::cos(a), s = std::sin(a);
      for (index h = 0; h < heads; ++h) {
        float* v = x.row(t).data() + h * hd;
        const float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * c - x2 * s;
        v[i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/// What a method may ask the layer for: the post-RoPE Q of some rows and K of all rows, or the
/// probabilities of some query rows (all heads, all keys).
struct attention_capture {
  std::vector<index> rows;  // query rows to capture (absolute), e.g. {L − 1}
  matrix q_rows;            // [rows][H·hd] after RoPE
  matrix k;                 // [L][H_kv·hd] after RoPE (what the layer's KV cache holds)
  matrix v;                 // [L][H_kv·hd]
  std::vector<float> probs; // [H][rows][L]
};

/// A deletion inside the layer (Fit&Prune, ALGORITHMS §1.2): after attention, `decide` sees the
/// probabilities of rows ≥ prefix over the visual columns, [H][L − prefix][visual], and returns the rows
/// kept (ascending, absolute). The attention output and the residual keep only those rows; o-proj and the
/// MLP run on the survivors, so `out` has keep.size() rows.
struct inside_prune {
  index prefix = 0;
  index visual = 0;
  std::function<void(const std::vector<float>& probs, std::vector<index>& keep)> decide;
};

/// out = layer(x) for a prefill of x [L][D] at the given positions (causal).
inline void forward(const config& c, const layer_weights& w, const matrix& x, const std::vector<std::int64_t>& pos,
                    matrix& out, attention_capture* cap = nullptr, inside_prune* inside = nullptr) {
  const index L = x.rows(), hd = c.head_dim(), group = c.heads / c.kv_heads;
  const matrix h = rms_norm(x, w.norm_attn, c.norm_eps);
  matrix q = h * w.wq.transpose(), k = h * w.wk.transpose(), v = h * w.wv.transpose();
  apply_rope(q, c.heads, hd, pos, c.rope_base);
  apply_rope(k, c.kv_heads, hd, pos, c.rope_base);
  if (cap) {
    cap->q_rows.resize(static_cast<index>(cap->rows.size()), c.dim);
    for (std::size_t r = 0; r < cap->rows.size(); ++r) cap->q_rows.row(static_cast<index>(r)) = q.row(cap->rows[r]);
    cap->k = k;
    cap->v = v;
    cap->probs.assign(static_cast<std::size_t>(c.heads) * cap->rows.size() * static_cast<std::size_t>(L), 0.0f);
  }
  matrix attn_out(L, c.dim);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  matrix s(L, L);
  const index in_rows = inside ? L - inside->prefix : 0;
  std::vector<float> block;
  if (inside) block.assign(static_cast<std::size_t>(c.heads * in_rows * inside->visual), 0.0f);
  for (index head = 0; head < c.heads; ++head) {
    const index g = head / group;
    s.noalias() = (q.middleCols(head * hd, hd) * k.middleCols(g * hd, hd).transpose()) * scale;
    for (index i = 0; i < L; ++i) {
      auto row = s.row(i);
      const float m = row.head(i + 1).maxCoeff();
      row.head(i + 1) = (row.head(i + 1).array() - m).exp().matrix();
      row.head(i + 1) /= row.head(i + 1).sum();
      row.tail(L - i - 1).setZero();
    }
    if (cap)
      for (std::size_t r = 0; r < cap->rows.size(); ++r)
        Eigen::Map<Eigen::RowVectorXf>(cap->probs.data() + (static_cast<std::size_t>(head) * cap->rows.size() + r) * static_cast<std::size_t>(L), L) =
            s.row(cap->rows[r]);
    if (inside)
      for (index r = 0; r < in_rows; ++r)
        Eigen::Map<Eigen::RowVectorXf>(block.data() + (head * in_rows + r) * inside->visual, inside->visual) =
            s.row(inside->prefix + r).segment(inside->prefix, inside->visual);
    attn_out.middleCols(head * hd, hd).noalias() = s * v.middleCols(g * hd, hd);
  }
  matrix x1;
  if (inside) {
    std::vector<index> keep;
    inside->decide(block, keep);
    matrix xr(static_cast<index>(keep.size()), c.dim), ar(static_cast<index>(keep.size()), c.dim);
    for (std::size_t r = 0; r < keep.size(); ++r) {
      xr.row(static_cast<index>(r)) = x.row(keep[r]);
      ar.row(static_cast<index>(r)) = attn_out.row(keep[r]);
    }
    x1 = xr + ar * w.wo.transpose();
  } else {
    x1 = x + attn_out * w.wo.transpose();
  }
  const matrix h2 = rms_norm(x1, w.norm_mlp, c.norm_eps);
  matrix gate = h2 * w.w_gate.transpose();
  const matrix up = h2 * w.w_up.transpose();
  gate = (gate.array() / (1.0f + (-gate.array()).exp()) * up.array()).matrix();  // SiLU(gate) · up
  out = x1 + gate * w.w_down.transpose();
}

/// Layer `w`'s q rows (the given absolute rows) and all keys for input x [L][D] at positions `pos`, through
/// its input RMSNorm and Wq / Wk, rotated or not: what VScan stage 2 recomputes at layer K from layer K−1's
/// output (ALGORITHMS §1.2, with RoPE) and PruneVid stage 2 reads (without).
inline void project_qk(const config& c, const layer_weights& w, const matrix& x, const std::vector<std::int64_t>& pos,
                       const std::vector<index>& rows, bool rope, matrix& q_rows, matrix& k) {
  const matrix h = rms_norm(x, w.norm_attn, c.norm_eps);
  matrix hr(static_cast<index>(rows.size()), c.dim);
  std::vector<std::int64_t> pr(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    hr.row(static_cast<index>(r)) = h.row(rows[r]);
    pr[r] = pos[static_cast<std::size_t>(rows[r])];
  }
  q_rows = hr * w.wq.transpose();
  k = h * w.wk.transpose();
  if (rope) {
    apply_rope(q_rows, c.heads, c.head_dim(), pr, c.rope_base);
    apply_rope(k, c.kv_heads, c.head_dim(), pos, c.rope_base);
  }
}

/// A stack of layers (random weights, one seed per layer).
struct model {
  config cfg;
  std::vector<layer_weights> layers;
  static model random(const config& c, index n_layers, unsigned seed) {
    model m;
    m.cfg = c;
    for (index l = 0; l < n_layers; ++l) m.layers.push_back(layer_weights::random(c, seed + static_cast<unsigned>(l)));
    return m;
  }
};

}  // namespace mini_llm
