// vtr — clustering kernels: DPC-kNN with the cluster-mean plan (ALGORITHMS §2.8, §0.10) and PruneVid's
// refine_clusters / segment lengths (ALGORITHMS §2.10).
#pragma once

#include "../config.hpp"
#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/plan.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../simd/simd.hpp"
#include "similarity.hpp"
#include "topk.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

// ===================================================================================================
// ALGORITHMS §2.8 — DPC-kNN.

struct dpc_params {
  /// M, the number of clusters; clamped to [1, N] (library rule, upstream crashes outside it).
  index_t clusters = 1;
  /// Neighbours in the density, self included; clamped to N. Must be ≥ 1.
  index_t k = 7;
  /// How the distance matrix is evaluated; `automatic` follows torch.cdist (direct for N ≤ 25, the
  /// matrix-multiply form above), which is what the upstream expectations were computed with.
  distance_form distances = distance_form::automatic;
};

struct dpc_result {
  /// labels[i] = cluster id of point i (cluster m is the centre of rank m); centers[m] = point index.
  std::vector<index_t> labels, centers;
  /// ρ (jitter included) and γ = ρ·δ per point.
  std::vector<float> density, score;
};

/// Bytes of workspace try_dpc_knn takes for N points of `features` columns. Its Gram distances copy depth
/// chunks of the points first (detail::gram_copies_chunks: indexed `rows` always, contiguous points up to
/// 512 by default); features = 0 (the default) leaves that buffer out, so only calls in the direct form
/// (N ≤ cdist_direct_max_rows under automatic) stay within it.
inline std::size_t dpc_knn_workspace_bytes(index_t n, index_t features = 0) {
  const auto sz = [](std::size_t b) { return (std::max<std::size_t>(b, 1) + workspace::alignment - 1) / workspace::alignment * workspace::alignment; };
  const auto nu = static_cast<std::size_t>(n);
  // distances, a row copy, a strided-jitter copy, the density's k ≤ n rank indices, and topk's scratch
  // (each row's bottom-k in the density when k is large, then the centres' top-k)
  return sz(sizeof(float) * nu * nu) + 2 * sz(sizeof(float) * nu) + sz(sizeof(index_t) * nu) + topk_workspace_bytes(n) +
         (features > 0 ? pairwise_distances_workspace_bytes(n, features) : 0);
}

namespace ref {
/// §2.8 steps 2-4 on a ready distance matrix, as written: density ρ (jitter included) and score γ = ρ·δ.
/// The scalar reference of detail::dpc_density_score.
inline void dpc_density_score(const matrix_view<const float>& dist, index_t k, const float* jitter, float* row_tmp,
                              float* density, float* score) {
  const index_t n = dist.extent(0);
  // Step 2: ρ_i = exp(−mean of the k smallest D², self included) + 1e-6·u_i.
  float dmax = 0.0f;
  for (index_t i = 0; i < n; ++i) {
    const float* r = dist.row(i);
    std::copy(r, r + n, row_tmp);
    for (index_t j = 0; j < n; ++j) dmax = std::max(dmax, r[j]);
    std::nth_element(row_tmp, row_tmp + (k - 1), row_tmp + n);
    std::sort(row_tmp, row_tmp + k);  // upstream sums topk's ascending output
    float s = 0.0f;
    for (index_t j = 0; j < k; ++j) s += row_tmp[j] * row_tmp[j];
    density[i] = std::exp(-(s / static_cast<float>(k)));
    if (jitter) density[i] += jitter[i] * 1e-6f;
  }
  // Step 3: δ_i = min D[i][j] over ρ_j > ρ_i (strict), else max D (every tied maximum gets it);
  // step 4: γ = ρ·δ.
  for (index_t i = 0; i < n; ++i) {
    const float* r = dist.row(i);
    float delta = dmax;
    for (index_t j = 0; j < n; ++j)
      if (density[j] > density[i] && r[j] < delta) delta = r[j];
    score[i] = delta * density[i];
  }
}

/// §2.8 step 5 as written: label = argmin_m D[c_m][i] (first minimum), then each centre forced into its
/// own cluster. The scalar reference of detail::dpc_labels.
inline void dpc_labels(const matrix_view<const float>& dist, const index_t* centers, index_t m, index_t* labels) {
  const index_t n = dist.extent(0);
  for (index_t i = 0; i < n; ++i) {
    index_t best = 0;
    float bd = dist(centers[0], i);
    for (index_t c = 1; c < m; ++c) {
      const float d = dist(centers[c], i);
      if (d < bd) {
        bd = d;
        best = c;
      }
    }
    labels[i] = best;
  }
  for (index_t c = 0; c < m; ++c) labels[centers[c]] = c;
}
}  // namespace ref

