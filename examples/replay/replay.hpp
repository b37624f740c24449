// vtr-replay — runs conformance/parity cases through the library (DESIGN §1).
//
// A case is a directory holding case.json ({"method", "params", "compare", optional "expect_error"}) and
// its inputs in_<name>.npy; the golden cases also hold the expected out_<name>.npy (format: the README
// beside tests/golden/compare.py). A runner, one per method id, reads the inputs and params, calls the
// library and returns the outputs (or the library's rejection). compare_case() applies the same rules
// as compare.py, so the C++ tests, the vtr-replay tool and the Python checker agree.
//
// Adding a method id: write examples/replay/run_<family>.cpp with `outcome run_<id>(const test_case&)`,
// declare it below and add it to the table in replay.cpp.
#pragma once

#include <vtr/core/error.hpp>
#include <vtr/core/tensor_view.hpp>
#include <vtr/io/npy.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace vtr::replay {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// A malformed case (missing param or input, wrong dtype or rank in a file, unreadable case.json). Not
/// a library rejection: it propagates out of a runner and counts as a crash.
class case_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One case directory, loaded.
struct test_case {
  fs::path dir;
  std::string method;  ///< the method id, e.g. "fastv.select"
  std::string name;    ///< the directory's name
  json params = json::object();
  json compare = json::object();  ///< "out_<name>" → "exact" | "set" | {"rtol", "atol"}
  std::optional<std::string> expect_error;
  std::map<std::string, npy_array> inputs;  ///< key without "in_"
};

/// Reads dir/case.json and every dir/in_*.npy. Throws case_error.
test_case load_case(const fs::path& dir);
/// Reads dir/case.json only (no inputs): cheap, for listing.
test_case load_case_spec(const fs::path& dir);
/// Every directory under root (root included) that holds a case.json, sorted; directory symlinks are
/// followed.
std::vector<fs::path> find_cases(const fs::path& root);

/// What a runner produced: outputs, or the library's error message when it rejected the input.
struct outcome {
  std::map<std::string, npy_array> outputs;  ///< key without "out_"
  std::optional<std::string> error;
};

/// Runs one case. Catches vtr::invalid_input (→ outcome::error); anything else propagates (a crash).
using runner = outcome (*)(const test_case&);

/// The runner registered for a method id, or nullptr.
const runner* find_runner(std::string_view method);
/// Every registered method id, sorted.
std::vector<std::string> registered_methods();

/// Writes an outcome into dir (created): out_<name>.npy per output, or error.txt with the message.
/// Earlier out_*.npy and error.txt files in dir are removed first, so stale results never linger.
void write_outcome(const outcome& o, const fs::path& dir);

// ---- comparison (tests/golden/compare.py, rule for rule) ----

struct comparison {
  bool ok = false;
  std::string detail;
};

/// Compares one array with a rule: "exact" (shape and order; floats as double with NaN == NaN, ints as
/// int64), {"rtol", "atol"} (|got − want| ≤ atol + rtol·|want|, NaN == NaN), "set" (1-D, order ignored).
comparison compare_arrays(const json& rule, const npy_array& expected, const npy_array& actual);
/// Compares an outcome with the case's expectations (case dir's out_*.npy, one per "compare" key). An
/// expect_error case passes iff the outcome has an error and no outputs; otherwise an error fails, and
/// so does a missing output.
comparison compare_case(const test_case& tc, const outcome& o);

// ---- helpers for runners ----

/// Runs body(outcome&) and turns a vtr::invalid_input into outcome::error (with no outputs).
template <class Body>
outcome guarded(Body&& body) {
  outcome o;
  try {
    body(o);
  } catch (const invalid_input& e) {
    outcome rejected;
    rejected.error = e.what();
    return rejected;
  }
  return o;
}

/// Params. A missing key or a value of the wrong type is a case_error naming the key.
std::int64_t get_int(const json& params, const char* key);
std::int64_t get_int(const json& params, const char* key, std::int64_t fallback);
double get_double(const json& params, const char* key);
double get_double(const json& params, const char* key, double fallback);
std::string get_string(const json& params, const char* key);
std::string get_string(const json& params, const char* key, const std::string& fallback);
bool get_bool(const json& params, const char* key);
bool get_bool(const json& params, const char* key, bool fallback);

/// Inputs. input() throws case_error when the case has no in_<name>.npy.
bool has_input(const test_case& tc, const std::string& name);
const npy_array& input(const test_case& tc, const std::string& name);

