// Fuzz target: DToMA (vtr/methods/dtoma.hpp): D1 quadtree merge, D2 text-guided selection and the D3
// decode-time usage tracker, picked by the first byte.
#include "fuzz_common.hpp"

#include <vtr/methods/dtoma.hpp>

using namespace vtr_fuzz;

namespace {

void quadtree(reader& r) {
  vtr::dtoma::quadtree_params p;
  p.merge_threshold = static_cast<float>(r.real(-1.0, 1.0));
  p.max_depth = r.scalar(0, 4);
  const vtr::dtoma::quadtree m(p);
  vtr::dtoma::quadtree::inputs in;
  in.frames = r.scalar(0, 3);
  in.grid_h = r.scalar(0, 7);
  in.grid_w = r.scalar(0, 7);
  const bool fits = in.frames >= 0 && in.frames <= 3 && in.grid_h >= 0 && in.grid_h <= 7 && in.grid_w >= 0 && in.grid_w <= 7;
  const index_t rows = fits && r.byte() < 230 ? in.frames * in.grid_h * in.grid_w : r.extent(0, 150);
  owned_tensor<2> tok(r, {rows, r.extent(0, 5)}, r.byte() < 40);
  in.tokens = tok.view();
  vtr::dtoma::quadtree::details extra;
  extra.sizes = {-4};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws, &extra); }, out).ok()) {
    vtr_fuzz_check(extra.sizes.size() == 1 && extra.sizes[0] == -4);
    return;
  }
  auto lo = m.min_kept_count(in.frames, in.grid_h, in.grid_w), hi = m.max_kept_count(in.frames, in.grid_h, in.grid_w);
  vtr_fuzz_check(lo.ok() && hi.ok() && out.size() >= lo.value() && out.size() <= hi.value());
  check_plan(out, rows, false, -1);
  std::vector<int> seen(static_cast<std::size_t>(rows), 0);  // the cells partition every frame
  for (index_t row = 0; row < out.size(); ++row) {
    auto [b, e] = out.sources_of(row);
    for (; b != e; ++b) ++seen[static_cast<std::size_t>(*b)];
  }
  for (int c : seen) vtr_fuzz_check(c == 1);
}

void select(reader& r) {
  vtr::dtoma::select_params p;
  p.keep_ratio = r.real(0.0, 1.2);
  p.text_boost = static_cast<float>(r.real(0.0, 4.0));
  p.text_ref_threshold = static_cast<float>(r.real(0.0, 1.0));
  const vtr::dtoma::select m(p);
  const index_t keys = r.extent(0, 48);
  attention at(r, r.extent(0, 3), r.extent(0, 3), keys);
  vtr::dtoma::select::inputs in;
  in.attn = at.in;
  in.visual_begin = r.scalar(0, keys);
  in.visual_count = r.scalar(-1, keys);
  std::vector<float> rel(static_cast<std::size_t>(r.flag() ? r.extent(0, 48) : 0));
  for (auto& x : rel) x = r.byte() < 230 ? static_cast<float>(r.byte()) / 255.0f : r.value();
  in.relevance = vtr::view_of(std::as_const(rel));
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, out).ok()) return;
  const index_t n = in.visual_count < 0 ? keys - in.visual_begin : in.visual_count;
  const index_t want = must(m.kept_count(n), "kept_count");
  check_plan(out, n, true, want);
}

void usage(reader& r) {
  vtr::dtoma::usage_params p;
  p.usage_threshold = static_cast<float>(r.real(0.0, 1.0));
  p.unused_threshold = r.scalar(0, 6);
  p.min_keep = r.scalar(0, 6);
  const std::uint8_t k = r.byte();  // small, negative, or beyond what can be allocated (not merely large)
  const index_t n = k < 230 ? r.extent(-1, 30) : std::numeric_limits<index_t>::max() - r.extent(0, 3);
  auto t = vtr::dtoma::usage_tracker::try_create(n, p);
  if (!t) {
    vtr_fuzz_check(!t.error().message().empty());
    return;
  }
  vtr::dtoma::usage_tracker& u = t.value();
  const index_t steps = r.extent(0, 12);
  for (index_t s = 0; s < steps && r.remaining() > 0; ++s) {
    const index_t n = u.size();
    const index_t before = n;
    owned_tensor<2> row(r, {r.extent(0, 3), r.byte() < 240 ? n : r.extent(0, 30)}, r.byte() < 40);
    vtr::vector_view<const index_t> ev;
    const vtr::status st = u.try_step(row.view(), ev);
    if (!st.ok()) {
      vtr_fuzz_check(u.size() == before);
      continue;
    }
    vtr_fuzz_check(u.size() + ev.extent(0) == before);
    vtr_fuzz_check(u.size() >= std::min(before, p.min_keep));
    for (index_t i = 0; i < ev.extent(0); ++i) {
      vtr_fuzz_check(ev(i) >= 0 && ev(i) < before);
      if (i) vtr_fuzz_check(ev(i) > ev(i - 1));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  switch (r.byte() % 3) {
    case 0: quadtree(r); break;
    case 1: select(r); break;
    default: usage(r); break;
  }
  return 0;
}
