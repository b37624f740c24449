// Fuzz target: VScan's three entry points (vtr/methods/vscan.hpp), picked by the first byte: stage1
// (window + global [CLS] scan, nearest-kept merge), stage1_qwen (capped windows on any merged grid) and
// stage2 (one query row's attention at layer K).
#include "fuzz_common.hpp"

#include <vtr/methods/vscan.hpp>

using namespace vtr_fuzz;

namespace {

// Every merged input row is a source of exactly one output row (nearest-kept merge, ALGORITHMS §2.6).
void check_partition(const vtr::plan& p) {
  std::vector<int> seen(static_cast<std::size_t>(p.input_rows), 0);
  for (vtr::index_t r = 0; r < p.size(); ++r) {
    auto [b, e] = p.sources_of(r);
    for (; b != e; ++b) ++seen[static_cast<std::size_t>(*b)];
  }
  for (int c : seen) vtr_fuzz_check(c == 1);
}

void stage1(reader& r) {
  vtr::vscan::stage1_params p;
  p.budget = r.scalar(0, 40);
  p.window = r.scalar(1, 4);
  p.global_ratio = r.real(0.0, 1.0);
  p.keep_weight = static_cast<float>(r.real(0.1, 4.0));
  const vtr::vscan::stage1 m(p);
  const index_t gh = r.extent(0, 9), gw = r.flag() ? gh : r.extent(0, 9);
  const index_t n = r.flag() ? gh * gw : r.extent(0, 64), d = r.extent(0, 6), heads = r.extent(0, 3);
  const bool wild = r.byte() < 40;
  owned_tensor<2> feats(r, {n, d}, wild), shallow(r, {heads, r.flag() ? n : r.extent(0, 64)}, wild), deep(r, {heads, n}, wild);
  vtr::vscan::stage1::inputs in{feats.view(), shallow.view(), deep.view(), r.flag() ? index_t(0) : gh, r.flag() ? index_t(0) : gw};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, out).ok()) return;
  const index_t want = must(m.kept_count(n, in.grid_h, in.grid_w), "kept_count");
  check_plan(out, n, true, want);
  check_partition(out);
}

void stage1_qwen(reader& r) {
  vtr::vscan::stage1_qwen_params p;
  p.ratio = r.real(0.0, 1.2);
  p.window = r.scalar(1, 5);
  p.keep_weight = static_cast<float>(r.real(0.1, 4.0));
  const vtr::vscan::stage1_qwen m(p);
  const index_t gh = r.scalar(0, 9), gw = r.scalar(0, 9);
  const index_t n = (gh >= 0 && gh <= 9 && gw >= 0 && gw <= 9 && r.flag()) ? gh * gw : r.extent(0, 64);
  const index_t d = r.extent(0, 6);
  const bool wild = r.byte() < 40;
  owned_tensor<1> ls(r, {n}, wild), gs(r, {n}, wild);
  owned_tensor<2> feats(r, {n, d}, wild);
  vtr::vscan::stage1_qwen::inputs in{ls.view(), gs.view(), feats.view(), gh, gw};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, out).ok()) return;
  const index_t want = must(m.kept_count(gh, gw), "kept_count");
  check_plan(out, n, true, want);
  check_partition(out);
}

void stage2(reader& r) {
  vtr::vscan::stage2_params p = r.flag() ? vtr::vscan::stage2_params::llava() : vtr::vscan::stage2_params::qwen();
  p.keep = r.scalar(0, 40);
  p.keep_ratio = r.real(0.0, 1.2);
  p.layer = r.scalar(1, 20);
  p.query = r.flag() ? vtr::vscan::query_rows::single : vtr::vscan::query_rows::mean;
  const vtr::vscan::stage2 m(p);
  const index_t heads = r.extent(0, 4), rows = r.extent(0, 3), keys = r.extent(0, 48);
  attention at(r, heads, rows, keys);
  vtr::vscan::stage2::inputs in;
  in.attention = at.in;
  in.image_start = r.scalar(0, keys);
  in.image_count = r.scalar(0, keys);
  in.query_row = r.scalar(-1, rows);
  vtr::vscan::stage2::details extra;
  extra.kept_rel = {-7};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws, &extra); }, out).ok()) {
    vtr_fuzz_check(extra.kept_rel.size() == 1 && extra.kept_rel[0] == -7);
    return;
  }
  const index_t want = must(m.kept_count(keys, in.image_count), "kept_count");
  check_plan(out, keys, true, want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  switch (r.byte() % 3) {
    case 0: stage1(r); break;
    case 1: stage1_qwen(r); break;
    default: stage2(r); break;
  }
  return 0;
}
