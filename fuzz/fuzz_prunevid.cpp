// Fuzz target: PruneVid (vtr/methods/prunevid.hpp): stage 1 (temporal segments, static/dynamic split,
// DPC-kNN merges) on a decoded video, and stage 2 (grouped selection from the segment metadata).
#include "fuzz_common.hpp"

#include <vtr/methods/prunevid.hpp>

using namespace vtr_fuzz;

namespace {

void stage1(reader& r) {
  vtr::prunevid::stage1_params p;
  p.tau = static_cast<float>(r.real(0.0, 1.0));
  p.temporal_ratio = r.real(0.0, 1.0);
  p.cluster_ratio = r.real(0.0, 1.0);
  p.k = r.scalar(1, 8);
  p.min_merge = r.scalar(0, 8);
  const vtr::prunevid::stage1 m(p);
  const index_t F = r.extent(0, 6), nf = r.extent(0, 12), C = r.extent(0, 5);
  owned_tensor<3> video(r, {F, nf, C}, r.byte() < 40);
  std::vector<float> jitter(static_cast<std::size_t>(r.flag() ? r.extent(0, 90) : 0));
  for (auto& j : jitter) j = static_cast<float>(r.byte()) / 256.0f;
  vtr::prunevid::stage1::inputs in{video.view(), vtr::view_of(std::as_const(jitter))};
  vtr::prunevid::stage1::details extra;
  extra.window_sizes = {-5};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws, &extra); }, out).ok()) {
    vtr_fuzz_check(extra.window_sizes.size() == 1 && extra.window_sizes[0] == -5);
    return;
  }
  auto bound = m.kept_count_bound(F, nf);
  vtr_fuzz_check(bound.ok() && out.size() <= bound.value());
  check_plan(out, F * nf, false, -1);
  // Every input row is a source of exactly one output row (§3.5.2), and the metadata adds up.
  std::vector<int> seen(static_cast<std::size_t>(F * nf), 0);
  for (index_t row = 0; row < out.size(); ++row) {
    auto [b, e] = out.sources_of(row);
    for (; b != e; ++b) ++seen[static_cast<std::size_t>(*b)];
  }
  if (!out.is_selection())
    for (int c : seen) vtr_fuzz_check(c == 1);
  index_t total = 0;
  for (std::size_t s = 0; s < extra.window_sizes.size(); ++s) total += extra.static_sizes[s] + extra.dynamic_sizes[s];
  vtr_fuzz_check(total == out.size());
}

void stage2(reader& r) {
  vtr::prunevid::stage2_params p;
  p.alpha = r.real(0.0, 1.0);
  p.layer = r.scalar(1, 12);
  p.source = static_cast<vtr::prunevid::attention_source>(r.byte() % 2);
  const vtr::prunevid::stage2 m(p);
  const index_t S = r.extent(0, 4);
  std::vector<index_t> st, dy, w;
  index_t n_vid = 0;
  for (index_t s = 0; s < S; ++s) {
    w.push_back(r.byte() < 240 ? r.extent(1, 3) : r.scalar(0, 3));
    st.push_back(r.byte() < 240 ? r.extent(0, 6) : r.scalar(0, 6));
    dy.push_back(r.byte() < 240 && w.back() >= 1 && w.back() <= 3 ? w.back() * r.extent(0, 4) : r.scalar(0, 12));
    if (w.back() >= 1 && w.back() <= 3 && st.back() >= 0 && st.back() <= 6 && dy.back() >= 0 && dy.back() <= 12)
      n_vid += st.back() + dy.back();
  }
  vtr::prunevid::stage2::inputs in;
  in.segments = {vtr::view_of(std::as_const(st)), vtr::view_of(std::as_const(dy)), vtr::view_of(std::as_const(w))};
  in.prefix = r.byte() < 240 ? r.extent(0, 4) : r.scalar(0, 4);
  const index_t nt = r.extent(0, 4);
  in.suffix = r.flag() ? index_t(-1) : r.scalar(0, 4);
  const index_t P = std::clamp<index_t>(in.prefix, 0, 4);
  const index_t keys = r.flag() ? n_vid : P + n_vid + nt;
  attention at(r, r.extent(0, 3), nt, r.flag() ? keys : r.extent(0, 80));
  in.attention = at.in;
  if (in.prefix > 4) {  // a huge prefix must be rejected (overflow) or is an absurd request
    auto c = m.kept_count(in.prefix, in.suffix < 0 ? nt : in.suffix, in.segments);
    if (c.ok() && absurd(c.value())) return;
  }
  vtr::prunevid::stage2::details extra;
  extra.kept_rel = {-9};
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws, &extra); }, out).ok()) {
    vtr_fuzz_check(extra.kept_rel.size() == 1 && extra.kept_rel[0] == -9);
    return;
  }
  // The accepted segments may include ones the generator did not count in n_vid (a window of any size
  // with no dynamic tokens is valid), so the expected row count is the sum over every segment.
  const index_t suffix = in.suffix < 0 ? nt : in.suffix;
  index_t rows = in.prefix + suffix;
  for (index_t s = 0; s < S; ++s) rows += st[static_cast<std::size_t>(s)] + dy[static_cast<std::size_t>(s)];
  const index_t want = must(m.kept_count(in.prefix, suffix, in.segments), "kept_count");
  check_plan(out, rows, true, want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  if (r.flag()) stage1(r);
  else stage2(r);
  return 0;
}