namespace detail {
/// Up to this k the k smallest values of a row may be kept sorted while the row streams past; above it
/// the insertions cost more than ranking them by bottom-k (n = 775, k = 78, distances between points in
/// 512 dimensions: 2.4 µs a row by bottomk in rank order on Zen 3, 6.6 µs by nth_element over the values
/// under a sampled threshold; on Zen 4 binary-search insertion took 11.5 µs).
inline constexpr index_t dpc_stream_max_k = 32;

/// Whether k_smallest_square_sum streams the row (else: bottom-k in rank order). A stream costs about one
/// insertion into the k kept values per new minimum — k·ln(n/k) of them in a row in random order — and
/// bottom-k a fixed ~0.5 µs plus a pass. Measured on Zen 3, µs a row streamed / by bottom-k (distance
/// rows of points in 512 dimensions): n = 83, k = 9: 0.13 / 0.50; n = 150, k = 10: 0.57 / 0.67;
/// n = 2000, k = 8: 1.36 / 1.80; n = 213, k = 12: 0.89 / 0.75; n = 213, k = 22 (SparseVLM's recycling
/// at Qwen2.5-VL): 1.41 / 0.92; n = 775, k = 16: 1.93 / 1.27. Few insertions (k·ln(n/k) ≤ 28) or
/// short ones (k ≤ 8) favour the stream.
inline bool dpc_streams_k_smallest(index_t n, index_t k) noexcept {
  if (k > dpc_stream_max_k) return false;
  return k <= 8 || static_cast<double>(k) * std::log(static_cast<double>(n) / static_cast<double>(k)) <= 28.0;
}

/// Σ v² over the k smallest values v of r[0..n) (1 ≤ k ≤ n), summed in ascending order (upstream sums
/// topk's ascending output). Only the multiset of the k smallest values matters. Streamed (`stream`, see
/// dpc_streams_k_smallest): tmp[0..k) holds the k smallest values seen so far, sorted, and the rest of
/// the row streams past a threshold (the largest of them; a value equal to it changes nothing), so that
/// most vectors are dismissed by one comparison. Otherwise bottomk in rank order gives the k smallest in
/// ascending order (equal values in any order: they add the same). tmp: k floats; rank: k indices (when
/// not streamed).
template <class Arch>
float k_smallest_square_sum(const float* r, index_t n, index_t k, bool stream, float* tmp, index_t* rank, workspace& ws) {
  float s = 0.0f;
  if (!stream) {
    topk_impl<Arch, false>(r, n, k, order::by_rank, rank, ws);
    for (index_t i = 0; i < k; ++i) s += r[rank[i]] * r[rank[i]];
    return s;
  }
  // Inserts v into the ascending tmp[0..size), dropping tmp[size] (the old largest when full).
  const auto insert = [tmp](float v, index_t size) {
    index_t p = size;
    for (; p > 0 && tmp[p - 1] > v; --p) tmp[p] = tmp[p - 1];
    tmp[p] = v;
  };
  for (index_t j = 0; j < k; ++j) insert(r[j], j);
  float thr = tmp[k - 1];
  const auto offer = [&](float v) {
    if (v < thr) {
      insert(v, k - 1);
      thr = tmp[k - 1];
    }
  };
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  index_t j = k;
  for (; j + L <= n; j += L) {
    std::uint64_t bits = simd::mask_bits(simd::load<float, Arch>(r + j) < B(thr));
    for (; bits; bits &= bits - 1) offer(r[j + __builtin_ctzll(bits)]);
  }
  for (; j < n; ++j) offer(r[j]);
  for (index_t i = 0; i < k; ++i) s += tmp[i] * tmp[i];
  return s;
}

/// §2.8 steps 2-4 (ref::dpc_density_score, bit for bit): the k-smallest sums by threshold, δ as a
/// vectorised masked minimum. dmax = max(0, max D) is passed in (the caller's scaling pass finds it).
template <class Arch>
void dpc_density_score(const matrix_view<const float>& dist, index_t k, const float* jitter, float dmax, float* row_tmp,
                       float* density, float* score, workspace& ws) {
  const index_t n = dist.extent(0);
  workspace::scope sc(ws);
  const bool stream = dpc_streams_k_smallest(n, k);
  index_t* rank = stream ? nullptr : ws.take<index_t>(static_cast<std::size_t>(k));
  for (index_t i = 0; i < n; ++i) {
    const float s = k_smallest_square_sum<Arch>(dist.row(i), n, k, stream, row_tmp, rank, ws);
    density[i] = std::exp(-(s / static_cast<float>(k)));
    if (jitter) density[i] += jitter[i] * 1e-6f;
  }
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  for (index_t i = 0; i < n; ++i) {
    const float* r = dist.row(i);
    const float di = density[i];
    // The minimum over the lanes equals the scalar loop's (strict <, distances are finite); only the
    // sign of a zero minimum could differ, so a zero is looked up again in row order.
    B acc(dmax);
    const B vdi(di);
    index_t j = 0;
    for (; j + L <= n; j += L) {
      const B rj = simd::load<float, Arch>(r + j);
      acc = xsimd::select(simd::load<float, Arch>(density + j) > vdi, simd::min(acc, rj), acc);
    }
    float delta = simd::reduce_min(acc);
    for (; j < n; ++j)
      if (density[j] > di && r[j] < delta) delta = r[j];
    if (delta == 0.0f) {
      if (dmax == 0.0f) {
        delta = dmax;  // nothing is below +0: the scalar loop keeps dmax
      } else {
        for (j = 0; j < n; ++j)
          if (density[j] > di && r[j] == 0.0f) break;
        delta = r[j];
      }
    }
    score[i] = delta * di;
  }
}

/// D /= √C in place (upstream divides cdist by C ** 0.5: a division, kept exact by divide_row), returning
/// max(0, max D) — or NaN when some distance is not finite (a NaN/inf in x shows up there, so x needs no
/// scan of its own). The maximum is taken before the division: x ↦ RN(x/√C) is monotone, so the largest
/// quotient is the quotient of the largest distance.
template <class Arch>
float dpc_scale_distances(const matrix_view<float>& dist, float root_c) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const index_t n = dist.extent(0);
  const B inf(std::numeric_limits<float>::infinity());
  B vmax(0.0f);
  float smax = 0.0f;
  bool finite = true;
  for (index_t i = 0; i < n && finite; ++i) {
    float* r = dist.row(i);
    simd::batch_bool<float, Arch> ok(true);  // |v| < inf fails for ±inf and NaN alike
    index_t j = 0;
    for (; j + L <= n; j += L) {
      const B v = simd::load<float, Arch>(r + j);
      ok = ok & (simd::abs(v) < inf);
      vmax = simd::max(vmax, v);
    }
    finite = xsimd::all(ok);
    for (; j < n; ++j) {
      finite &= std::isfinite(r[j]);
      smax = std::max(smax, r[j]);
    }
    divide_row<Arch>(r, root_c, r, n);
  }
  if (!finite) return std::numeric_limits<float>::quiet_NaN();
  const float m = std::max(smax, simd::reduce_max(vmax)) / root_c;
  return m == 0.0f ? 0.0f : m;  // +0, as the scalar maximum starting from 0.0f gives
}

