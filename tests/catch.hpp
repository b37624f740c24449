// One include for Catch2 v2 (Debian bookworm's single header) and v3 (split headers).
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define VTR_CATCH_V3 1
#else
#include <catch2/catch.hpp>
#endif
