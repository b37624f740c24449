// vtr — Fit&Prune calibration ("Fit", ALGORITHMS §3.3.5; ywh187/FitPrune@d28e418 fp-sa.py).
//
// The fit turns a FLOPs-reduction target into a per-layer deletion recipe (the data of §3.3.4):
//   (a) statistics  — Wc[s][ℓ], Ws[s][ℓ]: the cross and self attention mass of sample s at layer ℓ, unpruned;
//   (b) FLOPs model — 4nd² + 2n²d + 3ndm MACs per layer at n visual tokens, with d, m, the layer count and
//                     the initial visual count as parameters (upstream hard-codes LLaMA-7B: 4096, 11008, 32, 576);
//   (c) one probe   — fit_model(α): walk the layers, stop once the forecast reaches the budget, otherwise
//                     delete at every sample the intersection of two mass-retention sets (fit_step);
//   (d) bisection   — α ∈ [0, 1] halved until the interval is ≤ 0.01 wide: exactly 7 probes.
// Running a decoder layer on a pruned sequence is the engine's job: the library calls back for each
// (sample, layer) with the surviving visual tokens and gets that layer's attention (layer_attention).
//
// Cases the reference leaves undefined, and the behaviour chosen here (each is unit-tested):
//   * mass criterion never met (also every α ≥ 1, where the threshold is ≤ 0): count = n − 1 (§3.3.5 library
//     choice; upstream reuses a stale count from an earlier sample/layer or raises NameError on the first);
//   * n = 0 visual tokens left: fit_step returns empty sets (upstream: the loop body never runs → stale count);
//   * N_t = 0 suffix rows: error (upstream divides by zero: cross = NaN, Wc = NaN/inf). Calibration prompts
//     always carry at least the "ASSISTANT:" rows;
//   * n = 0 in the statistics: Ws = 0 (upstream's max(n, 1) divisor);
//   * ties in the ascending orders: stable (§0.4; upstream's torch.argsort is unstable);
//   * the intersection is returned ascending (upstream's unique(sorted=False) order is implementation-defined);
//   * option return_last_reaching with no reaching probe: the last probe's scheme, reported with reached = false;
//   * the budget check divides the exact integer FLOPs total by S in double (Python's int/int is exact to the
//     last bit for totals below 2^53, i.e. S ≲ 2300 samples at the LLaVA-1.5 shape; beyond that the double
//     conversion may round once more). FLOPs counts themselves are exact int64; overflow is rejected up front;
//   * the mass sums of the criterion are taken in double (upstream: fp16/fp32 torch sums). The golden cases
//     keep a margin at every boundary, so the counts agree; a near-tie at a boundary may flip against fp16.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/tensor_view.hpp"
#include "../../core/workspace.hpp"
#include "../../ops/topk.hpp"
#include "../../simd/simd.hpp"
#include "scores.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace fitprune {

// ---------------------------------------------------------------------------------------------------
// fit_step: one sample at one layer for one α (§3.3.5 (c), fp-sa.py:203-240)

/// The outputs of fit_step; index lists are relative to the current visual span.
struct step_result {
  std::vector<float> cross;             ///< [n] Σ_suffix max_h A / N_t
  std::vector<float> self;              ///< [n] Σ_visual max_h A / n
  std::vector<index_t> del_cross;       ///< the dc smallest cross entries, ascending value (ties → lower index)
  std::vector<index_t> del_self;        ///< the ds smallest self entries, ascending value
  std::vector<index_t> intersection;    ///< del_cross ∩ del_self, ascending: the tokens deleted
};

