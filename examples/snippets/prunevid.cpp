// PruneVid (ALGORITHMS §3.5) end to end on a small random video: stage 1 before the LLM, stage 2 at layer K
// from Q/K (no RoPE, no mask, as the reference computes its map). Returns non-zero if anything is off.
#include <vtr/core/apply.hpp>
#include <vtr/methods/prunevid.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  using vtr::index_t;
  const index_t F = 8, nf = 36, C = 64;  // 8 frames of 6×6 tokens
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // Two scenes; a third of the positions barely move inside a scene (static), the rest change every frame.
  std::vector<float> scene(2 * nf * C), video(F * nf * C);
  for (auto& v : scene) v = nd(rng);
  for (index_t f = 0; f < F; ++f)
    for (index_t l = 0; l < nf; ++l)
      for (index_t c = 0; c < C; ++c)
        video[(f * nf + l) * C + c] = scene[((f / 4) * nf + l) * C + c] + (l % 3 == 0 ? 0.05f : 1.5f) * nd(rng);

  vtr::workspace ws;
  // ---- stage 1: after the projector; the video span is replaced by plan.size() tokens ----
  vtr::prunevid::stage1 s1;  // τ 0.8, temporal ratio 0.25, cluster ratio 0.5, k 7
  vtr::prunevid::stage1::details meta;
  const vtr::plan p1 = s1.plan({vtr::tensor_view<const float, 3>(video.data(), {F, nf, C})}, ws, &meta);
  std::vector<float> tokens(p1.size() * C);
  vtr::apply(p1, vtr::matrix_view<const float>(video.data(), {F * nf, C}), vtr::matrix_view<float>(tokens.data(), {p1.size(), C}));
  std::printf("stage 1: %td of %td tokens, %zu segments\n", p1.size(), F * nf, meta.window_sizes.size());

  // ---- stage 2: at layer K of the prefill over [prefix | video | suffix] ----
  const index_t P = 5, nv = p1.size(), Nt = 7, L = P + nv + Nt, H = 4, d = 16;
  std::vector<float> q(Nt * H * d), k(L * H * d);  // unrotated q (post-video rows) and k (all keys)
  for (auto& v : q) v = nd(rng);
  for (auto& v : k) v = nd(rng);
  vtr::prunevid::stage2 s2;  // α 0.4, layer 10
  vtr::prunevid::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q.data(), {Nt, H, d}),
                                                    vtr::tensor_view<const float, 3>(k.data(), {L, H, d}), {});
  in.segments = meta.sizes();
  in.prefix = P;
  vtr::prunevid::stage2::details sel;
  const vtr::plan p2 = s2.plan(in, ws, &sel);
  // The hidden states after layer K and the K/V rows of layers 0…K are gathered with p2; positions keep
  // their original ids (p2.origin).
  std::vector<float> kv_layer(L * 8, 1.0f);
  vtr::compact_in_place(p2, vtr::matrix_view<float>(kv_layer.data(), {L, 8}));
  std::printf("stage 2: %td of %td rows kept (%zu video tokens)\n", p2.size(), L, sel.kept_rel.size());

  auto expect = s2.kept_count(P, Nt, meta.sizes());
  return (expect.ok() && expect.value() == p2.size() && p1.size() <= s1.kept_count_bound(F, nf).value()) ? 0 : 1;
}
