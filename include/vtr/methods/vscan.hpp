// vtr — VScan (ALGORITHMS §3.4): a two-stage visual-token reduction.
//
//   stage1       LLaVA-1.5 / NeXT, after the projector (§3.4.2, §3.4.4): [CLS]-attention of a shallow encoder
//                layer picks tokens per window (local scan), a deep layer picks the rest (global scan); every
//                dropped token is averaged into its most cosine-similar kept token, in LLM embedding space.
//   stage1_qwen  Qwen2.5-VL, after the merger (§3.4.3): received-attention scores, greedy capped windows on
//                any merged grid, the same global scan and merge.
//   stage2       inside the LLM at layer K, prefill only (§3.4.5, §3.4.6): one query row's head-mean attention
//                ranks the visual tokens; the top `keep` survive.
//
// Reference: Tencent/SelfEvolvingAgent@a82450e, folder VScan/ (vs-arch.py, vs-llama.py, vs-qwen.py,
// vs-qutils.py). Every step returns a vtr::plan; vtr::apply(plan, x, out) writes the reduced tensor.
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/plan.hpp"
#include "../core/stage.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../ops/attention.hpp"
#include "../ops/attention_input.hpp"
#include "../ops/merge.hpp"
#include "../ops/reduce.hpp"
#include "../ops/topk.hpp"
#include "../simd/simd.hpp"
#include "detail/attention_span_select.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace vscan {

/// Position ids after a reduction (ALGORITHMS §1.4). VScan-LLaVA renumbers densely (the reduced sequence
/// occupies 0…len−1, text after the image shifts left); VScan-Qwen gathers the survivors' original
/// (M-RoPE) ids.
enum class position_policy {
  dense,     ///< new id of output row r is r (vs-arch.py:722, vs-llama.py:1490)
  original,  ///< new id of output row r is its original index plan.origin[r] (vs-qwen.py:174, 775)
};

/// The new position ids of a selection/merge plan under a policy (one per output row). For M-RoPE, gather
/// the (t, h, w) triples with plan.kept() instead.
inline void position_ids(const vtr::plan& p, position_policy policy, std::vector<index_t>& out) {
  out.resize(static_cast<std::size_t>(p.size()));
  for (index_t r = 0; r < p.size(); ++r) out[static_cast<std::size_t>(r)] = policy == position_policy::dense ? r : p.origin[r];
}

namespace detail {

/// Validates a [H][N] score-row view and head-means it into out[N] (ALGORITHMS §2.2 mean).
template <class Arch>
status head_mean_rows(const char* name, const matrix_view<const float>& a, index_t n, float* out, workspace& ws) {
  VTR_TRY(expect_shape(name, a, {-1, n}));
  if (a.extent(0) < 1) return fail("argument '", name, "' has shape ", shape_of(a), ": it needs at least one head");
  const tensor_view<const float, 3> a3(a.data_handle(), {a.extent(0), 1, n}, {a.stride(0), n, 1});
  status s = ops::try_reduce_attention<Arch>(a3, ops::head_reduce::mean, ops::row_reduce::mean, vector_view<float>(out, {n}), ws);
  if (!s.ok()) return fail("argument '", name, "': ", s.message());
  return {};
}

/// The top `k` of s over the indices not flagged in `excluded`, in rank order (§0.4: ties → lower index),
/// written to out. The candidates are compacted first so an excluded index can never be re-picked (the
/// library choice of §3.4.2 "Global exclusion"). Returns the count (k clamped to the candidates).
inline result<index_t> topk_excluding(const float* s, index_t n, const unsigned char* excluded, index_t k, index_t* out,
                                      workspace& ws) {
  workspace::scope sc(ws);
  float* cs = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
  index_t* ci = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
  index_t m = 0;
  for (index_t i = 0; i < n; ++i)
    if (!excluded[i]) {
      cs[m] = s[i];
      ci[m++] = i;
    }
  const index_t kk = std::clamp<index_t>(k, 0, m);
  auto got = ops::try_topk(vector_view<const float>(cs, {m}), kk, ops::order::by_rank, vector_view<index_t>(out, {kk}), ws);
  if (!got) return got.error();
  for (index_t i = 0; i < kk; ++i) out[i] = ci[out[i]];  // candidate order = index order, so ties still go low
  return kk;
}

/// kept = ascending(a ∪ b) for disjoint index lists, through a flag array over [0, n).
inline index_t ascending_union(const index_t* a, index_t na, const index_t* b, index_t nb, index_t n, unsigned char* flags,
                               index_t* out) {
  std::fill(flags, flags + n, static_cast<unsigned char>(0));
  for (index_t i = 0; i < na; ++i) flags[a[i]] = 1;
  for (index_t i = 0; i < nb; ++i) flags[b[i]] = 1;
  index_t c = 0;
  for (index_t i = 0; i < n; ++i)
    if (flags[i]) out[c++] = i;
  return c;
}

inline status check_merge_weight(float w) {
  if (!(w > 0.0f) || !std::isfinite(w))
    return fail("parameter 'keep_weight' = ", w, " must be finite and > 0 (upstream 'scaling', default 1)");
  return {};
}

}  // namespace detail

