// Fuzz target: FastV's selection (vtr/methods/fastv.hpp) on decoded shapes, spans, parameters and values.
#include "fuzz_common.hpp"

#include <vtr/methods/fastv.hpp>

using namespace vtr_fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  vtr::fastv::select_params p;
  p.layer = r.scalar(1, 4);
  p.rule = r.flag() ? vtr::fastv::count_rule::ratio : vtr::fastv::count_rule::rank;
  p.ratio = r.real(0.0, 1.0);
  p.rank = r.scalar(0, 40);
  const vtr::fastv::select m(p);

  const index_t heads = r.extent(0, 4), rows = r.extent(0, 3), keys = r.extent(0, 48);
  attention at(r, heads, rows, keys);
  vtr::fastv::select::inputs in;
  in.attention = at.in;
  in.image_start = r.scalar(0, keys);
  in.image_count = r.scalar(0, keys);
  in.query_row = r.scalar(-1, rows);

  vtr::fastv::select::details extra;
  extra.image_scores = {42.0f};
  vtr::fastv::select::details* ex = r.flag() ? &extra : nullptr;
  vtr::plan out;
  const vtr::status s = run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws, ex); }, out);
  if (!s.ok()) {
    vtr_fuzz_check(extra.image_scores.size() == 1 && extra.image_scores[0] == 42.0f);
    return 0;
  }
  const index_t want = must(m.kept_count(in.attention.keys(), in.image_count), "kept_count");
  check_plan(out, in.attention.keys(), true, want);
  return 0;
}
