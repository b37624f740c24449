// Fit&Prune (ALGORITHMS §3.3): recipe tables, the per-layer deletion, fit_step, the FLOPs model, one
// probe and the 7-probe bisection — against the spec's conformance examples (§3.3.9), every edge case of
// §3.3.8 (plus the undefined upstream cases the library defines, fit.hpp header), and scalar references.
#include "catch.hpp"

#include <vtr/methods/fitprune.hpp>
#include <vtr/ops/attention.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

using vtr::index_t;
namespace fp = vtr::fitprune;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool close(double got, double want, double rtol = 1e-5, double atol = 1e-6) {
  return std::abs(got - want) <= atol + rtol * std::abs(want);
}

/// A random attention block [H][rows][cols] of positive values (not normalised: the method never assumes
/// rows sum to 1). Values are spread so that products are tie-free.
std::vector<float> random_block(index_t H, index_t rows, index_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(H * rows * cols));
  for (auto& x : v) x = d(rng) * d(rng);
  return v;
}

vtr::tensor_view<const float, 3> view3(const std::vector<float>& v, index_t a, index_t b, index_t c) {
  return {v.data(), {a, b, c}};
}

/// Scalar reference of §3.3.2 / §3.3.5 columns, in double: head max first, then the row sums.
struct ref_terms {
  std::vector<double> cross, self;
};
ref_terms ref_columns(const std::vector<float>& a, index_t H, index_t n, index_t nt, bool cross_mean) {
  const index_t rows = n + nt;
  ref_terms t;
  t.cross.assign(static_cast<std::size_t>(n), 0.0);
  t.self.assign(static_cast<std::size_t>(n), 0.0);
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < n; ++j) {
      double m = -std::numeric_limits<double>::infinity();
      for (index_t h = 0; h < H; ++h) m = std::max(m, double(a[static_cast<std::size_t>((h * rows + r) * n + j)]));
      if (r < n) t.self[static_cast<std::size_t>(j)] += m / double(n);
      else t.cross[static_cast<std::size_t>(j)] += m;
    }
  if (cross_mean)
    for (auto& c : t.cross) c /= double(nt);
  return t;
}

/// Stable ascending order (§0.4 bottom-k).
std::vector<index_t> ascending_order(const std::vector<double>& v) {
  std::vector<index_t> o(v.size());
  std::iota(o.begin(), o.end(), index_t(0));
  std::stable_sort(o.begin(), o.end(), [&](index_t x, index_t y) { return v[std::size_t(x)] < v[std::size_t(y)]; });
  return o;
}

std::vector<index_t> ref_layer_deleted(const std::vector<float>& a, index_t H, index_t n, index_t nt, index_t k) {
  const ref_terms t = ref_columns(a, H, n, nt, false);
  std::vector<double> prod(static_cast<std::size_t>(n));
  for (std::size_t j = 0; j < prod.size(); ++j) prod[j] = t.cross[j] * t.self[j];
  auto o = ascending_order(prod);
  o.resize(static_cast<std::size_t>(std::min(k, n)));
  return o;
}

index_t ref_mass_count(const std::vector<double>& v, const std::vector<index_t>& order, double w, double alpha) {
  const index_t n = static_cast<index_t>(v.size());
  double total = 0;
  for (double x : v) total += x;
  double removed = 0;
  for (index_t i = 0; i < n; ++i) {
    if (total - removed < w - w * alpha) return std::max<index_t>(i - 1, 0);
    removed += v[std::size_t(order[std::size_t(i)])];
  }
  return std::max<index_t>(n - 1, 0);
}

struct ref_step {
  std::vector<index_t> del_cross, del_self, inter;
};
ref_step ref_fit_step(const std::vector<float>& a, index_t H, index_t n, index_t nt, double alpha, double wc, double ws) {
  const ref_terms t = ref_columns(a, H, n, nt, true);
  const auto oc = ascending_order(t.cross), os = ascending_order(t.self);
  ref_step r;
  r.del_cross.assign(oc.begin(), oc.begin() + ref_mass_count(t.cross, oc, wc, alpha));
  r.del_self.assign(os.begin(), os.begin() + ref_mass_count(t.self, os, ws, alpha));
  for (index_t j = 0; j < n; ++j)
    if (std::count(r.del_cross.begin(), r.del_cross.end(), j) && std::count(r.del_self.begin(), r.del_self.end(), j))
      r.inter.push_back(j);
  return r;
}

/// §3.3.9 common setup: P = 35 (irrelevant to probabilities), n = 8, N_t = 3, H = 2. Head 0 carries the
/// values, head 1 is zero, so the head max is head 0. Cross column sums sit in the first suffix row and
/// self column sums in the first visual row.
std::vector<float> spec_attention() {
  const index_t H = 2, n = 8, nt = 3, rows = n + nt;
  const float cross[8] = {.5f, .1f, .4f, .2f, .3f, .05f, .6f, .15f};
  const float self[8] = {2, 4, 1, 3, 1, 8, 1, 2};
  std::vector<float> a(static_cast<std::size_t>(H * rows * n), 0.0f);
  for (index_t j = 0; j < n; ++j) {
    a[static_cast<std::size_t>(0 * n + j)] = self[j];
    a[static_cast<std::size_t>(n * n + j)] = cross[j];
  }
  return a;
}