namespace detail {

/// §3.3.5 mass_count: with `order` the ascending order of v, the largest number of smallest entries that
/// can go while the remaining mass stays ≥ W − W·α. First i in 0…n−1 with total − Σ_{t<i} v[order[t]] <
/// W − W·α, count = max(i − 1, 0); no such i → n − 1 (library choice). n = 0 → 0.
inline index_t mass_count(const float* v, const index_t* order, index_t n, double weight, double alpha) noexcept {
  if (n <= 0) return 0;
  const double threshold = weight - weight * alpha;  // upstream: W − (W·α), in Python floats
  double total = 0.0;
  for (index_t j = 0; j < n; ++j) total += double(v[j]);
  double removed = 0.0;
  for (index_t i = 0; i < n; ++i) {
    if (total - removed < threshold) return std::max<index_t>(i - 1, 0);
    removed += double(v[order[i]]);
  }
  return n - 1;
}

inline status check_weight(const char* name, double w) {
  if (!std::isfinite(w)) return fail("argument '", name, "' = ", w, " must be finite");
  return {};
}

inline status check_calibration_spans(const layer_attention& a) {
  VTR_TRY(check_spans(a));
  if (a.n_suffix < 1)
    return fail("span 'n_suffix' = 0: the Fit&Prune calibration averages over the suffix rows and needs at least one "
                "(upstream divides by zero here; ALGORITHMS §3.3.5)");
  return {};
}

}  // namespace detail

/// One calibration step (§3.3.5 (c)): cross_j = Σ_suffix Â / N_t, self_j = Σ_visual Â / n; dc =
/// mass_count(cross, Wc), ds = mass_count(self, Ws); del_cross / del_self = the first dc / ds of the
/// ascending orders; intersection = the tokens this sample loses at this layer.
/// Errors (nothing written): negative spans, N_t = 0, non-finite α / Wc / Ws, attention of the wrong
/// shape or non-finite.
template <class Arch = simd::default_arch>
status try_fit_step(const layer_attention& in, double alpha, double weight_cross, double weight_self, step_result& out,
                    workspace& ws) {
  VTR_TRY(detail::check_calibration_spans(in));
  VTR_TRY(detail::check_weight("alpha", alpha));
  VTR_TRY(detail::check_weight("weight_cross", weight_cross));
  VTR_TRY(detail::check_weight("weight_self", weight_self));
  const index_t n = in.n_visual;
  workspace::scope sc(ws);
  tensor_view<const float, 3> p;
  VTR_TRY(detail::resolve_visual_attention<Arch>(in, ws, p));
  const std::size_t nn = static_cast<std::size_t>(std::max<index_t>(n, 1));
  float* cross = ws.take<float>(nn);
  float* self = ws.take<float>(nn);
  VTR_TRY(detail::column_terms<Arch>(p, n, in.n_suffix, detail::cross_norm::mean, cross, self, ws));
  index_t* oc = ws.take<index_t>(nn);
  index_t* os = ws.take<index_t>(nn);
  if (n > 0) {
    auto a = ops::try_bottomk(vector_view<const float>(cross, {n}), n, ops::order::by_rank, vector_view<index_t>(oc, {n}), ws);
    if (!a) return a.error();
    auto b = ops::try_bottomk(vector_view<const float>(self, {n}), n, ops::order::by_rank, vector_view<index_t>(os, {n}), ws);
    if (!b) return b.error();
  }
  const index_t dc = detail::mass_count(cross, oc, n, weight_cross, alpha);
  const index_t ds = detail::mass_count(self, os, n, weight_self, alpha);
  std::uint8_t* mark = ws.take<std::uint8_t>(nn);
  for (index_t j = 0; j < n; ++j) mark[j] = 0;
  for (index_t i = 0; i < dc; ++i) mark[oc[i]] |= 1;
  for (index_t i = 0; i < ds; ++i) mark[os[i]] |= 2;

  out.cross.assign(cross, cross + n);
  out.self.assign(self, self + n);
  out.del_cross.assign(oc, oc + dc);
  out.del_self.assign(os, os + ds);
  out.intersection.clear();
  for (index_t j = 0; j < n; ++j)
    if (mark[j] == 3) out.intersection.push_back(j);
  return {};
}
/// Throwing form of try_fit_step.
template <class Arch = simd::default_arch>
step_result fit_step(const layer_attention& in, double alpha, double weight_cross, double weight_self, workspace& ws) {
  step_result r;
  raise_if_error(try_fit_step<Arch>(in, alpha, weight_cross, weight_self, r, ws));
  return r;
}

// ---------------------------------------------------------------------------------------------------
// (a) statistics (§3.3.5 (a), fp-sa.py:283-318)

