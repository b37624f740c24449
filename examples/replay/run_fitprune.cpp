// vtr-replay runners for Fit&Prune (ALGORITHMS §3.3): "fitprune.layer" and "fitprune.fit_step".
// Formats: tests/golden/README.md.
#include "replay.hpp"

#include <vtr/core/workspace.hpp>
#include <vtr/methods/fitprune.hpp>

#include <string>
#include <vector>

namespace vtr::replay {

outcome run_fitprune_layer(const test_case& tc);
outcome run_fitprune_fit_step(const test_case& tc);

// in: attn [H, n+Nt, n]; params n, reduction_ratio (recipe key), layer, k (= recipe[key][layer], a check).
// out: deleted_rel in ascending-score order.
outcome run_fitprune_layer(const test_case& tc) {
  const index_t n = get_int(tc.params, "n");
  fitprune::layer_params p;
  p.reduction = static_cast<int>(get_int(tc.params, "reduction_ratio", fitprune::default_recipe_key));
  const index_t layer_index = get_int(tc.params, "layer");
  const index_t k_given = get_int(tc.params, "k", -1);
  auto attn = input_floats<3>(tc, "attn");
  return guarded([&](outcome& o) {
    const fitprune::layer step(p);
    // The case's k is recipe[key][ℓ] "for convenience": a mismatch means the case and the tables disagree.
    const index_t k = step.deletions(layer_index).value();
    if (k_given >= 0 && k_given != k)
      throw case_error(tc.name + ": param k = " + std::to_string(k_given) + " but the recipe table gives " + std::to_string(k));
    fitprune::layer::inputs in;
    in.attn = ops::attention_input::from_probs(attn.view);
    in.n_visual = n;
    in.n_suffix = attn.view.extent(1) - n;
    in.layer_index = layer_index;
    in.prefix = 0;  // the case's rows and columns start at the visual span
    workspace ws;
    fitprune::layer::details det;
    (void)step.plan(in, ws, &det);
    put(o, "deleted_rel", det.deleted_rel);
  });
}

// in: attn [H, n+Nt, n]; params n, layer, alpha, wc, ws.
// out: cross, self [n]; del_cross, del_self (ascending value); intersection (a set).
outcome run_fitprune_fit_step(const test_case& tc) {
  const index_t n = get_int(tc.params, "n");
  const double alpha = get_double(tc.params, "alpha");
  const double wc = get_double(tc.params, "wc"), wself = get_double(tc.params, "ws");
  auto attn = input_floats<3>(tc, "attn");
  return guarded([&](outcome& o) {
    fitprune::layer_attention la;
    la.attn = ops::attention_input::from_probs(attn.view);
    la.n_visual = n;
    la.n_suffix = attn.view.extent(1) - n;
    la.prefix = 0;
    workspace ws;
    const fitprune::step_result r = fitprune::fit_step(la, alpha, wc, wself, ws);
    put(o, "cross", r.cross);
    put(o, "self", r.self);
    put(o, "del_cross", r.del_cross);
    put(o, "del_self", r.del_self);
    put(o, "intersection", r.intersection);
  });
}

}  // namespace vtr::replay