fp::layer::inputs layer_inputs(const std::vector<float>& a, index_t H, index_t n, index_t nt, index_t layer, index_t prefix = 35) {
  fp::layer::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(view3(a, H, n + nt, n));
  in.n_visual = n;
  in.n_suffix = nt;
  in.layer_index = layer;
  in.prefix = prefix;
  return in;
}

void check_plan_shape(const vtr::plan& p, index_t P, index_t n, index_t nt, const std::vector<index_t>& deleted) {
  REQUIRE(p.is_selection());
  CHECK(p.input_rows == P + n + nt);
  REQUIRE(p.size() == P + n - static_cast<index_t>(deleted.size()) + nt);
  for (index_t r = 1; r < p.size(); ++r) REQUIRE(p.origin[std::size_t(r)] > p.origin[std::size_t(r - 1)]);
  for (index_t r = 0; r < P; ++r) REQUIRE(p.origin[std::size_t(r)] == r);
  for (index_t t = 0; t < nt; ++t) REQUIRE(p.origin[std::size_t(p.size() - nt + t)] == P + n + t);
  for (index_t o : p.origin) {
    REQUIRE(o >= 0);
    REQUIRE(o < P + n + nt);
    if (o >= P && o < P + n) REQUIRE(std::count(deleted.begin(), deleted.end(), o - P) == 0);
  }
  REQUIRE(vtr::validate_plan(p).ok());
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// §3.3.4 recipe tables

TEST_CASE("fitprune recipes: the tables of §3.3.4 with their totals") {
  struct row {
    int key;
    index_t total;
    double avg_entering;
  };
  const row rows[] = {{10, 66, 541.2}, {20, 149, 492.5}, {30, 264, 423.5}, {40, 336, 362.5}, {50, 403, 301.8},
                      {55, 424, 274.4}, {60, 449, 245.0}, {70, 488, 187.9}, {80, 514, 130.6}, {90, 539, 72.8}};
  for (const row& r : rows) {
    INFO("key " << r.key);
    const auto v = fp::recipe(r.key);
    REQUIRE(v.extent(0) == 32);
    index_t total = 0, n = 576;
    double entering = 0;
    for (index_t l = 0; l < 32; ++l) {
      entering += double(n);
      total += v(l);
      n -= std::min(v(l), n);
    }
    CHECK(total == r.total);
    CHECK(576 - total == n);
    CHECK(std::abs(entering / 32 - r.avg_entering) < 0.05);
  }
  const auto zero = fp::recipe(0);
  for (index_t l = 0; l < 32; ++l) CHECK(zero(l) == 0);
  CHECK(fp::recipe(60)(0) == 14);
  CHECK(fp::recipe(60)(2) == 89);
  CHECK(fp::recipe(60)(24) == 0);
  CHECK(fp::recipe(50)(0) == 3);
  CHECK(fp::default_recipe_key == 60);
}

TEST_CASE("fitprune recipes: an unknown key is an error (§2.5, §3.3.8)") {
  for (int key : {-10, 5, 15, 61, 65, 100}) {
    vtr::vector_view<const index_t> v;
    const vtr::status s = fp::try_recipe(key, v);
    REQUIRE_FALSE(s.ok());
    CHECK(contains(s.message(), std::to_string(key)));
    CHECK(contains(s.message(), "reduction"));
    CHECK_THROWS_AS(fp::recipe(key), vtr::invalid_input);
  }
  fp::layer_params p;
  p.reduction = 65;
  const fp::layer step(p);
  CHECK_FALSE(step.deletions(0).ok());
  CHECK_FALSE(step.kept_count(35, 576, 40, 0).ok());
  const auto a = spec_attention();
  vtr::workspace ws;
  vtr::plan out;
  const vtr::status s = step.try_plan(layer_inputs(a, 2, 8, 3, 0), out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "65"));
  CHECK_THROWS_AS(step.plan(layer_inputs(a, 2, 8, 3, 0), ws), vtr::invalid_input);
}

// ---------------------------------------------------------------------------------------------------
// §3.3.9 conformance examples

TEST_CASE("fitprune.layer F1: key 50, layer 0 deletes [4, 7, 1]") {
  const auto a = spec_attention();
  fp::layer_params p;
  p.reduction = 50;
  const fp::layer step(p);
  REQUIRE(step.deletions(0).value() == 3);
  vtr::workspace ws;
  fp::layer::details det;
  const vtr::plan plan = step.plan(layer_inputs(a, 2, 8, 3, 0), ws, &det);
  CHECK(det.deleted_rel == std::vector<index_t>{4, 7, 1});
  CHECK(det.kept_rel == std::vector<index_t>{0, 2, 3, 5, 6});
  const std::vector<double> want = {.125, .05, .05, .075, .0375, .05, .075, .0375};
  REQUIRE(det.score.size() == 8);
  for (std::size_t j = 0; j < 8; ++j) CHECK(close(det.score[j], want[j] / 1.0));
  check_plan_shape(plan, 35, 8, 3, det.deleted_rel);
  CHECK(plan.size() == step.kept_count(35, 8, 3, 0).value());
  CHECK(step.visual_kept_count(8, 0).value() == 5);
}