/// §2.8 step 5 (ref::dpc_labels, bit for bit), centre by centre over contiguous rows of D (D is
/// symmetric only up to rounding, so the rows D[c_m] are read exactly as the reference reads them).
/// best: n floats of scratch.
inline void dpc_labels(const matrix_view<const float>& dist, const index_t* centers, index_t m, index_t* labels, float* best) noexcept {
  const index_t n = dist.extent(0);
  const float* r0 = dist.row(centers[0]);
  std::copy(r0, r0 + n, best);
  std::fill(labels, labels + n, index_t(0));
  for (index_t c = 1; c < m; ++c) {
    const float* r = dist.row(centers[c]);
    for (index_t i = 0; i < n; ++i)
      if (r[i] < best[i]) {
        best[i] = r[i];
        labels[i] = c;
      }
  }
  for (index_t c = 0; c < m; ++c) labels[centers[c]] = c;
}

/// Validates a DPC-kNN call on the n points of x (its rows `rows`, or every row when rows is empty).
inline status check_dpc(const matrix_view<const float>& x, const vector_view<const index_t>& rows, const dpc_params& p,
                        const vector_view<const float>& jitter, index_t& n) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(check_point_rows(x, rows));
  n = rows.extent(0) ? rows.extent(0) : x.extent(0);
  if (n == 0 || x.extent(1) == 0)
    return fail("argument 'x' has shape ", shape_of(x), ": DPC-kNN needs at least one point and one feature");
  if (p.k < 1) return fail("dpc_params.k must be >= 1 (got ", p.k, ")");
  if (jitter.extent(0) != 0) {
    VTR_TRY(expect_shape("jitter", jitter, {n}));
    for (index_t i = 0; i < jitter.extent(0); ++i)
      if (!(jitter(i) >= 0.0f && jitter(i) < 1.0f))
        return fail("argument 'jitter' [", jitter.extent(0), "] must hold values in [0, 1); jitter[", i, "] = ", jitter(i));
  }
  return {};
}

