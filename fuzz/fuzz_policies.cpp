// Fuzz target: the generic video policies (vtr/policies/): consecutive_frame_dedup, frame_gate and
// keep_ratio_topk, with caller scores or attention (probabilities or Q/K) and a visual key span.
#include "fuzz_common.hpp"

#include <vtr/policies/frame_dedup.hpp>
#include <vtr/policies/frame_gate.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

using namespace vtr_fuzz;

namespace {

// Fills a score_source: caller scores or an attention block with a visual key span.
struct source {
  std::vector<float> scores;
  std::unique_ptr<attention> at;
  index_t n = 0;  // visual tokens it describes when valid

  void fill(reader& r, vtr::policies::detail::score_source& s) {
    if (r.flag()) {
      scores.resize(static_cast<std::size_t>(r.extent(0, 48)));
      for (auto& x : scores) x = r.byte() < 200 ? static_cast<float>(r.byte()) / 64.0f : r.value();
      s.scores = vtr::view_of(std::as_const(scores));
      n = static_cast<index_t>(scores.size());
      return;
    }
    const index_t keys = r.extent(0, 48);
    at = std::make_unique<attention>(r, r.extent(0, 3), r.extent(0, 3), keys);
    s.attn = at->in;
    s.visual_begin = r.scalar(0, keys);
    s.visual_count = r.scalar(-1, keys);
    n = s.visual_count >= 0 ? s.visual_count : (s.visual_begin >= 0 && s.visual_begin <= keys ? keys - s.visual_begin : -1);
  }
};

void dedup(reader& r) {
  vtr::policies::consecutive_frame_dedup_params p;
  p.threshold = static_cast<float>(r.real(-1.0, 1.0));
  const vtr::policies::consecutive_frame_dedup m(p);
  vtr::policies::consecutive_frame_dedup::inputs in;
  in.frames = r.scalar(1, 6);
  owned_tensor<2> tok(r, {r.extent(0, 60), r.extent(0, 5)}, r.byte() < 40);
  in.tokens = tok.view();
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, out).ok()) return;
  const index_t nf = tok.ext[0] / in.frames;
  auto lo = m.min_kept_count(in.frames, nf), hi = m.max_kept_count(in.frames, nf);
  vtr_fuzz_check(lo.ok() && hi.ok() && out.size() >= lo.value() && out.size() <= hi.value());
  check_plan(out, tok.ext[0], true, -1);
}

void gate(reader& r) {
  vtr::policies::frame_gate_params p;
  p.frame_threshold = static_cast<float>(r.real(0.0, 1.0));
  p.per_frame_keep = r.real(0.0, 1.0);
  p.min_frames = r.scalar(0, 4);
  p.heads = static_cast<vtr::ops::head_reduce>(r.byte() % 3);
  const vtr::policies::frame_gate m(p);
  vtr::policies::frame_gate::inputs in;
  source src;
  src.fill(r, in);
  in.frames = r.scalar(1, 6);
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, out).ok()) return;
  auto lo = m.min_kept_count(src.n, in.frames), hi = m.max_kept_count(src.n, in.frames);
  vtr_fuzz_check(lo.ok() && hi.ok() && out.size() >= lo.value() && out.size() <= hi.value());
  check_plan(out, src.n, true, -1);
}

void topk(reader& r) {
  vtr::policies::keep_ratio_topk_params p;
  p.ratio = r.real(0.0, 1.2);
  p.heads = static_cast<vtr::ops::head_reduce>(r.byte() % 3);
  p.rows = static_cast<vtr::ops::row_reduce>(r.byte() % 3);
  const vtr::policies::keep_ratio_topk m(p);
  vtr::policies::keep_ratio_topk::inputs in;
  source src;
  src.fill(r, in);
  in.frames = r.scalar(1, 6);
  vtr::plan out;
  if (!run_checked([&](vtr::plan& o, vtr::workspace& ws) { return m.try_plan(in, o, ws); }, out).ok()) return;
  const index_t want = must(m.kept_count(src.n, in.frames), "kept_count");
  check_plan(out, src.n, true, want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  switch (r.byte() % 3) {
    case 0: dedup(r); break;
    case 1: gate(r); break;
    default: topk(r); break;
  }
  return 0;
}
