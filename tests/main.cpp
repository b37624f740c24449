// Test runner: Catch2's implementation and main(), compiled once for every test executable. Kernel
// tests are built once per SIMD level with that level's -m flags; arch_check.cpp (compiled with the
// executable's own flags) tells whether this CPU can run that level — if not the executable exits 77,
// which CTest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include "catch.hpp"

#include <cstdio>

// Defined in arch_check.cpp: the SIMD level this executable was built for, or nullptr when the CPU
// cannot run it.
const char* vtr_test_arch();

int main(int argc, char** argv) {
  const char* arch = vtr_test_arch();
  if (arch == nullptr) {
    std::printf("skipped: this CPU cannot run the SIMD level this test was built for\n");
    return 77;
  }
  std::printf("vtr tests, SIMD arch %s\n", arch);
  return Catch::Session().run(argc, argv);
}