/// The error for distances that came out non-finite: the first NaN/inf among the points (named by its
/// position in x), else the first point whose squared norm overflows float, else the pair sums.
inline status dpc_non_finite(const point_rows& p) {
  const index_t c = p.x.extent(1);
  for (index_t i = 0; i < p.n; ++i)
    for (index_t j = 0; j < c; ++j)
      if (!std::isfinite(p(i)[j]))
        return fail("argument 'x' ", shape_of(p.x), " has a non-finite value at [", p.rows ? p.rows[i] : i, ", ", j, "]");
  for (index_t i = 0; i < p.n; ++i)
    if (!std::isfinite(ref::squared_norm(p(i), c)))
      return fail("argument 'x' ", shape_of(p.x), ": the squared norm of row ", p.rows ? p.rows[i] : i, " overflows float");
  return fail("argument 'x' ", shape_of(p.x), ": the squared distances between its points overflow float");
}
}  // namespace detail

/// ALGORITHMS §2.8 steps 1-5 on the points x: [N, C] (N, C ≥ 1), or on its rows `rows` when given
/// (N = rows' length; the rows are read where they lie, bit for bit the call on the gathered rows).
/// jitter: [N] values in [0, 1), or empty for none (§0.10: the library never draws random numbers).
/// Writes labels [N], centers [M] (rank order), density [N], score [N]; M = clamp(clusters, 1, N),
/// k = min(k, N). Point i is x's row rows[i] (or i).
template <class Arch = simd::default_arch>
status try_dpc_knn(const matrix_view<const float>& x, const dpc_params& params, const vector_view<const float>& jitter,
                   dpc_result& out, workspace& ws, const vector_view<const index_t>& rows = {}) {
  index_t n = 0;
  VTR_TRY(detail::check_dpc(x, rows, params, jitter, n));
  const index_t c = x.extent(1);
  const index_t k = std::min(params.k, n);
  const index_t m = std::clamp<index_t>(params.clusters, 1, n);

  workspace::scope sc(ws);
  const detail::point_rows pts{x, rows.extent(0) ? rows.data_handle() : nullptr, n};
  float* dbuf = ws.take<float>(static_cast<std::size_t>(n * n));
  const matrix_view<float> dist(dbuf, {n, n});
  const distance_form form = detail::resolve_form(params.distances, n);
  float* chunk = form == distance_form::gram && detail::gram_copies_chunks(pts.rows != nullptr, n, c)
                     ? ws.take<float>(static_cast<std::size_t>(n * detail::gram_depth_chunk(n, c)))
                     : nullptr;
  detail::pairwise_distances_of<Arch>(pts, dist, 1.0f, form, chunk);
  // Upstream divides cdist by C ** 0.5 (a division, not a reciprocal multiply). A NaN/inf in x shows
  // up as a non-finite distance in its row (checked here instead of a separate scan of x).
  const float root_c = static_cast<float>(std::sqrt(static_cast<double>(c)));
  const float dmax = detail::dpc_scale_distances<Arch>(dist, root_c);
  // NaN: some distance is not finite. A single point has no off-diagonal distance: its values are checked.
  if (!(dmax >= 0.0f) || (n == 1 && !std::all_of(pts(0), pts(0) + c, [](float v) { return std::isfinite(v); })))
    return detail::dpc_non_finite(pts);
  float* row_tmp = ws.take<float>(static_cast<std::size_t>(n));
  const float* jit = jitter.extent(0) ? jitter.data_handle() : nullptr;
  if (jit && jitter.stride(0) != 1) {  // a strided jitter is copied once
    float* j = ws.take<float>(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) j[i] = jitter(i);
    jit = j;
  }
  out.labels.resize(static_cast<std::size_t>(n));
  out.centers.resize(static_cast<std::size_t>(m));
  out.density.resize(static_cast<std::size_t>(n));
  out.score.resize(static_cast<std::size_t>(n));
  detail::dpc_density_score<Arch>(dist, k, jit, dmax, row_tmp, out.density.data(), out.score.data(), ws);
  // Centres: topk(γ, M) in rank order with the §0.4 tie rule (upstream torch.topk's tie order is
  // implementation-defined, so only tie-free inputs are comparable).
  const auto picked = try_topk(view_of(std::as_const(out.score)), m, order::by_rank, view_of(out.centers), ws);
  if (!picked) return picked.error();  // unreachable for finite x: γ is finite
  detail::dpc_labels(dist, out.centers.data(), m, out.labels.data(), row_tmp);
  return {};
}
template <class Arch = simd::default_arch>
void dpc_knn(const matrix_view<const float>& x, const dpc_params& params, const vector_view<const float>& jitter,
             dpc_result& out, workspace& ws, const vector_view<const index_t>& rows = {}) {
  raise_if_error(try_dpc_knn<Arch>(x, params, jitter, out, ws, rows));
}

