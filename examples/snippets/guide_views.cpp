// Integration guide (docs/integration.md), "Handing tensors over": views over an engine's own buffers —
// raw pointers, ggml-style tensors (innermost-first extents, byte strides), strided slices of an eager
// attention map, a [CLS] row, half-precision buffers and Eigen. Runs on small random data and checks
// that every view reads the element it should; returns non-zero if something is off.
#include <vtr/core/eigen.hpp>
#include <vtr/core/half.hpp>
#include <vtr/core/tensor_view.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/ops/convert.hpp>
#include <vtr/ops/reduce.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

namespace {

using vtr::index_t;

// [guide:ggml-struct]
// The layout ggml (llama.cpp) uses: ne[0] is the contiguous dimension, nb[i] is the stride of dimension i
// in BYTES. vtr views list dimensions outermost first, with strides in ELEMENTS.
struct ggml_like {
  void* data;
  std::int64_t ne[4];
  std::size_t nb[4];
};

// A ggml tensor of ne = {d, H, T} (rows of one token, e.g. Qcur after RoPE) as a vtr [T][H][d] view.
vtr::tensor_view<const float, 3> as_rows_heads_dim(const ggml_like& t) {
  const auto el = [&](int i) { return static_cast<index_t>(t.nb[i] / sizeof(float)); };
  return {static_cast<const float*>(t.data), {t.ne[2], t.ne[1], t.ne[0]}, {el(2), el(1), 1}};
}
// [/guide:ggml-struct]

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  auto random = [&](index_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = u(rng);
    return v;
  };
  vtr::workspace ws;

  {
    // The engine's sequence of hidden states, [L][D] row-major, and its visual span.
    const index_t P = 5, N = 36, T = 7, L = P + N + T, D = 16;
    std::vector<float> hidden_buf = random(L * D);
    float* hidden_ptr = hidden_buf.data();
    // [guide:views-raw]
    // Pointer + extents (+ strides in elements; the last dimension must be contiguous).
    vtr::matrix_view<const float> hidden(hidden_ptr, {L, D});   // [L][D]
    vtr::matrix_view<const float> visual = hidden.subrows(P, N);  // rows [P, P + N): the image tokens
    // [/guide:views-raw]
    expect(visual(3, 2) == hidden_buf[static_cast<std::size_t>((P + 3) * D + 2)], "subrows");
  }

  {
    // A ggml K cache of one layer: ne = {H_kv·d, capacity}, rows padded to the capacity of the buffer.
    const index_t H_kv = 2, d = 8, capacity = 64, n_cached = 49;
    std::vector<float> kbuf = random(capacity * H_kv * d);
    ggml_like k_layer{kbuf.data(), {H_kv * d, capacity, 1, 1}, {4, 4 * H_kv * d, 4 * H_kv * d * capacity, 4 * H_kv * d * capacity}};
    // A ggml Q of the current ubatch after RoPE: ne = {d, H, T}.
    const index_t H = 4, T_ub = 49;
    std::vector<float> qbuf = random(T_ub * H * d);
    ggml_like q_cur{qbuf.data(), {d, H, T_ub, 1}, {4, 4 * d, 4 * d * H, 4 * d * H * T_ub}};

    // [guide:views-ggml]
    // Keys of one layer's K cache (ne = {H_kv·d, capacity}) as [n_cached][H_kv][d]: the token stride is the
    // cache row, whatever the capacity.
    const auto row = static_cast<index_t>(k_layer.nb[1] / sizeof(float));
    vtr::tensor_view<const float, 3> keys(static_cast<const float*>(k_layer.data), {n_cached, H_kv, d}, {row, d, 1});
    // The query row of the last prompt token, [1][H][d], out of Qcur (ne = {d, H, T}).
    vtr::tensor_view<const float, 3> q_all = as_rows_heads_dim(q_cur);
    vtr::tensor_view<const float, 3> q_last = q_all.subrows(q_all.extent(0) - 1, 1);
    // [/guide:views-ggml]
    expect(keys(10, 1, 3) == kbuf[static_cast<std::size_t>(10 * H_kv * d + 1 * d + 3)], "ggml K view");
    expect(q_last(0, 2, 5) == qbuf[static_cast<std::size_t>((T_ub - 1) * H * d + 2 * d + 5)], "ggml Q view");
  }

