#include "catch.hpp"

#include <vtr/vtr.hpp>

TEST_CASE("placeholder") { CHECK(vtr::plan::select(3, {0, 2}).size() == 2); }