namespace ref {
/// Scalar reference of §2.8 steps 1-5 with the exact (direct) distances.
inline dpc_result dpc_knn(const matrix_view<const float>& x, index_t clusters, index_t k, const std::vector<float>& jitter) {
  const index_t n = x.extent(0);
  k = std::min(k, n);
  const index_t m = std::clamp<index_t>(clusters, 1, n);
  std::vector<float> d(static_cast<std::size_t>(n * n)), tmp(static_cast<std::size_t>(n));
  std::vector<index_t> order(static_cast<std::size_t>(n));
  const matrix_view<float> dv(d.data(), {n, n});
  pairwise_distances(x, dv, 1.0f);
  const float root_c = static_cast<float>(std::sqrt(static_cast<double>(x.extent(1))));
  for (auto& v : d) v /= root_c;
  dpc_result r;
  r.labels.resize(static_cast<std::size_t>(n));
  r.density.resize(static_cast<std::size_t>(n));
  r.score.resize(static_cast<std::size_t>(n));
  dpc_density_score(dv, k, jitter.empty() ? nullptr : jitter.data(), tmp.data(), r.density.data(), r.score.data());
  for (index_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return r.score[a] > r.score[b]; });
  r.centers.assign(order.begin(), order.begin() + m);
  dpc_labels(dv, r.centers.data(), m, r.labels.data());
  return r;
}
}  // namespace ref

