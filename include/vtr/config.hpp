// vtr — build configuration: exception policy, assertions, the inline ABI namespace.
#pragma once

#include "version.hpp"

#include <cstddef>
#include <limits>

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

/// For small SIMD helpers called from a kernel's hot loop, which must not become a call (a call spills
/// the caller's accumulator registers).
#if defined(__GNUC__) || defined(__clang__)
#define VTR_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define VTR_ALWAYS_INLINE __forceinline
#else
#define VTR_ALWAYS_INLINE inline
#endif

/// Fully unrolls the next loop (constant trip count): a register block's accumulator array only lives
/// in registers once its loops are unrolled, which GCC does not do by itself at -O2.
#if defined(__clang__)
#define VTR_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define VTR_UNROLL _Pragma("GCC unroll 32")
#else
#define VTR_UNROLL
#endif

// Versioned inline namespace: headers of two vtr versions in one program never share symbols.
#define VTR_NAMESPACE_BEGIN namespace vtr { inline namespace v0 {
#define VTR_NAMESPACE_END } }

VTR_NAMESPACE_BEGIN
/// Signed index and extent type; the same as Eigen::Index and numpy's int64 on 64-bit targets.
using index_t = std::ptrdiff_t;

namespace detail {
/// True when a·b fits in index_t, for a, b ≥ 0: shape products of untrusted extents are checked with it
/// before they are formed (signed overflow is undefined behaviour).
constexpr bool product_fits(index_t a, index_t b) noexcept {
  return a == 0 || b <= std::numeric_limits<index_t>::max() / a;
}
/// ⌊x⌋ of a non-negative count x (a double product such as n·ratio) clamped to [0, n]: converting a double
/// beyond index_t's range is undefined behaviour, so the clamp happens in double first (ALGORITHMS §0.5).
constexpr index_t clamp_count(double x, index_t n) noexcept {
  if (!(x > 0.0)) return 0;
  if (x >= static_cast<double>(n)) return n;
  return static_cast<index_t>(x);
}
}  // namespace detail
VTR_NAMESPACE_END
