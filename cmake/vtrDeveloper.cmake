# Settings shared by vtr's own tests, benchmarks and examples (never applied to consumers).
include_guard(GLOBAL)

option(VTR_WERROR "Treat warnings as errors in vtr's own targets" OFF)
set(VTR_CXX_STANDARD 17 CACHE STRING "C++ standard for vtr's own tests and examples (17 or 20)")

# Compiler flags for each x86 SIMD level the kernels are tested on (DESIGN §2.6).
set(VTR_ARCH_FLAGS_sse4_2 -msse4.2)
set(VTR_ARCH_FLAGS_avx2 -mavx2 -mfma -mf16c)
set(VTR_ARCH_FLAGS_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512cd -mavx2 -mfma -mf16c)
set(VTR_TEST_ARCHS sse4_2 avx2 avx512)

# vtr_developer_target(<target>): warnings, standard and assertions for a target of vtr's own.
function(vtr_developer_target target)
  target_link_libraries(${target} PRIVATE vtr::vtr)
  set_target_properties(${target} PROPERTIES CXX_STANDARD ${VTR_CXX_STANDARD} CXX_STANDARD_REQUIRED ON
                                             CXX_EXTENSIONS OFF)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
    # GCC 12 reports false -Wmaybe-uninitialized inside AVX-512 intrinsics (DESIGN §3).
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
    if(VTR_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