// ---------------------------------------------------------------------------------------------------
// §2.8 step 6: the cluster mean as a plan.

namespace detail {
inline status build_cluster_plan(const vector_view<const index_t>& labels, index_t m, const vector_view<const index_t>* centers,
                                 float eps, plan& out) {
  VTR_TRY(validate_view("labels", labels));
  const index_t n = labels.extent(0);
  if (m < 1) return fail("cluster count must be >= 1 (got ", m, ")");
  if (!(eps >= 0.0f) || !std::isfinite(eps)) return fail("argument 'eps' must be finite and >= 0 (got ", eps, ")");
  for (index_t i = 0; i < n; ++i)
    if (labels(i) < 0 || labels(i) >= m)
      return fail("argument 'labels' [", n, "] has label ", labels(i), " at position ", i, ", outside [0, ", m, ")");
  if (centers) {
    for (index_t c = 0; c < m; ++c)
      if ((*centers)(c) < 0 || (*centers)(c) >= n)
        return fail("argument 'centers' [", m, "] has index ", (*centers)(c), " outside the ", n, " labelled rows");
  }
  // Counting sort by label: members of each cluster in ascending row order.
  std::vector<index_t> start(static_cast<std::size_t>(m + 1), 0);
  for (index_t i = 0; i < n; ++i) ++start[labels(i) + 1];
  for (index_t c = 0; c < m; ++c)
    if (start[c + 1] == 0) return fail("cluster ", c, " of ", m, " has no member in 'labels' [", n, "]");
  for (index_t c = 0; c < m; ++c) start[c + 1] += start[c];
  out.reset(n);
  out.sources.resize(static_cast<std::size_t>(n));
  out.weights.assign(static_cast<std::size_t>(n), 1.0f);
  std::vector<index_t> cursor(start.begin(), start.end() - 1);
  for (index_t i = 0; i < n; ++i) out.sources[cursor[labels(i)]++] = i;
  out.offsets.assign(start.begin(), start.end());
  out.divisors.resize(static_cast<std::size_t>(m));
  out.origin.resize(static_cast<std::size_t>(m));
  for (index_t c = 0; c < m; ++c) {
    out.divisors[c] = static_cast<float>(start[c + 1] - start[c]) + eps;
    out.origin[c] = centers ? (*centers)(c) : plan::appended;
  }
  return {};
}
}  // namespace detail

/// ALGORITHMS §2.8 step 6: output row m = Σ_{i: labels[i] = m} x_i / (count_m + eps), m = 0…M−1; the
/// sources of row m (its provenance) are its members in ascending order. eps = 0 is PruneVid's exact mean,
/// 1e-6 SparseVLM's. Every cluster must be non-empty. This form has no origins (plan::appended rows: a
/// cluster mean stands for no single input row — SparseVLM appends them as recycled tokens).
inline status try_make_cluster_plan(const vector_view<const index_t>& labels, index_t m, float eps, plan& out) {
  return detail::build_cluster_plan(labels, m, nullptr, eps, out);
}
inline void make_cluster_plan(const vector_view<const index_t>& labels, index_t m, float eps, plan& out) {
  raise_if_error(try_make_cluster_plan(labels, m, eps, out));
}
/// The same with origin[m] = centers[m] (the cluster's centre point), for callers that want each merged
/// row to stand for its centre (e.g. a position or KV row); M = centers.size().
inline status try_make_cluster_plan(const vector_view<const index_t>& labels, const vector_view<const index_t>& centers,
                                    float eps, plan& out) {
  VTR_TRY(validate_view("centers", centers));
  return detail::build_cluster_plan(labels, centers.extent(0), &centers, eps, out);
}
inline void make_cluster_plan(const vector_view<const index_t>& labels, const vector_view<const index_t>& centers,
                              float eps, plan& out) {
  raise_if_error(try_make_cluster_plan(labels, centers, eps, out));
}