/// Wc and Ws of one layer of one sample, from the unpruned attention.
struct layer_weights {
  double cross = 0.0;  ///< Wc = Σ_suffix Σ_visual Â / N_t
  double self = 0.0;   ///< Ws = Σ_visual Σ_visual Â / n  (0 when n = 0)
};

/// Wc and Ws from one layer's attention. Errors: as try_fit_step (N_t = 0 is an error).
template <class Arch = simd::default_arch>
status try_layer_weights(const layer_attention& in, layer_weights& out, workspace& ws) {
  VTR_TRY(detail::check_calibration_spans(in));
  const index_t n = in.n_visual;
  workspace::scope sc(ws);
  tensor_view<const float, 3> p;
  VTR_TRY(detail::resolve_visual_attention<Arch>(in, ws, p));
  const std::size_t nn = static_cast<std::size_t>(std::max<index_t>(n, 1));
  float* cross = ws.take<float>(nn);
  float* self = ws.take<float>(nn);
  VTR_TRY(detail::column_terms<Arch>(p, n, in.n_suffix, detail::cross_norm::sum, cross, self, ws));
  double c = 0.0, s = 0.0;
  for (index_t j = 0; j < n; ++j) {
    c += double(cross[j]);
    s += double(self[j]);
  }
  out.cross = c / double(in.n_suffix);
  out.self = s;  // self already carries the 1/n of colmean_block
  return {};
}

/// Wc[s][ℓ] and Ws[s][ℓ] for S samples × L layers, row-major by sample.
struct statistics {
  index_t samples = 0;
  index_t layers = 0;
  index_t n_visual = 0;           ///< Nv the statistics were taken at (every sample starts with it)
  std::vector<double> cross;      ///< Wc, [samples·layers]
  std::vector<double> self;       ///< Ws, [samples·layers]

  void reset(index_t s, index_t l, index_t nv) {
    samples = s;
    layers = l;
    n_visual = nv;
    cross.assign(static_cast<std::size_t>(s * l), 0.0);
    self.assign(static_cast<std::size_t>(s * l), 0.0);
  }
  double weight_cross(index_t s, index_t l) const { return cross[static_cast<std::size_t>(s * layers + l)]; }
  double weight_self(index_t s, index_t l) const { return self[static_cast<std::size_t>(s * layers + l)]; }
  void set(index_t s, index_t l, layer_weights w) {
    cross[static_cast<std::size_t>(s * layers + l)] = w.cross;
    self[static_cast<std::size_t>(s * layers + l)] = w.self;
  }
};

/// Collects the statistics through the engine callback
///   status attention_of(index_t sample, index_t layer, vector_view<const index_t> kept_rel, layer_attention& out)
/// called for every sample (outer) and layer (inner) with kept_rel = 0…Nv−1 (nothing pruned): the engine
/// runs the unpruned forward and hands over layer ℓ's attention (upstream takes it from one HF forward with
/// output_attentions). Errors: S < 1, L < 1, Nv < 0, a callback error, an attention whose n_visual ≠ Nv.
template <class Arch = simd::default_arch, class AttentionFn>
status try_collect_statistics(AttentionFn&& attention_of, index_t samples, index_t layers, index_t n_visual, statistics& out,
                              workspace& ws) {
  if (samples < 1 || layers < 1 || n_visual < 0)
    return fail("arguments 'samples' = ", samples, ", 'layers' = ", layers, ", 'n_visual' = ", n_visual,
                ": need at least one sample and one layer, and a non-negative visual count");
  std::vector<index_t> all(static_cast<std::size_t>(n_visual));
  std::iota(all.begin(), all.end(), index_t(0));
  statistics st;
  st.reset(samples, layers, n_visual);
  for (index_t s = 0; s < samples; ++s)
    for (index_t l = 0; l < layers; ++l) {
      layer_attention la;
      VTR_TRY(attention_of(s, l, vector_view<const index_t>(all.data(), {n_visual}), la));
      if (la.n_visual != n_visual)
        return fail("the attention callback for sample ", s, ", layer ", l, " reported n_visual = ", la.n_visual,
                    " but ", n_visual, " visual tokens are present");
      layer_weights w;
      VTR_TRY(try_layer_weights<Arch>(la, w, ws));
      st.set(s, l, w);
    }
  out = std::move(st);
  return {};
}