TEST_CASE("fitprune.layer F2: k = 89 > n deletes all n in ascending-score order (§3.3.8)") {
  const auto a = spec_attention();
  const fp::layer step;  // key 60
  REQUIRE(step.deletions(2).value() == 89);
  vtr::workspace ws;
  fp::layer::details det;
  const vtr::plan plan = step.plan(layer_inputs(a, 2, 8, 3, 2), ws, &det);
  CHECK(det.deleted_rel == std::vector<index_t>{4, 7, 1, 2, 5, 3, 6, 0});
  CHECK(det.kept_rel.empty());
  check_plan_shape(plan, 35, 8, 3, det.deleted_rel);
  CHECK(plan.size() == 35 + 3);
  CHECK(step.kept_count(35, 8, 3, 2).value() == 38);
}

TEST_CASE("fitprune.layer F3 and n = 0: the layer is unchanged and attention is not read (§3.3.8)") {
  const fp::layer step;  // key 60, layer 24 → 0
  vtr::workspace ws;
  fp::layer::details det;
  fp::layer::inputs in;  // no attention at all
  in.n_visual = 8;
  in.n_suffix = 3;
  in.layer_index = 24;
  in.prefix = 35;
  vtr::plan plan = step.plan(in, ws, &det);
  CHECK(det.deleted_rel.empty());
  CHECK(det.kept_rel.size() == 8);
  CHECK(det.score.empty());
  check_plan_shape(plan, 35, 8, 3, {});
  CHECK(plan.size() == 46);
  // n = 0: recipe[0] = 14 but nothing is left to delete.
  in.n_visual = 0;
  in.layer_index = 0;
  plan = step.plan(in, ws, &det);
  CHECK(det.deleted_rel.empty());
  CHECK(plan.size() == 38);
  CHECK(step.kept_count(35, 0, 3, 0).value() == 38);
}

TEST_CASE("fitprune.fit_step F4: α = 0.3 and 0.6 on the F1 attention") {
  const auto a = spec_attention();
  fp::layer_attention la;
  la.attn = vtr::ops::attention_input::from_probs(view3(a, 2, 11, 8));
  la.n_visual = 8;
  la.n_suffix = 3;
  vtr::workspace ws;
  fp::layer_weights w;
  REQUIRE(fp::try_layer_weights(la, w, ws).ok());
  CHECK(close(w.cross, 2.3 / 3));
  CHECK(close(w.self, 2.75));

  auto r = fp::fit_step(la, 0.3, w.cross, w.self, ws);
  CHECK(r.del_cross == std::vector<index_t>{5, 1, 7, 3});
  CHECK(r.del_self == std::vector<index_t>{2, 4, 6, 0});
  CHECK(r.intersection.empty());
  r = fp::fit_step(la, 0.6, w.cross, w.self, ws);
  CHECK(r.del_cross == std::vector<index_t>{5, 1, 7, 3, 4, 2});
  CHECK(r.del_self == std::vector<index_t>{2, 4, 6, 0, 7, 3});
  CHECK(r.intersection == std::vector<index_t>{2, 3, 4, 7});
  REQUIRE(r.cross.size() == 8);
  CHECK(close(r.cross[0], .5 / 3));
  CHECK(close(r.self[5], 1.0));
}

// ---------------------------------------------------------------------------------------------------
// Edge cases (§3.3.8 and the library's definitions of upstream's undefined cases)

TEST_CASE("fitprune.layer: ties are deleted lower index first (stable, §0.4)") {
  const index_t H = 3, n = 17, nt = 4;
  std::vector<float> a(static_cast<std::size_t>(H * (n + nt) * n), 0.25f);
  fp::layer_params p;
  p.recipe = {5};
  vtr::workspace ws;
  fp::layer::details det;
  (void)fp::layer(p).plan(layer_inputs(a, H, n, nt, 0, 0), ws, &det);
  CHECK(det.deleted_rel == std::vector<index_t>{0, 1, 2, 3, 4});
}

TEST_CASE("fitprune.layer: no suffix rows gives cross = 0, deletions by index (upstream's empty slice)") {
  const index_t H = 2, n = 7;
  const auto a = random_block(H, n, n, 3);
  fp::layer_params p;
  p.recipe = {3};
  vtr::workspace ws;
  fp::layer::details det;
  const auto plan = fp::layer(p).plan(layer_inputs(a, H, n, 0, 0, 2), ws, &det);
  CHECK(det.deleted_rel == std::vector<index_t>{0, 1, 2});
  for (float c : det.cross) CHECK(c == 0.0f);
  check_plan_shape(plan, 2, n, 0, det.deleted_rel);
}

