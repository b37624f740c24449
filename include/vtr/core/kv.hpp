// vtr — applying a selection plan in place to an engine's contiguous per-layer K/V caches (ALGORITHMS
// §1.4 "A utility applies the plan to contiguous per-layer caches", §2.11 compaction plan, §5.2 cost).
//
// The library never owns a KV cache. An intra-LLM method returns a selection plan over the current
// token axis; the engine compacts its caches for the layer range the method prunes:
//
//   FastV, VScan stage 2      layers ≥ K           (kv::layers_from(K))
//   PruneVid stage 2          layers 0…K           (kv::layers_through(K))
//   DToMA D2                  layers > K           (kv::layers_from(K + 1))
//   DToMA D3 (decode)         every layer, or ≥ a given layer
//
// (In a prefill that computes layers in order, the caches of layers ≥ K are written after the prune and
// need no compaction; the ranges above matter for caches filled before the plan existed: PruneVid's
// layers 0…K, decode-time eviction, or an engine that prefills in chunks.)
//
// Two layouts, both a tensor_view whose token axis has extent = the current cache length (= the plan's
// input_rows) and may have a larger stride (the allocated capacity):
//   rank 4: [layers][heads][tokens][head_dim]   (HF / PyTorch "heads-major", llama.cpp per-head views)
//   rank 3: [layers][tokens][heads·head_dim]    (token-major: ggml K cache, vLLM-style contiguous rows)
// After compaction rows [0, plan.size()) of every (layer[, head]) in the range hold the kept rows in
// order; rows past plan.size() are left as they were; the caller sets its new length to plan.size().
// Semantics are those of vtr::compact_in_place (a selection with strictly ascending origins, so every
// move has src ≥ dst and moving in increasing dst order is safe in place, §2.11).
#pragma once

#include "../config.hpp"
#include "error.hpp"
#include "plan.hpp"
#include "tensor_view.hpp"

#include <cstring>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace kv {

/// Layers [first, last) of a cache; last = −1 means "to the last layer".
struct layer_range {
  index_t first = 0;
  index_t last = -1;

  /// The concrete end for a cache of `layers` layers.
  index_t end(index_t layers) const noexcept { return last < 0 ? layers : last; }
};

/// Every layer.
constexpr layer_range all_layers() noexcept { return {0, -1}; }
/// Layers K, K+1, … (FastV and VScan stage 2 at K; DToMA D2 at K uses layers_from(K + 1)).
constexpr layer_range layers_from(index_t k) noexcept { return {k, -1}; }
/// Layers 0…K inclusive (PruneVid stage 2 at K, ALGORITHMS §1.4).
constexpr layer_range layers_through(index_t k) noexcept { return {0, k + 1}; }

