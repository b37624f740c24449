// vtr — Fit&Prune (ALGORITHMS §3.3; ywh187/FitPrune@d28e418): per-layer deletion of visual tokens inside
// the LLM by a fitted count recipe, and the calibration that fits the recipe against a FLOPs target.
//   fitprune/recipes.hpp  the shipped recipe tables (data, keyed by FLOPs-reduction percent)
//   fitprune/layer.hpp    fitprune::layer — the inference deletion at one layer → vtr::plan
//   fitprune/fit.hpp      fit_step, statistics, flops_model, fit_probe and the 7-probe bisection
#pragma once

#include "fitprune/recipes.hpp"
#include "fitprune/scores.hpp"
#include "fitprune/layer.hpp"
#include "fitprune/fit.hpp"
