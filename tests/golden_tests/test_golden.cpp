// Golden conformance cases (tests/golden, format in its README) through the replay code path: the same
// runners and the same compare rules as vtr-replay and compare.py.
#include "catch.hpp"

#include "replay.hpp"

#include <cmath>
#include <limits>
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace rp = vtr::replay;
using vtr::index_t;
using vtr::npy_array;

const fs::path golden_root = VTR_GOLDEN_DIR;

// Method ids with golden cases whose runner a later issue adds. Remove an id when its runner is
// registered: the bookkeeping test below fails while a registered id is still listed, or while a golden
// method id is neither registered nor listed.
const std::set<std::string> not_yet_implemented = {};

struct case_ref {
  fs::path dir;
  std::string method, name;
};

const std::vector<case_ref>& golden_cases() {
  static const std::vector<case_ref> cases = [] {
    std::vector<case_ref> out;
    for (const auto& dir : rp::find_cases(golden_root)) {
      const auto spec = rp::load_case_spec(dir);
      out.push_back({dir, spec.method, spec.name});
    }
    return out;
  }();
  return cases;
}

npy_array floats(std::vector<float> v, std::vector<index_t> shape) { return npy_array::from(v.data(), std::move(shape)); }
npy_array ints(std::vector<std::int64_t> v) { return npy_array::from(v); }

}  // namespace

TEST_CASE("golden: every case of a registered method matches its expectation", "[golden]") {
  const auto& cases = golden_cases();
  REQUIRE(cases.size() > 50);
  std::map<std::string, int> pending;
  int replayed = 0;
  for (const auto& c : cases) {
    const rp::runner* run = rp::find_runner(c.method);
    if (run == nullptr) {
      ++pending[c.method];
      continue;
    }
    ++replayed;
    DYNAMIC_SECTION(c.method << "/" << c.name) {
      const rp::test_case tc = rp::load_case(c.dir);
      const rp::outcome o = (*run)(tc);
      const rp::comparison cmp = rp::compare_case(tc, o);
      INFO(c.method << "/" << c.name << ": " << cmp.detail);
      REQUIRE(cmp.ok);
    }
  }
  CHECK(replayed > 0);
  std::string listing;
  for (const auto& [method, n] : pending) listing += "\n  " + method + " (" + std::to_string(n) + " cases)";
  if (!listing.empty()) WARN("golden cases without a runner yet (not failed):" << listing);
}

TEST_CASE("golden: every method id is registered or listed as not yet implemented", "[golden]") {
  std::set<std::string> golden_methods;
  for (const auto& c : golden_cases()) golden_methods.insert(c.method);
  for (const auto& m : golden_methods) {
    INFO("method id " << m);
    const bool registered = rp::find_runner(m) != nullptr;
    const bool listed = not_yet_implemented.count(m) != 0;
    CHECK(registered != listed);  // a forgotten runner, or a stale entry in not_yet_implemented
  }
  for (const auto& m : not_yet_implemented) {
    INFO("not_yet_implemented lists " << m);
    CHECK(golden_methods.count(m) == 1);
  }
  for (const auto& m : rp::registered_methods()) {
    INFO("registered method " << m);
    CHECK(golden_methods.count(m) == 1);  // every runner is exercised by at least one golden case
    CHECK(rp::find_runner(m) != nullptr);
  }
  CHECK(rp::find_runner("no.such_method") == nullptr);
}

TEST_CASE("golden: the directory is a complete copy of the shared cases", "[golden]") {
  CHECK(fs::is_regular_file(golden_root / "README.md"));
  CHECK(fs::is_regular_file(golden_root / "compare.py"));
  for (const auto& c : golden_cases()) {
    INFO(c.method << "/" << c.name);
    CHECK(c.dir.parent_path().filename() == c.method);  // <root>/<method-id>/<case-name>
  }
}

