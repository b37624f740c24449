// Fuzz target: one SparseVLM prune event (vtr/methods/sparsevlm/layer.hpp), the version (v1 rank rule,
// v1.5 keep table, v2 gravity correction) picked by the input; attention as probabilities or Q/K.
#include "fuzz_common.hpp"

#include <vtr/methods/sparsevlm.hpp>

using namespace vtr_fuzz;

namespace {

template <vtr::sparsevlm::version V>
void event(reader& r) {
  vtr::sparsevlm::prune_params p;
  const std::uint8_t key = r.byte();
  p.retained = key < 200 ? std::array<index_t, 4>{192, 128, 96, 64}[key % 4] : r.scalar(0, 300);
  if (r.byte() < 160) p.keep_table = std::array<index_t, 3>{r.scalar(0, 40), r.scalar(0, 40), r.scalar(0, 40)};
  p.scale = r.real(0.0, 14.0);
  p.bias = r.real(-2.0, 6.0);
  p.priority_heads = r.scalar(1, 4);
  p.head_dim = r.flag() ? r.extent(-2, 9) : 4;  // a huge head_dim only sizes scratch (rope.hpp rejects overflow)
  p.rope_base = r.real(1.0, 10000.0);
  p.on_empty_raters = r.flag() ? vtr::sparsevlm::empty_raters::error : vtr::sparsevlm::empty_raters::use_all_text;
  const vtr::sparsevlm::basic_layer<V> m(p);

  const index_t v = r.extent(0, 40), nt = r.extent(0, 6), heads = r.extent(0, 3), prefix = r.extent(0, 4);
  vtr::sparsevlm::event_inputs in;
  in.layer = r.byte() < 220 ? std::array<index_t, 4>{2, 6, 15, 19}[r.byte() % 4] : r.scalar(0, 20);
  in.v_num = r.byte() < 230 ? v : r.scalar(0, 40);
  in.v_start = r.byte() < 230 ? prefix : r.scalar(0, 8);
  // Probabilities: text rows × visual columns. Q/K: the text rows over every key [prefix | visual | text].
  const bool probs = r.byte() < 170;
  owned_tensor<3> pr, q, k;
  std::vector<index_t> qpos;
  if (probs) {
    pr = owned_tensor<3>(r, {heads, nt, r.flag() ? v : r.extent(0, 40)}, r.byte() < 40);
    in.attn = vtr::ops::attention_input::from_probs(pr.view());
  } else {
    const index_t d = r.flag() && p.head_dim >= 1 && p.head_dim <= 8 ? p.head_dim : r.extent(1, 8);
    const index_t keys = prefix + v + nt;
    q = owned_tensor<3>(r, {nt, heads, d}, r.byte() < 40);
    k = owned_tensor<3>(r, {keys, r.flag() ? heads : std::max<index_t>(1, heads / 2), d}, r.byte() < 40);
    for (index_t i = 0; i < nt; ++i) qpos.push_back(r.byte() < 240 ? prefix + v + i : r.scalar(0, keys));
    in.attn = vtr::ops::attention_input::from_qk(q.view(), k.view(), vtr::view_of(std::as_const(qpos)));
  }
  std::vector<index_t> raters;
  for (index_t t = 0; t < nt; ++t)
    if (r.flag()) raters.push_back(t);
  if (r.byte() > 240) raters.push_back(r.scalar(0, nt));  // maybe out of range or not ascending
  in.raters = vtr::view_of(std::as_const(raters));
  owned_tensor<2> hid(r, {r.byte() < 240 ? v : r.extent(0, 40), r.extent(0, 5)}, r.byte() < 40);
  in.hidden_vis = hid.view();
  std::vector<float> jitter(static_cast<std::size_t>(r.flag() ? r.extent(0, 40) : 0));
  for (auto& j : jitter) j = static_cast<float>(r.byte()) / 256.0f;
  in.jitter = vtr::view_of(std::as_const(jitter));

  vtr::sparsevlm::event_details extra;
  extra.scores = {3.0f};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws, &extra); }, out).ok()) {
    vtr_fuzz_check(extra.scores.size() == 1 && extra.scores[0] == 3.0f);
    return;
  }
  index_t want = -1;
  if constexpr (V != vtr::sparsevlm::version::v1) {
    const index_t kc = must(m.kept_count(in.v_num, in.layer), "kept_count");
    want = kc;
  } else {
    auto b = m.kept_count_bound(in.v_num, in.layer);
    vtr_fuzz_check(b.ok() && out.size() <= b.value());
  }
  check_plan(out, in.v_num, true, want);
  // Kept rows come first (ascending), then the recycled clusters; no input row is used twice.
  std::vector<int> seen(static_cast<std::size_t>(in.v_num), 0);
  bool appended = false;
  for (index_t row = 0; row < out.size(); ++row) {
    if (out.origin[static_cast<std::size_t>(row)] == vtr::plan::appended) appended = true;
    else vtr_fuzz_check(!appended);
    auto [b, e] = out.sources_of(row);
    for (; b != e; ++b) vtr_fuzz_check(++seen[static_cast<std::size_t>(*b)] == 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  switch (r.byte() % 3) {
    case 0: event<vtr::sparsevlm::version::v1>(r); break;
    case 1: event<vtr::sparsevlm::version::v1_5>(r); break;
    default: event<vtr::sparsevlm::version::v2>(r); break;
  }
  return 0;
}
