// Compiled into each test executable with its own -m flags (see main.cpp).
#include <vtr/simd/simd.hpp>

const char* vtr_test_arch() {
  using arch = vtr::simd::default_arch;
  return vtr::simd::cpu_supports<arch>() ? arch::name() : nullptr;
}
