// FastV (ALGORITHMS §3.1): at layer K, keep the image tokens the last prompt token attended to most at
// layer K−1. Runs on small random data; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/methods/fastv.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  using vtr::index_t;
  const index_t heads = 8, seq = 60, start = 5, n_img = 36, dim = 16;  // [prefix 5 | 36 image | 19 text]
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);

  // Layer K−1's attention row of the last prompt token, [H][1][L] (any strided view works).
  std::vector<float> attn(static_cast<std::size_t>(heads * seq));
  for (auto& a : attn) a = u(rng);
  std::vector<float> hidden(static_cast<std::size_t>(seq * dim));
  for (auto& h : hidden) h = u(rng);

  vtr::fastv::select fastv{{/*layer=*/2, vtr::fastv::count_rule::ratio, /*ratio=*/0.5}};
  vtr::workspace ws;
  vtr::fastv::select::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(attn.data(), {heads, 1, seq}));
  in.image_start = start;
  in.image_count = n_img;
  const vtr::plan plan = fastv.plan(in, ws);  // ascending kept rows = the new position ids (original, with gaps)

  std::vector<float> reduced(static_cast<std::size_t>(plan.size() * dim));
  vtr::apply(plan, vtr::matrix_view<const float>(hidden.data(), {seq, dim}),
             vtr::matrix_view<float>(reduced.data(), {plan.size(), dim}));
  const std::vector<index_t> position_ids = plan.kept();

  const index_t want = fastv.kept_count(seq, n_img).value();  // 60 − 36 + 18, known before the data
  std::printf("fastv: %td of %td rows kept\n", plan.size(), seq);
  return plan.size() == want && static_cast<index_t>(position_ids.size()) == want ? 0 : 1;
}
