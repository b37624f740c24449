// vtr — where a step runs in an engine (ALGORITHMS §1.1) and the traits every method and policy declares.
#pragma once

#include "../config.hpp"

VTR_NAMESPACE_BEGIN

/// Insertion points, in the order a request flows through an engine.
enum class stage {
  encoder,        ///< inside the vision encoder (ToMe)
  projector,      ///< after the projector, before the LLM (VScan stage 1, PruneVid stage 1, DToMA D1)
  prefill_layer,  ///< inside the LLM during prefill, at a layer (FastV, SparseVLM, Fit&Prune, …)
  decode,         ///< per generated token (DToMA D3)
};

constexpr const char* stage_name(stage s) noexcept {
  switch (s) {
    case stage::encoder: return "encoder";
    case stage::projector: return "projector";
    case stage::prefill_layer: return "prefill_layer";
    case stage::decode: return "decode";
  }
  return "?";
}

VTR_NAMESPACE_END
