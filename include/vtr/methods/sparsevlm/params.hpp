// vtr — SparseVLM: versions, parameters, keep tables and the per-event counts (ALGORITHMS §3.2, §1.5,
// §2.5, §0.5). Shared by sparsevlm/layer.hpp (one prune event) and sparsevlm/prefill.hpp (the driver).
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>

VTR_NAMESPACE_BEGIN
namespace sparsevlm {

/// Which upstream code the event reproduces (ALGORITHMS §0.1 SV1 / SV15 / SV2).
enum class version {
  v1,    ///< `Gumpest/SparseVLMs@91fb6d9`: rank rule, sparse layers 2, 6, 15, 19 (§3.2.7)
  v1_5,  ///< `@b9619e6`: fixed keep table, layers 2, 6, 15 — the library default (§3.2.4)
  v2,    ///< `@9e1f649` SparseVLM+: gravity correction, priority heads, no recycling (§3.2.8)
};

constexpr const char* version_name(version v) noexcept {
  switch (v) {
    case version::v1: return "v1";
    case version::v1_5: return "v1.5";
    case version::v2: return "v2";
  }
  return "?";
}

/// What an event does when the rater set is empty (ALGORITHMS §3.2.3: upstream averages zero rows and
/// selects on NaN scores).
enum class empty_raters {
  error,         ///< reject with vtr::invalid_input (default: a silent NaN selection is worse than an error)
  use_all_text,  ///< opt-in: every text row rates
};

/// Parameters of every SparseVLM version; each field says which versions read it. Defaults are the
/// reference defaults (ALGORITHMS §3.2.9).
struct prune_params {
  /// v1.5 / v2: the budget key of the keep table — 192, 128, 96 or 64 (an unknown key is an error).
  /// It is a layer-averaged budget, not a final count (§3.2.4).
  index_t retained = 192;
  /// v1.5 / v2: overrides the table row — tokens selected at layers 2, 6, 15 (≥ 0).
  std::optional<std::array<index_t, 3>> keep_table{};
  /// v1: k = int(rank·scale + bias) (§3.2.7; shipped pairs (13.5, 0) / (9, 6) / (0.8, 0)).
  double scale = 13.5;
  double bias = 0.0;
  /// v2: heads kept by the priority-head selection (hard-coded 14 upstream).
  index_t priority_heads = 14;
  /// v2: RoPE base and head dimension of the gravity correction (LLaMA-7B: 10000, 4096/32 = 128).
  double rope_base = 10000.0;
  index_t head_dim = 128;
  /// All versions: what an empty rater set does.
  empty_raters on_empty_raters = empty_raters::error;
};

/// DPC merge denominator of the recycled clusters, Σx / (count + ε) (ALGORITHMS §2.8, sv-utils.py).
inline constexpr float merge_eps = 1e-6f;

/// The decoder layers at which a version prunes (ALGORITHMS §3.2.1 `pruning_loc`).
inline constexpr std::array<index_t, 4> sparse_layers_v1 = {2, 6, 15, 19};
inline constexpr std::array<index_t, 3> sparse_layers_v15 = {2, 6, 15};

/// Number of prune events of a version in one prefill.
constexpr index_t sparse_layer_count(version v) noexcept { return v == version::v1 ? 4 : 3; }
/// The i-th sparse layer of a version (i < sparse_layer_count(v)).
constexpr index_t sparse_layer(version v, index_t i) noexcept {
  return v == version::v1 ? sparse_layers_v1[static_cast<std::size_t>(i)] : sparse_layers_v15[static_cast<std::size_t>(i)];
}
/// Position of `layer` among the sparse layers of v (the keep-table column), or −1 when it is not one.
constexpr index_t sparse_layer_slot(version v, index_t layer) noexcept {
  for (index_t i = 0; i < sparse_layer_count(v); ++i)
    if (sparse_layer(v, i) == layer) return i;
  return -1;
}
constexpr bool is_sparse_layer(version v, index_t layer) noexcept { return sparse_layer_slot(v, layer) >= 0; }

namespace detail {

inline status bad_layer(version v, index_t layer) {
  return v == version::v1
             ? fail("layer ", layer, " is not a sparse layer of SparseVLM v1 (2, 6, 15, 19)")
             : fail("layer ", layer, " is not a sparse layer of SparseVLM ", version_name(v), " (2, 6, 15)");
}

/// The keep-table entry for (retained, layer): ALGORITHMS §3.2.4 (v1.5, `score.py:7-15` @b9619e6, plus the
/// 96 row of the v2 file) and §3.2.8 (v2, `score.py:11-14` @9e1f649).
inline result<index_t> table_entry(version v, const prune_params& p, index_t layer) {
  const index_t slot = sparse_layer_slot(v, layer);
  if (slot < 0 || slot > 2) return bad_layer(v, layer);
  if (p.keep_table) {
    const index_t e = (*p.keep_table)[static_cast<std::size_t>(slot)];
    if (e < 0) return fail("params.keep_table[", slot, "] = ", e, " must be >= 0");
    return e;
  }
  static constexpr index_t keys[4] = {192, 128, 96, 64};
  static constexpr index_t v15[4][3] = {{300, 200, 110}, {303, 110, 36}, {238, 48, 26}, {66, 30, 17}};
  static constexpr index_t v2[4][3] = {{300, 200, 118}, {238, 108, 60}, {246, 54, 28}, {66, 34, 20}};
  for (int r = 0; r < 4; ++r)
    if (keys[r] == p.retained) return v == version::v2 ? v2[r][slot] : v15[r][slot];
  return fail("params.retained = ", p.retained, " is not a key of the SparseVLM ", version_name(v),
              " keep table (192, 128, 96, 64); pass params.keep_table for a custom row");
}

inline status check_params(version v, const prune_params& p) {
  if (v == version::v1) {
    if (!std::isfinite(p.scale) || !std::isfinite(p.bias))
      return fail("params.scale = ", p.scale, " and params.bias = ", p.bias, " must be finite");
  } else {
    // Every column, not only the current layer's: a bad entry is a bad parameter whatever the layer (and
    // a v_num = 0 event, which reads no entry, must reject it as kept_count does).
    for (index_t i = 0; i < sparse_layer_count(v); ++i) VTR_TRY(table_entry(v, p, sparse_layer(v, i)).error());
  }
  if (v == version::v2) {
    if (p.priority_heads < 1) return fail("params.priority_heads = ", p.priority_heads, " must be >= 1");
    if (!(p.rope_base > 0.0) || !std::isfinite(p.rope_base)) return fail("params.rope_base = ", p.rope_base, " must be finite and > 0");
    if (p.head_dim < 2 || p.head_dim % 2 != 0) return fail("params.head_dim = ", p.head_dim, " must be even and >= 2 (RoPE pairs)");
  }
  return {};
}

}  // namespace detail

/// The counts of one prune event (ALGORITHMS §3.2.4-§3.2.6): from v_num visual tokens, k are kept, the
/// pruned = v_num − k, m = ⌊0.3·pruned⌋ + 1 of them recycled into c = ⌊m/10⌋ + 1 clusters; after = the
/// visual count the next layers see (k + c; k without recycling; v_num when nothing is pruned).
struct event_counts {
  index_t v_num = 0, k = 0, pruned = 0, m = 0, c = 0, after = 0;
};

/// Counts for keeping k of v_num tokens (k ≤ v_num); `recycle` = v1 / v1.5.
inline event_counts counts_for(index_t v_num, index_t k, bool recycle) noexcept {
  event_counts e;
  e.v_num = v_num;
  e.k = k;
  e.pruned = v_num - k;
  if (e.pruned > 0 && recycle) {
    // §0.5: int(0.3·p) is a double product floored (msl.py:288); int(m/10) is integer division.
    e.m = static_cast<index_t>(0.3 * static_cast<double>(e.pruned)) + 1;
    e.c = e.m / 10 + 1;
  }
  e.after = k + e.c;
  return e;
}

/// The v1 rank rule (ALGORITHMS §2.5, §3.2.7): k = min(int(rank·scale + bias), v_num − 1) clamped at 0,
/// or v_num ("keep all, no recycling") when rank == v_num. The product is a Python float (double).
inline index_t rank_rule_keep(index_t rank, index_t v_num, double scale, double bias) noexcept {
  if (v_num - rank == 0) return v_num;
  const double x = static_cast<double>(rank) * scale + bias;
  const double cap = static_cast<double>(v_num - 1);
  if (!(x < cap)) return v_num - 1;    // also covers +inf
  if (!(x > -1.0)) return 0;           // int() truncates toward 0; negatives clamp to 0 (§3.2.7 rule)
  return std::max<index_t>(0, static_cast<index_t>(x));
}

}  // namespace sparsevlm
VTR_NAMESPACE_END
