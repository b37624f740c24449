// vtr — 16-bit floating-point storage types: IEEE binary16 (`vtr::float16`) and bfloat16 (`vtr::bfloat16`).
//
// Engines keep hidden states and attention in half precision; vtr reads such buffers through ordinary
// views (`tensor_view<const vtr::bfloat16, 3>`), converts each element to fp32 on load inside the
// kernels, accumulates in fp32 and returns fp32 results. These types are storage only: two bytes,
// trivially copyable, no arithmetic. The conversions here are the exact scalar definitions (the SIMD
// loads in simd/simd.hpp give bit-identical results):
//   * to float: exact (every binary16 and bfloat16 value is a float), signs kept; a binary16 NaN comes
//     back as a quiet NaN with its payload (as x86's F16C does), a bfloat16 NaN bit for bit;
//   * from float: round to nearest, ties to even (IEEE default); overflow gives ±inf, NaN gives a quiet
//     NaN of the same sign; binary16 subnormals are produced and read exactly.
// No math here (DESIGN §1: core has views and plans only); this header includes nothing but <cstring>.
#pragma once

#include "../config.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

VTR_NAMESPACE_BEGIN

namespace detail {
inline std::uint32_t float_bits(float f) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float bits_float(std::uint32_t u) noexcept {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
}  // namespace detail

/// IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits), as stored by fp16 engines.
struct float16 {
  std::uint16_t bits;  ///< the raw encoding (public: engines memcpy their buffers into it)

  float16() = default;  // trivial: an uninitialised buffer element, like float
  /// Rounds to nearest, ties to even.
  explicit float16(float f) noexcept : bits(from_float(f)) {}
  explicit operator float() const noexcept { return to_float(bits); }

  static constexpr float16 from_bits(std::uint16_t b) noexcept {
    float16 h{};
    h.bits = b;
    return h;
  }

  /// binary16 → float, exact.
  static float to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    std::uint32_t u;
    if (exp == 0x1fu) {
      // inf, or a NaN with its payload, made quiet (as F16C's vcvtph2ps does, so scalar and SIMD agree)
      u = man ? 0x7fc00000u | (man << 13) : 0x7f800000u;
    } else if (exp != 0) {
      u = ((exp + (127 - 15)) << 23) | (man << 13);
    } else if (man == 0) {
      u = 0;
    } else {
      // Subnormal m·2^-24: exact in float (it has far more exponent range).
      const float v = float(man) * 0x1p-24f;
      return sign ? -v : v;
    }
    return detail::bits_float(sign | u);
  }

  /// float → binary16, round to nearest, ties to even (integer arithmetic only, so independent of the
  /// FPU's rounding mode and of flush-to-zero settings).
  static std::uint16_t from_float(float f) noexcept {
    const std::uint32_t u = detail::float_bits(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) {  // inf or NaN: a NaN stays NaN (quiet bit set, top payload bits kept)
      return static_cast<std::uint16_t>(sign | (a == 0x7f800000u ? 0x7c00u : 0x7e00u | ((a >> 13) & 0x3ffu)));
    }
    if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // ≥ 65520 rounds to inf
    if (a < 0x38800000u) {
      // Below 2^-14: a binary16 subnormal (or zero), value = round(|f|·2^24)·2^-24.
      if (a < 0x33000000u) return sign;  // ≤ 2^-25 (half of the smallest subnormal, a tie to even 0)
      const std::uint32_t e = a >> 23, man = (a & 0x7fffffu) | 0x800000u;  // |f| = man·2^(e−150)
      const std::uint32_t shift = 126u - e;  // |f|·2^24 = man >> (126 − e), shift ∈ [14, 24]
      std::uint32_t q = man >> shift;
      const std::uint32_t rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
      if (rem > half || (rem == half && (q & 1u))) ++q;
      return static_cast<std::uint16_t>(sign | q);
    }
    // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even (a carry into
    // the exponent is the correct result, including rounding up to inf just below the threshold above).
    const std::uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | ((rounded - ((127u - 15u) << 23)) >> 13));
  }
};

/// bfloat16 (1 sign, 8 exponent, 7 mantissa bits): the top half of a float.
struct bfloat16 {
  std::uint16_t bits;

  bfloat16() = default;
  /// Rounds to nearest, ties to even.
  explicit bfloat16(float f) noexcept : bits(from_float(f)) {}
  explicit operator float() const noexcept { return to_float(bits); }

  static constexpr bfloat16 from_bits(std::uint16_t b) noexcept {
    bfloat16 h{};
    h.bits = b;
    return h;
  }

  /// bfloat16 → float, exact (a shift).
  static float to_float(std::uint16_t h) noexcept { return detail::bits_float(std::uint32_t(h) << 16); }

  static std::uint16_t from_float(float f) noexcept {
    const std::uint32_t u = detail::float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    // Round to nearest even on the low 16 bits; a carry out of the mantissa bumps the exponent (to inf
    // above the largest finite bfloat16, which is the correct rounding).
    return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
};

static_assert(sizeof(float16) == 2 && sizeof(bfloat16) == 2, "vtr half types are two bytes");
static_assert(std::is_trivially_copyable_v<float16> && std::is_trivially_copyable_v<bfloat16>,
              "vtr half types are trivially copyable (engine buffers are reinterpreted as them)");
static_assert(std::is_trivial_v<float16> && std::is_trivial_v<bfloat16>, "vtr half types are trivial");
static_assert(std::is_standard_layout_v<float16> && std::is_standard_layout_v<bfloat16>, "standard layout");

/// True for the 16-bit storage types (the element types the half-precision kernel paths accept).
template <class T>
inline constexpr bool is_half_v = std::is_same_v<std::remove_cv_t<T>, float16> || std::is_same_v<std::remove_cv_t<T>, bfloat16>;

/// Element → float, exactly: the scalar conversion every kernel's tail loop uses.
inline float to_float(float x) noexcept { return x; }
inline float to_float(float16 x) noexcept { return float16::to_float(x.bits); }
inline float to_float(bfloat16 x) noexcept { return bfloat16::to_float(x.bits); }

VTR_NAMESPACE_END
