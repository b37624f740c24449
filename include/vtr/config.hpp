// vtr — build configuration: exception policy, assertions, the inline ABI namespace.
#pragma once

#include "version.hpp"

#include <cstddef>

// Exceptions are used when the compiler has them enabled. Define VTR_NO_EXCEPTIONS to force the
// status-only mode (every public entry also has a `try_` form that returns vtr::status).
#if !defined(VTR_NO_EXCEPTIONS) && !(defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND))
#define VTR_NO_EXCEPTIONS 1
#endif

// Internal invariants (never input validation: bad input is reported through vtr::status). On in debug
// builds; VTR_ENABLE_ASSERTS forces them on in release builds too (the test suite does that).
#if defined(VTR_ENABLE_ASSERTS) || !defined(NDEBUG)
#include <cstdio>
#include <cstdlib>
#define VTR_ASSERT(cond)                                                                          \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "vtr: internal assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)
#else
#define VTR_ASSERT(cond) ((void)0)
#endif

// Versioned inline namespace: headers of two vtr versions in one program never share symbols.
#define VTR_NAMESPACE_BEGIN namespace vtr { inline namespace v0 {
#define VTR_NAMESPACE_END } }

VTR_NAMESPACE_BEGIN
/// Signed index and extent type; the same as Eigen::Index and numpy's int64 on 64-bit targets.
using index_t = std::ptrdiff_t;
VTR_NAMESPACE_END
