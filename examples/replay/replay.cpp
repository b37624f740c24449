// vtr-replay library: case loading, the runner registry, outcome writing and the compare rules of
// tests/golden/compare.py.
#include "replay.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace vtr::replay {

// ---------------------------------------------------------------------------------------------------
// The registry. One line per method id; the runners live in run_*.cpp.

outcome run_prunevid_stage1(const test_case& tc);  ///< "prunevid.stage1"   (run_prunevid.cpp)
outcome run_prunevid_stage2(const test_case& tc);  ///< "prunevid.stage2"   (run_prunevid.cpp)
outcome run_dtoma_quadtree(const test_case& tc);   ///< "dtoma.quadtree"    (run_dtoma.cpp)
outcome run_dtoma_select(const test_case& tc);     ///< "dtoma.select"      (run_dtoma.cpp)
outcome run_dtoma_usage(const test_case& tc);      ///< "dtoma.usage"       (run_dtoma.cpp)
outcome run_sparsevlm_raters(const test_case& tc);  ///< "sparsevlm.raters"  (run_sparsevlm.cpp)
outcome run_sparsevlm_layer(const test_case& tc);   ///< "sparsevlm.layer"   (run_sparsevlm.cpp)
outcome run_vscan_stage1(const test_case& tc);       ///< "vscan.stage1"      (run_vscan.cpp)
outcome run_vscan_stage1_qwen(const test_case& tc);  ///< "vscan.stage1_qwen" (run_vscan.cpp)
outcome run_vscan_stage2(const test_case& tc);       ///< "vscan.stage2"      (run_vscan.cpp)
outcome run_fitprune_layer(const test_case& tc);     ///< "fitprune.layer"    (run_fitprune.cpp)
outcome run_fitprune_fit_step(const test_case& tc);  ///< "fitprune.fit_step" (run_fitprune.cpp)

namespace {
struct registry_entry {
  std::string_view method;
  runner run;
};
constexpr registry_entry registry[] = {
    {"dpc_knn.cluster", &run_dpc_knn_cluster},
    {"dtoma.quadtree", &run_dtoma_quadtree},
    {"dtoma.select", &run_dtoma_select},
    {"dtoma.usage", &run_dtoma_usage},
    {"fastv.select", &run_fastv_select},
    {"fitprune.fit_step", &run_fitprune_fit_step},
    {"fitprune.layer", &run_fitprune_layer},
    {"prunevid.refine", &run_prunevid_refine},
    {"prunevid.stage1", &run_prunevid_stage1},
    {"prunevid.stage2", &run_prunevid_stage2},
    {"sparsevlm.layer", &run_sparsevlm_layer},
    {"sparsevlm.raters", &run_sparsevlm_raters},
    {"tome.bipartite", &run_tome_bipartite},
    {"vscan.stage1", &run_vscan_stage1},
    {"vscan.stage1_qwen", &run_vscan_stage1_qwen},
    {"vscan.stage2", &run_vscan_stage2},
};
}  // namespace

const runner* find_runner(std::string_view method) {
  for (const auto& e : registry)
    if (e.method == method) return &e.run;
  return nullptr;
}