// ---------------------------------------------------------------------------------------------------
// (b) FLOPs model (§3.3.5 (b), fp-sa.py:98-105, 279-280; MACs per §5.1)

/// The per-layer cost model of the calibration, counting only visual tokens. Defaults: LLaMA-7B
/// (d = 4096, FFN m = 11008, 32 layers) at Nv = 576 — upstream's constants (§3.3.7).
struct flops_model {
  index_t hidden = 4096;    ///< d
  index_t ffn = 11008;      ///< m
  index_t layers = 32;      ///< decoder layers
  index_t n_visual = 576;   ///< Nv: visual tokens entering layer 0

  /// q/k/v projections + QKᵀ + AV at n tokens: 3nd² + 2n²d.
  std::int64_t attention_cost(index_t n) const noexcept {
    const std::int64_t N = n, d = hidden;
    return 3 * N * d * d + 2 * N * N * d;
  }
  /// o-proj + FFN at n tokens: nd² + 3ndm.
  std::int64_t post_attention_cost(index_t n) const noexcept {
    const std::int64_t N = n, d = hidden, m = ffn;
    return N * d * d + 3 * N * d * m;
  }
  /// One whole layer: 4nd² + 2n²d + 3ndm.
  std::int64_t layer_cost(index_t n) const noexcept { return attention_cost(n) + post_attention_cost(n); }
  /// The unpruned model: layers · layer(Nv).
  std::int64_t origin() const noexcept { return std::int64_t(layers) * layer_cost(n_visual); }
  /// What layer ℓ still costs after its attention (o-proj + FFN at n) plus the layers after ℓ at n.
  std::int64_t rest(index_t n, index_t l) const noexcept { return post_attention_cost(n) + std::int64_t(layers - 1 - l) * layer_cost(n); }

  /// Errors: non-positive d or layer count, negative m or Nv, totals that overflow int64 for `samples`.
  status validate(index_t samples = 1) const {
    if (hidden < 1 || ffn < 0 || layers < 1 || n_visual < 0)
      return fail("flops_model {hidden = ", hidden, ", ffn = ", ffn, ", layers = ", layers, ", n_visual = ", n_visual,
                  "}: hidden and layers must be ≥ 1, ffn and n_visual ≥ 0");
    // used + forecast ≤ 2·S·origin at any point of a probe; keep a safety factor below 2^63.
    const long double est = 2.0L * static_cast<long double>(std::max<index_t>(samples, 1)) * static_cast<long double>(layers) *
                            (4.0L * n_visual * hidden * hidden + 2.0L * n_visual * n_visual * hidden + 3.0L * n_visual * hidden * ffn);
    if (est > 4.0e18L)
      return fail("flops_model {hidden = ", hidden, ", ffn = ", ffn, ", layers = ", layers, ", n_visual = ", n_visual, "} with ",
                  samples, " samples overflows the exact int64 FLOPs totals");
    return {};
  }
};

// ---------------------------------------------------------------------------------------------------
// (c) one probe and (d) the bisection

/// Calibration settings; defaults are the reference's (§3.3.7).
struct fit_params {
  double reduction = 0.6;         ///< FLOPs-reduction target as a fraction (key 60 ↔ 0.6), in [0, 1]
  flops_model flops{};            ///< model shape (d, m, layers, Nv)
  double alpha_lo = 0.0;          ///< bisection interval
  double alpha_hi = 1.0;
  double width = 0.01 + 1e-6;     ///< bisect while hi − lo > width (fp-sa.py:334): 7 probes on [0, 1]
  bool return_last_reaching = false;  ///< false: the LAST probe's scheme, as upstream (fp-sa.py:344)
};

/// One fit_model(α) run.
struct probe {
  double alpha = 0.0;
  bool reached = false;            ///< the FLOPs budget was met before the last layer
  index_t stop_layer = 0;          ///< the layer where the budget was met (no deletion from it on), or L
  std::vector<index_t> scheme;     ///< [L] ⌊Σ_s deletions / S⌋ per layer
};