TEST_CASE("fitprune.layer: custom recipes, layer range and error messages") {
  const index_t H = 2, n = 7, nt = 3;
  const auto a = random_block(H, n + nt, n, 4);
  vtr::workspace ws;
  fp::layer_params p;
  p.recipe = {1, 2, 0};
  const fp::layer step(p);
  CHECK(step.deletions(1).value() == 2);
  auto k = step.deletions(3);
  REQUIRE_FALSE(k.ok());
  CHECK(contains(k.error().message(), "layer_index"));
  CHECK_FALSE(step.deletions(-1).ok());

  p.recipe = {1, -2};
  auto bad = fp::layer(p).deletions(0);
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error().message(), "recipe"));

  // Nothing is written on error.
  vtr::plan out = vtr::plan::select(3, {0, 2});
  fp::layer::details det;
  det.deleted_rel = {42};
  auto in = layer_inputs(a, H, n, nt, 0);
  in.n_suffix = 5;  // rows disagree with the attention
  vtr::status s = step.try_plan(in, out, ws, &det);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "attn"));
  CHECK(out.origin == std::vector<index_t>{0, 2});
  CHECK(det.deleted_rel == std::vector<index_t>{42});

  in = layer_inputs(a, H, n, nt, 0);
  in.prefix = -1;
  s = step.try_plan(in, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "prefix"));

  // Non-finite attention is rejected (it would make the ranking meaningless).
  auto nan = a;
  nan[5] = std::numeric_limits<float>::quiet_NaN();
  s = step.try_plan(layer_inputs(nan, H, n, nt, 0), out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "attn"));
  CHECK(out.origin == std::vector<index_t>{0, 2});
}

TEST_CASE("fitprune.fit_step: mass criterion never met → n − 1 (library choice, §3.3.8)") {
  const index_t H = 2, n = 9, nt = 3;
  const auto a = random_block(H, n + nt, n, 5);
  fp::layer_attention la;
  la.attn = vtr::ops::attention_input::from_probs(view3(a, H, n + nt, n));
  la.n_visual = n;
  la.n_suffix = nt;
  vtr::workspace ws;
  fp::layer_weights w;
  REQUIRE(fp::try_layer_weights(la, w, ws).ok());
  // α = 1: the threshold W − W·1 = 0 and the remaining mass is never < 0.
  auto r = fp::fit_step(la, 1.0, w.cross, w.self, ws);
  CHECK(r.del_cross.size() == std::size_t(n - 1));
  CHECK(r.del_self.size() == std::size_t(n - 1));
  // A tiny weight: even the largest entry alone stays above it.
  r = fp::fit_step(la, 0.5, 1e-9, 1e-9, ws);
  CHECK(r.del_cross.size() == std::size_t(n - 1));
  CHECK(r.intersection.size() <= std::size_t(n - 1));
  // A weight above the total: met at i = 0 → count max(−1, 0) = 0.
  r = fp::fit_step(la, 0.0, 1e9, 1e9, ws);
  CHECK(r.del_cross.empty());
  CHECK(r.del_self.empty());
  CHECK(r.intersection.empty());
}

TEST_CASE("fitprune.fit_step: n = 0 gives empty sets; N_t = 0 and bad numbers are errors") {
  vtr::workspace ws;
  std::vector<float> rows_only(2 * 3 * 0);
  fp::layer_attention la;
  la.attn = vtr::ops::attention_input::from_probs(view3(rows_only, 2, 3, 0));
  la.n_visual = 0;
  la.n_suffix = 3;
  auto r = fp::fit_step(la, 0.5, 1.0, 1.0, ws);
  CHECK(r.cross.empty());
  CHECK(r.del_cross.empty());
  CHECK(r.intersection.empty());
  fp::layer_weights w{7, 7};
  REQUIRE(fp::try_layer_weights(la, w, ws).ok());
  CHECK(w.cross == 0.0);
  CHECK(w.self == 0.0);

  const auto a = random_block(2, 5, 5, 6);
  la.attn = vtr::ops::attention_input::from_probs(view3(a, 2, 5, 5));
  la.n_visual = 5;
  la.n_suffix = 0;
  fp::step_result out;
  out.intersection = {9};
  vtr::status s = fp::try_fit_step(la, 0.5, 1.0, 1.0, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "n_suffix"));
  CHECK(out.intersection == std::vector<index_t>{9});
  s = fp::try_layer_weights(la, w, ws);
  CHECK_FALSE(s.ok());

  const auto b = random_block(2, 7, 5, 7);
  la.attn = vtr::ops::attention_input::from_probs(view3(b, 2, 7, 5));
  la.n_suffix = 2;
  s = fp::try_fit_step(la, std::nan(""), 1.0, 1.0, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "alpha"));
  s = fp::try_fit_step(la, 0.5, std::numeric_limits<double>::infinity(), 1.0, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "weight_cross"));
  la.n_suffix = 3;  // 8 rows expected, 7 given
  s = fp::try_fit_step(la, 0.5, 1.0, 1.0, out, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "attn"));
  CHECK(out.intersection == std::vector<index_t>{9});
}

// ---------------------------------------------------------------------------------------------------
// Against the scalar references on random inputs

