// Integration guide (docs/integration.md), "The KV cache": compacting an engine's caches in place with a
// selection plan — one contiguous cache in either layout, per-layer fp16 caches, quantized (byte) rows,
// a transposed V cache, and plans over a sub-span lifted to the whole cache axis. Every case is checked
// against a plain gather; returns non-zero if something is off.
#include <vtr/core/half.hpp>
#include <vtr/core/kv.hpp>
#include <vtr/core/plan.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

using vtr::index_t;

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

// Cache element (l, t, c) of a token-major cache, as a distinct float: compaction must move it intact.
float value(index_t l, index_t t, index_t c) { return static_cast<float>(l * 1000000 + t * 1000 + c); }

}  // namespace

int main() {
  // A prefill of L = 5 + 36 + 7 tokens; a FastV-like selection at K = 2 keeps 18 of the 36 image tokens.
  const index_t n_layers = 4, H_kv = 2, d = 8, capacity = 64, P = 5, N = 36, T = 7, L = P + N + T, K = 2;
  std::vector<index_t> kept_rel;
  for (index_t j = 0; j < N; j += 2) kept_rel.push_back(j);
  vtr::plan plan;
  vtr::select_in_sequence(P, N, T, kept_rel.data(), static_cast<index_t>(kept_rel.size()), plan);

  {
    // One contiguous allocation per cache, token-major: [layers][capacity][H_kv·d].
    std::vector<float> k_buf(static_cast<std::size_t>(n_layers * capacity * H_kv * d)), v_buf(k_buf.size());
    for (index_t l = 0; l < n_layers; ++l)
      for (index_t t = 0; t < L; ++t)
        for (index_t c = 0; c < H_kv * d; ++c) {
          k_buf[static_cast<std::size_t>((l * capacity + t) * H_kv * d + c)] = value(l, t, c);
          v_buf[static_cast<std::size_t>((l * capacity + t) * H_kv * d + c)] = -value(l, t, c);
        }
    index_t cache_len = L;
    // [guide:kv-token-major]
    // [layers][tokens][H_kv·d]: the token axis holds the current length; its stride is the capacity.
    const index_t w = H_kv * d;
    vtr::tensor_view<float, 3> k(k_buf.data(), {n_layers, cache_len, w}, {capacity * w, w, 1});
    vtr::tensor_view<float, 3> v(v_buf.data(), {n_layers, cache_len, w}, {capacity * w, w, 1});
    vtr::kv::compact(plan, vtr::kv::layers_from(K), k, v);  // K and V checked before either moves
    // Layers < K keep all L rows; layers ≥ K hold plan.size() rows. Track the length per layer.
    std::vector<index_t> layer_len(static_cast<std::size_t>(n_layers), cache_len);
    for (index_t l = K; l < n_layers; ++l) layer_len[static_cast<std::size_t>(l)] = plan.size();
    // [/guide:kv-token-major]
    bool ok = true;
    for (index_t l = 0; l < n_layers; ++l)
      for (index_t r = 0; r < layer_len[static_cast<std::size_t>(l)]; ++r) {
        const index_t src = l < K ? r : plan.origin[static_cast<std::size_t>(r)];
        ok = ok && k(l, r, 3) == value(l, src, 3) && v(l, r, 5) == -value(l, src, 5);
      }
    expect(ok, "token-major compaction");
  }

  {
    // Heads-major: [layers][H_kv][capacity][d] (HF / PyTorch style).
    std::vector<float> k_buf(static_cast<std::size_t>(n_layers * H_kv * capacity * d));
    for (index_t l = 0; l < n_layers; ++l)
      for (index_t h = 0; h < H_kv; ++h)
        for (index_t t = 0; t < L; ++t)
          for (index_t c = 0; c < d; ++c) k_buf[static_cast<std::size_t>(((l * H_kv + h) * capacity + t) * d + c)] = value(l, t, h * d + c);
    const index_t cache_len = L;
    // [guide:kv-heads-major]
    // [layers][H_kv][tokens][d]: strides of the allocated capacity, extent of the current length.
    vtr::tensor_view<float, 4> k(k_buf.data(), {n_layers, H_kv, cache_len, d},
                                 {H_kv * capacity * d, capacity * d, d, 1});
    vtr::kv::compact(plan, vtr::kv::layers_from(K), k);
    // [/guide:kv-heads-major]
    bool ok = true;
    for (index_t r = 0; r < plan.size(); ++r) ok = ok && k(3, 1, r, 2) == value(3, plan.origin[static_cast<std::size_t>(r)], d + 2);
    ok = ok && k(1, 1, P + 1, 2) == value(1, P + 1, d + 2);  // a layer below K is untouched
    expect(ok, "heads-major compaction");
  }

  {
    // llama.cpp-style: one fp16 tensor per layer (separate allocations), ne = {H_kv·d, capacity}.
    const index_t w = H_kv * d;
    std::vector<std::vector<std::uint16_t>> k_layers(static_cast<std::size_t>(n_layers),
                                                     std::vector<std::uint16_t>(static_cast<std::size_t>(capacity * w)));
    for (index_t l = 0; l < n_layers; ++l)
      for (index_t t = 0; t < L; ++t)
        for (index_t c = 0; c < w; ++c)
          k_layers[static_cast<std::size_t>(l)][static_cast<std::size_t>(t * w + c)] = static_cast<std::uint16_t>(t * 100 + c);
    const index_t cache_len = L;
    // [guide:kv-per-layer]
    // Separate per-layer buffers: compact each layer the plan covers through a one-layer view. The element
    // type only has to have the right size — fp16/bf16 rows move as they are.
    for (index_t l = K; l < n_layers; ++l) {
      auto* base = reinterpret_cast<vtr::float16*>(k_layers[static_cast<std::size_t>(l)].data());
      vtr::tensor_view<vtr::float16, 3> k_l(base, {1, cache_len, w}, {capacity * w, w, 1});
      vtr::kv::compact(plan, vtr::kv::all_layers(), k_l);
    }
    // [/guide:kv-per-layer]
    bool ok = true;
    for (index_t r = 0; r < plan.size(); ++r)
      ok = ok && k_layers[3][static_cast<std::size_t>(r * w + 4)] == static_cast<std::uint16_t>(plan.origin[static_cast<std::size_t>(r)] * 100 + 4);
    expect(ok, "per-layer fp16 compaction");
  }

  {
    // A quantized cache (e.g. 8-bit blocks): each token row is row_bytes bytes of blocks + scales.
    const std::size_t row_bytes = 34 * 2;  // two 32-element blocks with an fp16 scale each
    std::vector<std::uint8_t> q_buf(static_cast<std::size_t>(capacity) * row_bytes);
    for (index_t t = 0; t < L; ++t)
      for (std::size_t b = 0; b < row_bytes; ++b) q_buf[static_cast<std::size_t>(t) * row_bytes + b] = static_cast<std::uint8_t>(t + b);
    const index_t cache_len = L;
    // [guide:kv-quantized]
    // Quantized rows are compacted as bytes: a token row is an opaque run of row_bytes bytes.
    const auto rb = static_cast<index_t>(row_bytes);
    vtr::tensor_view<std::uint8_t, 3> k_q(q_buf.data(), {1, cache_len, rb}, {capacity * rb, rb, 1});
    vtr::kv::compact(plan, vtr::kv::all_layers(), k_q);
    // [/guide:kv-quantized]
    bool ok = true;
    for (index_t r = 0; r < plan.size(); ++r)
      ok = ok && q_buf[static_cast<std::size_t>(r) * row_bytes + 7] == static_cast<std::uint8_t>(plan.origin[static_cast<std::size_t>(r)] + 7);
    expect(ok, "quantized compaction");
  }

  {
    // A transposed V cache (llama.cpp without flash attention): ne = {capacity, H_kv·d}, i.e. one row per
    // channel with the TOKEN axis contiguous.
    const index_t w = H_kv * d;
    std::vector<float> vt(static_cast<std::size_t>(w * capacity));
    for (index_t c = 0; c < w; ++c)
      for (index_t t = 0; t < L; ++t) vt[static_cast<std::size_t>(c * capacity + t)] = value(0, t, c);
    float* v_t = vt.data();
    // [guide:kv-transposed]
    // Token axis innermost: [layers][channels][tokens], each channel row gathered along its tokens.
    vtr::tensor_view<float, 3> v_cache(v_t, {1, w, L}, {w * capacity, capacity, 1});
    vtr::kv::compact_token_minor(plan, vtr::kv::all_layers(), v_cache);
    // [/guide:kv-transposed]
    bool ok = true;
    for (index_t r = 0; r < plan.size(); ++r) ok = ok && vt[static_cast<std::size_t>(9 * capacity + r)] == value(0, plan.origin[static_cast<std::size_t>(r)], 9);
    expect(ok, "transposed V compaction");
  }

  {
    // DToMA D2 / keep-ratio plans cover the visual span only: input_rows = N.
    vtr::plan span = vtr::plan::select(N, kept_rel);
    const index_t w = H_kv * d, cache_len = L;
    std::vector<float> k_buf(static_cast<std::size_t>(capacity * w));
    for (index_t t = 0; t < L; ++t)
      for (index_t c = 0; c < w; ++c) k_buf[static_cast<std::size_t>(t * w + c)] = value(0, t, c);
    vtr::tensor_view<float, 3> k(k_buf.data(), {1, cache_len, w}, {capacity * w, w, 1});
    // [guide:kv-lift]
    // A plan over the visual span [P, P + N) lifted to the cache's whole token axis (prefix and suffix kept).
    const vtr::plan whole = vtr::kv::lift(span, /*offset=*/P, /*length=*/cache_len);
    vtr::kv::compact(whole, vtr::kv::all_layers(), k);
    // [/guide:kv-lift]
    expect(whole.size() == plan.size() && whole.origin == plan.origin, "lift = the sequence plan");
    expect(k(0, P + 1, 0) == value(0, P + 2, 0), "lifted compaction");
  }

  {
    // Errors are reported before anything moves: a plan made for another length.
    std::vector<float> k_buf(static_cast<std::size_t>(capacity * 4), 1.0f);
    vtr::tensor_view<float, 3> k(k_buf.data(), {1, L - 1, 4}, {capacity * 4, 4, 1});
    const vtr::status s = vtr::kv::try_compact(plan, vtr::kv::all_layers(), k);
    expect(!s.ok(), "length mismatch is an error");
  }

  std::printf("guide_kv: %td -> %td rows: %s\n", L, plan.size(), failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