// =====================================================================================================
// Stage 1, LLaVA-1.5 / LLaVA-NeXT (ALGORITHMS §3.4.2, §3.4.4)

/// Defaults = the LLaVA-1.5 scripts (ALGORITHMS §3.4.1).
struct stage1_params {
  /// T (`visual_token_num`): the token budget. T ≥ N keeps every token unchanged (library rule, §3.4.7);
  /// otherwise ⌊T·(1 − global_ratio)⌋ must give each window at least one token (T ≥ 2·nW = 32 on 24×24).
  index_t budget = 96;
  /// Side of the square local-scan window on the patch grid (6 on 24×24: 16 windows).
  index_t window = 6;
  /// Share of T given to the global scan. Upstream hard-codes 0.5: local = ⌊T·(1 − g)⌋ rounded down to a
  /// multiple of nW, global = T − ⌊T·(1 − g)⌋ (with g = 0.5: ⌊T/2⌋ and T − ⌊T/2⌋).
  double global_ratio = 0.5;
  /// Weight of the kept token in its merge (upstream `scaling`, called with 1).
  float keep_weight = 1.0f;
};

class stage1 {
 public:
  using params_type = stage1_params;
  static constexpr vtr::stage stage = vtr::stage::projector;
  static constexpr bool is_query_conditioned = false;
  static constexpr bool count_is_static = true;
  /// The reduced image occupies consecutive positions (§1.4).
  static constexpr position_policy positions = position_policy::dense;

