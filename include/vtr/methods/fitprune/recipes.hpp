// vtr — Fit&Prune recipe tables (ALGORITHMS §3.3.4, §2.5 "absolute table").
//
// A recipe is the number of visual tokens Fit&Prune deletes at each decoder layer. The shipped tables
// are keyed by the calibration FLOPs-reduction target in percent (key 60 = "cut 60% of the visual-token
// FLOPs"), NOT by a token-keep ratio. They were fitted upstream for LLaVA-1.5-7B (32 layers, 576 visual
// tokens); ywh187/FitPrune@d28e418 fp-llama.py:358-390. Key 0 deletes nothing; any other key is an error
// (§0.9, §3.3.8: upstream raises NameError). This header is data only.
#pragma once

#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/tensor_view.hpp"

#include <array>
#include <cstddef>
#include <string>

VTR_NAMESPACE_BEGIN
namespace fitprune {

/// Layers of the shipped recipes (LLaVA-1.5-7B / LLaMA-7B decoder depth).
inline constexpr index_t recipe_layers = 32;

/// One row of §3.3.4: the deletion count per layer 0…31 for one FLOPs-reduction key.
struct recipe_table {
  int key;                                                  ///< FLOPs-reduction target, percent
  std::array<index_t, static_cast<std::size_t>(recipe_layers)> deletions;  ///< visual tokens deleted at each layer
};

/// The shipped tables, in key order (§3.3.4). Totals are checked by the unit tests against the
/// "deleted total" column of the spec.
inline constexpr std::array<recipe_table, 11> recipe_tables = {{
    {0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {10, {0, 0, 1, 2, 1, 0, 1, 4, 5, 5, 11, 4, 2, 2, 0, 0, 1, 1, 2, 4, 2, 10, 1, 1, 1, 2, 1, 1, 0, 1, 0, 0}},
    {20, {0, 0, 3, 3, 1, 1, 4, 16, 14, 15, 24, 4, 2, 3, 2, 0, 6, 0, 5, 13, 4, 19, 2, 1, 1, 1, 1, 1, 2, 1, 0, 0}},
    {30, {0, 0, 7, 6, 4, 5, 16, 40, 24, 21, 24, 4, 2, 3, 4, 0, 16, 0, 11, 26, 6, 32, 3, 1, 0, 1, 2, 2, 4, 0, 0, 0}},
    {40, {0, 1, 21, 13, 14, 11, 41, 53, 29, 15, 14, 5, 1, 4, 5, 1, 26, 1, 13, 28, 6, 27, 2, 1, 0, 0, 1, 1, 2, 0, 0, 0}},
    {50, {3, 7, 49, 24, 29, 17, 59, 41, 26, 8, 10, 6, 2, 5, 7, 2, 30, 3, 13, 27, 5, 23, 2, 1, 0, 0, 1, 1, 2, 0, 0, 0}},
    {55, {6, 17, 69, 31, 34, 19, 59, 30, 23, 6, 8, 7, 2, 5, 8, 2, 29, 4, 12, 25, 4, 19, 2, 1, 0, 0, 1, 0, 1, 0, 0, 0}},
    {60, {14, 33, 89, 36, 36, 20, 55, 21, 18, 4, 7, 5, 2, 5, 7, 4, 26, 5, 11, 24, 4, 18, 2, 1, 0, 0, 1, 0, 1, 0, 0, 0}},
    {70, {48, 79, 118, 41, 33, 17, 36, 9, 9, 2, 3, 2, 1, 3, 4, 8, 18, 7, 8, 20, 4, 13, 2, 1, 0, 0, 1, 0, 1, 0, 0, 0}},
    {80, {128, 127, 118, 35, 26, 8, 13, 3, 2, 1, 0, 0, 0, 2, 1, 8, 7, 8, 5, 11, 2, 6, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0}},
    {90, {262, 153, 80, 19, 13, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 1, 2, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}},
}};

/// The recipe key of the shipped TextVQA script (scripts/v1_5/eval/textvqa.sh:10; §3.3.7).
inline constexpr int default_recipe_key = 60;

/// The table row for `key`, or nullptr when there is none.
constexpr const recipe_table* find_recipe(int key) noexcept {
  for (const recipe_table& t : recipe_tables)
    if (t.key == key) return &t;
  return nullptr;
}

/// The 32 deletion counts for `key` as a view into the static table. Error: an unknown key (§2.5).
inline status try_recipe(int key, vector_view<const index_t>& out) {
  const recipe_table* t = find_recipe(key);
  if (t == nullptr) {
    std::string keys;
    for (const recipe_table& r : recipe_tables) keys += (keys.empty() ? "" : ", ") + std::to_string(r.key);
    return fail("Fit&Prune recipe key ", key, " (argument 'reduction') is unknown; the shipped keys are {", keys,
                "} (FLOPs-reduction percent, ALGORITHMS §3.3.4), or pass a custom recipe");
  }
  out = vector_view<const index_t>(t->deletions.data(), {recipe_layers});
  return {};
}
/// As try_recipe; throws vtr::invalid_input on an unknown key.
inline vector_view<const index_t> recipe(int key) {
  vector_view<const index_t> v;
  raise_if_error(try_recipe(key, v));
  return v;
}

}  // namespace fitprune
VTR_NAMESPACE_END
