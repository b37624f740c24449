// vtr — merging kernels that produce plans: nearest-kept unweighted mean (VScan, ALGORITHMS §2.6) and
// ToMe bipartite soft matching with the size-weighted mean (ALGORITHMS §2.7). vtr::apply(plan, x, out)
// then writes the merged rows for any tensor sharing the token axis.
#pragma once

#include "../config.hpp"
#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/plan.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../simd/simd.hpp"
#include "similarity.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

namespace detail {
inline status expect_ascending_indices(const char* name, const vector_view<const index_t>& idx, index_t n) {
  VTR_TRY(validate_view(name, idx));
  for (index_t i = 0; i < idx.extent(0); ++i) {
    const index_t v = idx(i);
    if (v < 0 || v >= n) return fail("argument '", name, "' has index ", v, " at position ", i, ", outside [0, ", n, ")");
    if (i > 0 && v <= idx(i - 1))
      return fail("argument '", name, "' must be strictly ascending; position ", i, " holds ", v, " after ", idx(i - 1));
  }
  return {};
}
}  // namespace detail

// ===================================================================================================
// ALGORITHMS §2.6 — nearest-kept, unweighted mean (VScan).

namespace ref {
/// Scalar reference of §2.6: for each pruned token (ascending), the kept slot of maximal cosine (first
/// maximum). Returns the slots.
inline std::vector<index_t> nearest_kept_assign(const matrix_view<const float>& x, const std::vector<index_t>& kept) {
  std::vector<char> is_kept(static_cast<std::size_t>(x.extent(0)), 0);
  for (index_t k : kept) is_kept[k] = 1;
  std::vector<index_t> out;
  for (index_t p = 0; p < x.extent(0); ++p) {
    if (is_kept[p]) continue;
    index_t best = 0;
    float best_c = -std::numeric_limits<float>::infinity();
    for (std::size_t r = 0; r < kept.size(); ++r) {
      const float c = cosine(x.row(p), x.row(kept[r]), x.extent(1));
      if (c > best_c) {
        best_c = c;
        best = static_cast<index_t>(r);
      }
    }
    out.push_back(best);
  }
  return out;
}
}  // namespace ref

namespace detail {
/// Depth chunk of nearest_kept_merge's GEMM: its gathered blocks of N × 256 floats stay in L2 at the
/// canonical sizes; a multiple of 2·lanes on every arch, as squared_norm_copy needs.
inline constexpr index_t merge_depth_chunk = 256;
}  // namespace detail

/// Bytes of workspace try_nearest_kept_merge takes for N rows of D features and K kept rows.
inline std::size_t nearest_kept_merge_workspace_bytes(index_t n, index_t d, index_t k) {
  const auto sz = [](std::size_t b) { return (std::max<std::size_t>(b, 1) + workspace::alignment - 1) / workspace::alignment * workspace::alignment; };
  const auto u = static_cast<std::size_t>(std::max<index_t>(n - k, 1));
  const auto ku = static_cast<std::size_t>(k), nu = static_cast<std::size_t>(n);
  const auto cu = static_cast<std::size_t>(std::min(d, detail::merge_depth_chunk));
  return 3 * sz(sizeof(index_t) * u) + 2 * sz(sizeof(index_t) * (ku + 1)) + sz(sizeof(float) * ku * cu) +
         sz(sizeof(float) * u * cu) + sz(sizeof(float) * u * ku) + sz(sizeof(float) * nu) +
         sz(detail::squared_norm_copy_max_bytes * nu);
}