  stage1() = default;
  explicit stage1(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  /// One image / crop (ALGORITHMS §1.3).
  struct inputs {
    /// Post-projector features [N][D] (the merge runs in LLM embedding space, vs-arch.py:287-290).
    matrix_view<const float> features{};
    /// [CLS]-query probabilities to the N patch keys, [H][N], of the shallow (local) encoder layer (5) and
    /// the deep (global) one (L_enc − 2 = 22): the softmax over 1 + N keys, CLS column dropped, not
    /// renormalised. (A [H][1+N] CLS row becomes one by offsetting the pointer by one column.)
    matrix_view<const float> attn_shallow{};
    matrix_view<const float> attn_deep{};
    /// Patch grid, raster order; 0 × 0 = the square grid √N × √N.
    index_t grid_h = 0;
    index_t grid_w = 0;
  };

  /// Several crops of one image (LLaVA-NeXT anyres: base image + tiles, §3.4.4), each processed
  /// independently with the same T; the plan covers the B·N concatenated rows.
  struct crops_inputs {
    matrix_view<const float> features{};       ///< [B·N][D], crop-major
    tensor_view<const float, 3> attn_shallow{};  ///< [B][H][N]
    tensor_view<const float, 3> attn_deep{};     ///< [B][H][N]
    index_t grid_h = 0;
    index_t grid_w = 0;
  };

  struct details {
    std::vector<index_t> local_idx;   ///< window order, score order inside a window
    std::vector<index_t> global_idx;  ///< score order
    std::vector<index_t> assign;      ///< kept slot of each dropped token, dropped tokens ascending
  };

  /// Kept tokens for N tokens on a grid_h × grid_w grid (0 × 0 = square; ALGORITHMS §1.5):
  /// N when T ≥ N, else nW·⌊T_loc/nW⌋ + (T − T_loc), which can be less than T (98 for T = 100).
  result<index_t> kept_count(index_t n, index_t grid_h = 0, index_t grid_w = 0) const {
    VTR_TRY(check_params());
    if (n < 0) return fail("argument 'n' = ", n, " must be non-negative");
    VTR_TRY(resolve_grid(n, grid_h, grid_w));
    counts c{};
    VTR_TRY(split(n, grid_h, grid_w, c));
    return c.passthrough ? n : c.local + c.global;
  }

  /// Plan over the N rows of one crop: one row per kept token (ascending), each the mean of itself and the
  /// dropped tokens assigned to it (§2.6). T ≥ N gives the identity selection. Nothing is written on error.
  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(check_params());
    VTR_TRY(validate_view("features", in.features));
    const index_t n = in.features.extent(0);
    index_t gh = in.grid_h, gw = in.grid_w;
    VTR_TRY(resolve_grid(n, gh, gw));
    counts c{};
    VTR_TRY(split(n, gh, gw, c));
    workspace::scope sc(ws);
    float* s_loc = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    float* s_glb = ws.take<float>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    // S_l[n] = (1/H)·Σ_h A_enc[l][h][n] (vs-arch.py:256); validated even for a passthrough.
    VTR_TRY(detail::head_mean_rows<Arch>("attn_shallow", in.attn_shallow, n, s_loc, ws));
    VTR_TRY(detail::head_mean_rows<Arch>("attn_deep", in.attn_deep, n, s_glb, ws));

    if (c.passthrough) {  // T ≥ N: every token, unchanged (library rule, §3.4.7)
      out.reset(n);
      out.origin.resize(static_cast<std::size_t>(n));
      std::iota(out.origin.begin(), out.origin.end(), index_t(0));
      if (extra) {
        extra->local_idx.clear();
        extra->global_idx.clear();
        extra->assign.clear();
      }
      return {};
    }

    index_t* local = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(c.local, 1)));
    index_t* global = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(c.global, 1)));
    index_t* kept = ws.take<index_t>(static_cast<std::size_t>(c.local + c.global));
    auto* flags = ws.take<unsigned char>(static_cast<std::size_t>(n));
    // Local scan: per-window top-k_w on the shallow scores, windows row-major (§2.4 windowed_topk).
    auto nl = ops::try_windowed_topk(vector_view<const float>(s_loc, {n}), gh, gw, p_.window, c.per_window,
                                     vector_view<index_t>(local, {c.local}), ws);
    if (!nl) return fail("argument 'attn_shallow': ", nl.error().message());
    VTR_ASSERT(nl.value() == c.local);
    // Global scan: the top T − T_loc deep scores among the tokens the local scan did not take.
    if (first_nan(s_glb, n)) return fail("argument 'attn_deep' (shape ", shape_of(in.attn_deep), ") gives NaN scores");
    std::fill(flags, flags + n, static_cast<unsigned char>(0));
    for (index_t i = 0; i < c.local; ++i) flags[local[i]] = 1;
    auto ng = detail::topk_excluding(s_glb, n, flags, c.global, global, ws);
    if (!ng) return ng.error();
    VTR_ASSERT(ng.value() == c.global);
    const index_t k = detail::ascending_union(local, c.local, global, c.global, n, flags, kept);
    VTR_ASSERT(k == c.local + c.global);
    // Merge every dropped token into its nearest kept token (§2.6); writes `out` only on success.
    std::vector<index_t>* assign = extra ? &extra->assign : nullptr;
    VTR_TRY(ops::try_nearest_kept_merge<Arch>(in.features, vector_view<const index_t>(kept, {k}), p_.keep_weight, out, assign, ws));
    if (extra) {
      extra->local_idx.assign(local, local + c.local);
      extra->global_idx.assign(global, global + c.global);
    }
    return {};
  }

  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra));
    return p;
  }

  /// Plan over the B·N rows of B crops (crop b's rows are [b·N, (b+1)·N)); output rows are crop 0's kept
  /// tokens, then crop 1's, … (ascending overall). `extra`, when given, receives one details per crop with
  /// crop-relative indices. Nothing is written on error.
  template <class Arch = simd::default_arch>
  status try_plan_crops(const crops_inputs& in, vtr::plan& out, workspace& ws, std::vector<details>* extra = nullptr) const {
    VTR_TRY(validate_view("attn_shallow", in.attn_shallow));
    VTR_TRY(validate_view("attn_deep", in.attn_deep));
    VTR_TRY(validate_view("features", in.features));
    const index_t b = in.attn_shallow.extent(0), n = in.attn_shallow.extent(2);
    VTR_TRY(expect_shape("attn_deep", in.attn_deep, {b, -1, n}));
    VTR_TRY(expect_shape("features", in.features, {b * n, -1}));
    vtr::plan acc, one;
    acc.reset(b * n);
    std::vector<details> per(extra ? static_cast<std::size_t>(b) : 0);
    for (index_t crop = 0; crop < b; ++crop) {
      inputs ci;
      ci.features = in.features.subrows(crop * n, n);
      ci.attn_shallow = in.attn_shallow[crop];
      ci.attn_deep = in.attn_deep[crop];
      ci.grid_h = in.grid_h;
      ci.grid_w = in.grid_w;
      status s = try_plan<Arch>(ci, one, ws, extra ? &per[static_cast<std::size_t>(crop)] : nullptr);
      if (!s.ok()) return fail("crop ", crop, " of ", b, ": ", s.message());
      const index_t off = crop * n;
      for (index_t r = 0; r < one.size(); ++r) {
        if (one.is_selection()) {
          acc.add_copy(one.origin[r] + off);
          continue;
        }
        const index_t t0 = one.offsets[r], t1 = one.offsets[r + 1];
        for (index_t t = t0; t < t1; ++t) one.sources[t] += off;
        acc.add_merge(one.origin[r] + off, one.sources.data() + t0, t1 - t0, one.weights.data() + t0, one.divisors[r]);
      }
    }
    out = std::move(acc);
    if (extra) *extra = std::move(per);
    return {};
  }

  template <class Arch = simd::default_arch>
  vtr::plan plan_crops(const crops_inputs& in, workspace& ws, std::vector<details>* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan_crops<Arch>(in, p, ws, extra));
    return p;
  }

 private:
  struct counts {
    bool passthrough = false;
    index_t per_window = 0, local = 0, global = 0;
  };

  static bool first_nan(const float* s, index_t n) noexcept {
    for (index_t i = 0; i < n; ++i)
      if (s[i] != s[i]) return true;
    return false;
  }

  status check_params() const {
    if (p_.budget < 0) return fail("parameter 'budget' (T) = ", p_.budget, " must be non-negative");
    if (p_.window < 1) return fail("parameter 'window' = ", p_.window, " must be at least 1");
    if (!(p_.global_ratio >= 0.0 && p_.global_ratio <= 1.0))
      return fail("parameter 'global_ratio' = ", p_.global_ratio, " must be in [0, 1]");
    return detail::check_merge_weight(p_.keep_weight);
  }

  static status resolve_grid(index_t n, index_t& gh, index_t& gw) {
    if (gh == 0 && gw == 0) {
      auto s = static_cast<index_t>(std::llround(std::sqrt(static_cast<double>(n))));
      if (s * s != n)
        return fail("features have ", n, " tokens, which is not a square grid; pass 'grid_h' and 'grid_w'");
      gh = gw = s;
    }
    if (gh < 0 || gw < 0 || !vtr::detail::product_fits(gh, gw) || gh * gw != n)
      return fail("grid ", gh, "x", gw, " (arguments 'grid_h', 'grid_w') does not hold the ", n, " tokens of 'features'");
    return {};
  }

  // ALGORITHMS §3.4.2 / §2.5 "split budget".
  status split(index_t n, index_t gh, index_t gw, counts& c) const {
    const index_t win = p_.window;
    if (gh % win != 0 || gw % win != 0)
      return fail("grid ", gh, "x", gw, " is not divisible by parameter 'window' = ", win,
                  " (VScan's local scan needs whole windows, ALGORITHMS §3.4.2)");
    c = counts{};
    if (p_.budget >= n) {
      c.passthrough = true;
      return {};
    }
    const index_t t = p_.budget;
    const auto t_loc = static_cast<index_t>(static_cast<double>(t) * (1.0 - p_.global_ratio));  // int(T·0.5) upstream
    const index_t nw = (gh / win) * (gw / win);
    c.per_window = t_loc / nw;
    if (c.per_window == 0)
      return fail("parameter 'budget' (T) = ", t, " is too small: the local scan gives ⌊", t_loc, "/", nw,
                  "⌋ = 0 tokens per window (VScan needs a local budget of at least nW = ", nw,
                  ", i.e. T >= 2·", nw, " for global_ratio 0.5; upstream raises IndexError)");
    c.per_window = std::min(c.per_window, win * win);
    c.local = nw * c.per_window;
    c.global = std::min(t - t_loc, n - c.local);  // T − T_loc, NOT T − |local| (§3.4.2)
    return {};
  }

  params_type p_{};
};

