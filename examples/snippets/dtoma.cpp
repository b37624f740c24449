// DToMA (ALGORITHMS §3.6 — follows the project's design notes; DToMA's official code is unpublished):
// D1 quadtree merge per frame before the LLM, D2 text-guided pruning at layer K, D3 decode-time usage
// tracking with KV eviction. Runs on small random data; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/methods/dtoma.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  using vtr::index_t;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  vtr::workspace ws;

  // ---- D1: 4 frames of a 6×6 grid, 32 features, frame-major raster rows [F·h·w][C] ----
  const index_t F = 4, h = 6, w = 6, C = 32;
  std::vector<float> video(static_cast<std::size_t>(F * h * w * C));
  for (index_t t = 0; t < F; ++t)        // frames 0 and 2: one flat colour (merges to one token)
    for (index_t i = 0; i < h * w * C; ++i)
      video[static_cast<std::size_t>(t * h * w * C + i)] = (t % 2 == 0) ? 1.0f + float(i % C) : u(rng) - 0.5f;
  const vtr::matrix_view<const float> tokens(video.data(), {F * h * w, C});
  const vtr::dtoma::quadtree d1;  // merge_threshold 0.8, max_depth 3
  vtr::dtoma::quadtree::details cells;
  const vtr::plan p1 = d1.plan({tokens, F, h, w}, ws, &cells);
  std::vector<float> merged(static_cast<std::size_t>(p1.size() * C));
  vtr::apply(p1, tokens, vtr::matrix_view<float>(merged.data(), {p1.size(), C}));
  // p1.origin[r] is each output token's representative position (its cell's top-left token).
  std::printf("D1: %td tokens -> %td (frame 0 cell %td..%td x %td..%td, size %td)\n", F * h * w, p1.size(), cells.cells[0].r0,
              cells.cells[0].r1, cells.cells[0].c0, cells.cells[0].c1, cells.sizes[0]);
  if (cells.sizes[0] != h * w || p1.size() < F || p1.size() > d1.max_kept_count(F, h, w).value()) return 1;

  // ---- D2: layer-2 attention of the 12 rows after the video over the 100 visual keys, 8 heads ----
  const index_t H = 8, Nq = 12, Nv = 100;
  std::vector<float> attn(static_cast<std::size_t>(H * Nq * Nv));
  for (auto& a : attn) a = u(rng) / float(Nv);
  std::vector<float> rel(static_cast<std::size_t>(Nv));  // e.g. cosine of a text query with each token
  for (auto& r : rel) r = u(rng);
  const vtr::dtoma::select d2;  // keep_ratio 0.3, text_boost 2.0 where rel >= 0.7
  vtr::dtoma::select::inputs in2;
  in2.attn = vtr::ops::attention_input::from_probs({attn.data(), {H, Nq, Nv}});
  in2.relevance = vtr::view_of(rel);
  const vtr::plan p2 = d2.plan(in2, ws);  // kept visual indices (relative), ascending
  std::printf("D2: %td visual tokens -> %td kept\n", Nv, p2.size());
  if (p2.size() != d2.kept_count(Nv).value()) return 1;

  // ---- D3: track the kept tokens while decoding; evict what stays unused ----
  vtr::dtoma::usage_tracker d3(p2.size());  // usage_threshold 0.1, unused_threshold 5, min_keep 1
  std::vector<float> row;
  index_t evicted = 0;
  for (int step = 0; step < 12; ++step) {
    const index_t n = d3.size();
    row.assign(static_cast<std::size_t>(H * n), 0.0f);
    for (index_t j = 0; j < n; ++j)  // the new token attends strongly to every third surviving token
      if (d3.original_ids()(j) % 3 == 0) row[static_cast<std::size_t>(j)] = 0.5f;
    const auto ev = d3.step(vtr::matrix_view<const float>(row.data(), {H, n}));
    evicted += ev.extent(0);  // engine: drop these rows (indices into the current set) from every layer's KV
  }
  std::printf("D3: %td tokens evicted after %td steps, %td left\n", evicted, d3.iteration(), d3.size());
  return (d3.size() >= 1 && evicted > 0 && d3.size() + evicted == p2.size()) ? 0 : 1;
}