TEST_CASE("fitprune.layer: random inputs match the scalar reference; kept_count == plan size") {
  const index_t sizes[] = {1, 7, 15, 17, 64, 576, 577};
  unsigned seed = 10;
  for (index_t n : sizes)
    for (index_t nt : {index_t(1), index_t(5), index_t(40)}) {
      const index_t H = n > 100 ? 4 : 3, P = (n * 7) % 40;
      const auto a = random_block(H, n + nt, n, ++seed);
      for (index_t k : {index_t(0), index_t(1), n / 3, n, n + 5}) {
        INFO("n " << n << " nt " << nt << " k " << k);
        fp::layer_params p;
        p.recipe = {k};
        const fp::layer step(p);
        vtr::workspace ws;
        fp::layer::details det;
        const vtr::plan plan = step.plan(layer_inputs(a, H, n, nt, 0, P), ws, &det);
        REQUIRE(det.deleted_rel == ref_layer_deleted(a, H, n, nt, k));
        REQUIRE(plan.size() == step.kept_count(P, n, nt, 0).value());
        check_plan_shape(plan, P, n, nt, det.deleted_rel);
        if (k > 0) {
          const ref_terms t = ref_columns(a, H, n, nt, false);
          for (std::size_t j = 0; j < std::size_t(n); ++j) {
            REQUIRE(close(det.cross[j], t.cross[j]));
            REQUIRE(close(det.self[j], t.self[j]));
          }
        }
      }
    }
}

TEST_CASE("fitprune.layer: LLaVA-NeXT size (2880 visual tokens)") {
  const index_t H = 2, n = 2880, nt = 40;
  const auto a = random_block(H, n + nt, n, 99);
  fp::layer_params p;
  p.recipe = {262};
  vtr::workspace ws;
  fp::layer::details det;
  const auto plan = fp::layer(p).plan(layer_inputs(a, H, n, nt, 0), ws, &det);
  CHECK(det.deleted_rel == ref_layer_deleted(a, H, n, nt, 262));
  CHECK(plan.size() == 35 + n - 262 + nt);
}

TEST_CASE("fitprune.fit_step: random inputs match the scalar reference") {
  unsigned seed = 200;
  for (index_t n : {index_t(1), index_t(7), index_t(17), index_t(288), index_t(577)})
    for (double alpha : {0.0, 0.1, 0.5, 0.9}) {
      const index_t H = 2, nt = 11;
      const auto a = random_block(H, n + nt, n, ++seed);
      fp::layer_attention la;
      la.attn = vtr::ops::attention_input::from_probs(view3(a, H, n + nt, n));
      la.n_visual = n;
      la.n_suffix = nt;
      vtr::workspace ws;
      fp::layer_weights w;
      REQUIRE(fp::try_layer_weights(la, w, ws).ok());
      const ref_terms t = ref_columns(a, H, n, nt, true);
      double wc = 0, wsf = 0;
      for (double c : t.cross) wc += c;
      for (double s : t.self) wsf += s;
      CHECK(close(w.cross, wc));
      CHECK(close(w.self, wsf));
      // Perturb the weights a little, like upstream's drift between the HF forward and the refit.
      wc *= 1.01;
      wsf *= 0.995;
      INFO("n " << n << " alpha " << alpha);
      const auto r = fp::fit_step(la, alpha, wc, wsf, ws);
      const auto want = ref_fit_step(a, H, n, nt, alpha, wc, wsf);
      CHECK(r.del_cross == want.del_cross);
      CHECK(r.del_self == want.del_self);
      CHECK(r.intersection == want.inter);
    }
}

// ---------------------------------------------------------------------------------------------------
// Both attention forms (§1.2): probabilities and Q/K recompute