/// ALGORITHMS §2.6. x: [N, D]; kept: strictly ascending row indices, at least one; w_keep > 0 (upstream
/// `scaling`). Writes `out`: one row per kept index in ascending order, row r =
/// (w_keep·x[K[r]] + Σ_{p: a(p) = r} x[p]) / (w_keep + count_r), origin K[r]; a kept row with nothing
/// assigned is an exact copy. `assign` (optional): for each pruned row in ascending order, its kept slot.
///
/// The cosines are the §0.7 formula evaluated from one GEMM of the raw pruned × kept rows and the squared
/// norms computed once, so the argmax sees x·y / sqrt(max(‖x‖²‖y‖², 1e-16)) exactly as written (zero
/// rows: cosine 0 everywhere → slot 0; ties → the first, i.e. lowest, kept slot).
template <class Arch = simd::default_arch>
status try_nearest_kept_merge(const matrix_view<const float>& x, const vector_view<const index_t>& kept, float w_keep,
                              plan& out, std::vector<index_t>* assign, workspace& ws) {
  VTR_TRY(validate_view("x", x));
  const index_t n = x.extent(0), d = x.extent(1);
  VTR_TRY(detail::expect_ascending_indices("kept", kept, n));
  const index_t k = kept.extent(0);
  if (k == 0) return fail("argument 'kept' is empty: nearest-kept merge needs at least one kept row (x has shape ", shape_of(x), ")");
  if (!(w_keep > 0.0f) || !std::isfinite(w_keep)) return fail("argument 'w_keep' must be finite and > 0 (got ", w_keep, ")");
  const index_t u = n - k;

  workspace::scope sc(ws);
  // Pruned rows, ascending.
  index_t* pruned = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(u, 1)));
  {
    index_t r = 0, q = 0;
    for (index_t i = 0; i < n; ++i) {
      if (r < k && kept(r) == i) {
        ++r;
        continue;
      }
      pruned[q++] = i;
    }
  }
  index_t* slot = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(u, 1)));
  index_t* count = ws.take<index_t>(static_cast<std::size_t>(k + 1));
  std::fill(count, count + k + 1, index_t(0));

  if (u > 0) {
    // One GEMM of the pruned × kept rows, summed over depth chunks: each chunk of the rows is gathered
    // into blocks that stay in cache while the GEMM packs them (a whole-row gather would send N × D
    // through memory twice more), and each row's squared norm is accumulated on the way, with the bits
    // of one pass over the row (ALGORITHMS §2.6, §5.2).
    const index_t chunk = std::min(d, detail::merge_depth_chunk);
    float* kb = ws.take<float>(static_cast<std::size_t>(k * chunk));
    float* pb = ws.take<float>(static_cast<std::size_t>(u * chunk));
    float* s = ws.take<float>(static_cast<std::size_t>(u * k));
    float* n2 = ws.take<float>(static_cast<std::size_t>(n));
    using norm_acc = detail::squared_norm_copy<Arch>;
    static_assert(sizeof(norm_acc) <= detail::squared_norm_copy_max_bytes, "nearest_kept_merge_workspace_bytes undercounts");
    auto* acc = reinterpret_cast<norm_acc*>(ws.take<std::byte>(sizeof(norm_acc) * static_cast<std::size_t>(n)));
    for (index_t i = 0; i < n; ++i) new (acc + i) norm_acc();
    const matrix_view<float> sv(s, {u, k});
    if (d == 0) as_eigen(sv).setZero();
    for (index_t c0 = 0; c0 < d; c0 += chunk) {
      const index_t w = std::min(chunk, d - c0);
      for (index_t r = 0; r < k; ++r) acc[r].copy(x.row(kept(r)) + c0, kb + r * w, w);
      for (index_t q = 0; q < u; ++q) acc[k + q].copy(x.row(pruned[q]) + c0, pb + q * w, w);
      const auto pc = as_eigen(matrix_view<const float>(pb, {u, w})), kc = as_eigen(matrix_view<const float>(kb, {k, w}));
      if (c0 == 0) as_eigen(sv).noalias() = pc * kc.transpose();
      else as_eigen(sv).noalias() += pc * kc.transpose();
    }
    for (index_t r = 0; r < k; ++r) {
      n2[r] = acc[r].finish();
      if (!std::isfinite(n2[r])) return detail::non_finite_row_error("x", x, kept(r));
    }
    for (index_t q = 0; q < u; ++q) {
      n2[k + q] = acc[k + q].finish();
      if (!std::isfinite(n2[k + q])) return detail::non_finite_row_error("x", x, pruned[q]);
    }
    detail::dots_to_cosines<Arch>(n2 + k, n2, sv);
    for (index_t q = 0; q < u; ++q) {
      const float* row = s + q * k;
      index_t best = 0;
      float best_c = row[0];
      for (index_t r = 1; r < k; ++r) {
        const float c = row[r];
        if (c > best_c) {  // strict: the first maximum wins
          best_c = c;
          best = r;
        }
      }
      slot[q] = best;
      ++count[best];
    }
  }

  // Members of each kept slot in ascending pruned order (counting sort by slot).
  index_t* start = ws.take<index_t>(static_cast<std::size_t>(k + 1));
  start[0] = 0;
  for (index_t r = 0; r < k; ++r) start[r + 1] = start[r] + count[r];
  index_t* members = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(u, 1)));
  std::copy(start, start + k, count);  // reuse count as the fill cursor
  for (index_t q = 0; q < u; ++q) members[count[slot[q]]++] = pruned[q];

  // Everything validated and computed: write the outputs.
  out.reset(n);
  if (u == 0) {
    for (index_t r = 0; r < k; ++r) out.origin.push_back(kept(r));
  } else {
    out.offsets.reserve(static_cast<std::size_t>(k + 1));
    out.sources.reserve(static_cast<std::size_t>(n));
    out.weights.reserve(static_cast<std::size_t>(n));
    out.divisors.reserve(static_cast<std::size_t>(k));
    out.offsets.push_back(0);
    for (index_t r = 0; r < k; ++r) {
      const index_t kr = kept(r);
      const index_t c = start[r + 1] - start[r];
      out.origin.push_back(kr);
      out.sources.push_back(kr);
      if (c == 0) {  // exact copy: apply() memcpy's a single weight-1, divisor-1 term
        out.weights.push_back(1.0f);
        out.divisors.push_back(1.0f);
      } else {
        out.weights.push_back(w_keep);
        for (index_t t = start[r]; t < start[r + 1]; ++t) {
          out.sources.push_back(members[t]);
          out.weights.push_back(1.0f);
        }
        out.divisors.push_back(w_keep + static_cast<float>(c));
      }
      out.offsets.push_back(static_cast<index_t>(out.sources.size()));
    }
  }
  if (assign) assign->assign(slot, slot + u);
  return {};
}

