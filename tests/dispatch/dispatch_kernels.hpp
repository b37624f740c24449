// Shared by the per-arch translation units (dispatch_kernels.cpp, compiled once per SIMD level by
// vtr_add_dispatch) and the baseline test that calls them.
#pragma once

#include <vtr/config.hpp>

#include <string>
#include <vector>

namespace dispatch_test {

using vtr::index_t;

struct inputs {
  index_t heads = 0, seq_len = 0, image_start = 0, image_count = 0, dim = 0;
  std::vector<float> attn;   ///< [heads][seq_len]: the last prompt row's attention
  std::vector<float> feats;  ///< [image_count][dim]: the image tokens' features
};

struct outputs {
  std::string arch;                       ///< Arch::name() of the instantiation that ran
  std::vector<index_t> kept;              ///< FastV plan.kept() on fp32 attention
  std::vector<index_t> kept_bf16_scores;  ///< top-k of head-mean scores read from a bfloat16 view
  std::vector<index_t> kept_f16_scores;   ///< … from a float16 view
  std::vector<float> scores;              ///< fp32 head-mean image scores
  std::vector<float> scores_f16;          ///< the same from the float16 view
  std::vector<index_t> assign;            ///< nearest-kept merge assignment of the pruned image tokens
  std::vector<float> merged;              ///< the merged rows
  std::vector<float> normalized_bf16;     ///< l2-normalised rows read from bfloat16
};

/// FastV selection, half-precision scoring, nearest-kept merge and row normalisation, all with Arch.
template <class Arch>
outputs run(const inputs& in);

}  // namespace dispatch_test
