// vtr — the one place that includes xsimd (DESIGN §2.6). A thin compatibility layer over xsimd
// 8.1 … 13: the names the kernels use stay the same whichever xsimd the user has.
#pragma once

#include "../config.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>

VTR_NAMESPACE_BEGIN
namespace simd {

/// The instruction set chosen by the compiler flags (-msse4.2, -mavx2 -mfma, -mavx512f …).
using default_arch = xsimd::default_arch;

template <class T, class Arch = default_arch>
using batch = xsimd::batch<T, Arch>;
template <class T, class Arch = default_arch>
using batch_bool = xsimd::batch_bool<T, Arch>;

/// Lanes of T per register for Arch.
template <class T, class Arch = default_arch>
inline constexpr std::size_t lanes = batch<T, Arch>::size;

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
/// The x86 levels the library is built and tested for.
using sse4_2 = xsimd::sse4_2;
using avx2 = xsimd::fma3<xsimd::avx2>;
using avx512 = xsimd::avx512bw;
#endif

template <class Arch>
constexpr const char* arch_name() noexcept {
  return Arch::name();
}

template <class T, class Arch>
batch<T, Arch> load(const T* p) noexcept {
  return batch<T, Arch>::load_unaligned(p);
}
template <class T, class Arch>
void store(T* p, const batch<T, Arch>& b) noexcept {
  b.store_unaligned(p);
}

/// a·b + c (fused where the arch has FMA).
template <class T, class Arch>
batch<T, Arch> fma(const batch<T, Arch>& a, const batch<T, Arch>& b, const batch<T, Arch>& c) noexcept {
  return xsimd::fma(a, b, c);
}
template <class T, class Arch>
batch<T, Arch> max(const batch<T, Arch>& a, const batch<T, Arch>& b) noexcept {
  return xsimd::max(a, b);
}
template <class T, class Arch>
batch<T, Arch> min(const batch<T, Arch>& a, const batch<T, Arch>& b) noexcept {
  return xsimd::min(a, b);
}
template <class T, class Arch>
batch<T, Arch> exp(const batch<T, Arch>& a) noexcept {
  return xsimd::exp(a);
}

/// Horizontal sum: xsimd ≤ 8 calls it hadd, xsimd ≥ 9 reduce_add.
template <class T, class Arch>
T reduce_add(const batch<T, Arch>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_add(b);
#else
  return xsimd::hadd(b);
#endif
}

/// Horizontal maximum / minimum (xsimd ≥ 9 has them; older versions spill to memory).
template <class T, class Arch>
T reduce_max(const batch<T, Arch>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_max(b);
#else
  alignas(64) T tmp[batch<T, Arch>::size];
  b.store_aligned(tmp);
  return *std::max_element(tmp, tmp + batch<T, Arch>::size);
#endif
}
template <class T, class Arch>
T reduce_min(const batch<T, Arch>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_min(b);
#else
  alignas(64) T tmp[batch<T, Arch>::size];
  b.store_aligned(tmp);
  return *std::min_element(tmp, tmp + batch<T, Arch>::size);
#endif
}

/// Lane mask as bits (bit i set when lane i is true).
template <class T, class Arch>
std::uint64_t mask_bits(const batch_bool<T, Arch>& m) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return static_cast<std::uint64_t>(m.mask());
#else
  alignas(64) bool tmp[batch<T, Arch>::size];
  m.store_aligned(tmp);
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < batch<T, Arch>::size; ++i) bits |= std::uint64_t(tmp[i]) << i;
  return bits;
#endif
}

/// Appends base+i for every true lane i to `out` (stream compaction of a comparison); returns the new end.
template <class T, class Arch, class Index>
Index* compress_indices(const batch_bool<T, Arch>& m, Index base, Index* out) noexcept {
  std::uint64_t bits = mask_bits(m);
  while (bits) {
    const int i = __builtin_ctzll(bits);
    *out++ = base + static_cast<Index>(i);
    bits &= bits - 1;
  }
  return out;
}

/// True when the running CPU (and OS) can execute Arch — for tests and dispatch.
template <class Arch>
bool cpu_supports() noexcept {
  const auto a = xsimd::available_architectures();
  return a.best >= Arch::version();
}

}  // namespace simd
VTR_NAMESPACE_END
