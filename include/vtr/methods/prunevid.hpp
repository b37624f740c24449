// vtr — PruneVid (ALGORITHMS §3.5; Visual-AI/PruneVid@b12600c, PLLaVA path), a training-free video token
// reducer in two stages:
//   prunevid/stage1.hpp  prunevid::stage1 — pre-LLM: temporal segments, static/dynamic split, temporal
//                        averaging and spatial DPC-kNN merges → vtr::plan + segment metadata (§3.5.2)
//   prunevid/stage2.hpp  prunevid::stage2 — prefill at layer K: max-max attention scores, grouped top-k per
//                        stage-1 group → selection plan over [prefix | video | suffix] (§3.5.3)
//   prunevid/segments.hpp the stage-1 → stage-2 metadata (segment_sizes, token_info)
#pragma once

#include "prunevid/segments.hpp"
#include "prunevid/stage1.hpp"
#include "prunevid/stage2.hpp"
