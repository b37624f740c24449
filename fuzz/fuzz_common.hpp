// vtr fuzzing — shared input decoding and the invariants every target checks.
//
// A target decodes the fuzzer's bytes into shapes, parameters and tensor values (FuzzedDataProvider), calls
// a public entry point through its `try_` form, and checks the library's contract (DESIGN §2.8, §2.2):
//   * error  → the status has a message, and the caller's plan and details are exactly as they were
//              (they are poisoned with recognisable contents before the call);
//   * ok     → vtr::validate_plan() accepts the plan, a static count equals kept_count(), selection
//              origins are ascending/unique where the method promises it, the result does not depend on
//              the workspace's previous contents, and applying the plan to a tensor stays in bounds.
// A broken invariant calls vtr_fuzz_fail(), which aborts: libFuzzer then saves the input as a crash.
//
// Views only ever cover memory the target owns: what the fuzzer controls freely are the shapes (within a
// small bound so a run explores many of them), the strides' padding, the values (NaN/±Inf/denormals
// included) and the scalar arguments (spans, budgets, ratios), which may be anything, including huge.
#pragma once

#include <vtr/core/apply.hpp>
#include <vtr/core/plan.hpp>
#include <vtr/core/tensor_view.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/ops/attention_input.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

namespace vtr_fuzz {

using vtr::index_t;

[[noreturn]] inline void fail_at(const char* what, const char* file, int line) {
  std::fprintf(stderr, "vtr fuzz invariant broken: %s (%s:%d)\n", what, file, line);
  std::abort();
}
#define vtr_fuzz_fail(what) ::vtr_fuzz::fail_at(what, __FILE__, __LINE__)
#define vtr_fuzz_check(cond) \
  do {                       \
    if (!(cond)) vtr_fuzz_fail(#cond); \
  } while (0)

/// The value of a result the contract says must be ok (e.g. kept_count after a successful plan).
template <class T>
T must(vtr::result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, r.error().message().c_str());
    vtr_fuzz_fail("a count that must succeed failed");
  }
  return std::move(r).value();
}

/// Decodes the fuzzer's bytes. Every getter is total: an exhausted input yields zeros.
class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : fdp_(data, size) {}

  bool flag() { return fdp_.ConsumeBool(); }
  std::uint8_t byte() { return fdp_.ConsumeIntegral<std::uint8_t>(); }

  /// An extent in [lo, hi].
  index_t extent(index_t lo, index_t hi) { return fdp_.ConsumeIntegralInRange<index_t>(lo, hi); }

  /// A scalar argument: usually in [lo, hi], sometimes anything (negative, huge, the int32/int64 edges).
  index_t scalar(index_t lo, index_t hi) {
    switch (byte() % 16) {
      case 0: return -1;
      case 1: return std::numeric_limits<index_t>::max();
      case 2: return std::numeric_limits<index_t>::min();
      case 3: return static_cast<index_t>(std::numeric_limits<std::int32_t>::max()) + extent(-2, 2);
      case 4: return fdp_.ConsumeIntegral<index_t>();
      default: return extent(lo, hi);
    }
  }

  /// A double parameter: usually in [lo, hi], sometimes NaN, ±Inf, negative or huge.
  double real(double lo, double hi) {
    switch (byte() % 12) {
      case 0: return std::numeric_limits<double>::quiet_NaN();
      case 1: return std::numeric_limits<double>::infinity();
      case 2: return -std::numeric_limits<double>::infinity();
      case 3: return -fdp_.ConsumeFloatingPointInRange<double>(0.0, 2.0);
      case 4: return fdp_.ConsumeFloatingPoint<double>();
      default: return fdp_.ConsumeFloatingPointInRange<double>(lo, hi);
    }
  }

  /// One tensor value: mostly ordinary, sometimes special (NaN, ±Inf, ±0, denormal, huge) or a tie.
  float value() {
    const std::uint8_t k = byte();
    if (k < 200) return static_cast<float>(k) / 64.0f;  // coarse grid: many exact ties (§0.4 tie rules)
    switch (k % 8) {
      case 0: return std::numeric_limits<float>::quiet_NaN();
      case 1: return std::numeric_limits<float>::infinity();
      case 2: return -std::numeric_limits<float>::infinity();
      case 3: return -0.0f;
      case 4: return std::numeric_limits<float>::denorm_min();
      case 5: return std::numeric_limits<float>::max();
      case 6: return -static_cast<float>(byte()) / 16.0f;
      default: return fdp_.ConsumeFloatingPoint<float>();
    }
  }

  /// Values stay in range [0, 1) unless `wild`: probabilities that sum to anything (methods must not care).
  void fill(std::vector<float>& v, bool wild) {
    for (auto& x : v) x = wild ? value() : static_cast<float>(byte()) / 256.0f;
  }

  std::size_t remaining() { return fdp_.remaining_bytes(); }
  FuzzedDataProvider& raw() { return fdp_; }

 private:
  FuzzedDataProvider fdp_;
};

/// A tensor the target owns, with an optional row padding so views get non-trivial outer strides.
template <std::size_t R>
struct owned_tensor {
  std::vector<float> data;
  std::array<index_t, R> ext{};
  std::array<index_t, R> str{};

  owned_tensor() = default;
  owned_tensor(reader& in, const std::array<index_t, R>& e, bool wild) : ext(e) {
    const index_t pad = in.flag() ? in.extent(0, 3) : 0;
    index_t s = 1;
    for (std::size_t d = R; d-- > 0;) {
      str[d] = s;
      s *= d == R - 1 ? ext[d] + pad : ext[d];
    }
    data.resize(static_cast<std::size_t>(std::max<index_t>(s, 1)));
    in.fill(data, wild);
  }
  vtr::tensor_view<const float, R> view() const { return {data.data(), ext, str}; }
};

