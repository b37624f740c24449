// Generic video policies kept from the design notes (ALGORITHMS §4.7), under neutral names:
// consecutive_frame_dedup (drop a frame too similar to the one before it), frame_gate (keep frames whose
// text attention passes a threshold, then the top tokens of each), keep_ratio_topk (per-frame top-k).
// Runs on small random data; returns non-zero if something is off.
#include <vtr/policies/frame_dedup.hpp>
#include <vtr/policies/frame_gate.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  using vtr::index_t;
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  vtr::workspace ws;

  // 6 frames of 16 tokens × 24 features; frames 2 and 3 repeat frame 1.
  const index_t F = 6, n_f = 16, C = 24;
  std::vector<float> x(static_cast<std::size_t>(F * n_f * C));
  for (auto& v : x) v = u(rng);
  for (index_t t : {2, 3})
    std::copy(x.begin() + n_f * C, x.begin() + 2 * n_f * C, x.begin() + t * n_f * C);
  const vtr::policies::consecutive_frame_dedup dedup;  // threshold 0.9 (strict <); first and last kept
  vtr::policies::consecutive_frame_dedup::details dd;
  const vtr::plan p = dedup.plan({vtr::matrix_view<const float>(x.data(), {F * n_f, C}), F}, ws, &dd);
  std::printf("dedup: kept %zu of %td frames (%td tokens)\n", dd.kept_frames.size(), F, p.size());
  if (dd.kept_frames != std::vector<index_t>{0, 1, 4, 5}) return 1;

  // Text→video attention of 5 text rows, 4 heads, over the 4 kept frames.
  const index_t H = 4, Nt = 5, Fk = 4, N = Fk * n_f;
  std::vector<float> attn(static_cast<std::size_t>(H * Nt * N));
  for (index_t i = 0; i < H * Nt * N; ++i) attn[static_cast<std::size_t>(i)] = 0.002f * (u(rng) + 1.0f) + ((i % N) / n_f == 2 ? 0.08f : 0.0f);
  vtr::policies::frame_gate::inputs gin;
  gin.attn = vtr::ops::attention_input::from_probs({attn.data(), {H, Nt, N}});
  gin.frames = Fk;
  vtr::policies::frame_gate::details gd;
  const vtr::plan g = vtr::policies::frame_gate{}.plan(gin, ws, &gd);  // τ_f 0.3, 25 % per kept frame
  std::printf("frame_gate: %zu frame(s) pass, %td tokens kept\n", gd.kept_frames.size(), g.size());
  if (gd.kept_frames != std::vector<index_t>{2} || g.size() != n_f / 4) return 1;

  // Per-frame top 25 % by the head-mean, row-mean attention.
  vtr::policies::keep_ratio_topk::inputs kin;
  kin.attn = gin.attn;
  kin.frames = Fk;
  const vtr::policies::keep_ratio_topk top({0.25});
  const vtr::plan k = top.plan(kin, ws);
  std::printf("keep_ratio_topk: %td -> %td tokens\n", N, k.size());
  return k.size() == top.kept_count(N, Fk).value() ? 0 : 1;
}