// ===================================================================================================
// ALGORITHMS §2.10 — refine_clusters and segment lengths (PruneVid).

namespace detail {
/// Length of the run of equal values in v that contains position i.
inline index_t run_length_left(const vector_view<index_t>& v, index_t end_inclusive) noexcept {
  index_t s = end_inclusive;
  while (s > 0 && v(s - 1) == v(end_inclusive)) --s;
  return end_inclusive - s + 1;
}
inline index_t run_length_right(const vector_view<index_t>& v, index_t begin) noexcept {
  index_t e = begin;
  while (e + 1 < v.extent(0) && v(e + 1) == v(begin)) ++e;
  return e - begin + 1;
}
}  // namespace detail

/// ALGORITHMS §2.10. labels: per-frame labels (≥ 0); refined: same length, not overlapping labels.
/// Step 1 keeps, per label, only its runs of maximal length (a label whose longest run is 1 loses all its
/// frames); step 2 gives each gap the label of the neighbour with the longer current run (ties left, one
/// side only → that side, none → 0). Allocation-free, O(F²).
inline status try_refine_clusters(const vector_view<const index_t>& labels, const vector_view<index_t>& refined) {
  VTR_TRY(validate_view("labels", labels));
  VTR_TRY(expect_shape("refined", refined, {labels.extent(0)}));
  VTR_TRY(expect_no_alias("refined", refined, "labels", labels));
  const index_t f = labels.extent(0);
  for (index_t i = 0; i < f; ++i)
    if (labels(i) < 0) return fail("argument 'labels' [", f, "] has a negative label ", labels(i), " at frame ", i);
  // Step 1: each run of `labels`, against the longest run of its label.
  for (index_t s = 0; s < f;) {
    index_t e = s;
    while (e + 1 < f && labels(e + 1) == labels(s)) ++e;
    const index_t len = e - s + 1;
    index_t lmax = 0;
    for (index_t t = 0; t < f;) {
      index_t u = t;
      while (u + 1 < f && labels(u + 1) == labels(t)) ++u;
      if (labels(t) == labels(s)) lmax = std::max(lmax, u - t + 1);
      t = u + 1;
    }
    const bool drop = lmax == 1 || len != lmax;
    for (index_t t = s; t <= e; ++t) refined(t) = drop ? index_t(-1) : labels(t);
    s = e + 1;
  }
  // Step 2: fill each run of −1 from its neighbours, left to right.
  for (index_t s = 0; s < f;) {
    if (refined(s) != -1) {
      ++s;
      continue;
    }
    index_t e = s;
    while (e + 1 < f && refined(e + 1) == -1) ++e;
    index_t value = 0;
    const bool has_left = s > 0, has_right = e + 1 < f;
    if (has_left && has_right)
      value = detail::run_length_left(refined, s - 1) >= detail::run_length_right(refined, e + 1) ? refined(s - 1)
                                                                                                    : refined(e + 1);
    else if (has_left)
      value = refined(s - 1);
    else if (has_right)
      value = refined(e + 1);
    for (index_t t = s; t <= e; ++t) refined(t) = value;
    s = e + 1;
  }
  return {};
}
inline void refine_clusters(const vector_view<const index_t>& labels, const vector_view<index_t>& refined) {
  raise_if_error(try_refine_clusters(labels, refined));
}

/// ALGORITHMS §2.10 step 3: lengths of the maximal runs of equal labels, in time order.
inline std::vector<index_t> segment_lengths(const vector_view<const index_t>& refined) {
  std::vector<index_t> out;
  const index_t f = refined.extent(0);
  for (index_t s = 0; s < f;) {
    index_t e = s;
    while (e + 1 < f && refined(e + 1) == refined(s)) ++e;
    out.push_back(e - s + 1);
    s = e + 1;
  }
  return out;
}

}  // namespace ops
VTR_NAMESPACE_END