/// The fitted recipe and how it was found.
struct fit_result {
  std::vector<index_t> recipe;     ///< [L] the chosen probe's scheme (feed it to layer_params::recipe)
  double alpha = 0.0;              ///< α of the chosen probe
  bool reached = false;            ///< whether the chosen probe met the budget
  std::vector<probe> probes;       ///< every probe, in order
};

namespace detail {
inline status check_fit(const statistics& st, const fit_params& p) {
  VTR_TRY(p.flops.validate(st.samples));
  if (!(p.reduction >= 0.0 && p.reduction <= 1.0))
    return fail("argument 'reduction' = ", p.reduction, " must be a FLOPs-reduction fraction in [0, 1] (e.g. 0.6 for key 60)");
  if (st.samples < 1) return fail("argument 'stats' holds no samples");
  if (st.layers != p.flops.layers || st.n_visual != p.flops.n_visual)
    return fail("argument 'stats' was taken for ", st.layers, " layers and ", st.n_visual, " visual tokens, but the flops_model has ",
                p.flops.layers, " layers and n_visual = ", p.flops.n_visual);
  const std::size_t cells = static_cast<std::size_t>(st.samples * st.layers);
  if (st.cross.size() != cells || st.self.size() != cells)
    return fail("argument 'stats' has ", st.cross.size(), " / ", st.self.size(), " entries, expected samples·layers = ", cells);
  for (std::size_t i = 0; i < cells; ++i)
    if (!std::isfinite(st.cross[i]) || !std::isfinite(st.self[i]))
      return fail("argument 'stats' holds a non-finite weight at sample ", i / std::size_t(st.layers), ", layer ",
                  i % std::size_t(st.layers));
  return {};
}
}  // namespace detail

/// fit_model(α) (§3.3.5 (c)). Every sample starts with Nv visual tokens. Layer by layer: add each
/// sample's attention cost, stop (reached) once (used + forecast)/S ≤ origin·(1 − reduction); otherwise call
///   status attention_of(index_t sample, index_t layer, vector_view<const index_t> kept_rel, layer_attention& out)
/// for every sample — kept_rel is the survivors (original relative indices, ascending) ENTERING the layer —,
/// delete fit_step's intersection and add the o-proj + FFN cost at the survivors. Calls are layer-major
/// (all samples at ℓ, then ℓ + 1), each probe restarting at layer 0 with everything kept: an engine that
/// keeps per-sample hidden states reads the rows deleted at ℓ − 1 from the change in kept_rel.
template <class Arch = simd::default_arch, class AttentionFn>
status try_fit_probe(AttentionFn&& attention_of, const statistics& st, const fit_params& p, double alpha, probe& out,
                     workspace& ws) {
  VTR_TRY(detail::check_fit(st, p));
  VTR_TRY(detail::check_weight("alpha", alpha));
  const index_t S = st.samples, L = p.flops.layers, Nv = p.flops.n_visual;
  const flops_model& fm = p.flops;
  std::vector<std::vector<index_t>> kept(static_cast<std::size_t>(S), std::vector<index_t>(static_cast<std::size_t>(Nv)));
  for (auto& k : kept) std::iota(k.begin(), k.end(), index_t(0));
  std::vector<std::int64_t> deleted(static_cast<std::size_t>(L), 0);
  const double budget = static_cast<double>(fm.origin()) * (1.0 - p.reduction);  // Python: int · float
  std::int64_t used = 0;
  probe pr;
  pr.alpha = alpha;
  pr.stop_layer = L;
  step_result step;
  std::vector<index_t> next;
  for (index_t l = 0; l < L; ++l) {
    std::int64_t forecast = 0;
    for (const auto& k : kept) {
      const index_t n = static_cast<index_t>(k.size());
      used += fm.attention_cost(n);
      forecast += fm.rest(n, l);
    }
    if (static_cast<double>(used + forecast) / static_cast<double>(S) <= budget) {
      pr.reached = true;
      pr.stop_layer = l;
      break;
    }
    for (index_t s = 0; s < S; ++s) {
      auto& k = kept[static_cast<std::size_t>(s)];
      const index_t n = static_cast<index_t>(k.size());
      layer_attention la;
      VTR_TRY(attention_of(s, l, vector_view<const index_t>(k.data(), {n}), la));
      if (la.n_visual != n)
        return fail("the attention callback for sample ", s, ", layer ", l, " reported n_visual = ", la.n_visual, " but ", n,
                    " visual tokens survive");
      VTR_TRY(try_fit_step<Arch>(la, alpha, st.weight_cross(s, l), st.weight_self(s, l), step, ws));
      deleted[static_cast<std::size_t>(l)] += static_cast<std::int64_t>(step.intersection.size());
      if (!step.intersection.empty()) {
        next.clear();
        std::size_t t = 0;
        for (index_t j = 0; j < n; ++j) {
          if (t < step.intersection.size() && step.intersection[t] == j) {
            ++t;
            continue;
          }
          next.push_back(k[static_cast<std::size_t>(j)]);
        }
        k.swap(next);
      }
      used += fm.post_attention_cost(static_cast<index_t>(k.size()));
    }
  }
  pr.scheme.resize(static_cast<std::size_t>(L));
  for (index_t l = 0; l < L; ++l)
    pr.scheme[static_cast<std::size_t>(l)] = static_cast<index_t>(deleted[static_cast<std::size_t>(l)] / S);  // fp-sa.py:274: floor
  out = std::move(pr);
  return {};
}