  {
    // An eager engine's post-softmax attention of one layer, [H][L][L].
    const index_t H = 4, P = 5, N = 36, T = 7, L = P + N + T;
    std::vector<float> probs_buf = random(H * L * L);
    const float* probs_ptr = probs_buf.data();
    // [guide:views-eager]
    vtr::tensor_view<const float, 3> attn(probs_ptr, {H, L, L});  // [H][L][L]
    // FastV / VScan stage 2: the last prompt token's row over every key, [H][1][L].
    vtr::tensor_view<const float, 3> last_row(probs_ptr + (L - 1) * L, {H, 1, L}, attn.strides());
    // Fit&Prune: rows from P on (visual, then suffix) over the visual columns, [H][N + T][N].
    vtr::tensor_view<const float, 3> block(probs_ptr + P * L + P, {H, N + T, N}, attn.strides());
    // SparseVLM, DToMA D2: the text rows over the visual columns, [H][T][N].
    vtr::tensor_view<const float, 3> text_to_visual(probs_ptr + (P + N) * L + P, {H, T, N}, attn.strides());
    // [/guide:views-eager]
    expect(last_row(2, 0, 9) == attn(2, L - 1, 9), "last row");
    expect(block(1, N + 2, 4) == attn(1, P + N + 2, P + 4), "fitprune block");
    expect(text_to_visual(3, 1, 7) == attn(3, P + N + 1, P + 7), "text to visual");
  }

  {
    // The vision tower's [CLS] attention row of one layer: [H][1 + N] (column 0 is CLS itself).
    const index_t H = 16, N = 576;
    std::vector<float> cls_buf = random(H * (1 + N));
    const float* cls_row = cls_buf.data();
    // [guide:views-cls]
    // VScan stage 1 wants [H][N] without the CLS column (and without renormalising): offset by one column.
    vtr::matrix_view<const float> cls_to_patches(cls_row + 1, {H, N}, {1 + N, 1});
    // [/guide:views-cls]
    expect(cls_to_patches(3, 0) == cls_buf[static_cast<std::size_t>(3 * (1 + N) + 1)], "cls view");
  }

  {
    // A bf16 engine: probabilities [H][rows][L] kept as raw 16-bit words.
    const index_t H = 4, rows = 3, L = 40;
    const std::vector<float> ref = random(H * rows * L);
    std::vector<std::uint16_t> words(ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) words[i] = vtr::bfloat16(ref[i]).bits;
    const std::uint16_t* bf16_ptr = words.data();
    // [guide:views-half]
    // bf16 (or vtr::float16) buffers are viewed as they are; the reductions widen on load, results are fp32.
    const auto* p16 = reinterpret_cast<const vtr::bfloat16*>(bf16_ptr);
    vtr::tensor_view<const vtr::bfloat16, 3> probs16(p16, {H, rows, L});
    std::vector<float> column_score(static_cast<std::size_t>(L));
    vtr::ops::reduce_attention(probs16, vtr::ops::head_reduce::mean, vtr::ops::row_reduce::mean, vtr::view_of(column_score), ws);
    // The methods' plan() entry points take fp32: convert the rows a step reads (exactly) into scratch.
    std::vector<float> probs32(static_cast<std::size_t>(H * rows * L));
    vtr::convert_rows(vtr::matrix_view<const vtr::bfloat16>(p16, {H * rows, L}),
                      vtr::matrix_view<float>(probs32.data(), {H * rows, L}));
    vtr::tensor_view<const float, 3> probs(probs32.data(), {H, rows, L});
    // [/guide:views-half]
    double s = 0;
    for (index_t h = 0; h < H; ++h)
      for (index_t r = 0; r < rows; ++r) s += double(probs(h, r, 11));
    expect(std::abs(s / double(H * rows) - double(column_score[11])) < 1e-6, "bf16 reduction = fp32 reduction of the converted rows");
  }

  {
    // [guide:views-eigen]
    // Row-major Eigen matrices (and Maps, blocks with an outer stride) convert both ways.
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> feats(576, 64);
    feats.setRandom();
    vtr::matrix_view<const float> fv = vtr::as_matrix_view(std::as_const(feats));  // [576][64]
    auto back = vtr::as_eigen(fv.subrows(0, 96));  // an Eigen::Map of the first 96 rows
    // [/guide:views-eigen]
    expect(back(95, 63) == feats(95, 63) && fv.extent(0) == 576, "eigen");
  }

  std::printf("guide_views: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