template <class Arch = simd::default_arch>
void nearest_kept_merge(const matrix_view<const float>& x, const vector_view<const index_t>& kept, float w_keep, plan& out,
                        std::vector<index_t>* assign, workspace& ws) {
  raise_if_error(try_nearest_kept_merge<Arch>(x, kept, w_keep, out, assign, ws));
}

// ===================================================================================================
// ALGORITHMS §2.7 — ToMe bipartite soft matching, size-weighted mean (merge_wavg).

struct tome_result {
  /// Output rows [unm rows in unm order, then every B row in B order] (distill token: [unm_0, B_0,
  /// unm_1…, B_1…]); weights = sizes, divisor = Σ sizes (size-weighted mean); origin = the row's A/B token.
  plan merge;
  /// Indices into A (A_a = row 2a): the unmerged ones in output order, and the merged ones in rank order.
  std::vector<index_t> unm_idx, src_idx;
  /// For each src_idx entry, its destination as an index into B (B_b = row 2b + 1).
  std::vector<index_t> dst_idx;
  /// Size of each output row: Σ of the merged sizes.
  std::vector<float> sizes;
};

/// r after the §2.7 clamp: min(r, (N − p)//2) with Python floor division; ≤ 0 means identity.
inline index_t tome_effective_r(index_t n, index_t r, bool class_token, bool distill_token) noexcept {
  const index_t avail = n - index_t(class_token) - index_t(distill_token);
  const index_t half = avail >= 0 ? avail / 2 : -((-avail + 1) / 2);
  return std::min(r, half);
}

