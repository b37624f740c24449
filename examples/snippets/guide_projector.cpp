// Integration guide (docs/integration.md), "Before the LLM": the encoder/projector-side hooks. VScan
// stage 1 (with the [CLS] rows a FlashAttention vision tower does not materialise), placeholder sizing,
// writing the reduced image straight into the LLM's input embeddings, and the video steps (frame dedup,
// PruneVid stage 1, DToMA D1). Runs on small random data; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/ops/attention.hpp>
#include <vtr/policies/frame_dedup.hpp>

#include <algorithm>
#include <cstdio>
#include <random>
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

}  // namespace

int main() {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  auto random = [&](index_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = g(rng);
    return v;
  };
  vtr::workspace ws;

  // ---------------- one image, LLaVA-1.5 layout: [P prompt | 576 image | T question] ----------------
  const index_t P = 35, N = 576, T = 40, D = 64;
  const index_t enc_heads = 4, enc_d = 16;
  // The vision tower's layer-5 and layer-22 query/key rows ([1 + N][H][d], CLS first) and the projector
  // output [N][D] — random stand-ins here.
  const std::vector<float> q5 = random((1 + N) * enc_heads * enc_d), k5 = random((1 + N) * enc_heads * enc_d);
  const std::vector<float> q22 = random((1 + N) * enc_heads * enc_d), k22 = random((1 + N) * enc_heads * enc_d);
  const std::vector<float> projected = random(N * D);
  std::vector<float> cls5(static_cast<std::size_t>(enc_heads * (1 + N))), cls22(cls5.size());
  auto cls_rows = [&](const std::vector<float>& q_layer, const std::vector<float>& k_layer, std::vector<float>& out) {
    // [guide:encoder-cls]
    // A FlashAttention vision tower never forms the [CLS] row: recompute it from the layer's q of the CLS
    // token, [1][H][d], and all keys, [1 + N][H][d] — no causal mask in a ViT, so no row positions.
    vtr::tensor_view<const float, 3> q_cls(q_layer.data(), {1, enc_heads, enc_d});
    vtr::tensor_view<const float, 3> keys(k_layer.data(), {1 + N, enc_heads, enc_d});
    vtr::tensor_view<float, 3> cls_row(out.data(), {enc_heads, 1, 1 + N});
    vtr::ops::attention_rows(q_cls, keys, {}, vtr::ops::attention_mode{/*causal=*/false}, cls_row, ws);
    // [/guide:encoder-cls]
  };
  cls_rows(q5, k5, cls5);
  cls_rows(q22, k22, cls22);

  // [guide:projector-count]
  // Before anything runs: the number of image placeholders the prompt needs (shapes only, ALGORITHMS §1.5).
  vtr::vscan::stage1 scan{{/*budget=*/144}};
  const index_t n_image = scan.kept_count(N).value();  // 136 for T = 144 on a 24×24 grid
  std::vector<float> embd(static_cast<std::size_t>((P + n_image + T) * D));  // the LLM's input embeddings
  // [/guide:projector-count]

  // [guide:projector-vscan]
  // After the projector: features [N][D] in LLM space, and the CLS→patch rows without the CLS column.
  vtr::vscan::stage1::inputs in;
  in.features = vtr::matrix_view<const float>(projected.data(), {N, D});
  in.attn_shallow = vtr::matrix_view<const float>(cls5.data() + 1, {enc_heads, N}, {1 + N, 1});
  in.attn_deep = vtr::matrix_view<const float>(cls22.data() + 1, {enc_heads, N}, {1 + N, 1});
  const vtr::plan image = scan.plan(in, ws);  // one merged row per kept token, ascending
  // Write the reduced image where its placeholders are; positions stay 0…L'−1 (the image is consecutive).
  vtr::matrix_view<float> sequence(embd.data(), {P + n_image + T, D});
  vtr::apply(image, in.features, sequence.subrows(P, image.size()));
  // [/guide:projector-vscan]
  expect(image.size() == n_image, "vscan stage 1 count");
  expect(!image.is_selection(), "vscan stage 1 merges");

  // ---------------- a video: F frames of 12×12 tokens after the projector and pooling ----------------
  const index_t F = 8, side = 12, n_f = side * side, C = 32;
  std::vector<float> video = random(F * n_f * C);
  // Frames 3 and 6 repeat the frame before them (a static shot).
  for (index_t f : {3, 6})
    std::copy(video.begin() + (f - 1) * n_f * C, video.begin() + f * n_f * C, video.begin() + f * n_f * C);
  const float* frames_ptr = video.data();

  // [guide:projector-video]
  // Frame policy first: drop a frame that repeats the one before it ([F·n_f][C] in, a selection out).
  vtr::policies::consecutive_frame_dedup dedup;
  vtr::matrix_view<const float> tokens(frames_ptr, {F * n_f, C});
  const vtr::plan kept_frames = dedup.plan({tokens, F}, ws);
  const index_t F2 = kept_frames.size() / n_f;
  std::vector<float> deduped(static_cast<std::size_t>(kept_frames.size() * C));
  vtr::apply(kept_frames, tokens, vtr::matrix_view<float>(deduped.data(), {kept_frames.size(), C}));

  // PruneVid stage 1 on [F2][n_f][C]. Its count depends on the data: size buffers with the bound, and keep
  // the segment metadata — PruneVid stage 2 needs it inside the LLM.
  vtr::prunevid::stage1 s1;
  const index_t bound = s1.kept_count_bound(F2, n_f).value();
  vtr::prunevid::stage1::details segments;
  const vtr::plan merged = s1.plan({vtr::tensor_view<const float, 3>(deduped.data(), {F2, n_f, C})}, ws, &segments);
  std::vector<float> video_tokens(static_cast<std::size_t>(bound * C));
  vtr::apply(merged, vtr::matrix_view<const float>(deduped.data(), {F2 * n_f, C}),
             vtr::matrix_view<float>(video_tokens.data(), {merged.size(), C}));
  // [/guide:projector-video]
  expect(F2 == F - 2, "dedup drops the two repeated frames");
  expect(merged.size() <= bound && merged.input_rows == F2 * n_f, "prunevid stage 1 within its bound");
  expect(segments.sizes().segments() >= 1, "prunevid stage 1 segments");

  // [guide:projector-dtoma]
  // DToMA D1 instead: a per-frame quadtree merge; max_kept_count is the buffer bound.
  vtr::dtoma::quadtree d1;
  const index_t d1_bound = d1.max_kept_count(F, side, side).value();
  ws.reserve(d1.workspace_bytes(F, side, side, C));  // optional: later calls allocate nothing
  const vtr::plan cells = d1.plan({tokens, F, side, side}, ws);
  // [/guide:projector-dtoma]
  expect(cells.size() <= d1_bound && cells.size() >= F, "dtoma D1 within its bounds");

  std::printf("guide_projector: image 576 -> %td, video %td frames -> %td (dedup) -> %td tokens (PruneVid 1), "
              "D1 %td tokens: %s\n",
              image.size(), F, F2, merged.size(), cells.size(), failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
