// vtr — the result of one reduction step (DESIGN §2.1, ALGORITHMS §2.11).
//
// A plan describes the output rows of a step in terms of the input rows along the token axis:
//   * origin[r]   the input row that output row r stands for (its position/KV row), or plan::appended for
//                 a new row (SparseVLM recycled clusters, PruneVid segment means) that has no original;
//   * terms       for a merging step, output row r = (Σ weights[t]·x[sources[t]]) / divisors[r] over the
//                 terms t of row r (CSR: offsets[r] .. offsets[r+1]). A pure selection stores no terms:
//                 row r is an exact copy of input row origin[r].
// The same plan applies to every tensor sharing the token axis (hidden states, K/V rows, positions,
// token sizes) through vtr::apply. The sources of a row are its provenance.
#pragma once

#include "../config.hpp"
#include "error.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

VTR_NAMESPACE_BEGIN

struct plan {
  /// origin value of a row that does not stand for one input row.
  static constexpr index_t appended = -1;

  index_t input_rows = 0;        ///< length of the token axis before the step
  std::vector<index_t> origin;   ///< one per output row
  std::vector<index_t> offsets;  ///< empty (pure selection) or origin.size() + 1 entries
  std::vector<index_t> sources;  ///< input rows, per output row in offsets order
  std::vector<float> weights;    ///< one per source
  std::vector<float> divisors;   ///< one per output row (when there are terms)

  /// Number of output rows.
  index_t size() const noexcept { return static_cast<index_t>(origin.size()); }
  /// True when every output row is an exact copy of one input row.
  bool is_selection() const noexcept { return offsets.empty(); }

  /// The origins of the rows that stand for an input row, in output-row order (ascending for every
  /// method except the ToMe reordering, ALGORITHMS §0.3).
  std::vector<index_t> kept() const {
    std::vector<index_t> k;
    k.reserve(origin.size());
    for (index_t o : origin)
      if (o != appended) k.push_back(o);
    return k;
  }

  /// Number of rows without an origin.
  index_t appended_rows() const noexcept {
    return static_cast<index_t>(std::count(origin.begin(), origin.end(), appended));
  }

  /// Sources of output row r (for a selection row: its origin).
  std::pair<const index_t*, const index_t*> sources_of(index_t r) const noexcept {
    if (is_selection()) return {&origin[r], &origin[r] + 1};
    return {sources.data() + offsets[r], sources.data() + offsets[r + 1]};
  }

  // ---- building (capacity is kept across reset(), so a reused plan stops allocating) ----

  /// Empties the plan for an input of n rows.
  void reset(index_t n) {
    input_rows = n;
    origin.clear();
    offsets.clear();
    sources.clear();
    weights.clear();
    divisors.clear();
  }

  /// Appends a row that copies input row `src`.
  void add_copy(index_t src) {
    origin.push_back(src);
    if (!is_selection()) {
      sources.push_back(src);
      weights.push_back(1.0f);
      divisors.push_back(1.0f);
      offsets.push_back(static_cast<index_t>(sources.size()));
    }
  }

  /// Appends a merged row (Σ w_i·x[src_i]) / divisor; `w == nullptr` means every weight is 1.
  void add_merge(index_t row_origin, const index_t* src, index_t count, const float* w, float divisor) {
    if (is_selection()) make_terms();
    origin.push_back(row_origin);
    for (index_t i = 0; i < count; ++i) {
      sources.push_back(src[i]);
      weights.push_back(w ? w[i] : 1.0f);
    }
    divisors.push_back(divisor);
    offsets.push_back(static_cast<index_t>(sources.size()));
  }

  /// A pure selection of `kept` out of n rows.
  static plan select(index_t n, std::vector<index_t> kept) {
    plan p;
    p.input_rows = n;
    p.origin = std::move(kept);
    return p;
  }

 private:
  // Switch from the selection form to explicit terms: each earlier row becomes one weight-1 term.
  void make_terms() {
    offsets.assign(1, 0);
    for (index_t o : origin) {
      sources.push_back(o);
      weights.push_back(1.0f);
      divisors.push_back(1.0f);
      offsets.push_back(static_cast<index_t>(sources.size()));
    }
  }
};