TEST_CASE("fitprune: probabilities and Q/K give identical deletions") {
  std::mt19937 rng(77);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (index_t n : {index_t(7), index_t(17), index_t(64)}) {
    const index_t P = 5, nt = 6, rows = n + nt, keys = P + rows, H = 4, Hkv = 2, d = 16;
    std::vector<float> q(static_cast<std::size_t>(rows * H * d)), k(static_cast<std::size_t>(keys * Hkv * d));
    for (auto& x : q) x = 2.0f * nd(rng);
    for (auto& x : k) x = nd(rng);
    const vtr::tensor_view<const float, 3> qv(q.data(), {rows, H, d}), kv(k.data(), {keys, Hkv, d});
    std::vector<index_t> pos(static_cast<std::size_t>(rows));
    std::iota(pos.begin(), pos.end(), P);
    // The engine's eager map: full causal rows, then the visual columns as a strided view.
    std::vector<float> full(static_cast<std::size_t>(H * rows * keys));
    vtr::workspace ws;
    vtr::ops::attention_rows(qv, kv, vtr::view_of(std::as_const(pos)), vtr::ops::attention_mode{},
                             vtr::tensor_view<float, 3>(full.data(), {H, rows, keys}), ws);
    const vtr::tensor_view<const float, 3> vis(full.data() + P, {H, rows, n}, {rows * keys, keys, 1});

    fp::layer_params p;
    p.recipe = {n / 2};
    const fp::layer step(p);
    fp::layer::inputs a;
    a.attn = vtr::ops::attention_input::from_probs(vis);
    a.n_visual = n;
    a.n_suffix = nt;
    a.prefix = P;
    fp::layer::inputs b = a;
    b.attn = vtr::ops::attention_input::from_qk(qv, kv, vtr::view_of(std::as_const(pos)));
    fp::layer::inputs c = a;
    c.attn = vtr::ops::attention_input::from_qk(qv, kv, {});  // positions default to P + r
    fp::layer::details da, db, dc;
    const auto pa = step.plan(a, ws, &da), pb = step.plan(b, ws, &db), pc = step.plan(c, ws, &dc);
    CHECK(da.deleted_rel == db.deleted_rel);
    CHECK(da.deleted_rel == dc.deleted_rel);
    CHECK(pa.origin == pb.origin);
    CHECK(pa.origin == pc.origin);
    CHECK(da.score == db.score);

    fp::layer_attention la{a.attn, n, nt, P}, lb{b.attn, n, nt, P};
    const auto ra = fp::fit_step(la, 0.4, 1.0, 0.5, ws), rb = fp::fit_step(lb, 0.4, 1.0, 0.5, ws);
    CHECK(ra.intersection == rb.intersection);
    CHECK(ra.del_cross == rb.del_cross);

    // Q/K with the wrong key count names 'k'.
    const vtr::tensor_view<const float, 3> kshort(k.data(), {keys - 1, Hkv, d});
    b.attn = vtr::ops::attention_input::from_qk(qv, kshort, vtr::view_of(std::as_const(pos)));
    vtr::plan out;
    const vtr::status s = step.try_plan(b, out, ws);
    REQUIRE_FALSE(s.ok());
    CHECK(contains(s.message(), "'k'"));
  }
}

TEST_CASE("fitprune.layer: a warmed workspace and plan allocate nothing") {
  const index_t H = 4, n = 576, nt = 40;
  const auto a = random_block(H, n + nt, n, 31);
  const fp::layer step;  // key 60, layer 2 → 89
  vtr::workspace ws;
  vtr::plan out;
  REQUIRE(step.try_plan(layer_inputs(a, H, n, nt, 2), out, ws).ok());
  REQUIRE(step.try_plan(layer_inputs(a, H, n, nt, 2), out, ws).ok());
  const auto before = ws.allocations();
  const auto* data = out.origin.data();
  REQUIRE(step.try_plan(layer_inputs(a, H, n, nt, 2), out, ws).ok());
  CHECK(ws.allocations() == before);
  CHECK(out.origin.data() == data);
  CHECK(out.size() == 35 + n - 89 + nt);
}

// ---------------------------------------------------------------------------------------------------
// FLOPs model, one probe, the bisection

TEST_CASE("fitprune flops_model: upstream's LLaMA-7B formulas by default, shape as parameters") {
  const fp::flops_model m;
  const std::int64_t d = 4096, ff = 11008;
  auto up_full = [&](std::int64_t t) { return (t * d * d * 3 + t * t * d + t * d * t + t * d * d) + d * ff * t * 3; };
  CHECK(m.origin() == up_full(576) * 32);  // calculate_origin_flops()
  for (index_t n : {index_t(0), index_t(1), index_t(127), index_t(576)})
    for (index_t l : {index_t(0), index_t(5), index_t(31)}) {
      const std::int64_t t = n;
      const std::int64_t up_rest = (t * d * d + 3 * ff * d * t) + up_full(t) * (31 - l);  // rest_flops()
      CHECK(m.rest(n, l) == up_rest);
      CHECK(m.attention_cost(n) == t * d * d * 3 + t * t * d * 2);
      CHECK(m.post_attention_cost(n) == t * d * d + 3 * ff * d * t);
    }
  // About 119 G MAC per layer at 576 tokens (§5.1).
  CHECK(std::abs(double(m.layer_cost(576)) - 119e9) < 1.5e9);
  fp::flops_model s{64, 172, 4, 24};
  CHECK(s.layer_cost(10) == 4 * 10 * 64 * 64 + 2 * 100 * 64 + 3 * 10 * 64 * 172);
  CHECK(s.origin() == 4 * s.layer_cost(24));
  CHECK(s.rest(10, 3) == s.post_attention_cost(10));
  CHECK(s.validate().ok());
  CHECK_FALSE(fp::flops_model{0, 1, 1, 1}.validate().ok());
  CHECK_FALSE(fp::flops_model{1 << 20, 1 << 20, 1000, 1 << 20}.validate().ok());
}

namespace {

/// A synthetic "model" for the calibration tests: for each (sample, layer) a fixed random map over all
/// Nv visual tokens and Nt suffix rows; running a layer on a pruned sequence gathers the surviving rows
/// and columns (the suffix rows stay).
struct synthetic_engine {
  index_t samples, layers, nv, nt, heads;
  std::vector<std::vector<float>> maps;  // [s·L + l] → [H][nv+nt][nv]
  std::vector<float> buf;
  std::vector<std::pair<index_t, index_t>> calls;
  std::vector<std::vector<index_t>> last_kept;

