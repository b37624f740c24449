// Integration guide (docs/integration.md), "Position ids": original ids with gaps, dense renumbering,
// M-RoPE (t, h, w) triples gathered for Qwen-style models (an image inside the LLM, dropped video frames
// before it), per-layer decode positions, RoPE already applied to cached keys, and the mask-only form.
// Runs on small data; returns non-zero if something is off.
#include <vtr/core/plan.hpp>
#include <vtr/core/positions.hpp>
#include <vtr/methods/fastv.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <utility>
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

// The engine's RoPE (rotate-half convention) on one head vector x[d] at position p.
void apply_rope(float* x, index_t d, std::int64_t p) {
  const index_t half = d / 2;
  for (index_t i = 0; i < half; ++i) {
    const double a = static_cast<double>(p) * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(d));
    const auto c = static_cast<float>(std::cos(a)), s = static_cast<float>(std::sin(a));
    const float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * c - x2 * s;
    x[i + half] = x2 * c + x1 * s;
  }
}

// Qwen2-VL's rope index for [P text | one image of gh×gw merged tokens | T text], planar [3][L]: text
// tokens have t = h = w; the image sits at (s, s + row, s + col); text after it continues at max + 1.
std::vector<std::int64_t> qwen_rope_index(index_t P, index_t gh, index_t gw, index_t T) {
  const index_t L = P + gh * gw + T;
  std::vector<std::int64_t> pos(static_cast<std::size_t>(3 * L));
  auto set = [&](index_t i, std::int64_t t, std::int64_t h, std::int64_t w) {
    pos[static_cast<std::size_t>(i)] = t;
    pos[static_cast<std::size_t>(L + i)] = h;
    pos[static_cast<std::size_t>(2 * L + i)] = w;
  };
  for (index_t i = 0; i < P; ++i) set(i, i, i, i);
  for (index_t r = 0; r < gh; ++r)
    for (index_t c = 0; c < gw; ++c) set(P + r * gw + c, P, P + r, P + c);
  const std::int64_t next = P + std::max(gh, gw);
  for (index_t i = 0; i < T; ++i) set(P + gh * gw + i, next + i, next + i, next + i);
  return pos;
}

}  // namespace

