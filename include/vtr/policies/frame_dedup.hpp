// vtr — generic policy: drop a frame that repeats the frame before it (ALGORITHMS §4.7
// `consecutive_frame_dedup`).
//
// The design notes' PruneVid "temporal" step, kept under a neutral name: upstream PruneVid drops no frame
// at all (ALGORITHMS §4.4), so this is a separate pre-filter, not PruneVid.
//
//   keep = {0} ∪ { t+1 : cos(flat(F_t), flat(F_{t+1})) < τ } ∪ {F−1}        (strict <, ascending)
// The comparison is with the immediately preceding ORIGINAL frame, not the last kept one. cos is §0.7
// (x·y / sqrt(max(‖x‖²‖y‖², 1e-16)); a zero frame has cosine 0 with everything, so it is kept).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/plan.hpp"
#include "../core/stage.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../ops/similarity.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace policies {

struct consecutive_frame_dedup_params {
  /// τ: frame t+1 is dropped when its cosine with frame t is ≥ τ (kept when strictly below).
  float threshold = 0.9f;
};

/// Input: the tokens of F frames, frame-major, as one matrix [F·n_f][C] (each frame is flattened as its
/// n_f rows in order). Output: a selection plan over the F·n_f rows keeping every token of the kept frames
/// (ascending); details list the kept frames and the consecutive cosines.
class consecutive_frame_dedup {
 public:
  using params_type = consecutive_frame_dedup_params;
  static constexpr vtr::stage stage = vtr::stage::projector;
  static constexpr bool is_query_conditioned = false;
  /// Which frames repeat depends on the data.
  static constexpr bool count_is_static = false;

  consecutive_frame_dedup() = default;
  explicit consecutive_frame_dedup(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// Bounds of the kept token count: the first and last frames always stay (min(F, 2)·n_f), at most F·n_f.
  result<index_t> min_kept_count(index_t frames, index_t tokens_per_frame) const {
    VTR_TRY(check_shape(frames, tokens_per_frame));
    return std::min<index_t>(frames, 2) * tokens_per_frame;
  }
  result<index_t> max_kept_count(index_t frames, index_t tokens_per_frame) const {
    VTR_TRY(check_shape(frames, tokens_per_frame));
    return frames * tokens_per_frame;
  }

  struct inputs {
    matrix_view<const float> tokens{};  ///< [frames·n_f][C]
    index_t frames = 1;
  };
  struct details {
    std::vector<index_t> kept_frames;  ///< ascending
    std::vector<float> similarity;     ///< [F−1]: cos(F_t, F_{t+1})
  };

  /// `exec` (core/parallel.hpp; nullptr = serial) may compute the frames' norms and the consecutive dot
  /// products concurrently (item t: frame t's norm and its dot with frame t−1); the plan, details and errors
  /// are bit-identical to the serial run. No workspace is taken per item.
  status try_plan(const inputs& in, plan& out, workspace& ws, details* extra = nullptr, executor* exec = nullptr) const {
    if (std::isnan(p_.threshold)) return fail("parameter 'threshold' must not be NaN");
    VTR_TRY(validate_view("tokens", in.tokens));
    const index_t F = in.frames;
    if (F < 1) return fail("argument 'frames' must be >= 1 (got ", F, ")");
    if (in.tokens.extent(0) == 0 && F > 1)  // frames of zero tokens: F would only size scratch memory
      return fail("argument 'tokens' has shape ", shape_of(in.tokens), ": 'frames' = ", F, " frames of no tokens");
    if (in.tokens.extent(0) % F != 0)
      return fail("argument 'tokens' has shape ", shape_of(in.tokens), ": its rows do not split into 'frames' = ", F,
                  " equal frames");
    const index_t n_f = in.tokens.extent(0) / F, C = in.tokens.extent(1);
    workspace::scope sc(ws);
    float* sim = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(F - 1, 1)));
    index_t* keep = ws.take<index_t>(static_cast<std::size_t>(F));
    double* norm2 = ws.take<double>(static_cast<std::size_t>(F));
    double* dots = ws.take<double>(static_cast<std::size_t>(F));  // dots[t] = ⟨F_{t−1}, F_t⟩, t ≥ 1
    // Per-row partial sums are fp32 kernels; the frame totals add the rows in double (one frame is up to
    // n_f·C ≈ 0.6 M products). Frame t's first error is its non-finite norm, so the lowest failing item
    // is the frame the serial scan stops at.
    auto frame_terms = [&](index_t t, index_t, workspace&) -> status {
      double s = 0;
      for (index_t i = 0; i < n_f; ++i) s += double(ops::squared_norm(in.tokens.row(t * n_f + i), C));
      if (!std::isfinite(s)) return fail("argument 'tokens' ", shape_of(in.tokens), " has a non-finite value in frame ", t);
      norm2[t] = s;
      if (t > 0) {
        double dot = 0;
        for (index_t i = 0; i < n_f; ++i) dot += double(ops::dot(in.tokens.row((t - 1) * n_f + i), in.tokens.row(t * n_f + i), C));
        dots[t] = dot;
      }
      return {};
    };
    VTR_TRY(vtr::detail::run_items(exec, F, ws, frame_terms));
    index_t n_keep = 0;
    keep[n_keep++] = 0;
    for (index_t t = 0; t + 1 < F; ++t) {
      const float c = static_cast<float>(dots[t + 1] / std::sqrt(std::max(norm2[t] * norm2[t + 1], 1e-16)));
      sim[t] = c;
      if (c < p_.threshold || t + 1 == F - 1) keep[n_keep++] = t + 1;
    }
    out.reset(F * n_f);
    out.origin.resize(static_cast<std::size_t>(n_keep * n_f));
    for (index_t i = 0; i < n_keep; ++i)
      for (index_t l = 0; l < n_f; ++l) out.origin[static_cast<std::size_t>(i * n_f + l)] = keep[i] * n_f + l;
    if (extra) {
      extra->kept_frames.assign(keep, keep + n_keep);
      extra->similarity.assign(sim, sim + std::max<index_t>(F - 1, 0));
    }
    return {};
  }

  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr, executor* exec = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan(in, p, ws, extra, exec));
    return p;
  }

 private:
  static status check_shape(index_t frames, index_t n_f) {
    if (frames < 1) return fail("argument 'frames' must be >= 1 (got ", frames, ")");
    if (n_f < 0) return fail("argument 'tokens_per_frame' must be >= 0 (got ", n_f, ")");
    if (!vtr::detail::product_fits(frames, n_f))
      return fail("arguments 'frames' x 'tokens_per_frame' = ", frames, " x ", n_f, " count more tokens than index_t can");
    return {};
  }
  params_type p_{};
};

/// Short name (DESIGN §4's example spells it frame_dedup).
using frame_dedup = consecutive_frame_dedup;

}  // namespace policies
VTR_NAMESPACE_END