  synthetic_engine(index_t s, index_t l, index_t v, index_t t, index_t h, unsigned seed)
      : samples(s), layers(l), nv(v), nt(t), heads(h), last_kept(static_cast<std::size_t>(s)) {
    for (index_t i = 0; i < s * l; ++i) maps.push_back(random_block(h, v + t, v, seed + unsigned(i)));
  }
  std::vector<float> gather(index_t s, index_t l, const std::vector<index_t>& kept) const {
    const auto& m = maps[std::size_t(s * layers + l)];
    const index_t n = static_cast<index_t>(kept.size()), rows = n + nt;
    std::vector<float> out(static_cast<std::size_t>(heads * rows * n));
    for (index_t h = 0; h < heads; ++h)
      for (index_t r = 0; r < rows; ++r) {
        const index_t src_r = r < n ? kept[std::size_t(r)] : nv + (r - n);
        for (index_t j = 0; j < n; ++j)
          out[std::size_t((h * rows + r) * n + j)] = m[std::size_t((h * (nv + nt) + src_r) * nv + kept[std::size_t(j)])];
      }
    return out;
  }
  vtr::status operator()(index_t s, index_t l, vtr::vector_view<const index_t> kept, fp::layer_attention& out) {
    calls.emplace_back(s, l);
    std::vector<index_t> k(kept.data_handle(), kept.data_handle() + kept.extent(0));
    last_kept[std::size_t(s)] = k;
    buf = gather(s, l, k);
    const index_t n = kept.extent(0);
    out.attn = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(buf.data(), {heads, n + nt, n}));
    out.n_visual = n;
    out.n_suffix = nt;
    return {};
  }
};

/// fit_model(α) written out literally against the references (fp-sa.py:124-275 with the model shape).
fp::probe ref_probe(const synthetic_engine& e, const fp::statistics& st, const fp::fit_params& p, double alpha) {
  const auto& m = p.flops;
  std::vector<std::vector<index_t>> kept(std::size_t(e.samples));
  for (auto& k : kept)
    for (index_t j = 0; j < e.nv; ++j) k.push_back(j);
  std::vector<std::int64_t> scheme(std::size_t(m.layers), 0);
  std::int64_t used = 0;
  fp::probe pr;
  pr.alpha = alpha;
  pr.stop_layer = m.layers;
  for (index_t l = 0; l < m.layers; ++l) {
    std::int64_t forecast = 0;
    for (auto& k : kept) {
      const std::int64_t t = static_cast<std::int64_t>(k.size());
      used += t * m.hidden * m.hidden * 3 + t * t * m.hidden * 2;
      forecast += (t * m.hidden * m.hidden + 3 * m.ffn * m.hidden * t) +
                  (4 * t * m.hidden * m.hidden + 2 * t * t * m.hidden + 3 * t * m.hidden * m.ffn) * (m.layers - 1 - l);
    }
    if (double(used + forecast) / double(e.samples) <= double(m.origin()) * (1 - p.reduction)) {
      pr.reached = true;
      pr.stop_layer = l;
      break;
    }
    for (index_t s = 0; s < e.samples; ++s) {
      auto& k = kept[std::size_t(s)];
      const index_t n = static_cast<index_t>(k.size());
      const auto a = e.gather(s, l, k);
      const auto r = ref_fit_step(a, e.heads, n, e.nt, alpha, st.weight_cross(s, l), st.weight_self(s, l));
      scheme[std::size_t(l)] += static_cast<std::int64_t>(r.inter.size());
      for (auto it = r.inter.rbegin(); it != r.inter.rend(); ++it) k.erase(k.begin() + *it);
      const std::int64_t t = static_cast<std::int64_t>(k.size());
      used += t * m.hidden * m.hidden + 3 * m.ffn * m.hidden * t;
    }
  }
  for (auto v : scheme) pr.scheme.push_back(static_cast<index_t>(v / e.samples));
  return pr;
}

}  // namespace