/// ALGORITHMS §2.7 parse_r: per-block r for (r, inflect) over `layers` blocks: min = int(r·(1−inflect)),
/// max = 2r − min, step = (max − min)/(L−1), block i gets int(min + step·i) (double, truncation toward 0).
/// Library rule for L = 1 (upstream divides by zero): [min]. L ≤ 0 gives an empty schedule.
inline result<std::vector<index_t>> try_tome_r_schedule(index_t r, double inflect, index_t layers) {
  // The products below are converted to integers: reject values whose schedule cannot be represented
  // (a float-to-integer conversion out of range is undefined behaviour).
  constexpr double limit = 4.0e18;
  if (r < 0 || static_cast<double>(r) > limit / 4) return fail("parameter 'r' = ", r, " must be in [0, 1e18]");
  if (!std::isfinite(inflect) || std::fabs(static_cast<double>(r) * (1.0 - inflect)) > limit / 4)
    return fail("parameter 'inflect' = ", inflect, " gives an r schedule outside the representable range (r = ", r, ")");
  std::vector<index_t> out;
  if (layers <= 0) return out;
  if (static_cast<std::size_t>(layers) > out.max_size())  // a schedule no allocation can hold
    return fail("argument 'layers' = ", layers, " is more blocks than an r schedule can hold");
  const auto min_v = static_cast<index_t>(static_cast<double>(r) * (1.0 - inflect));
  const index_t max_v = 2 * r - min_v;
  if (layers == 1) return std::vector<index_t>{min_v};
  const double step = static_cast<double>(max_v - min_v) / static_cast<double>(layers - 1);
  out.reserve(static_cast<std::size_t>(layers));
  for (index_t i = 0; i < layers; ++i)
    out.push_back(static_cast<index_t>(static_cast<double>(min_v) + step * static_cast<double>(i)));
  return out;
}
inline std::vector<index_t> tome_r_schedule(index_t r, double inflect, index_t layers) {
  return try_tome_r_schedule(r, inflect, layers).value();
}
/// parse_r's list form: the list zero-padded to `layers` (kept as given when longer, like upstream).
inline std::vector<index_t> tome_r_schedule(std::vector<index_t> rs, index_t layers) {
  if (static_cast<index_t>(rs.size()) < layers) rs.resize(static_cast<std::size_t>(layers), 0);
  return rs;
}

namespace ref {
/// Scalar reference of the §2.7 matching: (unm, src, dst) for the effective r (> 0).
inline void tome_match(const matrix_view<const float>& metric, index_t r, bool class_token, bool distill_token,
                       std::vector<index_t>& unm, std::vector<index_t>& src, std::vector<index_t>& dst) {
  const index_t n = metric.extent(0), c = metric.extent(1);
  std::vector<float> nm(static_cast<std::size_t>(n * c));
  const matrix_view<float> nv(nm.data(), {n, c});
  l2_normalize_rows(metric, normalize_eps, nv);
  const index_t na = (n + 1) / 2, nb = n / 2;
  std::vector<float> best(static_cast<std::size_t>(na));
  std::vector<index_t> arg(static_cast<std::size_t>(na));
  for (index_t a = 0; a < na; ++a) {
    float bv = -std::numeric_limits<float>::infinity();
    index_t bi = 0;
    for (index_t b = 0; b < nb; ++b) {
      float s = dot(nv.row(2 * a), nv.row(2 * b + 1), c);
      if ((class_token && a == 0) || (distill_token && b == 0)) s = -std::numeric_limits<float>::infinity();
      if (b == 0 || s > bv) {
        bv = s;
        bi = b;
      }
    }
    best[a] = bv;
    arg[a] = bi;
  }
  std::vector<index_t> order(static_cast<std::size_t>(na));
  std::iota(order.begin(), order.end(), index_t(0));
  std::stable_sort(order.begin(), order.end(), [&](index_t i, index_t j) { return best[i] > best[j]; });
  src.assign(order.begin(), order.begin() + r);
  unm.assign(order.begin() + r, order.end());
  if (class_token) std::sort(unm.begin(), unm.end());
  dst.clear();
  for (index_t s : src) dst.push_back(arg[s]);
}
}  // namespace ref