// =====================================================================================================
// Stage 1, Qwen2.5-VL (ALGORITHMS §3.4.3)

/// Defaults = the Qwen2.5-VL scripts (ALGORITHMS §3.4.1).
struct stage1_qwen_params {
  /// r (`image_token_ratio`): n_keep = ⌊r·n⌋ (double product), clamped to n; 0.167 (RefCOCO: 0.6).
  double ratio = 0.167;
  /// Side of the local-scan window on the merged grid; a side shorter than it is one window (library rule).
  index_t window = 4;
  /// Weight of the kept token in its merge (upstream `scaling`, 1).
  float keep_weight = 1.0f;
};

class stage1_qwen {
 public:
  using params_type = stage1_qwen_params;
  static constexpr vtr::stage stage = vtr::stage::projector;
  static constexpr bool is_query_conditioned = false;
  static constexpr bool count_is_static = true;
  /// Survivors keep their original M-RoPE (t, h, w) ids: gather them with plan.kept() (§1.4).
  static constexpr position_policy positions = position_policy::original;

  stage1_qwen() = default;
  explicit stage1_qwen(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  struct inputs {
    /// Received-attention score per merged token, raster order on the merged grid (§3.4.3 steps 1-4: head
    /// sum, mean over query rows, 2×2 mean, window permutation undone), of the first full-attention block
    /// (local scan) and of the last block (global scan).
    vector_view<const float> local_scores{};
    vector_view<const float> global_scores{};
    /// Merged-token embeddings [n][D] (after the merger, i.e. LLM embedding space).
    matrix_view<const float> features{};
    /// Merged grid (n = grid_h·grid_w); any size.
    index_t grid_h = 0;
    index_t grid_w = 0;
  };

  struct details {
    std::vector<index_t> local_idx;   ///< acceptance (score) order
    std::vector<index_t> global_idx;  ///< score order
    std::vector<index_t> assign;      ///< kept slot of each dropped token, dropped tokens ascending
  };

  /// Kept tokens on a grid_h × grid_w merged grid (pure): ⌊r·n⌋, less only when the window caps bind
  /// (a window smaller than the cap), which the grid alone determines.
  result<index_t> kept_count(index_t grid_h, index_t grid_w) const {
    VTR_TRY(check_params());
    counts c{};
    VTR_TRY(split(grid_h, grid_w, c));
    return c.local + c.global;
  }

  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(check_params());
    counts c{};
    VTR_TRY(split(in.grid_h, in.grid_w, c));
    const index_t n = in.grid_h * in.grid_w;
    VTR_TRY(expect_shape("features", in.features, {n, -1}));
    VTR_TRY(expect_shape("local_scores", in.local_scores, {n}));
    VTR_TRY(expect_shape("global_scores", in.global_scores, {n}));
    workspace::scope sc(ws);
    // Contiguous copies: the kernels take unit-stride score vectors.
    float* s_loc = ws.take<float>(static_cast<std::size_t>(n));
    float* s_glb = ws.take<float>(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
      s_loc[i] = in.local_scores(i);
      s_glb[i] = in.global_scores(i);
      if (s_glb[i] != s_glb[i]) return fail("argument 'global_scores' (shape ", shape_of(in.global_scores), ") holds NaN at ", i);
    }
    index_t* local = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(c.local_target, 1)));
    index_t* global = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(c.global, 1)));
    index_t* kept = ws.take<index_t>(static_cast<std::size_t>(c.local + c.global));
    auto* flags = ws.take<unsigned char>(static_cast<std::size_t>(n));
    // Local: greedy over all tokens in score order, at most ⌈n_loc/nW⌉ per window (vs-qutils.py:136-193).
    auto nl = ops::try_greedy_capped_windows(vector_view<const float>(s_loc, {n}), in.grid_h, in.grid_w, p_.window,
                                             c.local_target, vector_view<index_t>(local, {c.local_target}), ws);
    if (!nl) return fail("argument 'local_scores': ", nl.error().message());
    VTR_ASSERT(nl.value() == c.local);
    // Global: n_keep − n_keep//2 among the rest (upstream zeroes s_glb[local]; the library excludes them).
    std::fill(flags, flags + n, static_cast<unsigned char>(0));
    for (index_t i = 0; i < c.local; ++i) flags[local[i]] = 1;
    auto ng = detail::topk_excluding(s_glb, n, flags, c.global, global, ws);
    if (!ng) return ng.error();
    VTR_ASSERT(ng.value() == c.global);
    const index_t k = detail::ascending_union(local, c.local, global, c.global, n, flags, kept);
    std::vector<index_t>* assign = extra ? &extra->assign : nullptr;
    VTR_TRY(ops::try_nearest_kept_merge<Arch>(in.features, vector_view<const index_t>(kept, {k}), p_.keep_weight, out, assign, ws));
    if (extra) {
      extra->local_idx.assign(local, local + c.local);
      extra->global_idx.assign(global, global + c.global);
    }
    return {};
  }

  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra));
    return p;
  }

 private:
  struct counts {
    index_t local_target = 0, local = 0, global = 0;
  };

  status check_params() const {
    if (!(p_.ratio >= 0.0) || !std::isfinite(p_.ratio)) return fail("parameter 'ratio' = ", p_.ratio, " must be finite and >= 0");
    if (p_.window < 1) return fail("parameter 'window' = ", p_.window, " must be at least 1");
    return detail::check_merge_weight(p_.keep_weight);
  }

  // ALGORITHMS §3.4.3 / §2.5: n_keep = int(r·n); local = n_keep//2 (capped windows), global = the rest.
  status split(index_t gh, index_t gw, counts& c) const {
    if (gh < 1 || gw < 1) return fail("merged grid ", gh, "x", gw, " (arguments 'grid_h', 'grid_w') must be at least 1x1");
    if (!vtr::detail::product_fits(gh, gw))
      return fail("merged grid ", gh, "x", gw, " (arguments 'grid_h', 'grid_w') has more tokens than index_t can count");
    const index_t n = gh * gw;
    const index_t n_keep = vtr::detail::clamp_count(static_cast<double>(n) * p_.ratio, n);  // a count > n is clamped (§0.9)
    if (n_keep < 1)
      return fail("parameter 'ratio' = ", p_.ratio, " keeps ⌊", p_.ratio, "·", n, "⌋ = 0 of the ", n,
                  " tokens: the merge needs at least one kept token");
    c.local_target = n_keep / 2;
    // Library rule (§3.4.3): a side shorter than the window is one window; remainders fold into the last.
    const index_t win = p_.window;
    const index_t nwh = std::max<index_t>(1, gh / win), nww = std::max<index_t>(1, gw / win);
    const index_t nwin = nwh * nww, cap = c.local_target / nwin + (c.local_target % nwin != 0);  // ⌈·⌉ without overflow
    // room = Σ_w min(cap, cells_w), what the greedy scan can accept at most. Only four window sizes exist
    // (inner, last column, last row, corner), so it is summed per size: O(1) even for a huge grid.
    const index_t last_r = gh - win * (nwh - 1), last_c = gw - win * (nww - 1);
    // A term is formed only when its windows exist, so each product stays within gh·gw.
    index_t room = std::min(cap, last_r * last_c);
    if (nwh > 1) room += (nwh - 1) * std::min(cap, win * last_c);
    if (nww > 1) room += (nww - 1) * std::min(cap, last_r * win);
    if (nwh > 1 && nww > 1) room += (nwh - 1) * (nww - 1) * std::min(cap, win * win);
    c.local = std::min(c.local_target, room);
    c.global = std::min(n_keep - n_keep / 2, n - c.local);
    return {};
  }

  params_type p_{};
};

