// vtr — FastV (ALGORITHMS §3.1): at decoder layer K, keep the image tokens the last prompt token attended
// to most at layer K−1 (head mean), drop the rest; every non-image token is kept.
//
// Reference: pkunlp-icler/FastV@d165972 (fv-hf.py:1072-1099, the no-cache prefill path; fv-orig.py:730-761,
// the in-place original with an absolute ATTENTION_RANK). The library returns the selection as a plan over
// the whole prefill sequence; the engine gathers hidden states (and layers ≥ K of the KV cache) with it and
// uses plan.kept() as the new position ids (original ids with gaps, §1.4).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/plan.hpp"
#include "../core/stage.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../ops/attention_input.hpp"
#include "detail/attention_span_select.hpp"
#include "../simd/simd.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace fastv {

/// How the number of kept image tokens is given (ALGORITHMS §3.1.1).
enum class count_rule {
  ratio,  ///< "hf" path: n = round_half_even(N_img·(1 − R)) (fv-hf.py:1082)
  rank,   ///< original in-place path: an absolute ATTENTION_RANK, clamped to N_img (fv-orig.py:746)
};

/// Python's round() on a double: nearest integer, ties to even (ALGORITHMS §0.5). Independent of the
/// floating-point rounding mode.
inline double round_half_even(double x) noexcept {
  const double f = std::floor(x);
  const double diff = x - f;  // exact for the magnitudes a token count can have
  if (diff > 0.5) return f + 1.0;
  if (diff < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

/// Parameters; the defaults are the paper/README setting K = 2, R = 0.5 (ALGORITHMS §3.1.2).
struct select_params {
  /// K: the scores come from layer K−1's attention and the tokens are removed from the input of layer K.
  /// Only validated (K = 0 is an error, §3.1.3: upstream substitutes a random mask there); the engine
  /// decides where it calls the method.
  index_t layer = 2;
  count_rule rule = count_rule::ratio;
  /// R: fraction of image tokens dropped, in [0, 1] (rule = ratio).
  double ratio = 0.5;
  /// Absolute number of image tokens kept, ≥ 0, clamped to N_img (rule = rank; the latency scripts use
  /// 72 / 144 / 288 / 432).
  index_t rank = 288;
};

/// FastV selection at layer K (prefill, one sequence).
class select {
 public:
  using params_type = select_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  static constexpr bool count_is_static = true;
  /// FastV's attention is the layer's own: causal, RoPE applied by the engine (ALGORITHMS §2.1 modes).
  static constexpr ops::attention_mode mode{true, false};

  select() = default;
  explicit select(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// What the engine supplies at layer K (ALGORITHMS §1.2, §1.3).
  struct inputs {
    /// Layer K−1's attention of the last prompt token over all L keys: probabilities [H][rows][L]
    /// (usually rows = 1), or q [rows][H][d] / k [L][H_kv][d] with RoPE and the rows' absolute positions
    /// (the softmax is then recomputed in fp32, §2.1).
    ops::attention_input attention;
    /// The image span [image_start, image_start + image_count) of the L-token sequence.
    index_t image_start = 0;
    index_t image_count = 0;
    /// Which of the given rows is the last prompt token; −1 = the last given row.
    index_t query_row = -1;
  };

  /// Optional extra outputs.
  struct details {
    std::vector<float> image_scores;      ///< [N_img] head-mean attention of the query row to each image token
    std::vector<index_t> kept_image_rel;  ///< ascending, relative to image_start
  };

  /// Kept image tokens for N_img image tokens (pure; ALGORITHMS §1.5).
  result<index_t> kept_image_count(index_t image_count) const {
    VTR_TRY(check_params());
    if (image_count < 0) return fail("argument 'image_count' = ", image_count, " must be non-negative");
    return image_keep(image_count);
  }

  /// Rows of the plan for an L-token sequence with N_img image tokens: L − N_img + kept image tokens.
  result<index_t> kept_count(index_t seq_len, index_t image_count) const {
    VTR_TRY(check_params());
    VTR_TRY(check_span(seq_len, 0, image_count));
    return seq_len - image_count + image_keep(image_count);
  }

  /// Selection plan over the L sequence rows (ascending; these are also the new position ids, §1.4).
  /// On error neither `out` nor `extra` is touched.
  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(check_params());
    const ops::attention_input& a = in.attention;
    const index_t L = a.keys(), rows = a.rows(), heads = a.heads();
    VTR_TRY(vtr::detail::validate_attention_views(a));
    if (heads < 1) return fail("argument 'attention' has no heads (", heads, ")");
    if (rows < 1) return fail("argument 'attention' has no query rows: FastV needs the last prompt token's row");
    VTR_TRY(check_span(L, in.image_start, in.image_count));
    const index_t qr = in.query_row < 0 ? rows - 1 : in.query_row;
    if (qr >= rows)
      return fail("argument 'query_row' = ", in.query_row, " is out of range for ", rows, " attention rows");
    const index_t n_img = in.image_count, start = in.image_start;
    const index_t n_keep = image_keep(n_img);

    // s_j = (1/H)·Σ_h A[h][q][start + j], the query row only; keep = [0, start) ∪ (top + start) ∪
    // [start + N_img, L), ascending (ALGORITHMS §3.1.1, fv-hf.py:1084-1086).
    return vtr::detail::try_select_span_by_attention<Arch>(a, mode, {qr, 1}, start, n_img, n_keep, out, ws,
                                                      extra ? &extra->image_scores : nullptr,
                                                      extra ? &extra->kept_image_rel : nullptr);
  }

  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra));
    return p;
  }

  /// The mask-only variant (fv-orig.py:764-808): 1 for every key the later layers may attend, 0 for the
  /// discarded image tokens — the same selection as a key mask of length plan.input_rows.
  static void key_mask(const vtr::plan& selection, std::vector<unsigned char>& mask) {
    mask.assign(static_cast<std::size_t>(selection.input_rows), 0);
    for (index_t o : selection.origin)
      if (o != vtr::plan::appended) mask[static_cast<std::size_t>(o)] = 1;
  }

 private:
  status check_params() const {
    if (p_.layer < 1)
      return fail("parameter 'layer' (K) = ", p_.layer,
                  " must be at least 1: FastV reads layer K−1's attention (upstream substitutes a random mask at K = 0)");
    if (p_.rule == count_rule::ratio && !(p_.ratio >= 0.0 && p_.ratio <= 1.0))
      return fail("parameter 'ratio' (R) = ", p_.ratio, " must be in [0, 1]");
    if (p_.rule == count_rule::rank && p_.rank < 0) return fail("parameter 'rank' = ", p_.rank, " must be non-negative");
    return {};
  }

  static status check_span(index_t seq_len, index_t start, index_t count) {
    if (seq_len < 0) return fail("sequence length ", seq_len, " must be non-negative");
    if (start < 0 || count < 0 || start > seq_len || count > seq_len - start)
      return fail("image span ", span_text{start, count}, " (arguments 'image_start', 'image_count') is not inside the ",
                  seq_len, " attention keys");
    return {};
  }

  // ALGORITHMS §0.5: 1 − R first, then one double product, then Python's round.
  index_t image_keep(index_t n_img) const noexcept {
    if (p_.rule == count_rule::rank) return std::min(p_.rank, n_img);
    const double n = round_half_even(static_cast<double>(n_img) * (1.0 - p_.ratio));
    return std::clamp<index_t>(static_cast<index_t>(n), 0, n_img);
  }

  params_type p_{};
};

}  // namespace fastv
VTR_NAMESPACE_END