namespace detail {

/// The plan is a selection with strictly ascending origins (what in-place compaction needs).
inline status check_selection(const plan& p) {
  VTR_TRY(validate_plan(p));
  if (!p.is_selection())
    return fail("KV compaction needs a selection plan; this plan merges rows (merged K/V rows are not defined: "
                "apply merging plans before the LLM, or recompute the cache)");
  for (index_t r = 1; r < p.size(); ++r)
    if (p.origin[r] <= p.origin[r - 1])
      return fail("KV compaction needs ascending origins; plan row ", r, " has origin ", p.origin[r], " after ",
                  p.origin[r - 1]);
  return {};
}

inline status check_range(const char* name, const layer_range& r, index_t layers) {
  const index_t e = r.end(layers);
  if (r.first < 0 || r.first > e || e > layers)
    return fail("layer range [", r.first, ", ", e, ") is outside argument '", name, "' with ", layers, " layers");
  return {};
}

/// Shape checks of one cache: token axis `tok` must equal the plan's input rows.
template <class T, std::size_t R>
status check_cache(const char* name, const plan& p, const layer_range& r, const tensor_view<T, R>& c, std::size_t tok) {
  VTR_TRY(validate_view(name, c));
  if (c.extent(tok) != p.input_rows)
    return fail("argument '", name, "' has shape ", shape_of(c), ": its token axis (dimension ", tok, ") holds ",
                c.extent(tok), " rows but the plan was made for ", p.input_rows);
  return check_range(name, r, c.extent(0));
}

/// Moves rows of one token-axis matrix (rows of `width` elements, `stride` apart). Consecutive kept rows
/// form runs; with dense rows (stride == width) a run is one memmove. Rows that stay put are skipped.
template <class T>
void compact_rows(T* base, index_t stride, index_t width, const plan& p, index_t first_move) {
  const index_t n = p.size();
  const auto row_bytes = sizeof(T) * static_cast<std::size_t>(width);
  if (stride == width) {
    for (index_t r = first_move; r < n;) {
      index_t e = r + 1;
      while (e < n && p.origin[e] == p.origin[e - 1] + 1) ++e;
      std::memmove(base + r * stride, base + p.origin[r] * stride, row_bytes * static_cast<std::size_t>(e - r));
      r = e;
    }
    return;
  }
  for (index_t r = first_move; r < n; ++r) std::memmove(base + r * stride, base + p.origin[r] * stride, row_bytes);
}

/// First output row that moves (every row before it has origin == row).
inline index_t first_move(const plan& p) noexcept {
  index_t r = 0;
  while (r < p.size() && p.origin[r] == r) ++r;
  return r;
}

template <class T>
void apply4(const plan& p, const layer_range& r, const tensor_view<T, 4>& c, index_t fm) {
  const index_t e = r.end(c.extent(0));
  if (fm == p.size() || c.extent(3) == 0) return;
  for (index_t l = r.first; l < e; ++l)
    for (index_t h = 0; h < c.extent(1); ++h)
      compact_rows(c.data_handle() + l * c.stride(0) + h * c.stride(1), c.stride(2), c.extent(3), p, fm);
}

template <class T>
void apply3(const plan& p, const layer_range& r, const tensor_view<T, 3>& c, index_t fm) {
  const index_t e = r.end(c.extent(0));
  if (fm == p.size() || c.extent(2) == 0) return;
  for (index_t l = r.first; l < e; ++l) compact_rows(c.data_handle() + l * c.stride(0), c.stride(1), c.extent(2), p, fm);
}

}  // namespace detail

// ---- one cache ----

/// Compacts a [layers][heads][tokens][head_dim] cache over `layers`. The token axis (extent 2) must hold
/// plan.input_rows rows. Nothing is written on error.
template <class T>
status try_compact(const plan& p, const layer_range& layers, const tensor_view<T, 4>& cache) {
  VTR_TRY(detail::check_selection(p));
  VTR_TRY(detail::check_cache("cache", p, layers, cache, 2));
  detail::apply4(p, layers, cache, detail::first_move(p));
  return {};
}

/// Compacts a [layers][tokens][heads·head_dim] cache over `layers`. The token axis (extent 1) must hold
/// plan.input_rows rows. Nothing is written on error.
template <class T>
status try_compact(const plan& p, const layer_range& layers, const tensor_view<T, 3>& cache) {
  VTR_TRY(detail::check_selection(p));
  VTR_TRY(detail::check_cache("cache", p, layers, cache, 1));
  detail::apply3(p, layers, cache, detail::first_move(p));
  return {};
}

/// Compacts a cache stored with the token axis innermost, [layers][channels][tokens] (channels =
/// heads·head_dim; llama.cpp keeps V this way when flash attention is off), over `layers`: each channel
/// row is gathered along its tokens. Origins ascend (origin[r] ≥ r), so the gather is safe in place. The
/// token axis (extent 2) must hold plan.input_rows entries. Nothing is written on error.
template <class T>
status try_compact_token_minor(const plan& p, const layer_range& layers, const tensor_view<T, 3>& cache) {
  VTR_TRY(detail::check_selection(p));
  VTR_TRY(detail::check_cache("cache", p, layers, cache, 2));
  const index_t fm = detail::first_move(p), e = layers.end(cache.extent(0));
  for (index_t l = layers.first; l < e; ++l)
    for (index_t c = 0; c < cache.extent(1); ++c) {
      T* row = cache.data_handle() + l * cache.stride(0) + c * cache.stride(1);
      for (index_t r = fm; r < p.size(); ++r) row[r] = row[p.origin[static_cast<std::size_t>(r)]];
    }
  return {};
}
template <class T>
void compact_token_minor(const plan& p, const layer_range& layers, const tensor_view<T, 3>& cache) {
  raise_if_error(try_compact_token_minor(p, layers, cache));
}

