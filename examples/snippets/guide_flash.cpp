// Integration guide (docs/integration.md), "FlashAttention engines": methods fed with Q rows and K instead
// of attention probabilities — FastV from the last prompt token's q and the layer's KV cache (fp32 and
// fp16), the log-sum-exp shortcut that computes only the visual columns, and Fit&Prune's rows ≥ P. Each
// result is checked against the same method fed with the eager engine's probabilities (same plan).
// The decoder is examples/engine/mini_llm.hpp; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/core/half.hpp>
#include <vtr/core/plan.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/fitprune.hpp>
#include <vtr/ops/attention.hpp>
#include <vtr/ops/attention_input.hpp>
#include <vtr/ops/convert.hpp>

#include "../engine/mini_llm.hpp"

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using vtr::index_t;
using mini_llm::matrix;

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  mini_llm::config cfg;
  cfg.dim = 64;
  cfg.heads = 4;
  cfg.kv_heads = 2;
  cfg.ffn = 128;
  const index_t P = 5, N = 36, T = 8, L = P + N + T, H = cfg.heads, H_kv = cfg.kv_heads, d = cfg.head_dim();
  const auto layer = mini_llm::layer_weights::random(cfg, 21);
  std::mt19937 rng(4);
  std::normal_distribution<float> g(0.0f, 1.0f);
  matrix x(L, cfg.dim);
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = g(rng);
  std::vector<std::int64_t> pos(static_cast<std::size_t>(L));
  for (index_t i = 0; i < L; ++i) pos[static_cast<std::size_t>(i)] = i;

  // Run the layer (layer K−1 for FastV) capturing what both kinds of engine have: an eager engine's
  // probabilities of the rows ≥ P, and a FlashAttention engine's q rows and K cache (after RoPE).
  mini_llm::attention_capture cap;
  for (index_t r = P; r < L; ++r) cap.rows.push_back(r);
  matrix out;
  mini_llm::forward(cfg, layer, x, pos, out, &cap);
  const index_t rows = L - P;  // visual rows, then suffix rows
  const float* q_ptr = cap.q_rows.data();       // [rows][H·d]
  const float* k_cache_ptr = cap.k.data();      // [L][H_kv·d]: the layer's K cache, token-major
  vtr::workspace ws;
  vtr::fastv::select fastv{{/*layer=*/2, vtr::fastv::count_rule::ratio, /*ratio=*/0.5}};

  // The eager engine's FastV: the last row's probabilities.
  vtr::fastv::select::inputs eager;
  eager.attention = vtr::ops::attention_input::from_probs(
      vtr::tensor_view<const float, 3>(cap.probs.data() + (rows - 1) * L, {H, 1, L}, {rows * L, L, 1}));
  eager.image_start = P;
  eager.image_count = N;
  const vtr::plan want = fastv.plan(eager, ws);

  {
    // [guide:flash-fastv]
    // The last prompt token's q (after RoPE, all H heads) and the layer's cached keys (after RoPE, H_kv
    // heads: GQA is mapped inside, never repeat K). q_row = the row's index in the key sequence.
    vtr::tensor_view<const float, 3> q_last(q_ptr + (rows - 1) * H * d, {1, H, d});
    vtr::tensor_view<const float, 3> keys(k_cache_ptr, {L, H_kv, d});
    const std::vector<index_t> q_row{L - 1};
    vtr::fastv::select::inputs in;
    in.attention = vtr::ops::attention_input::from_qk(q_last, keys, vtr::view_of(q_row));
    in.image_start = P;
    in.image_count = N;
    const vtr::plan plan = fastv.plan(in, ws);  // softmax(q·Kᵀ/√d) of this one row, recomputed in fp32
    // [/guide:flash-fastv]
    expect(plan.origin == want.origin, "fastv from q/k = fastv from probabilities");
  }

  {
    // An fp16 K cache (the usual llama.cpp setting).
    std::vector<vtr::float16> k16(static_cast<std::size_t>(L * H_kv * d));
    for (std::size_t i = 0; i < k16.size(); ++i) k16[i] = vtr::float16(k_cache_ptr[i]);
    const vtr::float16* k_cache_f16 = k16.data();
    // [guide:flash-half]
    // Q/K forms take fp32: widen the cached keys the step reads (all L of this layer) into scratch, exactly.
    std::vector<float> k32(static_cast<std::size_t>(L * H_kv * d));
    vtr::convert_rows(vtr::matrix_view<const vtr::float16>(k_cache_f16, {L, H_kv * d}),
                      vtr::matrix_view<float>(k32.data(), {L, H_kv * d}));
    vtr::tensor_view<const float, 3> keys(k32.data(), {L, H_kv, d});
    // [/guide:flash-half]
    const std::vector<index_t> q_row{L - 1};
    vtr::fastv::select::inputs in;
    in.attention = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q_ptr + (rows - 1) * H * d, {1, H, d}),
                                                      keys, vtr::view_of(q_row));
    in.image_start = P;
    in.image_count = N;
    expect(fastv.plan(in, ws).size() == want.size(), "fastv from fp16 keys");
  }

  {
    // The log-sum-exp of the last row per head, natural log, of the scaled logits over its whole causal
    // row — what a FlashAttention kernel returns as softmax_lse. Computed here as a stand-in.
    const vtr::tensor_view<const float, 3> q_last(q_ptr + (rows - 1) * H * d, {1, H, d});
    const vtr::tensor_view<const float, 3> keys(k_cache_ptr, {L, H_kv, d});
    const std::vector<float> lse_buf = vtr::ops::ref::attention_lse(q_last, keys, {L - 1}, vtr::ops::attention_mode{});
    const float* softmax_lse = lse_buf.data();
    // [guide:flash-lse]
    // With the kernel's LSE ([H][rows]) only the image columns are computed: p = exp(q·k/√d − lse).
    const std::vector<index_t> q_row{L - 1};
    std::vector<float> img_probs(static_cast<std::size_t>(H * N));
    vtr::ops::attention_rows(q_last, keys, vtr::view_of(q_row), vtr::ops::attention_mode{},
                             vtr::tensor_view<const float, 2>(softmax_lse, {H, 1}), /*col_begin=*/P, /*col_end=*/P + N,
                             vtr::tensor_view<float, 3>(img_probs.data(), {H, 1, N}), ws);
    // These ARE the image columns of the probabilities: a span [0, N) here, lifted back to the sequence.
    vtr::fastv::select::inputs in;
    in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(img_probs.data(), {H, 1, N}));
    in.image_start = 0;
    in.image_count = N;
    const vtr::plan plan = vtr::embed_in_sequence(fastv.plan(in, ws), P, T);
    // [/guide:flash-lse]
    expect(plan.origin == want.origin, "fastv through the LSE shortcut = fastv from probabilities");
  }

  {
    vtr::fitprune::layer_params fp;
    fp.recipe = {0, 0, 12};
    vtr::fitprune::layer fit(fp);
    vtr::fitprune::layer::inputs eager_fit;
    eager_fit.attn = vtr::ops::attention_input::from_probs(
        vtr::tensor_view<const float, 3>(cap.probs.data() + P, {H, rows, N}, {rows * L, L, 1}));
    eager_fit.n_visual = N;
    eager_fit.n_suffix = T;
    eager_fit.prefix = P;
    eager_fit.layer_index = 2;
    const vtr::plan want_fit = fit.plan(eager_fit, ws);
    // [guide:flash-fitprune]
    // Fit&Prune reads every row from P on (visual, then suffix): q [n + T][H][d] and all keys. With
    // q_positions left empty the rows sit at P, P + 1, … (the prefill layout) for the causal mask.
    vtr::fitprune::layer::inputs in;
    in.attn = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q_ptr, {N + T, H, d}),
                                                 vtr::tensor_view<const float, 3>(k_cache_ptr, {L, H_kv, d}), {});
    in.n_visual = N;
    in.n_suffix = T;
    in.prefix = P;
    in.layer_index = 2;
    const vtr::plan plan = fit.plan(in, ws);
    // [/guide:flash-fitprune]
    expect(plan.origin == want_fit.origin, "fit&prune from q/k = from probabilities");
  }

  std::printf("guide_flash: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
