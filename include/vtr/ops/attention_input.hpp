// vtr — the two ways an engine hands attention to a method (ALGORITHMS §1.2 "What the engine must
// supply", DESIGN §2.4): (a) post-softmax probabilities, or (b) the query rows Q and keys K, from which
// the needed rows are recomputed in fp32 (FlashAttention/SDPA engines never materialise the matrix).
#pragma once

#include "../core/error.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "attention.hpp"

VTR_NAMESPACE_BEGIN
namespace ops {

struct attention_input {
  /// (a) probabilities [H][rows][keys]; rows and keys as the method's section describes.
  tensor_view<const float, 3> probs{};
  /// (b) query rows [rows][H][d], keys [keys][H_kv][d] (rotated or not, per the method's q/k form) and the
  /// absolute position of each query row (for the causal mask).
  tensor_view<const float, 3> q{};
  tensor_view<const float, 3> k{};
  vector_view<const index_t> q_positions{};

  static attention_input from_probs(tensor_view<const float, 3> p) {
    attention_input a;
    a.probs = p;
    return a;
  }
  static attention_input from_qk(tensor_view<const float, 3> q_rows, tensor_view<const float, 3> keys,
                                 vector_view<const index_t> positions) {
    attention_input a;
    a.q = q_rows;
    a.k = keys;
    a.q_positions = positions;
    return a;
  }
  /// True for form (a): no Q/K given.
  bool has_probs() const noexcept { return q.data_handle() == nullptr && k.data_handle() == nullptr; }
  /// Query rows the input describes.
  index_t rows() const noexcept { return has_probs() ? probs.extent(1) : q.extent(0); }
  /// Keys (columns) the input describes.
  index_t keys() const noexcept { return has_probs() ? probs.extent(2) : k.extent(0); }
  /// Query heads.
  index_t heads() const noexcept { return has_probs() ? probs.extent(0) : q.extent(1); }
};

/// The probabilities [H][rows][keys] of an attention_input: the caller's view for (a), or rows recomputed
/// into workspace memory for (b) (valid until the enclosing workspace::scope ends).
template <class Arch = simd::default_arch>
status try_resolve_attention(const attention_input& in, attention_mode mode, workspace& ws,
                             tensor_view<const float, 3>& out) {
  if (in.has_probs()) {
    VTR_TRY(validate_view("attention probabilities", in.probs));
    out = in.probs;
    return {};
  }
  const index_t heads = in.q.extent(1), rows = in.q.extent(0), keys = in.k.extent(0);
  float* buf = ws.take<float>(static_cast<std::size_t>(heads * rows * keys));
  tensor_view<float, 3> p(buf, {heads, rows, keys});
  VTR_TRY(try_attention_rows<Arch>(in.q, in.k, in.q_positions, mode, p, ws));
  out = p;
  return {};
}

}  // namespace ops
VTR_NAMESPACE_END
