// VScan (ALGORITHMS §3.4): stage 1 after the projector (window + global [CLS] scan, nearest-kept merge),
// stage 2 inside the LLM at layer K. Runs on small random data; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/methods/vscan.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  using vtr::index_t;
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  auto random = [&](index_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = u(rng);
    return v;
  };

  // Stage 1: one 24×24 image (576 tokens) of post-projector features, CLS rows of encoder layers 5 and 22.
  const index_t n = 576, dim = 32, enc_heads = 16;
  const auto feats = random(n * dim), cls5 = random(enc_heads * n), cls22 = random(enc_heads * n);
  vtr::vscan::stage1 scan{{/*budget=*/96}};
  vtr::workspace ws;
  const vtr::plan p1 = scan.plan({vtr::matrix_view<const float>(feats.data(), {n, dim}),
                                  vtr::matrix_view<const float>(cls5.data(), {enc_heads, n}),
                                  vtr::matrix_view<const float>(cls22.data(), {enc_heads, n})},
                                 ws);
  std::vector<float> image(static_cast<std::size_t>(p1.size() * dim));  // [96][dim], merged, ascending
  vtr::apply(p1, vtr::matrix_view<const float>(feats.data(), {n, dim}), vtr::matrix_view<float>(image.data(), {p1.size(), dim}));

  // Stage 2 at layer 16: the last prompt token's attention over the S = 35 + 96 + 40 tokens.
  const index_t heads = 8, prefix = 35, seq = prefix + p1.size() + 40;
  const auto attn = random(heads * seq);
  vtr::vscan::stage2 late{vtr::vscan::stage2_params::llava()};  // keep 32, dense positions
  vtr::vscan::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(attn.data(), {heads, 1, seq}));
  in.image_start = prefix;
  in.image_count = p1.size();
  const vtr::plan p2 = late.plan(in, ws);
  std::vector<index_t> positions;
  vtr::vscan::position_ids(p2, late.params().positions, positions);  // 0…len−1

  std::printf("vscan: 576 -> %td (stage 1) -> %td visual (stage 2), sequence %td -> %td\n", p1.size(),
              p2.size() - (seq - p1.size()), seq, p2.size());
  const bool ok = p1.size() == scan.kept_count(n).value() && p2.size() == late.kept_count(seq, p1.size()).value() &&
                  p2.size() == seq - 96 + 32 && positions.back() == p2.size() - 1;
  return ok ? 0 : 1;
}
