// Fuzz target: one Fit&Prune deletion event (vtr/methods/fitprune/layer.hpp): recipe key or a custom
// recipe, spans, layer index and the attention (probabilities or Q/K).
#include "fuzz_common.hpp"

#include <vtr/methods/fitprune.hpp>

using namespace vtr_fuzz;

// A span: small (the plan has that many rows), or one that overflows the sequence length on purpose.
static index_t span(reader& r, index_t hi) {
  return r.byte() < 245 ? r.extent(0, hi) : std::numeric_limits<index_t>::max() - r.extent(0, 3);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  vtr::fitprune::layer_params p;
  p.reduction = r.flag() ? 10 * r.byte() % 110 : static_cast<int>(r.scalar(0, 100));
  if (r.flag()) {
    const index_t layers = r.extent(0, 6);
    for (index_t i = 0; i < layers; ++i) p.recipe.push_back(r.byte() < 240 ? r.extent(0, 40) : r.scalar(0, 40));
  }
  const vtr::fitprune::layer m(p);
  vtr::fitprune::layer::inputs in;
  in.n_visual = span(r, 40);
  in.n_suffix = span(r, 6);
  in.prefix = span(r, 6);
  in.layer_index = r.scalar(0, 6);
  const index_t heads = r.extent(0, 3);
  const index_t n = std::min<index_t>(in.n_visual, 40), nt = std::min<index_t>(in.n_suffix, 6),
                P = std::min<index_t>(in.prefix, 6);
  const bool probs = r.byte() < 170;
  owned_tensor<3> pr, q, k;
  std::vector<index_t> pos;
  if (probs) {
    pr = owned_tensor<3>(r, {heads, r.flag() ? n + nt : r.extent(0, 46), r.flag() ? n : r.extent(0, 40)}, r.byte() < 40);
    in.attn = vtr::ops::attention_input::from_probs(pr.view());
  } else {
    const index_t d = r.extent(1, 6);
    q = owned_tensor<3>(r, {r.flag() ? n + nt : r.extent(0, 46), heads, d}, r.byte() < 40);
    k = owned_tensor<3>(r, {r.flag() ? P + n + nt : r.extent(0, 52), r.flag() ? heads : 1, d}, r.byte() < 40);
    if (r.flag())
      for (index_t i = 0; i < q.ext[0]; ++i) pos.push_back(r.byte() < 240 ? P + i : r.scalar(0, 52));
    in.attn = vtr::ops::attention_input::from_qk(q.view(), k.view(), vtr::view_of(std::as_const(pos)));
  }
  {
    auto c = m.kept_count(in.prefix, in.n_visual, in.n_suffix, in.layer_index);
    if (c.ok() && absurd(in.prefix + in.n_visual + in.n_suffix)) return 0;
  }
  vtr::fitprune::layer::details extra;
  extra.kept_rel = {-3};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws, &extra); }, out).ok()) {
    vtr_fuzz_check(extra.kept_rel.size() == 1 && extra.kept_rel[0] == -3);
    return 0;
  }
  const index_t want = must(m.kept_count(in.prefix, in.n_visual, in.n_suffix, in.layer_index), "kept_count");
  check_plan(out, in.prefix + in.n_visual + in.n_suffix, true, want);
  return 0;
}
