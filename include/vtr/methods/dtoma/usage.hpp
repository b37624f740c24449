// vtr — DToMA D3: usage tracking during decoding, with KV eviction (ALGORITHMS §3.6.4).
//
// Not a port of official code (DToMA has none, ALGORITHMS §3.6): the design notes' mechanism as the
// spec makes it exact. Also exported as vtr::policies::usage_tracker (methods/dtoma.hpp).
//
// Per generated token (iteration i = 1, 2, …), given that token's attention row at the tracked layer over
// the visual keys still cached, A_i [H][N_cur]:
//   used_j   = max_h A_i[h][j] > usage_threshold           (strict)
//   count_j += used_j
//   evict    = { j : count_j < i − unused_threshold }      (nothing before iteration unused_threshold + 1)
//   e        = max(0, min(|evict|, N_cur − min_keep)); if e < |evict| keep only the e members with the
//              lowest count (ties → lower index)
// The evicted tokens leave the tracked set for good and the state is renumbered to the survivors; the
// engine drops them from the KV cache of every layer (default; first_evicted_layer restricts that).
//
// The tracker owns its state, sized at construction; step() never allocates afterwards (the selection
// scratch comes from a workspace reserved up front).
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/stage.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/reduce.hpp"
#include "../../ops/topk.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace dtoma {

/// ALGORITHMS §3.6.1 defaults for D3.
struct usage_params {
  /// A token counts as used in an iteration when its max-over-heads attention is strictly above this.
  float usage_threshold = 0.1f;
  /// A token is evicted when it was used in fewer than (i − unused_threshold) of i iterations. ≥ 0.
  index_t unused_threshold = 5;
  /// Never evict below this many tracked tokens (lowest counts go first). ≥ 0.
  index_t min_keep = 1;
  /// Engine hints (not used by the tracker itself): the layer whose attention rows are fed to step()
  /// (−1 = the last decoder layer, §3.6.1), and the first layer whose KV cache drops evicted tokens
  /// (0 = every layer, the §3.6.4 default).
  index_t tracked_layer = -1;
  index_t first_evicted_layer = 0;
};

class usage_tracker {
 public:
  using params_type = usage_params;
  static constexpr vtr::stage stage = vtr::stage::decode;
  static constexpr bool is_query_conditioned = true;
  /// How many tokens survive depends on the attention (§1.5); the floor is min(n, min_keep).
  static constexpr bool count_is_static = false;

  /// An empty tracker (no tokens); assign a constructed one to use it.
  usage_tracker() = default;
  /// Tracks `n_tokens` visual tokens (their original ids 0…n−1). Throws vtr::invalid_input on bad
  /// parameters; try_create is the status form.
  explicit usage_tracker(index_t n_tokens, params_type p = {}) { raise_if_error(init(n_tokens, p)); }

  static result<usage_tracker> try_create(index_t n_tokens, params_type p = {}) {
    usage_tracker t;
    VTR_TRY(t.init(n_tokens, p));
    return result<usage_tracker>(std::move(t));
  }

  const params_type& params() const noexcept { return p_; }
  /// Tokens still tracked (N_cur).
  index_t size() const noexcept { return n_cur_; }
  /// Tokens tracked at construction (the most reset() accepts without allocating).
  index_t capacity() const noexcept { return static_cast<index_t>(ids_.size()); }
  /// Iterations seen since construction / reset.
  index_t iteration() const noexcept { return iter_; }
  /// Original id of each tracked token, ascending (current index → original index).
  vector_view<const index_t> original_ids() const noexcept { return {ids_.data(), {n_cur_}}; }
  /// Usage count per original token id; an evicted token keeps its count at eviction.
  vector_view<const index_t> counts() const noexcept { return {count_.data(), {n_orig_}}; }
  /// Lower bound of the tracked count: eviction never goes below min(n, min_keep).
  index_t min_kept_count() const noexcept { return std::min(n_orig_, p_.min_keep); }

  /// Starts a new request with the construction's token count (no allocation).
  void reset() noexcept { reset_unchecked(capacity()); }
  /// Starts a new request with n ≤ capacity() tokens (no allocation).
  status try_reset(index_t n_tokens) noexcept {
    if (n_tokens < 0 || n_tokens > capacity())
      return fail("argument 'n_tokens' = ", n_tokens, " must be in [0, ", capacity(), "] (the tracker's capacity)");
    reset_unchecked(n_tokens);
    return {};
  }
  void reset(index_t n_tokens) { raise_if_error(try_reset(n_tokens)); }