// =====================================================================================================
// Stage 2, inside the LLM at layer K (ALGORITHMS §3.4.5 LLaVA, §3.4.6 Qwen2.5-VL)

/// How the kept visual count is given.
enum class keep_rule {
  absolute,  ///< min(keep, n_v) (LLaVA: image_token_list[i+1])
  ratio,     ///< ⌊keep_ratio·n_v⌋ (Qwen: int(0.333·n))
};

/// Which query rows score the visual tokens (ALGORITHMS §2.3).
enum class query_rows {
  single,  ///< one row (inference: the last prompt token; `inputs::query_row`)
  mean,    ///< the mean over every given row (upstream training mode, mean_rows(R))
};

/// Defaults = LLaVA-1.5 (576 → 96 → 32 from layer 16). qwen() gives the Qwen2.5-VL setting.
struct stage2_params {
  keep_rule rule = keep_rule::absolute;
  index_t keep = 32;
  double keep_ratio = 0.333;
  /// K: the layer whose input is pruned (scores from layer K's q/k recomputed on layer K−1's output). Only
  /// validated (≥ 1); the engine decides where it calls the method.
  index_t layer = 16;
  /// New position ids of the survivors: dense renumbering (LLaVA) or original ids (Qwen, M-RoPE) — §1.4.
  position_policy positions = position_policy::dense;
  query_rows query = query_rows::single;
  /// Q/K form only: replace ±inf logits by 0 before the softmax (Qwen parity, vs-qwen.py:744-745).
  bool nonfinite_to_zero = false;

