// vtr — errors. DESIGN §2.8: bad input is rejected at the API boundary with a message naming the
// argument and the shapes; nothing is written to caller outputs. Every check produces a vtr::status;
// the throwing entry points turn a failed status into vtr::invalid_input, the `try_` forms return it.
#pragma once

#include "../config.hpp"

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

VTR_NAMESPACE_BEGIN

/// Thrown for input the library rejects. The message names the argument and the shapes involved.
class invalid_input : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The outcome of a check or of a `try_` entry point: ok, or an error message.
class [[nodiscard]] status {
 public:
  status() = default;
  static status error(std::string message) {
    status s;
    s.failed_ = true;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const std::string& message() const noexcept { return message_; }

 private:
  bool failed_ = false;
  std::string message_;
};

/// Turns a failed status into vtr::invalid_input (or, in builds without exceptions, prints the message
/// and aborts: such builds should call the `try_` forms).
inline void raise_if_error(const status& s) {
  if (s.ok()) return;
#if defined(VTR_NO_EXCEPTIONS)
  std::fprintf(stderr, "vtr: %s\n", s.message().c_str());
  std::abort();
#else
  throw invalid_input("vtr: " + s.message());
#endif
}

/// A value or the status explaining why there is none.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : value_(std::move(value)) {}             // NOLINT: implicit on purpose
  result(status error) : status_(std::move(error)) {          // NOLINT
    VTR_ASSERT(!status_.ok());
  }
  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const status& error() const noexcept { return status_; }
  /// The value; raises the error when there is none.
  T& value() & {
    raise_if_error(status_);
    return *value_;
  }
  T&& value() && {
    raise_if_error(status_);
    return std::move(*value_);
  }

 private:
  status status_;
  std::optional<T> value_;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

/// Prints the half-open span [begin, begin + count) in an error message. The values being reported are
/// the caller's bad input, so the end is not computed when it would overflow (signed overflow is UB).
struct span_text {
  index_t begin;
  index_t count;
  friend std::ostream& operator<<(std::ostream& os, const span_text& s) {
    os << '[' << s.begin << ", ";
    constexpr index_t hi = std::numeric_limits<index_t>::max(), lo = std::numeric_limits<index_t>::min();
    if ((s.count > 0 && s.begin > hi - s.count) || (s.count < 0 && s.begin < lo - s.count))
      os << s.begin << " + " << s.count;
    else
      os << s.begin + s.count;
    return os << ')';
  }
};

/// Builds an error status from message pieces: fail("argument 'attn' has shape ", shape, ...).
template <class... Args>
status fail(const Args&... args) {
  return status::error(detail::concat(args...));
}

VTR_NAMESPACE_END

/// Returns early from a status-returning function when `expr` (a vtr::status) failed.
#define VTR_TRY(expr)                               \
  do {                                              \
    ::vtr::status vtr_try_status_ = (expr);          \
    if (!vtr_try_status_.ok()) return vtr_try_status_; \
  } while (0)