std::vector<std::string> registered_methods() {
  std::vector<std::string> out;
  for (const auto& e : registry) out.emplace_back(e.method);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Loading.

namespace detail {
void throw_case_error(const test_case& tc, const std::string& what) {
  const std::string where = tc.method.empty() ? tc.dir.string() : tc.method + "/" + tc.name;
  throw case_error("case " + where + ": " + what);
}

void check_put_shape(const std::string& name, const std::vector<index_t>& shape, std::size_t count) {
  index_t n = 0;
  const status st = vtr::detail::npy_element_count(shape, n);
  if (!st) throw std::logic_error("put('" + name + "'): " + st.message());
  if (static_cast<std::size_t>(n) != count)
    throw std::logic_error("put('" + name + "'): shape " + vtr::detail::npy_shape_string(shape) + " holds " +
                           std::to_string(n) + " elements, given " + std::to_string(count) + " values");
}
}  // namespace detail

test_case load_case_spec(const fs::path& dir) {
  test_case tc;
  tc.dir = dir;
  tc.name = dir.filename().string();
  if (tc.name.empty()) tc.name = dir.parent_path().filename().string();  // "dir/" spelling
  const fs::path file = dir / "case.json";
  std::ifstream in(file);
  if (!in) detail::throw_case_error(tc, "cannot open " + file.string());
  json spec;
  try {
    in >> spec;
  } catch (const json::exception& e) {
    detail::throw_case_error(tc, "case.json is not valid JSON: " + std::string(e.what()));
  }
  if (!spec.is_object()) detail::throw_case_error(tc, "case.json must hold an object");
  if (!spec.contains("method") || !spec["method"].is_string())
    detail::throw_case_error(tc, "case.json has no string \"method\"");
  tc.method = spec["method"].get<std::string>();
  if (spec.contains("params")) {
    if (!spec["params"].is_object()) detail::throw_case_error(tc, "\"params\" must be an object");
    tc.params = spec["params"];
  }
  if (spec.contains("compare")) {
    if (!spec["compare"].is_object()) detail::throw_case_error(tc, "\"compare\" must be an object");
    tc.compare = spec["compare"];
  }
  // compare.py tests `spec.get("expect_error")` for truth: null and "" mean no expected error.
  if (spec.contains("expect_error") && !spec["expect_error"].is_null()) {
    const json& e = spec["expect_error"];
    const std::string reason = e.is_string() ? e.get<std::string>() : e.dump();
    if (!reason.empty() && e != false) tc.expect_error = reason;
  }
  return tc;
}

test_case load_case(const fs::path& dir) {
  test_case tc = load_case_spec(dir);
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string fname = entry.path().filename().string();
    if (fname.size() > 7 && fname.compare(0, 3, "in_") == 0 && entry.path().extension() == ".npy")
      files.push_back(entry.path());
  }
  if (ec) detail::throw_case_error(tc, "cannot list the directory: " + ec.message());
  for (const auto& f : files) {
    auto a = try_read_npy(f);
    if (!a) detail::throw_case_error(tc, a.error().message());
    const std::string stem = f.stem().string();
    tc.inputs.emplace(stem.substr(3), std::move(a.value()));
  }
  return tc;
}

std::vector<fs::path> find_cases(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::is_regular_file(root / "case.json", ec)) out.push_back(root);
  const auto opts = fs::directory_options::follow_directory_symlink | fs::directory_options::skip_permission_denied;
  for (fs::recursive_directory_iterator it(root, opts, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && fs::is_regular_file(it->path() / "case.json", ec)) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Writing.

void write_outcome(const outcome& o, const fs::path& dir) {
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string fname = entry.path().filename().string();
    if (fname == "error.txt" || (fname.compare(0, 4, "out_") == 0 && entry.path().extension() == ".npy"))
      fs::remove(entry.path());
  }
  if (o.error) {
    std::ofstream err(dir / "error.txt");
    err << *o.error << '\n';
    if (!err) throw std::runtime_error("cannot write " + (dir / "error.txt").string());
    return;
  }
  for (const auto& [name, array] : o.outputs) write_npy(dir / ("out_" + name + ".npy"), array);
}

// ---------------------------------------------------------------------------------------------------
// Comparison: the rules of compare.py (check_one), with its messages.