  static stage2_params llava() { return {}; }
  /// K = 14, keep int(0.333·n), no RoPE on q/k (the engine passes unrotated q/k), ±inf logits → 0,
  /// original position ids (ALGORITHMS §3.4.6).
  static stage2_params qwen() {
    stage2_params p;
    p.rule = keep_rule::ratio;
    p.keep_ratio = 0.333;
    p.layer = 14;
    p.positions = position_policy::original;
    p.nonfinite_to_zero = true;
    return p;
  }
};

class stage2 {
 public:
  using params_type = stage2_params;
  static constexpr vtr::stage stage = vtr::stage::prefill_layer;
  static constexpr bool is_query_conditioned = true;
  static constexpr bool count_is_static = true;

  stage2() = default;
  explicit stage2(params_type p) : p_(p) {}
  const params_type& params() const noexcept { return p_; }

  struct inputs {
    /// Layer K's attention of the query row(s) over all S keys (prefix, visual, text; not renormalised):
    /// probabilities [H][rows][S], or q [rows][H][d] / k [S][H_kv][d] with the rows' absolute positions
    /// (LLaVA: RoPE'd at the current dense positions; Qwen: no RoPE). GQA heads are mapped by §2.1.
    ops::attention_input attention;
    /// The visual span [image_start, image_start + image_count) being ranked (NeXT parity: pass
    /// image_count = min(T, total_visual), §3.4.4).
    index_t image_start = 0;
    index_t image_count = 0;
    /// query = single: which given row scores; −1 = the last given row (the last prompt token, S − 1).
    index_t query_row = -1;
  };

