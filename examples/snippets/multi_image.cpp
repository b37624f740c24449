// Multi-image prompts, LLaVA-NeXT anyres and batches (core/media.hpp, core/batch.hpp): a visual-token budget
// split over the crops of an anyres image, VScan stage 1 run per crop with its own budget, the crops' plans
// combined into one sequence plan (newline tokens kept), and a batch of two sequences applied at once.
// Runs on small random data; returns non-zero if something is off. The [guide:…] markers delimit the
// excerpts shown in docs/multi_image_fragment.md.
#include <vtr/core/apply.hpp>
#include <vtr/core/batch.hpp>
#include <vtr/core/media.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/policies/media_topk.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  using vtr::index_t;
  namespace media = vtr::media;
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  auto random = [&](index_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = u(rng);
    return v;
  };
  const index_t dim = 32, enc_heads = 16, N = 576;
  vtr::workspace ws;
  // The encoder's crop-major stream of an anyres image (base + 4 tiles of 24×24 = 5·576 rows) after the
  // projector, and the [CLS] attention rows of encoder layers 5 and 22 per crop.
  const auto crops = random(5 * N * dim), cls5 = random(5 * enc_heads * N), cls22 = random(5 * enc_heads * N);
  const vtr::matrix_view<const float> stream(crops.data(), {5 * N, dim});
  const vtr::tensor_view<const float, 3> shallow(cls5.data(), {5, enc_heads, N}), deep(cls22.data(), {5, enc_heads, N});

  // [guide:multi-image-anyres]
  // Sequence 0, LLaVA-NeXT: a 672×672 image = base + 2×2 tiles of 24×24, one newline per row of the tiled
  // map: 35 + 576 + 48·49 + 40 = 3003 tokens.
  media::layout next;
  next.text(35).anyres({/*tile_rows=*/2, /*tile_cols=*/2}).text(40);
  // 576 visual tokens for the image, split over its 5 crops by the largest remainder: 116, 115, 115, 115, 115.
  const media::budgets budget = media::budgets_total(next, 576);
  // VScan stage 1 per crop, each with its own T.
  const std::vector<vtr::plan> per_crop = media::run_units(next, [&](index_t c, const media::unit&, vtr::plan& p) {
    const vtr::vscan::stage1 scan{{budget.per_unit[static_cast<std::size_t>(c)]}};
    return scan.try_plan({stream.subrows(c * N, N), shallow[c], deep[c]}, p, ws);
  });
  // One plan over the 3003 rows: text and newline rows kept, each crop's merged rows at their sequence rows.
  const vtr::plan p0 = media::combine(next, per_crop);
  // [/guide:multi-image-anyres]

  // [guide:multi-image-two]
  // Sequence 1: two 24×24 images in one prompt, a quarter of each kept by the last prompt token's attention
  // (FastV-style scores [H][1][L], per-image budgets).
  media::layout two;
  two.text(20).image(24, 24).text(6).image(24, 24).text(30);
  const auto attn = random(8 * two.size());
  vtr::policies::media_topk top;
  vtr::policies::media_topk::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(attn.data(), {8, 1, two.size()}));
  const vtr::plan p1 = top.plan(two, media::budgets_ratio(two, 0.25).per_unit, in, ws);
  // [/guide:multi-image-two]

  // [guide:multi-image-batch]
  // The batch, ragged: both sequences' hidden states back to back, reduced in one call.
  const std::vector<vtr::plan> plans = {p0, p1};
  const auto in_off = vtr::batch::offsets(plans, /*reduced=*/false);  // 0, 3003, 3003 + 1208
  const index_t rows_out = vtr::batch::offsets(plans, /*reduced=*/true).back();
  std::vector<index_t> out_off(plans.size() + 1);
  const auto hidden = random(in_off.back() * dim);
  std::vector<float> reduced(static_cast<std::size_t>(rows_out * dim));
  vtr::batch::apply_ragged(plans, vtr::matrix_view<const float>(hidden.data(), {in_off.back(), dim}), vtr::view_of(in_off),
                           vtr::matrix_view<float>(reduced.data(), {rows_out, dim}), vtr::view_of(out_off));
  const std::vector<index_t> kept = vtr::batch::kept_counts(plans);  // rows of each reduced sequence
  // [/guide:multi-image-batch]

  std::printf("multi_image: anyres %td -> %td tokens (%td newlines kept; crop budgets %td %td %td %td %td), "
              "two images %td -> %td\n",
              next.size(), kept[0], next.newline_tokens(), budget.per_unit[0], budget.per_unit[1], budget.per_unit[2],
              budget.per_unit[3], budget.per_unit[4], two.size(), kept[1]);
  index_t vscan_kept = 0;
  for (const auto& p : per_crop) vscan_kept += p.size();
  const bool ok = budget.total() == 576 && kept[0] == 35 + 40 + 48 + vscan_kept && kept[1] == 56 + 2 * 144 &&
                  out_off[2] == kept[0] + kept[1];
  return ok ? 0 : 1;
}
