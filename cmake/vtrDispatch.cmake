# vtr_add_dispatch — run-time SIMD dispatch for code built on vtr (DESIGN §2.6). Opt-in: vtr's kernels are
# templates on an xsimd architecture; by default they use what the -m flags of the including translation
# unit enable. An engine shipping one binary for many CPUs instead compiles its vtr-calling code once per
# architecture and picks the best one the running CPU and OS support:
#
#   vtr_add_dispatch(<target> ARCHS avx512 avx2 sse4_2 SOURCES prune_kernels.cpp [LIBS <targets…>])
#
# * Each source in SOURCES is compiled once per arch (a library <target>_vtr_<arch>) with that
#   arch's flags and `VTR_DISPATCH_ARCH` defined to its vtr type (vtr::simd::sse4_2 / avx2 / avx512),
#   and linked into <target>. The sources instantiate their templates for VTR_DISPATCH_ARCH:
#       template <class Arch> vtr::status my_scores(...) { … vtr::ops::try_reduce_attention<Arch>(…) … }
#       template vtr::status my_scores<VTR_DISPATCH_ARCH>(...);
# * <target> gets a generated header <vtr_dispatch.hpp> declaring `vtr_dispatch::archs`, the list of
#   arches built, best first; the (baseline-compiled) caller dispatches with
#       vtr::simd::dispatch<vtr_dispatch::archs>([&](auto arch) { return my_scores<decltype(arch)>(...); });
#   which checks cpuid and the OS's saved register state (xgetbv) once and calls the best supported
#   instantiation (vtr::simd::dispatch_name<vtr_dispatch::archs>() names it).
# * The per-arch objects inherit <target>'s include directories, compile definitions, options and C++
#   standard; LIBS adds link libraries they need for compiling (usage requirements); vtr::vtr always.
# * Code shared by every arch (inline functions and templates not parameterised on the arch, the
#   standard library's) is emitted in each object; the linker keeps one copy, the first it sees. The
#   per-arch code is linked after <target>'s own (baseline) objects and lowest arch first (static
#   libraries for executables and shared libraries; a static or object library target embeds the
#   objects, and the final link orders them), so that copy is the baseline's or the lowest arch's, never
#   one compiled for a higher arch. List a baseline arch (sse4_2) so the lowest one runs everywhere the
#   program does.
#
# Arches: sse4_2, avx2 (with FMA and F16C), avx512 (F/CD/DQ/BW/VL). Flags come from
# VTR_ARCH_FLAGS_<arch> when set (vtr's own build sets them in vtrDeveloper.cmake), else from the table
# below (the same values). GCC and Clang; MSVC gets /arch:AVX2 and /arch:AVX512.
include_guard(GLOBAL)

set(_VTR_DISPATCH_ORDER sse4_2 avx2 avx512)  # lowest first

function(_vtr_dispatch_flags arch out)
  if(DEFINED VTR_ARCH_FLAGS_${arch})
    set(${out} ${VTR_ARCH_FLAGS_${arch}} PARENT_SCOPE)
    return()
  endif()
  if(MSVC)
    set(_msvc_sse4_2 "")
    set(_msvc_avx2 /arch:AVX2)
    set(_msvc_avx512 /arch:AVX512)
    set(${out} ${_msvc_${arch}} PARENT_SCOPE)
  else()
    set(_gnu_sse4_2 -msse4.2)
    set(_gnu_avx2 -mavx2 -mfma -mf16c)
    set(_gnu_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512cd -mavx2 -mfma -mf16c)
    set(${out} ${_gnu_${arch}} PARENT_SCOPE)
  endif()
endfunction()