  struct details {
    std::vector<float> scores;     ///< [n_v] head-mean attention per visual token
    std::vector<index_t> kept_rel;  ///< ascending, relative to image_start
  };

  /// Kept visual tokens out of n_v (pure; §1.5).
  result<index_t> kept_visual_count(index_t image_count) const {
    VTR_TRY(check_params());
    if (image_count < 0) return fail("argument 'image_count' = ", image_count, " must be non-negative");
    return visual_keep(image_count);
  }
  /// Rows of the plan for an S-token sequence: S − n_v + kept visual tokens.
  result<index_t> kept_count(index_t seq_len, index_t image_count) const {
    VTR_TRY(check_params());
    if (seq_len < 0 || image_count < 0 || image_count > seq_len)
      return fail("image_count ", image_count, " does not fit a sequence of ", seq_len, " tokens");
    return seq_len - image_count + visual_keep(image_count);
  }

  /// Selection plan over the S sequence rows: [prefix, kept visual (ascending), suffix] (vs-llama.py:1446-1490).
  /// New position ids: vscan::position_ids(plan, params().positions, ids). Nothing is written on error.
  template <class Arch = simd::default_arch>
  status try_plan(const inputs& in, vtr::plan& out, workspace& ws, details* extra = nullptr) const {
    VTR_TRY(check_params());
    const ops::attention_input& a = in.attention;
    VTR_TRY(vtr::detail::validate_attention_views(a));
    const index_t S = a.keys(), rows = a.rows(), heads = a.heads();
    if (heads < 1) return fail("argument 'attention' has no heads (", heads, ")");
    if (rows < 1) return fail("argument 'attention' has no query rows");
    const index_t img0 = in.image_start, nv = in.image_count;
    if (img0 < 0 || nv < 0 || img0 > S || nv > S - img0)
      return fail("visual span ", span_text{img0, nv}, " (arguments 'image_start', 'image_count') is not inside the ", S,
                  " attention keys");
    const index_t qr = in.query_row < 0 ? rows - 1 : in.query_row;
    if (p_.query == query_rows::single && qr >= rows)
      return fail("argument 'query_row' = ", in.query_row, " is out of range for ", rows, " attention rows");
    const index_t n_keep = visual_keep(nv);

    // score[j] = (1/H)·Σ_h p[h][qi][img0 + j] (vs-llama.py:1441-1443), or the mean over all given rows;
    // the plan is [prefix, kept visual (ascending), suffix] (vs-llama.py:1446-1490).
    const ops::attention_mode mode{true, p_.nonfinite_to_zero};  // causal in both variants (§2.1)
    const bool one = p_.query == query_rows::single;
    return vtr::detail::try_select_span_by_attention<Arch>(a, mode, {one ? qr : 0, one ? 1 : rows}, img0, nv, n_keep, out, ws,
                                                      extra ? &extra->scores : nullptr,
                                                      extra ? &extra->kept_rel : nullptr);
  }

  template <class Arch = simd::default_arch>
  vtr::plan plan(const inputs& in, workspace& ws, details* extra = nullptr) const {
    vtr::plan p;
    raise_if_error(try_plan<Arch>(in, p, ws, extra));
    return p;
  }

 private:
  status check_params() const {
    if (p_.layer < 1) return fail("parameter 'layer' (K) = ", p_.layer, " must be at least 1");
    if (p_.rule == keep_rule::absolute && p_.keep < 0) return fail("parameter 'keep' = ", p_.keep, " must be non-negative");
    if (p_.rule == keep_rule::ratio && (!(p_.keep_ratio >= 0.0) || !std::isfinite(p_.keep_ratio)))
      return fail("parameter 'keep_ratio' = ", p_.keep_ratio, " must be finite and >= 0");
    return {};
  }

  // keep ≥ n_v is the identity (min clamp, §3.4.7); keep = 0 removes every visual token.
  index_t visual_keep(index_t nv) const noexcept {
    if (p_.rule == keep_rule::absolute) return std::min(p_.keep, nv);
    return vtr::detail::clamp_count(static_cast<double>(nv) * p_.keep_ratio, nv);
  }

  params_type p_{};
};

}  // namespace vscan
VTR_NAMESPACE_END