TEST_CASE("replay: compare rules follow compare.py", "[golden][replay]") {
  using rp::compare_arrays;
  const rp::json exact = "exact", set = "set", tol = {{"rtol", 1e-5}, {"atol", 1e-6}};
  const float nan = std::numeric_limits<float>::quiet_NaN();

  SECTION("exact: shape and order matter; ints against floats compare as double") {
    CHECK(compare_arrays(exact, ints({1, 2, 3}), ints({1, 2, 3})).ok);
    const auto c = compare_arrays(exact, ints({1, 2, 3}), ints({1, 3, 2}));
    CHECK_FALSE(c.ok);
    CHECK(c.detail == "2 mismatches (first at flat 1: got 3, want 2)");
    const auto s = compare_arrays(exact, ints({1, 2}), floats({1, 2}, {1, 2}));
    CHECK_FALSE(s.ok);
    CHECK(s.detail == "shape (1, 2) != (2,)");
    CHECK(compare_arrays(exact, ints({1, 2}), floats({1, 2}, {2})).ok);
    CHECK(compare_arrays(exact, floats({nan, 1}, {2}), floats({nan, 1}, {2})).ok);
    CHECK_FALSE(compare_arrays(exact, floats({1, 1}, {2}), floats({1, 1.0000001f}, {2})).ok);
  }
  SECTION("tolerance: atol + rtol·|want|, NaN equals NaN, empty passes") {
    CHECK(compare_arrays(tol, floats({100, 0}, {2}), floats({100.001f, 5e-7f}, {2})).ok);
    const auto c = compare_arrays(tol, floats({100, 0}, {2}), floats({100.01f, 0}, {2}));
    CHECK_FALSE(c.ok);
    CHECK(c.detail.rfind("1 outside tol, max abs err 0.01", 0) == 0);
    CHECK(compare_arrays(tol, floats({nan, 2}, {2}), floats({nan, 2}, {2})).ok);
    CHECK_FALSE(compare_arrays(tol, floats({nan, 2}, {2}), floats({1, 2}, {2})).ok);
    CHECK_FALSE(compare_arrays(tol, floats({1, 2}, {2}), floats({nan, 2}, {2})).ok);
    CHECK(compare_arrays(tol, floats({}, {0}), floats({}, {0})).detail == "empty");
    CHECK_FALSE(compare_arrays(tol, floats({1, 2}, {2}), floats({1, 2}, {1, 2})).ok);
    const rp::json atol_only = {{"atol", 0.5}};
    CHECK(compare_arrays(atol_only, floats({1}, {1}), floats({1.4f}, {1})).ok);
  }
  SECTION("set: order ignored, size and members matter") {
    CHECK(compare_arrays(set, ints({3, 1, 2}), ints({1, 2, 3})).ok);
    CHECK(compare_arrays(set, ints({}), ints({})).ok);
    const auto size = compare_arrays(set, ints({1, 2, 3}), ints({1, 2}));
    CHECK_FALSE(size.ok);
    CHECK(size.detail == "set size 2 != 3");
    const auto differ = compare_arrays(set, ints({1, 2, 3}), ints({1, 2, 4}));
    CHECK_FALSE(differ.ok);
    CHECK(differ.detail == "sets differ (1 unexpected)");
  }
  SECTION("an unknown rule fails") { CHECK_FALSE(compare_arrays("close", ints({1}), ints({1})).ok); }
}

TEST_CASE("replay: compare_case handles errors, missing outputs and expect_error", "[golden][replay]") {
  // A real golden case: prunevid.refine/no_change (labels 0,0,1,1,0,0,2,2 are unchanged).
  const rp::test_case tc = rp::load_case(golden_root / "prunevid.refine" / "no_change");
  CHECK(tc.method == "prunevid.refine");
  CHECK(tc.name == "no_change");
  REQUIRE(tc.inputs.count("labels") == 1);
  CHECK_FALSE(tc.expect_error);

  rp::outcome good;
  rp::put(good, "refined", std::vector<std::int64_t>{0, 0, 1, 1, 0, 0, 2, 2});
  rp::put(good, "segment_lengths", std::vector<index_t>{2, 2, 2, 2});
  CHECK(rp::compare_case(tc, good).ok);

  rp::outcome missing = good;
  missing.outputs.erase("segment_lengths");
  const auto m = rp::compare_case(tc, missing);
  CHECK_FALSE(m.ok);
  CHECK(m.detail == "missing out_segment_lengths");

  rp::outcome wrong = good;
  rp::put(wrong, "segment_lengths", std::vector<index_t>{4, 4});
  CHECK_FALSE(rp::compare_case(tc, wrong).ok);

  rp::outcome rejected;
  rejected.error = "vtr: nope";
  CHECK_FALSE(rp::compare_case(tc, rejected).ok);

  // An expect_error case passes only with an error and no outputs.
  const rp::test_case err = rp::load_case_spec(golden_root / "vscan.stage1" / "error_T16");
  REQUIRE(err.expect_error);
  CHECK(rp::compare_case(err, rejected).ok);
  CHECK_FALSE(rp::compare_case(err, rp::outcome{}).ok);
  rp::outcome both = good;
  both.error = "vtr: nope";
  CHECK_FALSE(rp::compare_case(err, both).ok);
}