/// ALGORITHMS §2.7. metric: [N, C]; sizes: [N] or empty (all 1). r is clamped to (N − p)//2; r ≤ 0 (or
/// N ≤ 1) gives the identity (a selection of every row; sizes copied; index lists empty). Metric rows are
/// normalised with eps 1e-12 (§0.7 library choice: zero rows give similarity 0, not NaN).
template <class Arch = simd::default_arch>
status try_tome_bipartite(const matrix_view<const float>& metric, index_t r, bool class_token, bool distill_token,
                          const vector_view<const float>& sizes, tome_result& out, workspace& ws) {
  VTR_TRY(validate_view("metric", metric));
  const index_t n = metric.extent(0), c = metric.extent(1);
  const bool have_sizes = sizes.extent(0) != 0;
  if (have_sizes) {
    VTR_TRY(expect_shape("sizes", sizes, {n}));
    for (index_t i = 0; i < n; ++i)
      if (!(sizes(i) > 0.0f) || !std::isfinite(sizes(i)))
        return fail("argument 'sizes' [", n, "] must hold finite values > 0; sizes[", i, "] = ", sizes(i));
  }
  const auto size_of = [&](index_t i) { return have_sizes ? sizes(i) : 1.0f; };
  r = tome_effective_r(n, r, class_token, distill_token);

  if (r <= 0) {
    out.merge.reset(n);
    for (index_t i = 0; i < n; ++i) out.merge.origin.push_back(i);
    out.unm_idx.clear();
    out.src_idx.clear();
    out.dst_idx.clear();
    out.sizes.resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) out.sizes[i] = size_of(i);
    return {};
  }

  workspace::scope sc(ws);
  const index_t na = (n + 1) / 2, nb = n / 2;
  // Normalised metric, then A (even rows) and B (odd rows) as strided views of it.
  float* nm = ws.take<float>(static_cast<std::size_t>(n * c));
  const matrix_view<float> nv(nm, {n, c});
  for (index_t i = 0; i < n; ++i) {
    // Rows are normalised as F.normalize does (a division by max(‖m‖, 1e-12)); a non-finite norm means
    // a NaN/inf (or overflowing) metric row, which has no meaningful matching.
    const float n2 = squared_norm<Arch>(metric.row(i), c);
    if (!std::isfinite(n2)) return detail::non_finite_row_error("metric", metric, i);
    detail::divide_row<Arch>(metric.row(i), std::max(std::sqrt(n2), normalize_eps), nv.row(i), c,
                             i + 1 < n ? metric.row(i + 1) : nullptr);  // as l2_normalize_rows: next row to L2
  }
  const matrix_view<const float> av(nm, {na, c}, {2 * c, 1}), bv(nm + c, {nb, c}, {2 * c, 1});
  float* s = ws.take<float>(static_cast<std::size_t>(na * nb));
  const matrix_view<float> sv(s, {na, nb});
  if (c == 0)
    as_eigen(sv).setZero();
  else
    as_eigen(sv).noalias() = as_eigen(av) * as_eigen(bv).transpose();

  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  if (class_token)
    for (index_t b = 0; b < nb; ++b) s[b] = neg_inf;
  if (distill_token)
    for (index_t a = 0; a < na; ++a) s[a * nb] = neg_inf;

  float* best = ws.take<float>(static_cast<std::size_t>(na));
  index_t* arg = ws.take<index_t>(static_cast<std::size_t>(na));
  for (index_t a = 0; a < na; ++a) {
    const float* row = s + a * nb;
    float bvv = row[0];
    index_t bi = 0;
    for (index_t b = 1; b < nb; ++b)
      if (row[b] > bvv) {  // first maximum
        bvv = row[b];
        bi = b;
      }
    best[a] = bvv;
    arg[a] = bi;
  }
  index_t* order = ws.take<index_t>(static_cast<std::size_t>(na));
  std::iota(order, order + na, index_t(0));
  // §0.4 "sorting edges by value (ToMe)": stable descending. A total order on (best desc, index asc)
  // gives the same permutation as a stable sort without std::stable_sort's buffer allocation.
  std::sort(order, order + na, [&](index_t i, index_t j) { return best[i] > best[j] || (best[i] == best[j] && i < j); });
  if (class_token) std::sort(order + r, order + na);

  // B row b receives the src tokens whose dst is b, in src (rank) order: counting sort by dst.
  index_t* bstart = ws.take<index_t>(static_cast<std::size_t>(nb + 1));
  std::fill(bstart, bstart + nb + 1, index_t(0));
  for (index_t t = 0; t < r; ++t) ++bstart[arg[order[t]] + 1];
  for (index_t b = 0; b < nb; ++b) bstart[b + 1] += bstart[b];
  index_t* cursor = ws.take<index_t>(static_cast<std::size_t>(nb));
  std::copy(bstart, bstart + nb, cursor);
  index_t* into = ws.take<index_t>(static_cast<std::size_t>(r));
  for (index_t t = 0; t < r; ++t) into[cursor[arg[order[t]]]++] = order[t];

  // Write the outputs.
  plan& p = out.merge;
  p.reset(n);
  p.offsets.reserve(static_cast<std::size_t>(n - r + 1));
  p.sources.reserve(static_cast<std::size_t>(n));
  p.weights.reserve(static_cast<std::size_t>(n));
  p.divisors.reserve(static_cast<std::size_t>(n - r));
  p.offsets.push_back(0);
  out.sizes.clear();
  out.sizes.reserve(static_cast<std::size_t>(n - r));
  const auto add_unm = [&](index_t a) {
    const index_t row = 2 * a;
    const float sz = size_of(row);
    p.origin.push_back(row);
    p.sources.push_back(row);
    p.weights.push_back(sz);
    p.divisors.push_back(sz);
    p.offsets.push_back(static_cast<index_t>(p.sources.size()));
    out.sizes.push_back(sz);
  };
  const auto add_b = [&](index_t b) {
    const index_t row = 2 * b + 1;
    float total = size_of(row);
    p.origin.push_back(row);
    p.sources.push_back(row);
    p.weights.push_back(total);
    for (index_t t = bstart[b]; t < bstart[b + 1]; ++t) {
      const index_t src_row = 2 * into[t];
      const float sz = size_of(src_row);
      p.sources.push_back(src_row);
      p.weights.push_back(sz);
      total += sz;
    }
    p.divisors.push_back(total);
    p.offsets.push_back(static_cast<index_t>(p.sources.size()));
    out.sizes.push_back(total);
  };
  const index_t n_unm = na - r;
  if (distill_token) {
    // Upstream keeps the distillation token second: [unm_0, B_0, unm_1…, B_1…].
    if (n_unm > 0) add_unm(order[r]);
    if (nb > 0) add_b(0);
    for (index_t t = 1; t < n_unm; ++t) add_unm(order[r + t]);
    for (index_t b = 1; b < nb; ++b) add_b(b);
  } else {
    for (index_t t = 0; t < n_unm; ++t) add_unm(order[r + t]);
    for (index_t b = 0; b < nb; ++b) add_b(b);
  }
  out.unm_idx.assign(order + r, order + na);
  out.src_idx.assign(order, order + r);
  out.dst_idx.resize(static_cast<std::size_t>(r));
  for (index_t t = 0; t < r; ++t) out.dst_idx[t] = arg[order[t]];
  return {};
}

template <class Arch = simd::default_arch>
void tome_bipartite(const matrix_view<const float>& metric, index_t r, bool class_token, bool distill_token,
                    const vector_view<const float>& sizes, tome_result& out, workspace& ws) {
  raise_if_error(try_tome_bipartite<Arch>(metric, r, class_token, distill_token, sizes, out, ws));
}

}  // namespace ops
VTR_NAMESPACE_END
