// Compiled once per SIMD level (vtr_add_dispatch defines VTR_DISPATCH_ARCH and adds that level's flags).
#include "dispatch_kernels.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/half.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/ops/merge.hpp>
#include <vtr/ops/reduce.hpp>
#include <vtr/ops/similarity.hpp>
#include <vtr/ops/topk.hpp>

#include <type_traits>
#include <utility>

#ifndef VTR_DISPATCH_ARCH
#error "dispatch_kernels.cpp is built by vtr_add_dispatch, which defines VTR_DISPATCH_ARCH"
#endif

namespace dispatch_test {

template <class Arch>
outputs run(const inputs& in) {
  outputs o;
  o.arch = Arch::name();
  vtr::workspace ws;
  const index_t H = in.heads, L = in.seq_len, s0 = in.image_start, n = in.image_count, D = in.dim;

  // FastV on fp32 attention (one query row).
  vtr::fastv::select fastv{{/*layer=*/2, vtr::fastv::count_rule::ratio, /*ratio=*/0.75}};
  vtr::fastv::select::inputs fin;
  fin.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(in.attn.data(), {H, 1, L}));
  fin.image_start = s0;
  fin.image_count = n;
  vtr::fastv::select::details det;
  const vtr::plan p = fastv.plan<Arch>(fin, ws, &det);
  o.kept = p.kept();
  o.scores = det.image_scores;

  // The same scores from bfloat16 and float16 copies of the attention (the half-precision path).
  std::vector<vtr::bfloat16> ab(in.attn.size());
  std::vector<vtr::float16> ah(in.attn.size());
  for (std::size_t i = 0; i < in.attn.size(); ++i) {
    ab[i] = vtr::bfloat16(in.attn[i]);
    ah[i] = vtr::float16(in.attn[i]);
  }
  const index_t k = static_cast<index_t>(det.kept_image_rel.size());
  auto half_topk = [&](auto* data, std::vector<float>& scores, std::vector<index_t>& kept) {
    using T = std::remove_pointer_t<decltype(data)>;
    vtr::tensor_view<const T, 3> v(data + s0, {H, 1, n}, {L, L, 1});
    scores.assign(static_cast<std::size_t>(n), 0.0f);
    vtr::ops::reduce_attention<Arch>(v, vtr::ops::head_reduce::mean, vtr::ops::row_reduce::mean, vtr::view_of(scores), ws);
    kept.assign(static_cast<std::size_t>(k), 0);
    vtr::ops::topk<Arch>(vtr::view_of(std::as_const(scores)), k, vtr::ops::order::ascending, vtr::view_of(kept), ws);
  };
  std::vector<float> sb;
  half_topk(ab.data(), sb, o.kept_bf16_scores);
  half_topk(ah.data(), o.scores_f16, o.kept_f16_scores);

  // Merge the pruned image tokens into their nearest kept one (ALGORITHMS §2.6), and normalise bf16 rows.
  const vtr::matrix_view<const float> x(in.feats.data(), {n, D});
  vtr::plan merged_plan;
  vtr::raise_if_error(vtr::ops::try_nearest_kept_merge<Arch>(x, vtr::view_of(std::as_const(det.kept_image_rel)), 1.0f,
                                                             merged_plan, &o.assign, ws));
  o.merged.assign(static_cast<std::size_t>(merged_plan.size() * D), 0.0f);
  vtr::apply(merged_plan, x, vtr::matrix_view<float>(o.merged.data(), {merged_plan.size(), D}));
  std::vector<vtr::bfloat16> fb(in.feats.size());
  for (std::size_t i = 0; i < fb.size(); ++i) fb[i] = vtr::bfloat16(in.feats[i]);
  o.normalized_bf16.assign(in.feats.size(), 0.0f);
  vtr::ops::l2_normalize_rows<Arch>(vtr::matrix_view<const vtr::bfloat16>(fb.data(), {n, D}), vtr::ops::normalize_eps,
                                    vtr::matrix_view<float>(o.normalized_bf16.data(), {n, D}));
  return o;
}

template outputs run<VTR_DISPATCH_ARCH>(const inputs&);

}  // namespace dispatch_test