/// The 7-probe bisection (§3.3.5 (d)): lo = alpha_lo, hi = alpha_hi; while hi − lo > width: probe the
/// midpoint, hi = mid if it reached the budget, else lo = mid. Returns the LAST probe's scheme (upstream,
/// even when that probe did not reach), or with return_last_reaching the last reaching probe's scheme
/// (the last probe's when none reached). Errors: bad params/statistics, an interval with no probe
/// (width ≥ hi − lo), a callback error. Nothing is written to `out` on error.
template <class Arch = simd::default_arch, class AttentionFn>
status try_fit(AttentionFn&& attention_of, const statistics& st, const fit_params& p, fit_result& out, workspace& ws) {
  VTR_TRY(detail::check_fit(st, p));
  if (!(std::isfinite(p.alpha_lo) && std::isfinite(p.alpha_hi) && p.alpha_lo < p.alpha_hi))
    return fail("arguments 'alpha_lo' = ", p.alpha_lo, ", 'alpha_hi' = ", p.alpha_hi, " must be finite with alpha_lo < alpha_hi");
  if (!(std::isfinite(p.width) && p.width > 0.0))
    return fail("argument 'width' = ", p.width, " must be finite and positive");
  if (!(p.alpha_hi - p.alpha_lo > p.width))
    return fail("argument 'width' = ", p.width, " is not below alpha_hi − alpha_lo = ", p.alpha_hi - p.alpha_lo,
                ": the bisection would run no probe");
  fit_result r;
  double lo = p.alpha_lo, hi = p.alpha_hi;
  while (hi - lo > p.width) {
    const double mid = (lo + hi) / 2;
    probe pr;
    VTR_TRY(try_fit_probe<Arch>(attention_of, st, p, mid, pr, ws));
    (pr.reached ? hi : lo) = mid;
    r.probes.push_back(std::move(pr));
  }
  const probe* chosen = &r.probes.back();
  if (p.return_last_reaching)
    for (auto it = r.probes.rbegin(); it != r.probes.rend(); ++it)
      if (it->reached) {
        chosen = &*it;
        break;
      }
  r.recipe = chosen->scheme;
  r.alpha = chosen->alpha;
  r.reached = chosen->reached;
  out = std::move(r);
  return {};
}
/// Throwing form of try_fit.
template <class Arch = simd::default_arch, class AttentionFn>
fit_result fit(AttentionFn&& attention_of, const statistics& st, const fit_params& p, workspace& ws) {
  fit_result r;
  raise_if_error(try_fit<Arch>(attention_of, st, p, r, ws));
  return r;
}

}  // namespace fitprune
VTR_NAMESPACE_END