function(vtr_add_dispatch target)
  cmake_parse_arguments(D "" "" "ARCHS;SOURCES;LIBS" ${ARGN})
  if(NOT TARGET ${target})
    message(FATAL_ERROR "vtr_add_dispatch: '${target}' is not a target (create it with add_executable/add_library first)")
  endif()
  if(NOT D_ARCHS OR NOT D_SOURCES)
    message(FATAL_ERROR "vtr_add_dispatch(${target}): give ARCHS <sse4_2|avx2|avx512>... and SOURCES <files>...")
  endif()
  if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86|x86)$")
    message(FATAL_ERROR "vtr_add_dispatch(${target}): only x86 arches are supported (this is ${CMAKE_SYSTEM_PROCESSOR})")
  endif()
  foreach(a IN LISTS D_ARCHS)
    if(NOT a IN_LIST _VTR_DISPATCH_ORDER)
      message(FATAL_ERROR "vtr_add_dispatch(${target}): unknown arch '${a}' (known: ${_VTR_DISPATCH_ORDER})")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES D_ARCHS)

  # Executables and shared libraries link one static library per arch: the linker reads archives after
  # the target's own objects and in order, so shared code is kept from the baseline objects or the lowest
  # arch. A static or object library target embeds the objects instead (nothing else to export).
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "OBJECT_LIBRARY")
    set(_kind OBJECT)
  else()
    set(_kind STATIC)
  endif()

  # Lowest first for linking; best first for the generated list.
  set(_best_first "")
  foreach(a IN LISTS _VTR_DISPATCH_ORDER)
    if(NOT a IN_LIST D_ARCHS)
      continue()
    endif()
    list(PREPEND _best_first "::vtr::simd::${a}")
    set(obj ${target}_vtr_${a})
    add_library(${obj} ${_kind} ${D_SOURCES})
    _vtr_dispatch_flags(${a} _flags)
    target_compile_options(${obj} PRIVATE ${_flags} $<TARGET_PROPERTY:${target},COMPILE_OPTIONS>)
    target_compile_definitions(${obj} PRIVATE VTR_DISPATCH_ARCH=::vtr::simd::${a} VTR_DISPATCH_ARCH_NAME="${a}"
                               $<TARGET_PROPERTY:${target},COMPILE_DEFINITIONS>)
    target_include_directories(${obj} PRIVATE $<TARGET_PROPERTY:${target},INCLUDE_DIRECTORIES>)
    target_link_libraries(${obj} PRIVATE vtr::vtr ${D_LIBS})
    foreach(prop CXX_STANDARD CXX_STANDARD_REQUIRED CXX_EXTENSIONS POSITION_INDEPENDENT_CODE)
      get_target_property(_v ${target} ${prop})
      if(NOT _v STREQUAL "_v-NOTFOUND")
        set_property(TARGET ${obj} PROPERTY ${prop} ${_v})
      endif()
    endforeach()
    if(_kind STREQUAL "OBJECT")
      target_sources(${target} PRIVATE $<TARGET_OBJECTS:${obj}>)
    else()
      if(_type STREQUAL "SHARED_LIBRARY" OR _type STREQUAL "MODULE_LIBRARY")
        set_property(TARGET ${obj} PROPERTY POSITION_INDEPENDENT_CODE ON)
      endif()
      target_link_libraries(${target} PRIVATE ${obj})
    endif()
  endforeach()
  string(REPLACE ";" ", " _list "${_best_first}")

  set(_dir ${CMAKE_CURRENT_BINARY_DIR}/vtr_dispatch/${target})
  file(CONFIGURE OUTPUT ${_dir}/vtr_dispatch.hpp CONTENT
"// Generated by vtr_add_dispatch(${target}) — do not edit.
#pragma once
#include <vtr/simd/simd.hpp>

namespace vtr_dispatch {
/// The architectures ${target}'s dispatched sources were built for, best first.
using archs = ::vtr::simd::arch_list<${_list}>;
}  // namespace vtr_dispatch
")
  target_include_directories(${target} PRIVATE ${_dir})
  target_link_libraries(${target} PRIVATE vtr::vtr)
endfunction()