/// The attention of a prefill-layer method: probabilities [H][rows][keys] or Q [rows][H][d] / K
/// [keys][H_kv][d] with positions, the form picked by the input.
struct attention {
  owned_tensor<3> probs, q, k;
  std::vector<index_t> positions;
  vtr::ops::attention_input in{};

  attention(reader& r, index_t heads, index_t rows, index_t keys) {
    const bool wild = r.byte() < 40;
    if (r.byte() < 170) {
      probs = owned_tensor<3>(r, {heads, rows, keys}, wild);
      in = vtr::ops::attention_input::from_probs(probs.view());
      return;
    }
    const index_t d = r.extent(1, 8), hkv = r.flag() ? heads : std::max<index_t>(1, heads / 2);
    q = owned_tensor<3>(r, {rows, heads, d}, wild);
    k = owned_tensor<3>(r, {keys, hkv, d}, wild);
    const std::uint8_t pos = r.byte();
    if (pos < 200) {  // the usual case: the rows are the last `rows` positions
      for (index_t i = 0; i < rows; ++i) positions.push_back(keys - rows + i);
    } else if (pos < 230) {
      for (index_t i = 0; i < rows; ++i) positions.push_back(r.scalar(0, keys));
    }  // else: none
    in = vtr::ops::attention_input::from_qk(q.view(), k.view(), vtr::view_of(std::as_const(positions)));
  }
};

/// A request the library must accept but that asks for an absurd plan: a span of 2^62 tokens with no tensor
/// to bound it (a skipped Fit&Prune layer, PruneVid stage 2 given only the video columns) sizes a plan
/// that big. Targets only call kept_count() for those.
inline bool absurd(index_t rows) { return rows > (index_t(1) << 20); }

/// A plan filled with recognisable garbage: an entry point that fails must leave it exactly so.
inline vtr::plan poisoned_plan() {
  vtr::plan p;
  p.input_rows = 12345;
  p.origin = {7, 7, 7};
  p.offsets = {0, 1, 2, 3};
  p.sources = {1, 2, 3};
  p.weights = {0.5f, 0.25f, 0.125f};
  p.divisors = {3.0f, 5.0f, 9.0f};
  return p;
}

inline bool same_plan(const vtr::plan& a, const vtr::plan& b) {
  auto same_f = [](const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
  };
  return a.input_rows == b.input_rows && a.origin == b.origin && a.offsets == b.offsets && a.sources == b.sources &&
         same_f(a.weights, b.weights) && same_f(a.divisors, b.divisors);
}

/// A workspace holding whatever the previous inputs left (it persists across runs of a target).
inline vtr::workspace& dirty_workspace() {
  static vtr::workspace ws;
  return ws;
}

/// The checks every successful plan must pass. `ascending` = the method promises strictly ascending
/// origins (its selection rows); `expected` ≥ 0 = the static count.
inline void check_plan(const vtr::plan& p, index_t input_rows, bool ascending, index_t expected) {
  const vtr::status s = vtr::validate_plan(p);
  if (!s.ok()) {
    std::fprintf(stderr, "validate_plan: %s\n", s.message().c_str());
    vtr_fuzz_fail("a successful plan fails validate_plan");
  }
  vtr_fuzz_check(p.input_rows == input_rows);
  if (expected >= 0 && p.size() != expected) {
    std::fprintf(stderr, "plan has %td rows, kept_count says %td\n", p.size(), expected);
    vtr_fuzz_fail("plan size != kept_count");
  }
  if (ascending) {
    index_t prev = -1;
    for (index_t o : p.origin) {
      if (o == vtr::plan::appended) continue;
      vtr_fuzz_check(o > prev);
      prev = o;
    }
  }
  // Apply it to a small tensor: every index the plan holds must be in bounds (ASan checks the reads).
  const index_t cols = 3;
  std::vector<float> src(static_cast<std::size_t>(std::max<index_t>(input_rows * cols, 1)), 1.0f);
  std::vector<float> dst(static_cast<std::size_t>(std::max<index_t>(p.size() * cols, 1)), 0.0f);
  const vtr::status a = vtr::try_apply(p, vtr::matrix_view<const float>(src.data(), {input_rows, cols}),
                                       vtr::matrix_view<float>(dst.data(), {p.size(), cols}));
  vtr_fuzz_check(a.ok());
}

/// Runs `call(plan&, workspace&)` with a poisoned plan on a fresh and on a dirty workspace: an error must
/// leave the plan untouched and carry a message, and both runs must agree exactly. Returns the status.
template <class Call>
vtr::status run_checked(Call&& call, vtr::plan& out) {
  vtr::plan a = poisoned_plan();
  vtr::workspace fresh;
  const vtr::status s = call(a, fresh);
  if (!s.ok()) {
    vtr_fuzz_check(!s.message().empty());
    vtr_fuzz_check(same_plan(a, poisoned_plan()));
  }
  vtr::plan b = poisoned_plan();
  const vtr::status s2 = call(b, dirty_workspace());
  vtr_fuzz_check(s.ok() == s2.ok());
  vtr_fuzz_check(s.message() == s2.message());
  vtr_fuzz_check(same_plan(a, b));
  out = std::move(a);
  return s;
}

}  // namespace vtr_fuzz