// ---- K and V together (both checked before either is touched) ----

template <class T>
status try_compact(const plan& p, const layer_range& layers, const tensor_view<T, 4>& k, const tensor_view<T, 4>& v) {
  VTR_TRY(detail::check_selection(p));
  VTR_TRY(detail::check_cache("k", p, layers, k, 2));
  VTR_TRY(detail::check_cache("v", p, layers, v, 2));
  if (k.extent(0) != v.extent(0))
    return fail("arguments 'k' ", shape_of(k), " and 'v' ", shape_of(v), " have different layer counts");
  if (k.data_handle() == v.data_handle() && !k.empty())
    return fail("arguments 'k' and 'v' are the same buffer ", shape_of(k), "; pass the K and V caches");
  const index_t fm = detail::first_move(p);
  detail::apply4(p, layers, k, fm);
  detail::apply4(p, layers, v, fm);
  return {};
}

template <class T>
status try_compact(const plan& p, const layer_range& layers, const tensor_view<T, 3>& k, const tensor_view<T, 3>& v) {
  VTR_TRY(detail::check_selection(p));
  VTR_TRY(detail::check_cache("k", p, layers, k, 1));
  VTR_TRY(detail::check_cache("v", p, layers, v, 1));
  if (k.extent(0) != v.extent(0))
    return fail("arguments 'k' ", shape_of(k), " and 'v' ", shape_of(v), " have different layer counts");
  if (k.data_handle() == v.data_handle() && !k.empty())
    return fail("arguments 'k' and 'v' are the same buffer ", shape_of(k), "; pass the K and V caches");
  const index_t fm = detail::first_move(p);
  detail::apply3(p, layers, k, fm);
  detail::apply3(p, layers, v, fm);
  return {};
}

/// Throwing forms (vtr::invalid_input).
template <class T, std::size_t R>
void compact(const plan& p, const layer_range& layers, const tensor_view<T, R>& cache) {
  raise_if_error(try_compact(p, layers, cache));
}
template <class T, std::size_t R>
void compact(const plan& p, const layer_range& layers, const tensor_view<T, R>& k, const tensor_view<T, R>& v) {
  raise_if_error(try_compact(p, layers, k, v));
}

/// A plan over a sub-span of the token axis (e.g. DToMA D2's plan over the n visual tokens, or a decode
/// eviction over the tracked visual keys) lifted to the whole cache axis of `length` rows: rows before
/// `offset` and after `offset + p.input_rows` are kept unchanged. Needs a selection plan.
inline status try_lift(const plan& p, index_t offset, index_t length, plan& out) {
  VTR_TRY(validate_plan(p));
  if (!p.is_selection()) return fail("kv::lift needs a selection plan; this plan merges rows");
  if (offset < 0 || length < 0 || offset > length || p.input_rows > length - offset)
    return fail("span ", span_text{offset, p.input_rows}, " of the plan does not fit a token axis of ", length, " rows");
  plan q;
  q.reset(length);
  q.origin.reserve(static_cast<std::size_t>(length - p.input_rows + p.size()));
  for (index_t i = 0; i < offset; ++i) q.origin.push_back(i);
  for (index_t o : p.origin) q.origin.push_back(offset + o);
  for (index_t i = offset + p.input_rows; i < length; ++i) q.origin.push_back(i);
  out = std::move(q);
  return {};
}
inline plan lift(const plan& p, index_t offset, index_t length) {
  plan out;
  raise_if_error(try_lift(p, offset, length, out));
  return out;
}

}  // namespace kv
VTR_NAMESPACE_END
