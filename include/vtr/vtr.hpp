// vtr — Visual Token Reduction. Umbrella header: includes the whole library.
#pragma once

#include "config.hpp"
#include "version.hpp"

#include "core/apply.hpp"
#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/tensor_view.hpp"
#include "core/workspace.hpp"

#include "simd/simd.hpp"