/// The selection over a sequence [prefix | span | suffix] that keeps every prefix and suffix row and, in
/// the span, the span-relative rows kept_rel[0 … n_kept) (ascending). This is the sequence plan of every
/// intra-LLM selection (FastV, VScan stage 2, Fit&Prune, PruneVid stage 2, …). kept_rel is not validated:
/// callers pass their own top-k output.
inline void select_in_sequence(index_t prefix, index_t span, index_t suffix, const index_t* kept_rel, index_t n_kept,
                               plan& out) {
  out.reset(prefix + span + suffix);
  out.origin.resize(static_cast<std::size_t>(prefix + n_kept + suffix));
  index_t* o = out.origin.data();
  for (index_t i = 0; i < prefix; ++i) *o++ = i;
  for (index_t i = 0; i < n_kept; ++i) *o++ = prefix + kept_rel[i];
  for (index_t i = prefix + span; i < prefix + span + suffix; ++i) *o++ = i;
}

/// Checks a plan's internal consistency (used at apply() and by the property tests).
inline status validate_plan(const plan& p) {
  const index_t rows = p.size();
  if (p.input_rows < 0) return fail("plan has a negative input_rows (", p.input_rows, ")");
  for (index_t r = 0; r < rows; ++r) {
    const index_t o = p.origin[r];
    if (o != plan::appended && (o < 0 || o >= p.input_rows))
      return fail("plan row ", r, " has origin ", o, " outside the input's ", p.input_rows, " rows");
  }
  if (p.is_selection()) {
    for (index_t r = 0; r < rows; ++r)
      if (p.origin[r] == plan::appended) return fail("selection plan row ", r, " has no origin and no terms");
    return {};
  }
  if (static_cast<index_t>(p.offsets.size()) != rows + 1 || static_cast<index_t>(p.divisors.size()) != rows ||
      p.offsets.front() != 0 || p.offsets.back() != static_cast<index_t>(p.sources.size()) ||
      p.weights.size() != p.sources.size())
    return fail("plan term arrays are inconsistent: ", rows, " rows, ", p.offsets.size(), " offsets, ",
                p.divisors.size(), " divisors, ", p.sources.size(), " sources, ", p.weights.size(), " weights");
  for (index_t r = 0; r < rows; ++r) {
    if (p.offsets[r + 1] <= p.offsets[r]) return fail("plan row ", r, " has no source");
    if (!(p.divisors[r] != 0.0f)) return fail("plan row ", r, " has a zero divisor");
  }
  for (index_t s : p.sources)
    if (s < 0 || s >= p.input_rows) return fail("plan source ", s, " outside the input's ", p.input_rows, " rows");
  return {};
}

/// A plan over a span expanded to the whole sequence [prefix | span | suffix]: the prefix rows, the span
/// plan's rows shifted by `prefix` (merges and appended rows included), then the suffix rows.
inline status try_embed_in_sequence(const plan& span, index_t prefix, index_t suffix, plan& out) {
  VTR_TRY(validate_plan(span));
  if (prefix < 0 || suffix < 0) return fail("arguments 'prefix' = ", prefix, ", 'suffix' = ", suffix, " must be >= 0");
  const index_t v = span.input_rows;
  plan p;
  p.reset(prefix + v + suffix);
  for (index_t i = 0; i < prefix; ++i) p.add_copy(i);
  std::vector<index_t> src;
  for (index_t r = 0; r < span.size(); ++r) {
    const index_t o = span.origin[r] == plan::appended ? plan::appended : prefix + span.origin[r];
    if (span.is_selection()) {
      p.add_copy(o);
      continue;
    }
    src.clear();
    for (index_t t = span.offsets[r]; t < span.offsets[r + 1]; ++t) src.push_back(prefix + span.sources[t]);
    p.add_merge(o, src.data(), static_cast<index_t>(src.size()), span.weights.data() + span.offsets[r], span.divisors[r]);
  }
  for (index_t i = 0; i < suffix; ++i) p.add_copy(prefix + v + i);
  out = std::move(p);
  return {};
}
inline plan embed_in_sequence(const plan& span, index_t prefix, index_t suffix) {
  plan p;
  raise_if_error(try_embed_in_sequence(span, prefix, suffix, p));
  return p;
}

VTR_NAMESPACE_END