/// A typed rank-R input: a view straight into the loaded array when its dtype already is T's, else a
/// converted copy (so a float64 dump from numpy still replays as fp32). Move-only (the view may point
/// into `converted`).
template <class T, std::size_t R>
struct typed_input {
  const npy_array* array = nullptr;
  std::vector<T> converted;
  tensor_view<const T, R> view;

  typed_input() = default;
  typed_input(typed_input&&) noexcept = default;
  typed_input& operator=(typed_input&&) noexcept = default;
  typed_input(const typed_input&) = delete;
  typed_input& operator=(const typed_input&) = delete;
};

namespace detail {
[[noreturn]] void throw_case_error(const test_case& tc, const std::string& what);

template <class T, std::size_t R>
typed_input<T, R> make_typed_input(const test_case& tc, const std::string& name, const npy_array& a) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, index_t>, "typed inputs are float or index_t");
  if (a.rank() != R)
    throw_case_error(tc, "input '" + name + "' has shape " + a.shape_string() + ", expected rank " + std::to_string(R));
  typed_input<T, R> in;
  in.array = &a;
  std::array<index_t, R> ext{};
  for (std::size_t d = 0; d < R; ++d) ext[d] = a.shape[d];
  const bool direct = std::is_same_v<T, float> ? a.dtype == npy_dtype::f4
                                               : (a.dtype == npy_dtype::i8 && sizeof(T) == 8 && std::is_signed_v<T>);
  if (direct) {
    in.view = tensor_view<const T, R>(reinterpret_cast<const T*>(a.data.data()), ext);
    return in;
  }
  if constexpr (std::is_same_v<T, float>) {
    auto v = a.try_to_float();
    if (!v) throw_case_error(tc, "input '" + name + "': " + v.error().message());
    in.converted = std::move(v.value());
  } else {
    auto v = a.try_to_int64();
    if (!v) throw_case_error(tc, "input '" + name + "': " + v.error().message());
    in.converted.assign(v.value().begin(), v.value().end());
  }
  in.view = tensor_view<const T, R>(in.converted.data(), ext);
  return in;
}
}  // namespace detail

/// in_<name>.npy as fp32 of rank R (f4 viewed in place; f8/f2/ints converted).
template <std::size_t R>
typed_input<float, R> input_floats(const test_case& tc, const std::string& name) {
  return detail::make_typed_input<float, R>(tc, name, input(tc, name));
}
/// in_<name>.npy as index_t of rank R (i8 viewed in place; i4/u1/b1 converted; floats refused).
template <std::size_t R>
typed_input<index_t, R> input_indices(const test_case& tc, const std::string& name) {
  return detail::make_typed_input<index_t, R>(tc, name, input(tc, name));
}

/// Outputs: put(o, "labels", values[, shape]) stores floating-point values as <f4 and integers as <i8.
/// Without a shape the array is 1-D. The shape's product must equal values.size().
void put(outcome& o, const std::string& name, npy_array a);
namespace detail {
/// Throws std::logic_error (a runner bug) unless shape is valid and holds exactly `count` elements.
void check_put_shape(const std::string& name, const std::vector<index_t>& shape, std::size_t count);
}  // namespace detail
template <class T>
void put(outcome& o, const std::string& name, const std::vector<T>& values, std::vector<index_t> shape) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "put() stores numbers");
  detail::check_put_shape(name, shape, values.size());
  if constexpr (std::is_floating_point_v<T>) {
    const std::vector<float> f(values.begin(), values.end());
    put(o, name, npy_array::from(f.data(), std::move(shape)));
  } else {
    const std::vector<std::int64_t> v(values.begin(), values.end());
    put(o, name, npy_array::from(v.data(), std::move(shape)));
  }
}
template <class T>
void put(outcome& o, const std::string& name, const std::vector<T>& values) {
  put(o, name, values, {static_cast<index_t>(values.size())});
}

// ---- the registered runners (one per method id; run_*.cpp) ----

outcome run_dpc_knn_cluster(const test_case& tc);    ///< "dpc_knn.cluster"   (run_primitives.cpp)
outcome run_tome_bipartite(const test_case& tc);     ///< "tome.bipartite"    (run_primitives.cpp)
outcome run_prunevid_refine(const test_case& tc);    ///< "prunevid.refine"   (run_primitives.cpp)
outcome run_fastv_select(const test_case& tc);       ///< "fastv.select"      (run_primitives.cpp)

}  // namespace vtr::replay
