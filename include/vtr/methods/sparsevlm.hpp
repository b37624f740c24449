// vtr — SparseVLM (ALGORITHMS §3.2): v1.5 by default, v1 (rank rule) and v2 / SparseVLM+ as variants.
//   sparsevlm/params.hpp   versions, prune_params, keep tables, per-event counts (§1.5)
//   sparsevlm/raters.hpp   select_raters: the rater set from the layer-0 embeddings (§3.2.3)
//   sparsevlm/layer.hpp    basic_layer<V> (layer, layer_v1, layer_plus): one prune event → plan (§3.2.4-8)
//   sparsevlm/prefill.hpp  basic_prefill<V> (prefill, prefill_v1, prefill_plus): the per-prefill driver
#pragma once

#include "sparsevlm/layer.hpp"
#include "sparsevlm/params.hpp"
#include "sparsevlm/prefill.hpp"
#include "sparsevlm/raters.hpp"