namespace {

std::string fmt_g3(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string fmt_value(double v, bool is_float) {
  if (!is_float) return std::to_string(static_cast<long long>(v));
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

comparison result_of(bool ok, std::string detail) { return {ok, std::move(detail)}; }

comparison compare_set(const npy_array& e, const npy_array& a) {
  if (e.size() != a.size())
    return result_of(false, "set size " + std::to_string(a.size()) + " != " + std::to_string(e.size()));
  // Index sets: compared as int64 (float data, which compare.py truncates, is compared by value here).
  if (npy_is_float(e.dtype) || npy_is_float(a.dtype)) {
    auto ev = e.to_double(), av = a.to_double();
    std::sort(ev.begin(), ev.end());
    std::sort(av.begin(), av.end());
    if (ev == av) return result_of(true, "set equal");
    const auto unexpected = std::count_if(av.begin(), av.end(), [&](double x) {
      return !std::binary_search(ev.begin(), ev.end(), x);
    });
    return result_of(false, "sets differ (" + std::to_string(unexpected) + " unexpected)");
  }
  auto ev = e.to_int64(), av = a.to_int64();
  std::sort(ev.begin(), ev.end());
  std::sort(av.begin(), av.end());
  if (ev == av) return result_of(true, "set equal");
  const auto unexpected = std::count_if(av.begin(), av.end(), [&](std::int64_t x) {
    return !std::binary_search(ev.begin(), ev.end(), x);
  });
  return result_of(false, "sets differ (" + std::to_string(unexpected) + " unexpected)");
}

comparison compare_exact(const npy_array& e, const npy_array& a) {
  const bool as_float = npy_is_float(e.dtype) || npy_is_float(a.dtype);
  std::size_t nbad = 0, first = 0;
  double got = 0, want = 0;
  const auto note = [&](std::size_t i, double g, double w) {
    if (nbad++ == 0) {
      first = i;
      got = g;
      want = w;
    }
  };
  if (as_float) {
    const auto ev = e.to_double(), av = a.to_double();
    for (std::size_t i = 0; i < ev.size(); ++i)
      if (!(ev[i] == av[i] || (std::isnan(ev[i]) && std::isnan(av[i])))) note(i, av[i], ev[i]);
  } else {
    const auto ev = e.to_int64(), av = a.to_int64();
    for (std::size_t i = 0; i < ev.size(); ++i)
      if (ev[i] != av[i]) note(i, static_cast<double>(av[i]), static_cast<double>(ev[i]));
  }
  if (nbad == 0) return result_of(true, "exact");
  return result_of(false, std::to_string(nbad) + " mismatches (first at flat " + std::to_string(first) +
                              ": got " + fmt_value(got, as_float) + ", want " + fmt_value(want, as_float) + ")");
}

comparison compare_tol(const json& rule, const npy_array& e, const npy_array& a) {
  const auto number = [&](const char* key) {
    if (!rule.contains(key)) return 0.0;
    if (!rule[key].is_number()) throw case_error(std::string("compare rule \"") + key + "\" must be a number");
    return rule[key].get<double>();
  };
  const double rtol = number("rtol"), atol = number("atol");
  if (e.size() == 0) return result_of(true, "empty");
  const auto ev = e.to_double(), av = a.to_double();
  std::size_t nbad = 0;
  double worst = std::nan("");
  for (std::size_t i = 0; i < ev.size(); ++i) {
    const bool both_nan = std::isnan(ev[i]) && std::isnan(av[i]);
    const double diff = both_nan ? 0.0 : std::fabs(av[i] - ev[i]);
    if (!both_nan && !(diff <= atol + rtol * std::fabs(ev[i]))) ++nbad;
    if (!std::isnan(diff) && !(diff <= worst)) worst = diff;  // nanmax
  }
  if (nbad == 0) return result_of(true, "max abs err " + fmt_g3(worst));
  return result_of(false, std::to_string(nbad) + " outside tol, max abs err " + fmt_g3(worst));
}

}  // namespace

comparison compare_arrays(const json& rule, const npy_array& expected, const npy_array& actual) {
  if (rule.is_string() && rule.get<std::string>() == "set") return compare_set(expected, actual);
  if (expected.shape != actual.shape)
    return result_of(false, "shape " + actual.shape_string() + " != " + expected.shape_string());
  if (rule.is_string() && rule.get<std::string>() == "exact") return compare_exact(expected, actual);
  if (rule.is_object()) return compare_tol(rule, expected, actual);
  return result_of(false, "unknown compare rule " + rule.dump());
}

comparison compare_case(const test_case& tc, const outcome& o) {
  if (tc.expect_error) {
    if (o.error && o.outputs.empty()) return result_of(true, "expected error: " + *tc.expect_error);
    if (!o.outputs.empty()) return result_of(false, "expected an error (" + *tc.expect_error + "), got outputs");
    return result_of(false, "expected an error (" + *tc.expect_error + "), got none");
  }
  if (o.error) return result_of(false, "replay reported an error: " + *o.error);
  bool ok = true;
  std::string detail, missing;
  for (const auto& [key, rule] : tc.compare.items()) {
    const std::string name = key.compare(0, 4, "out_") == 0 ? key.substr(4) : key;
    const auto got = o.outputs.find(name);
    if (got == o.outputs.end()) {
      missing += (missing.empty() ? "" : ", ") + key;
      continue;
    }
    comparison c;
    auto want = try_read_npy(tc.dir / (key + ".npy"));
    if (!want)
      c = result_of(false, "error reading the expectation: " + want.error().message());
    else
      c = compare_arrays(rule, want.value(), got->second);
    ok = ok && c.ok;
    detail += (detail.empty() ? "" : "; ") + key + ": " + c.detail;
  }
  if (!missing.empty()) return result_of(false, "missing " + missing);
  return result_of(ok, detail);
}

// ---------------------------------------------------------------------------------------------------
// Runner helpers.

namespace {
const json* find_param(const json& params, const char* key) {
  if (!params.is_object()) return nullptr;
  const auto it = params.find(key);
  return it == params.end() ? nullptr : &*it;
}
[[noreturn]] void bad_param(const char* key, const char* want, const json* got) {
  if (!got) throw case_error(std::string("missing param \"") + key + "\" (" + want + ")");
  throw case_error(std::string("param \"") + key + "\" must be " + want + ", got " + got->dump());
}
std::int64_t as_int(const char* key, const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(u);
  }
  if (v.is_number_float()) {  // 3.0 written by a tool that does not keep ints apart
    const double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e18) return static_cast<std::int64_t>(d);
  }
  bad_param(key, "an integer", &v);
}
}  // namespace