TEST_CASE("replay: runners turn library rejections into errors and bad cases into case_error", "[golden][replay]") {
  rp::test_case tc = rp::load_case(golden_root / "fastv.select" / "round_half_even");
  const rp::runner* run = rp::find_runner(tc.method);
  REQUIRE(run != nullptr);

  SECTION("an image span outside the attention row is rejected by the library checks") {
    tc.params["n_img"] = 100;
    const rp::outcome o = (*run)(tc);
    REQUIRE(o.error);
    CHECK(o.outputs.empty());
    CHECK(o.error->rfind("vtr: ", 0) == 0);  // the library's own message, passed through
  }
  SECTION("a missing param is a malformed case, not a rejection") {
    tc.params.erase("start");
    CHECK_THROWS_AS((*run)(tc), rp::case_error);
  }
  SECTION("a missing input is a malformed case") {
    tc.inputs.clear();
    CHECK_THROWS_AS((*run)(tc), rp::case_error);
  }
  SECTION("a float64 input is converted, not refused") {
    const auto f = tc.inputs.at("attn_last").to_float();
    std::vector<double> d(f.begin(), f.end());
    const auto shape = tc.inputs.at("attn_last").shape;
    tc.inputs["attn_last"] = npy_array::from(d.data(), shape);
    const rp::outcome o = (*run)(tc);
    CHECK(rp::compare_case(tc, o).ok);
  }
  SECTION("param getters") {
    const rp::json p = {{"i", 3}, {"f", 2.0}, {"s", "x"}, {"b", true}, {"h", 2.5}};
    CHECK(rp::get_int(p, "i") == 3);
    CHECK(rp::get_int(p, "f") == 2);
    CHECK(rp::get_int(p, "zz", 7) == 7);
    CHECK_THROWS_AS(rp::get_int(p, "h"), rp::case_error);
    CHECK_THROWS_AS(rp::get_int(p, "s"), rp::case_error);
    CHECK_THROWS_AS(rp::get_int(p, "zz"), rp::case_error);
    CHECK(rp::get_double(p, "i") == 3.0);
    CHECK(rp::get_string(p, "s") == "x");
    CHECK(rp::get_string(p, "zz", "d") == "d");
    CHECK_THROWS_AS(rp::get_string(p, "i"), rp::case_error);
    CHECK(rp::get_bool(p, "b"));
    CHECK_FALSE(rp::get_bool(p, "zz", false));
  }
  SECTION("put checks the shape") {
    rp::outcome o;
    CHECK_THROWS_AS(rp::put(o, "x", std::vector<float>{1, 2, 3}, {2, 2}), std::logic_error);
    rp::put(o, "x", std::vector<double>{1, 2, 3, 4}, {2, 2});
    CHECK(o.outputs.at("x").dtype == vtr::npy_dtype::f4);
    CHECK(o.outputs.at("x").shape == std::vector<index_t>{2, 2});
  }
}

TEST_CASE("replay: write_outcome writes out_*.npy or error.txt and clears stale files", "[golden][replay]") {
  const fs::path dir = fs::temp_directory_path() / ("vtr_test_replay_" + std::to_string(std::random_device{}()));
  rp::outcome o;
  rp::put(o, "a", std::vector<std::int64_t>{1, 2});
  rp::write_outcome(o, dir / "m" / "c");
  CHECK(vtr::read_npy(dir / "m" / "c" / "out_a.npy").to_int64() == std::vector<std::int64_t>{1, 2});
  rp::outcome e;
  e.error = "vtr: rejected";
  rp::write_outcome(e, dir / "m" / "c");
  CHECK_FALSE(fs::exists(dir / "m" / "c" / "out_a.npy"));
  CHECK(fs::is_regular_file(dir / "m" / "c" / "error.txt"));
  rp::write_outcome(o, dir / "m" / "c");
  CHECK_FALSE(fs::exists(dir / "m" / "c" / "error.txt"));
  fs::remove_all(dir);
}

TEST_CASE("replay: find_cases finds nested case directories in sorted order", "[golden][replay]") {
  const auto dirs = rp::find_cases(golden_root / "fastv.select");
  REQUIRE(dirs.size() == 6);
  CHECK(dirs.front().filename() == "llava_k2_r050");
  CHECK(std::is_sorted(dirs.begin(), dirs.end()));
  const auto one = rp::find_cases(golden_root / "fastv.select" / "r0_keep_all");
  REQUIRE(one.size() == 1);
  CHECK(rp::find_cases(golden_root / "no_such_dir").empty());
}
