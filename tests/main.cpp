// Test runner. Kernel tests are built once per SIMD level with that level's -m flags; on a CPU that
// cannot run the level the executable exits 77, which CTest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include "catch.hpp"

#include <vtr/simd/simd.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  using arch = vtr::simd::default_arch;
  if (!vtr::simd::cpu_supports<arch>()) {
    std::printf("skipped: this CPU cannot run %s\n", arch::name());
    return 77;
  }
  std::printf("vtr tests, SIMD arch %s\n", arch::name());
  return Catch::Session().run(argc, argv);
}