int main() {
  // A prefill [P | N image | T text]; a selection at layer K keeps every third image token.
  const index_t P = 5, gh = 6, gw = 6, N = gh * gw, T = 7, L = P + N + T, K = 2;
  std::vector<index_t> rel;
  for (index_t j = 0; j < N; j += 3) rel.push_back(j);
  vtr::plan plan;
  vtr::select_in_sequence(P, N, T, rel.data(), static_cast<index_t>(rel.size()), plan);
  std::vector<std::int64_t> pos(static_cast<std::size_t>(L));
  for (index_t i = 0; i < L; ++i) pos[static_cast<std::size_t>(i)] = i;

  {
    // [guide:pos-original]
    // FastV, Fit&Prune, PruneVid stage 2, DToMA D2, SparseVLM+: the survivors keep their ids (with gaps).
    std::vector<std::int64_t> new_pos(static_cast<std::size_t>(plan.size()));
    vtr::positions::gather(plan, vtr::view_of(std::as_const(pos)), vtr::view_of(new_pos));
    // [/guide:pos-original]
    expect(new_pos.back() == L - 1 && new_pos[static_cast<std::size_t>(P + 1)] == P + 3, "original ids");
  }
  {
    // [guide:pos-dense]
    // VScan stage 2 (LLaVA), SparseVLM v1/v1.5, and every pre-LLM step: 0 … n−1 over the reduced sequence.
    std::vector<std::int64_t> new_pos(static_cast<std::size_t>(plan.size()));
    vtr::positions::dense(vtr::view_of(new_pos));
    // [/guide:pos-dense]
    expect(new_pos.back() == plan.size() - 1, "dense ids");
  }

  {
    // [guide:pos-decode]
    // The first generated token's position (+1 per step). Original ids: the unpruned length, every layer.
    const std::int64_t next_original = L;
    // Dense ids inside the LLM (VScan stage 2 at K): layers < K cached the unpruned prompt, layers ≥ K the
    // reduced one, so the position depends on the layer — an engine with one position per token needs two.
    auto next_dense = [&](index_t layer) -> std::int64_t { return layer < K ? L : plan.size(); };
    // [/guide:pos-decode]
    expect(next_original == L && next_dense(K) == plan.size() && next_dense(0) == L, "decode positions");
  }

  {
    // Qwen2-VL / Qwen2.5-VL: M-RoPE triples, planar [3][L], computed for the UNPRUNED sequence.
    const std::vector<std::int64_t> rope_index = qwen_rope_index(P, gh, gw, T);
    // [guide:pos-mrope]
    // Gather the survivors' (t, h, w) triples; the text after the image keeps its original triples too.
    vtr::matrix_view<const std::int64_t> triples(rope_index.data(), {3, L});
    std::vector<std::int64_t> kept(static_cast<std::size_t>(3 * plan.size()));
    vtr::matrix_view<std::int64_t> kept_triples(kept.data(), {3, plan.size()});
    const std::int64_t next = vtr::positions::mrope_gather(plan, triples, vtr::positions::mrope_layout::planar, kept_triples);
    // next = max component + 1: where generation continues (t = h = w = next, next + 1, …).
    // [/guide:pos-mrope]
    const index_t last = plan.size() - 1;
    expect(kept_triples(0, last) == rope_index[static_cast<std::size_t>(L - 1)] && next == rope_index[static_cast<std::size_t>(L - 1)] + 1,
           "m-rope gather keeps the text triples");
    expect(kept_triples(1, P + 1) == P + 0 && kept_triples(2, P + 1) == P + 3, "m-rope image triple");
  }

  {
    // A video of F frames of 2×2 merged tokens; a frame policy before the LLM dropped frames 3 and 6.
    const index_t F = 8, n_f = 4;
    std::vector<std::int64_t> video(static_cast<std::size_t>(3 * F * n_f));  // planar [3][F·n_f], t = frame
    for (index_t f = 0; f < F; ++f)
      for (index_t i = 0; i < n_f; ++i) {
        video[static_cast<std::size_t>(f * n_f + i)] = P + f;
        video[static_cast<std::size_t>(F * n_f + f * n_f + i)] = P + i / 2;
        video[static_cast<std::size_t>(2 * F * n_f + f * n_f + i)] = P + i % 2;
      }
    std::vector<index_t> kept_rows;
    for (index_t f : {0, 1, 2, 4, 5, 7})
      for (index_t i = 0; i < n_f; ++i) kept_rows.push_back(f * n_f + i);
    const vtr::plan frames = vtr::plan::select(F * n_f, kept_rows);  // e.g. consecutive_frame_dedup's plan
    // [guide:pos-mrope-frames]
    // Frames dropped before the LLM: gather the original triples of the kept frames, so t keeps the time
    // gaps. Recomputing the rope index for the reduced grid would number the kept frames 0, 1, 2, … instead.
    vtr::matrix_view<const std::int64_t> video_triples(video.data(), {3, F * n_f});
    std::vector<std::int64_t> out(static_cast<std::size_t>(3 * frames.size()));
    vtr::positions::mrope_gather(frames, video_triples, vtr::positions::mrope_layout::planar,
                                 vtr::matrix_view<std::int64_t>(out.data(), {3, frames.size()}));
    // [/guide:pos-mrope-frames]
    expect(out[static_cast<std::size_t>(3 * n_f)] == P + 4 && out[static_cast<std::size_t>(frames.size() - 1)] == P + 7,
           "frame times keep their gaps");
  }

  {
    // RoPE already applied to cached keys. A cache filled before the plan existed (chunked prefill, or
    // PruneVid's layers 0…K) holds k_t rotated at the position it was computed with.
    const index_t d = 16;
    std::vector<float> raw(static_cast<std::size_t>(L * d)), cache(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = std::sin(0.37f * static_cast<float>(i));
    cache = raw;
    for (index_t t = 0; t < L; ++t) apply_rope(cache.data() + t * d, d, t);
    for (index_t r = 0; r < plan.size(); ++r)  // compaction (what kv::compact does per layer)
      std::copy_n(cache.begin() + plan.origin[static_cast<std::size_t>(r)] * d, d, cache.begin() + r * d);
    float* k_cache = cache.data();
    // [guide:rope-cache]
    // After compaction every moved row still carries the rotation of its ORIGINAL id. With original ids
    // that is right as it is. Under dense renumbering, rotate each moved row by (new id − old id): RoPE
    // rotations compose, so this equals recomputing the key at its new position.
    for (index_t r = 0; r < plan.size(); ++r) {
      const std::int64_t delta = r - plan.origin[static_cast<std::size_t>(r)];
      if (delta != 0) apply_rope(k_cache + r * d, d, delta);  // the engine's RoPE, at position delta
    }
    // [/guide:rope-cache]
    float err = 0.0f;
    for (index_t r = 0; r < plan.size(); ++r) {
      std::vector<float> want(raw.begin() + plan.origin[static_cast<std::size_t>(r)] * d,
                              raw.begin() + (plan.origin[static_cast<std::size_t>(r)] + 1) * d);
      apply_rope(want.data(), d, r);
      for (index_t c = 0; c < d; ++c) err = std::max(err, std::abs(want[static_cast<std::size_t>(c)] - cache[static_cast<std::size_t>(r * d + c)]));
    }
    expect(err < 1e-4f, "re-rotated keys equal keys recomputed at the dense positions");
  }

  {
    // [guide:mask-fastv]
    // The mask-only form (FastV's in-place variant): keep every row, hide the dropped image tokens as KEYS
    // from layer K on. 1 = visible; combine with the causal mask in the engine's KQ mask of layers ≥ K.
    std::vector<unsigned char> visible;
    vtr::fastv::select::key_mask(plan, visible);  // [L]
    // [/guide:mask-fastv]
    expect(static_cast<index_t>(visible.size()) == L && visible[P] == 1 && visible[P + 1] == 0 && visible[L - 1] == 1, "key mask");
  }

  std::printf("guide_positions: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