  /// One decode iteration. attn: [H][N_cur], the new token's post-softmax attention at the tracked layer
  /// restricted to the tracked visual keys, in current order. On success `evicted` views the tokens to
  /// evict — indices into the current set (before this step's renumbering), ascending — valid until the
  /// next step/reset; original_ids() then lists the survivors. On error the state is unchanged.
  /// A NaN probability never counts as used.
  status try_step(matrix_view<const float> attn, vector_view<const index_t>& evicted) {
    VTR_TRY(expect_shape("attn", attn, {-1, n_cur_}));
    const index_t H = attn.extent(0), n = n_cur_;
    if (H < 1) return fail("argument 'attn' has shape ", shape_of(attn), ": no heads");
    index_t n_ev = 0;
    float* mx = scratch_.data();
    if (n > 0) {
      // max over heads (§2.2 `max`), one pass over H·N_cur probabilities.
      const tensor_view<const float, 3> a3(attn.data_handle(), {H, index_t(1), n}, {attn.stride(0), n, index_t(1)});
      VTR_TRY(ops::try_reduce_attention(a3, ops::head_reduce::max, ops::row_reduce::max, vector_view<float>(mx, {n}), ws_));
    }
    ++iter_;  // nothing below can fail: the state changes only from here on
    if (n > 0) {
      const index_t bar = iter_ - p_.unused_threshold;  // evict when count < bar
      const index_t* ids = ids_.data();
      index_t* count = count_.data();
      index_t* ev = evict_.data();
      const float thr = p_.usage_threshold;
      for (index_t j = 0; j < n; ++j) {  // branch-free: each j is written, and kept when it is evicted
        const index_t c = count[ids[j]] + (mx[j] > thr ? 1 : 0);
        count[ids[j]] = c;
        ev[n_ev] = j;
        n_ev += c < bar ? 1 : 0;
      }
      const index_t e = std::max<index_t>(0, std::min(n_ev, n - p_.min_keep));
      if (e < n_ev) {
        // §3.6.4 floor: the e candidates with the lowest count, ties → lower index (bottom-k, §0.4).
        for (index_t i = 0; i < n_ev; ++i)
          mx[i] = static_cast<float>(count_[static_cast<std::size_t>(ids_[static_cast<std::size_t>(evict_[static_cast<std::size_t>(i)])])]);
        index_t* pick = pick_.data();
        auto got = ops::try_bottomk(vector_view<const float>(mx, {n_ev}), e, ops::order::ascending, vector_view<index_t>(pick, {e}), ws_);
        VTR_ASSERT(got.ok());
        for (index_t i = 0; i < e; ++i) pick[i] = evict_[static_cast<std::size_t>(pick[i])];  // ascending positions → ascending ids
        std::copy(pick, pick + e, evict_.begin());
        n_ev = e;
      }
      // Renumber to the survivors (in place, order kept), from the first evicted token on: most steps
      // evict nothing, and then nothing moves.
      index_t w = n_ev > 0 ? evict_[0] : n, r = 0;
      for (index_t j = w; j < n; ++j) {
        if (r < n_ev && evict_[static_cast<std::size_t>(r)] == j) {
          ++r;
          continue;
        }
        ids_[static_cast<std::size_t>(w++)] = ids_[static_cast<std::size_t>(j)];
      }
      n_cur_ = w;
    }
    evicted = vector_view<const index_t>(evict_.data(), {n_ev});
    return {};
  }

  /// As try_step; throws vtr::invalid_input on error.
  vector_view<const index_t> step(matrix_view<const float> attn) {
    vector_view<const index_t> ev;
    raise_if_error(try_step(attn, ev));
    return ev;
  }

 private:
  status init(index_t n, const params_type& p) {
    if (n < 0) return fail("argument 'n_tokens' must be >= 0 (got ", n, ")");
    if (!std::isfinite(p.usage_threshold)) return fail("parameter 'usage_threshold' must be finite (got ", p.usage_threshold, ")");
    if (p.unused_threshold < 0) return fail("parameter 'unused_threshold' must be >= 0 (got ", p.unused_threshold, ")");
    if (p.min_keep < 0) return fail("parameter 'min_keep' must be >= 0 (got ", p.min_keep, ")");
    if (static_cast<std::size_t>(n) > ids_.max_size() / 4)  // a request no allocation can satisfy
      return fail("argument 'n_tokens' = ", n, " is more tokens than a tracker can hold");
    p_ = p;
    const auto sz = static_cast<std::size_t>(n);
    ids_.assign(sz, 0);
    count_.assign(sz, 0);
    evict_.assign(sz, 0);
    pick_.assign(sz, 0);
    scratch_.assign(std::max<std::size_t>(sz, 1), 0.0f);
    // bottomk: one 64-bit key per candidate plus a bitmap of them (ops/topk.hpp), with alignment slack.
    ws_.reserve(sizeof(std::uint64_t) * (sz + sz / 64 + 2) + 4 * workspace::alignment);
    reset_unchecked(n);
    return {};
  }
  void reset_unchecked(index_t n) noexcept {
    n_orig_ = n;
    n_cur_ = n;
    iter_ = 0;
    for (index_t j = 0; j < n; ++j) {
      ids_[static_cast<std::size_t>(j)] = j;
      count_[static_cast<std::size_t>(j)] = 0;
    }
  }

  params_type p_{};
  index_t n_orig_ = 0, n_cur_ = 0, iter_ = 0;
  std::vector<index_t> ids_, count_, evict_, pick_;
  std::vector<float> scratch_;
  workspace ws_;
};

}  // namespace dtoma
VTR_NAMESPACE_END