std::int64_t get_int(const json& params, const char* key) {
  const json* v = find_param(params, key);
  if (!v) bad_param(key, "an integer", nullptr);
  return as_int(key, *v);
}
std::int64_t get_int(const json& params, const char* key, std::int64_t fallback) {
  const json* v = find_param(params, key);
  return v ? as_int(key, *v) : fallback;
}
double get_double(const json& params, const char* key) {
  const json* v = find_param(params, key);
  if (!v || !v->is_number()) bad_param(key, "a number", v);
  return v->get<double>();
}
double get_double(const json& params, const char* key, double fallback) {
  return find_param(params, key) ? get_double(params, key) : fallback;
}
std::string get_string(const json& params, const char* key) {
  const json* v = find_param(params, key);
  if (!v || !v->is_string()) bad_param(key, "a string", v);
  return v->get<std::string>();
}
std::string get_string(const json& params, const char* key, const std::string& fallback) {
  return find_param(params, key) ? get_string(params, key) : fallback;
}
bool get_bool(const json& params, const char* key) {
  const json* v = find_param(params, key);
  if (!v || !v->is_boolean()) bad_param(key, "true or false", v);
  return v->get<bool>();
}
bool get_bool(const json& params, const char* key, bool fallback) {
  return find_param(params, key) ? get_bool(params, key) : fallback;
}

bool has_input(const test_case& tc, const std::string& name) { return tc.inputs.count(name) != 0; }

const npy_array& input(const test_case& tc, const std::string& name) {
  const auto it = tc.inputs.find(name);
  if (it == tc.inputs.end()) detail::throw_case_error(tc, "missing input in_" + name + ".npy");
  return it->second;
}

void put(outcome& o, const std::string& name, npy_array a) {
  const status st = a.check();
  if (!st) throw std::logic_error("put('" + name + "'): " + st.message());
  o.outputs[name] = std::move(a);
}

}  // namespace vtr::replay