TEST_CASE("fitprune fit: statistics, one probe and the 7-probe bisection against a literal reference") {
  const index_t S = 3, L = 6, Nv = 40, Nt = 5;
  synthetic_engine eng(S, L, Nv, Nt, 2, 500);
  vtr::workspace ws;
  fp::statistics st;
  REQUIRE(fp::try_collect_statistics(std::ref(eng), S, L, Nv, st, ws).ok());
  REQUIRE(eng.calls.size() == std::size_t(S * L));
  CHECK(eng.calls[1] == std::make_pair(index_t(0), index_t(1)));  // sample-major
  for (index_t s = 0; s < S; ++s)
    for (index_t l = 0; l < L; ++l) {
      const auto t = ref_columns(eng.maps[std::size_t(s * L + l)], 2, Nv, Nt, true);
      double wc = 0, wsf = 0;
      for (double c : t.cross) wc += c;
      for (double x : t.self) wsf += x;
      CHECK(close(st.weight_cross(s, l), wc));
      CHECK(close(st.weight_self(s, l), wsf));
    }

  fp::fit_params p;
  p.flops = fp::flops_model{64, 172, L, Nv};
  for (double reduction : {0.2, 0.4, 0.6}) {
    p.reduction = reduction;
    INFO("reduction " << reduction);
    for (double alpha : {0.1, 0.5, 0.9}) {
      eng.calls.clear();
      fp::probe pr;
      REQUIRE(fp::try_fit_probe(std::ref(eng), st, p, alpha, pr, ws).ok());
      const fp::probe want = ref_probe(eng, st, p, alpha);
      CHECK(pr.reached == want.reached);
      CHECK(pr.stop_layer == want.stop_layer);
      CHECK(pr.scheme == want.scheme);
      // Layer-major callbacks, stopping at the stop layer.
      REQUIRE(eng.calls.size() == std::size_t(S * pr.stop_layer));
      for (std::size_t i = 0; i < eng.calls.size(); ++i)
        CHECK(eng.calls[i] == std::make_pair(index_t(i % std::size_t(S)), index_t(i / std::size_t(S))));
    }
    fp::fit_result r;
    REQUIRE(fp::try_fit(std::ref(eng), st, p, r, ws).ok());
    REQUIRE(r.probes.size() == 7);  // §3.3.5 (d): exactly 7 probes on [0, 1]
    double lo = 0, hi = 1;
    for (const auto& pr : r.probes) {
      CHECK(pr.alpha == (lo + hi) / 2);
      (pr.reached ? hi : lo) = pr.alpha;
    }
    CHECK(r.recipe == r.probes.back().scheme);  // the LAST probe, reached or not
    CHECK(r.alpha == r.probes.back().alpha);
    CHECK(r.reached == r.probes.back().reached);
    CHECK(r.recipe.size() == std::size_t(L));

    p.return_last_reaching = true;
    fp::fit_result rr;
    REQUIRE(fp::try_fit(std::ref(eng), st, p, rr, ws).ok());
    const fp::probe* want = &rr.probes.back();
    for (auto it = rr.probes.rbegin(); it != rr.probes.rend(); ++it)
      if (it->reached) {
        want = &*it;
        break;
      }
    CHECK(rr.recipe == want->scheme);
    CHECK(rr.alpha == want->alpha);
    p.return_last_reaching = false;
  }
  // The first probe's alpha sequence is 0.5, then ±0.25, … (§3.3.5).
}

TEST_CASE("fitprune fit: edge cases of the driver") {
  const index_t S = 2, L = 3, Nv = 12, Nt = 3;
  synthetic_engine eng(S, L, Nv, Nt, 2, 900);
  vtr::workspace ws;
  fp::statistics st;
  REQUIRE(fp::try_collect_statistics(std::ref(eng), S, L, Nv, st, ws).ok());
  fp::fit_params p;
  p.flops = fp::flops_model{32, 86, L, Nv};

  // reduction 0: the unpruned forecast already meets the budget at layer 0 — no callback, all zeros.
  p.reduction = 0.0;
  eng.calls.clear();
  fp::probe pr;
  REQUIRE(fp::try_fit_probe(std::ref(eng), st, p, 0.5, pr, ws).ok());
  CHECK(pr.reached);
  CHECK(pr.stop_layer == 0);
  CHECK(eng.calls.empty());
  CHECK(pr.scheme == std::vector<index_t>(std::size_t(L), 0));

  // reduction 1: never reached; return_last_reaching falls back to the last probe.
  p.reduction = 1.0;
  p.return_last_reaching = true;
  fp::fit_result r;
  REQUIRE(fp::try_fit(std::ref(eng), st, p, r, ws).ok());
  CHECK_FALSE(r.reached);
  CHECK(r.alpha == r.probes.back().alpha);
  CHECK(r.probes.back().alpha == 1.0 - 1.0 / 128);  // every probe moves lo up: 0.5, 0.75, … 0.9921875

  // Errors.
  p.reduction = 1.5;
  vtr::status s = fp::try_fit(std::ref(eng), st, p, r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "reduction"));
  p.reduction = 0.5;
  p.width = 2.0;
  s = fp::try_fit(std::ref(eng), st, p, r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "width"));
  p.width = 0.01 + 1e-6;
  p.flops.layers = 4;  // statistics were taken for 3 layers
  s = fp::try_fit(std::ref(eng), st, p, r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "stats"));
  p.flops.layers = L;
  auto failing = [](index_t, index_t, vtr::vector_view<const index_t>, fp::layer_attention&) {
    return vtr::fail("engine out of memory");
  };
  s = fp::try_fit(failing, st, p, r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "engine out of memory"));
  auto lying = [&](index_t a, index_t b, vtr::vector_view<const index_t> k, fp::layer_attention& out) {
    const vtr::status st2 = eng(a, b, k, out);
    out.n_visual += 1;
    return st2;
  };
  s = fp::try_fit(lying, st, p, r, ws);
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.message(), "n_visual"));
  CHECK_FALSE(fp::try_collect_statistics(std::ref(eng), 0, L, Nv, st, ws).ok());
}
