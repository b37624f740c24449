// Fuzz target: the merging primitives of vtr/ops/merge.hpp, picked by the first byte: ToMe bipartite soft
// matching (try_tome_bipartite, ALGORITHMS §2.7), its r schedule (try_tome_r_schedule / the list form) and
// the nearest-kept merge (try_nearest_kept_merge, §2.6) with caller-chosen kept rows (VScan only ever passes
// its own valid ones, so the index checks are exercised here).
//
// Beyond the common plan checks: every input row is a source of exactly one output row, the output sizes
// are the sums of the merged sizes, the index lists are consistent with the plan, and — on ordinary values,
// where rounding cannot reorder near-equal scores beyond a small tolerance — the matching is optimal against
// scores recomputed in double (every merged token went to its most similar partner; ToMe merged the r best
// edges).
#include "fuzz_common.hpp"

#include <vtr/ops/merge.hpp>

#include <algorithm>
#include <string>

using namespace vtr_fuzz;

namespace {

constexpr double tol = 1e-4;

// True when every value is an ordinary float of moderate size (no NaN/Inf, no overflow in a dot product).
bool ordinary(const owned_tensor<2>& t) {
  for (index_t i = 0; i < t.ext[0]; ++i)
    for (index_t j = 0; j < t.ext[1]; ++j) {
      const float v = t.data[static_cast<std::size_t>(i * t.str[0] + j)];
      if (!std::isfinite(v) || std::fabs(v) > 1e6f) return false;
    }
  return true;
}

double dot_d(const owned_tensor<2>& t, index_t a, index_t b) {
  double s = 0.0;
  for (index_t j = 0; j < t.ext[1]; ++j)
    s += static_cast<double>(t.data[static_cast<std::size_t>(a * t.str[0] + j)]) *
         static_cast<double>(t.data[static_cast<std::size_t>(b * t.str[0] + j)]);
  return s;
}

// Every input row is a source of exactly one output row.
void check_partition(const vtr::plan& p) {
  std::vector<int> seen(static_cast<std::size_t>(p.input_rows), 0);
  for (index_t r = 0; r < p.size(); ++r) {
    auto [b, e] = p.sources_of(r);
    for (; b != e; ++b) ++seen[static_cast<std::size_t>(*b)];
  }
  for (int c : seen) vtr_fuzz_check(c == 1);
}

vtr::ops::tome_result poisoned_tome() {
  vtr::ops::tome_result t;
  t.merge = poisoned_plan();
  t.unm_idx = {9, 9};
  t.src_idx = {8};
  t.dst_idx = {7, 7, 7};
  t.sizes = {-1.0f};
  return t;
}

bool same_tome(const vtr::ops::tome_result& a, const vtr::ops::tome_result& b) {
  return same_plan(a.merge, b.merge) && a.unm_idx == b.unm_idx && a.src_idx == b.src_idx && a.dst_idx == b.dst_idx &&
         a.sizes.size() == b.sizes.size() &&
         (a.sizes.empty() || std::memcmp(a.sizes.data(), b.sizes.data(), a.sizes.size() * sizeof(float)) == 0);
}

void tome(reader& r) {
  const index_t n = r.extent(0, 40), c = r.extent(0, 6);
  owned_tensor<2> metric(r, {n, c}, r.byte() < 40);
  // Sizes: none (all 1), valid, or with a bad entry / a wrong length.
  std::vector<float> sizes;
  const std::uint8_t sk = r.byte();
  if (sk >= 100) {
    sizes.resize(static_cast<std::size_t>(sk < 240 ? n : r.extent(0, 40)));
    for (auto& x : sizes) x = r.byte() < 245 ? 1.0f + static_cast<float>(r.byte() % 8) : r.value();
  }
  const index_t rr = r.scalar(0, 24);
  const bool cls = r.flag(), dist = r.flag();
  const vtr::vector_view<const float> sv = vtr::view_of(std::as_const(sizes));

  vtr::ops::tome_result a = poisoned_tome();
  vtr::workspace fresh;
  const vtr::status s = vtr::ops::try_tome_bipartite(metric.view(), rr, cls, dist, sv, a, fresh);
  vtr::ops::tome_result b = poisoned_tome();
  const vtr::status s2 = vtr::ops::try_tome_bipartite(metric.view(), rr, cls, dist, sv, b, dirty_workspace());
  vtr_fuzz_check(s.ok() == s2.ok() && s.message() == s2.message());
  vtr_fuzz_check(same_tome(a, b));
  if (!s.ok()) {
    vtr_fuzz_check(!s.message().empty());
    vtr_fuzz_check(same_tome(a, poisoned_tome()));
    return;
  }
  const auto size_of = [&](index_t i) { return sizes.empty() ? 1.0f : sizes[static_cast<std::size_t>(i)]; };
  const index_t re = vtr::ops::tome_effective_r(n, rr, cls, dist);
  const vtr::plan& p = a.merge;
  if (re <= 0) {  // identity: a selection of every row, sizes copied, index lists empty
    check_plan(p, n, true, n);
    vtr_fuzz_check(p.is_selection());
    vtr_fuzz_check(a.unm_idx.empty() && a.src_idx.empty() && a.dst_idx.empty());
    vtr_fuzz_check(static_cast<index_t>(a.sizes.size()) == n);
    for (index_t i = 0; i < n; ++i) vtr_fuzz_check(a.sizes[static_cast<std::size_t>(i)] == size_of(i));
    return;
  }
  const index_t na = (n + 1) / 2, nb = n / 2;
  check_plan(p, n, false, n - re);
  check_partition(p);
  vtr_fuzz_check(static_cast<index_t>(a.src_idx.size()) == re && static_cast<index_t>(a.dst_idx.size()) == re);
  vtr_fuzz_check(static_cast<index_t>(a.unm_idx.size()) == na - re);
  vtr_fuzz_check(static_cast<index_t>(a.sizes.size()) == p.size());
  // unm ∪ src is a permutation of the A tokens; dst indexes B.
  std::vector<int> seen_a(static_cast<std::size_t>(na), 0);
  for (index_t x : a.unm_idx) {
    vtr_fuzz_check(x >= 0 && x < na);
    ++seen_a[static_cast<std::size_t>(x)];
  }
  for (index_t x : a.src_idx) {
    vtr_fuzz_check(x >= 0 && x < na);
    ++seen_a[static_cast<std::size_t>(x)];
  }
  for (int k : seen_a) vtr_fuzz_check(k == 1);
  for (index_t x : a.dst_idx) vtr_fuzz_check(x >= 0 && x < nb);
  if (cls) {  // the class token is never merged and stays first; the other unmerged tokens keep their order
    vtr_fuzz_check(a.unm_idx.front() == 0 && p.origin.front() == 0);
    vtr_fuzz_check(std::is_sorted(a.unm_idx.begin(), a.unm_idx.end()));
  }
  // Output order: the unmerged A rows (distill token: B_0 second), then the B rows in order.
  std::vector<index_t> want;
  const index_t n_unm = na - re;
  if (dist) {
    if (n_unm > 0) want.push_back(2 * a.unm_idx[0]);
    if (nb > 0) want.push_back(1);
    for (index_t t = 1; t < n_unm; ++t) want.push_back(2 * a.unm_idx[static_cast<std::size_t>(t)]);
    for (index_t bb = 1; bb < nb; ++bb) want.push_back(2 * bb + 1);
  } else {
    for (index_t x : a.unm_idx) want.push_back(2 * x);
    for (index_t bb = 0; bb < nb; ++bb) want.push_back(2 * bb + 1);
  }
  vtr_fuzz_check(p.origin == want);
  // Every row: its origin is its first source; the sizes are the sums of the merged sizes (the divisor);
  // the src tokens of B row b are exactly those with dst b.
  double total_in = 0.0, total_out = 0.0;
  for (index_t i = 0; i < n; ++i) total_in += size_of(i);
  for (index_t row = 0; row < p.size(); ++row) {
    auto [sb, se] = p.sources_of(row);
    vtr_fuzz_check(*sb == p.origin[static_cast<std::size_t>(row)]);
    double sum = 0.0;
    for (const index_t* q = sb; q != se; ++q) {
      const index_t t = q - p.sources.data();
      vtr_fuzz_check(p.weights[static_cast<std::size_t>(t)] == size_of(*q));
      sum += size_of(*q);
      if (q != sb) {  // a merged A token into this B row
        vtr_fuzz_check(*q % 2 == 0 && p.origin[static_cast<std::size_t>(row)] % 2 == 1);
        const index_t src = *q / 2;
        const auto it = std::find(a.src_idx.begin(), a.src_idx.end(), src);
        vtr_fuzz_check(it != a.src_idx.end());
        vtr_fuzz_check(a.dst_idx[static_cast<std::size_t>(it - a.src_idx.begin())] == p.origin[static_cast<std::size_t>(row)] / 2);
      }
    }
    vtr_fuzz_check(p.divisors[static_cast<std::size_t>(row)] == a.sizes[static_cast<std::size_t>(row)]);
    // (Sizes near FLT_MAX may add up past float: the float sum is then inf, as upstream's fp32 sum is.)
    if (sum < 1e37) vtr_fuzz_check(std::fabs(sum - a.sizes[static_cast<std::size_t>(row)]) <= 1e-5 * std::max(1.0, sum));
    total_out += a.sizes[static_cast<std::size_t>(row)];
  }
  if (total_in < 1e37) vtr_fuzz_check(std::fabs(total_in - total_out) <= 1e-5 * std::max(1.0, total_in));

  // Optimality on ordinary values, with the scores recomputed in double (normalised as the library does).
  if (!ordinary(metric)) return;
  std::vector<double> inv(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) inv[static_cast<std::size_t>(i)] = 1.0 / std::max(std::sqrt(dot_d(metric, i, i)), 1e-12);
  const auto score = [&](index_t aa, index_t bb) {
    if ((cls && aa == 0) || (dist && bb == 0)) return -std::numeric_limits<double>::infinity();
    return dot_d(metric, 2 * aa, 2 * bb + 1) * inv[static_cast<std::size_t>(2 * aa)] * inv[static_cast<std::size_t>(2 * bb + 1)];
  };
  const auto best = [&](index_t aa) {
    double m = -std::numeric_limits<double>::infinity();
    for (index_t bb = 0; bb < nb; ++bb) m = std::max(m, score(aa, bb));
    return m;
  };
  double worst_merged = std::numeric_limits<double>::infinity();
  for (std::size_t t = 0; t < a.src_idx.size(); ++t) {
    const index_t aa = a.src_idx[t];
    const double bm = best(aa);
    const double got = score(aa, a.dst_idx[t]);
    if (std::isfinite(bm)) vtr_fuzz_check(got >= bm - tol);  // merged into its most similar B token
    worst_merged = std::min(worst_merged, bm);
  }
  for (index_t aa : a.unm_idx) {
    const double bm = best(aa);
    if (std::isfinite(bm) && std::isfinite(worst_merged)) vtr_fuzz_check(bm <= worst_merged + tol);  // the r best edges
  }
}

void schedule(reader& r) {
  const index_t rr = r.scalar(0, 64);
  const double inflect = r.real(-2.0, 2.0);
  const index_t layers = r.scalar(0, 40);
  // A schedule of `layers` entries is a legitimate request of that size: keep it allocatable, except for
  // counts no allocation can hold (those must fail or come back empty, never throw).
  const bool huge = static_cast<std::size_t>(std::max<index_t>(layers, 0)) > std::vector<index_t>().max_size();
  if (layers > 4096 && !huge) return;
  auto res = vtr::ops::try_tome_r_schedule(rr, inflect, layers);
  if (!res) {
    vtr_fuzz_check(!res.error().message().empty());
  } else {
    const std::vector<index_t>& s = res.value();
    vtr_fuzz_check(static_cast<index_t>(s.size()) == std::max<index_t>(layers, 0));
    vtr_fuzz_check(rr >= 0);
    if (!s.empty()) {
      const index_t mn = s.front();
      const index_t mx = 2 * rr - mn;
      // min = int(r·(1 − inflect)) (truncation toward 0); the entries run from min towards max.
      vtr_fuzz_check(static_cast<double>(mn) == std::trunc(static_cast<double>(rr) * (1.0 - inflect)));
      // The last entry can fall one short of max, as upstream's int(min + step·i) in Python floats does
      // (r 60, inflect −0.4993…, 28 blocks ends at 30, max 31); beyond 2^50 only the order is checked.
      const bool exact = std::max(std::abs(mn), std::abs(mx)) < (index_t(1) << 50);
      for (std::size_t i = 1; i < s.size(); ++i) {
        if (!exact) vtr_fuzz_check(mx >= mn ? s[i] >= s[i - 1] : s[i] <= s[i - 1]);
        else if (mx >= mn) vtr_fuzz_check(s[i] >= s[i - 1] && s[i] <= mx + 1);
        else vtr_fuzz_check(s[i] <= s[i - 1] && s[i] >= mx - 1);
      }
    }
  }
  // The list form: zero-padded to `layers`, kept when longer.
  std::vector<index_t> list(static_cast<std::size_t>(r.extent(0, 6)));
  for (auto& x : list) x = r.scalar(0, 8);
  if (layers > 4096) return;
  const std::vector<index_t> l = vtr::ops::tome_r_schedule(list, layers);
  vtr_fuzz_check(l.size() == std::max(list.size(), static_cast<std::size_t>(std::max<index_t>(layers, 0))));
  for (std::size_t i = 0; i < l.size(); ++i) vtr_fuzz_check(l[i] == (i < list.size() ? list[i] : 0));
}

void nearest(reader& r) {
  const index_t n = r.extent(0, 40), d = r.extent(0, 6);
  owned_tensor<2> x(r, {n, d}, r.byte() < 40);
  // Kept rows: usually a valid ascending subset, sometimes anything (unsorted, repeated, out of range).
  std::vector<index_t> kept;
  if (r.byte() < 220) {
    for (index_t i = 0; i < n; ++i)
      if (r.byte() < 90) kept.push_back(i);
    if (kept.empty() && n > 0 && r.byte() < 200) kept.push_back(r.extent(0, n - 1));
  } else {
    const index_t k = r.extent(0, 8);
    for (index_t i = 0; i < k; ++i) kept.push_back(r.byte() < 200 ? r.extent(-1, n) : r.scalar(0, n));
  }
  const float w = r.byte() < 220 ? static_cast<float>(r.extent(1, 16)) / 4.0f : static_cast<float>(r.real(0.0, 4.0));
  const vtr::vector_view<const index_t> kv = vtr::view_of(std::as_const(kept));

  std::vector<index_t> assign = {-5, -5};
  const bool want_assign = r.flag();
  vtr::plan out;
  std::vector<index_t> assign2 = assign;
  const vtr::status s = run_checked(
      [&](vtr::plan& o, vtr::workspace& ws) {
        std::vector<index_t>& as = &ws == &dirty_workspace() ? assign2 : assign;
        return vtr::ops::try_nearest_kept_merge(x.view(), kv, w, o, want_assign ? &as : nullptr, ws);
      },
      out);
  vtr_fuzz_check(assign == assign2);
  if (!s.ok()) {
    vtr_fuzz_check(assign.size() == 2 && assign[0] == -5 && assign[1] == -5);
    return;
  }
  const index_t k = static_cast<index_t>(kept.size());
  check_plan(out, n, true, k);
  check_partition(out);
  vtr_fuzz_check(out.origin == kept);
  if (want_assign) vtr_fuzz_check(static_cast<index_t>(assign.size()) == n - k);
  // Each pruned row (ascending) went to one kept slot; the row's terms say which.
  std::vector<index_t> slot_of(static_cast<std::size_t>(n), -1);
  for (index_t row = 0; row < out.size(); ++row) {
    auto [b, e] = out.sources_of(row);
    const index_t t0 = b - (out.is_selection() ? b : out.sources.data());
    const index_t c = (e - b) - 1;
    if (!out.is_selection()) {
      if (c == 0) {  // nothing assigned: an exact copy
        vtr_fuzz_check(out.weights[static_cast<std::size_t>(t0)] == 1.0f && out.divisors[static_cast<std::size_t>(row)] == 1.0f);
      } else {
        vtr_fuzz_check(out.weights[static_cast<std::size_t>(t0)] == w);
        vtr_fuzz_check(out.divisors[static_cast<std::size_t>(row)] == w + static_cast<float>(c));
      }
    }
    for (const index_t* q = b + 1; q < e; ++q) {
      vtr_fuzz_check(q == b + 1 || *q > q[-1]);  // members ascending
      slot_of[static_cast<std::size_t>(*q)] = row;
    }
  }
  if (want_assign) {
    index_t q = 0;
    for (index_t i = 0; i < n; ++i)
      if (!std::binary_search(kept.begin(), kept.end(), i)) vtr_fuzz_check(assign[static_cast<std::size_t>(q++)] == slot_of[static_cast<std::size_t>(i)]);
  }
  // Optimality on ordinary values: the chosen slot has the largest cosine (§0.7 clamp), within rounding.
  if (!ordinary(x)) return;
  for (index_t i = 0; i < n; ++i) {
    const index_t sl = slot_of[static_cast<std::size_t>(i)];
    if (sl < 0) continue;
    const auto cosd = [&](index_t kr) {
      return dot_d(x, i, kr) / std::sqrt(std::max(dot_d(x, i, i) * dot_d(x, kr, kr), 1e-16));
    };
    double bm = -std::numeric_limits<double>::infinity();
    for (index_t kr : kept) bm = std::max(bm, cosd(kr));
    vtr_fuzz_check(cosd(kept[static_cast<std::size_t>(sl)]) >= bm - tol);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  switch (r.byte() % 3) {
    case 0: tome(r); break;
    case 1: schedule(r); break;
    default: nearest(r); break;
  }
  return 0;
}
