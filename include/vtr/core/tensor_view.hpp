// vtr — non-owning strided row-major tensor views (DESIGN §2.1).
//
// A view is a pointer, extents and strides (in elements), with mdspan-style accessors. The last
// dimension must be contiguous (stride 1) wherever a kernel reads it; validate_view() checks that at
// the API boundary. Engines build views from their own pointer + shape + strides (ggml, ONNX Runtime,
// OpenVINO, ncnn, MNN, LibTorch all expose them) or from Eigen (core/eigen.hpp).
#pragma once

#include "../config.hpp"
#include "error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <type_traits>
#include <vector>

VTR_NAMESPACE_BEGIN

template <class T, std::size_t Rank>
class tensor_view {
  static_assert(Rank >= 1, "vtr::tensor_view needs rank >= 1");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using extents_type = std::array<index_t, Rank>;

  static constexpr std::size_t rank() noexcept { return Rank; }

  constexpr tensor_view() noexcept = default;

  /// A contiguous row-major view.
  constexpr tensor_view(T* data, const extents_type& extents) noexcept : data_(data), extents_(extents) {
    index_t s = 1;
    for (std::size_t d = Rank; d-- > 0;) {
      strides_[d] = s;
      s *= extents_[d];
    }
  }

  /// A strided view; strides are in elements, one per dimension.
  constexpr tensor_view(T* data, const extents_type& extents, const extents_type& strides) noexcept
      : data_(data), extents_(extents), strides_(strides) {}

  /// A view of mutable data converts to a view of const data.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  constexpr tensor_view(const tensor_view<U, Rank>& other) noexcept  // NOLINT: implicit on purpose
      : data_(other.data_handle()), extents_(other.extents()), strides_(other.strides()) {}

  constexpr T* data_handle() const noexcept { return data_; }
  constexpr index_t extent(std::size_t d) const noexcept { return extents_[d]; }
  constexpr index_t stride(std::size_t d) const noexcept { return strides_[d]; }
  constexpr const extents_type& extents() const noexcept { return extents_; }
  constexpr const extents_type& strides() const noexcept { return strides_; }

  /// Number of elements (product of the extents).
  constexpr index_t size() const noexcept {
    index_t n = 1;
    for (index_t e : extents_) n *= e;
    return n;
  }
  constexpr bool empty() const noexcept { return size() == 0; }

  template <class... I>
  constexpr T& operator()(I... idx) const noexcept {
    static_assert(sizeof...(I) == Rank, "vtr::tensor_view: one index per dimension");
    const index_t ii[] = {static_cast<index_t>(idx)...};
    index_t off = 0;
    for (std::size_t d = 0; d < Rank; ++d) off += ii[d] * strides_[d];
    return data_[off];
  }

  /// The sub-view at index i of the first dimension (rank − 1).
  template <std::size_t R = Rank, class = std::enable_if_t<(R > 1)>>
  constexpr tensor_view<T, Rank - 1> operator[](index_t i) const noexcept {
    std::array<index_t, Rank - 1> e{}, s{};
    for (std::size_t d = 1; d < Rank; ++d) {
      e[d - 1] = extents_[d];
      s[d - 1] = strides_[d];
    }
    return {data_ + i * strides_[0], e, s};
  }

  /// Pointer to the start of row i of a rank-2 view (or element i of a rank-1 view).
  constexpr T* row(index_t i) const noexcept { return data_ + i * strides_[0]; }

  /// Rows [first, first + count) of the first dimension.
  constexpr tensor_view subrows(index_t first, index_t count) const noexcept {
    tensor_view v = *this;
    v.data_ = data_ + first * strides_[0];
    v.extents_[0] = count;
    return v;
  }

 private:
  T* data_ = nullptr;
  extents_type extents_{};
  extents_type strides_{};
};

template <class T>
using vector_view = tensor_view<T, 1>;
template <class T>
using matrix_view = tensor_view<T, 2>;

/// A contiguous view over a std::vector (rank 1) — convenient for index lists and score vectors.
template <class T>
vector_view<T> view_of(std::vector<T>& v) noexcept {
  return {v.data(), {static_cast<index_t>(v.size())}};
}
template <class T>
vector_view<const T> view_of(const std::vector<T>& v) noexcept {
  return {v.data(), {static_cast<index_t>(v.size())}};
}

/// Prints the extents as "[576, 4096]" (used in error messages).
struct shape_of {
  const index_t* ext;
  std::size_t rank;
  template <class T, std::size_t R>
  explicit shape_of(const tensor_view<T, R>& v) : ext(v.extents().data()), rank(R) {}
  friend std::ostream& operator<<(std::ostream& os, const shape_of& s) {
    os << '[';
    for (std::size_t d = 0; d < s.rank; ++d) os << (d ? ", " : "") << s.ext[d];
    return os << ']';
  }
};

/// Checks that a view can be read by the kernels: non-negative extents, a non-null pointer unless
/// empty, a contiguous last dimension, and non-negative strides.
template <class T, std::size_t R>
status validate_view(const char* name, const tensor_view<T, R>& v) {
  for (std::size_t d = 0; d < R; ++d) {
    if (v.extent(d) < 0) return fail("argument '", name, "' has a negative extent: shape ", shape_of(v));
    if (v.stride(d) < 0) return fail("argument '", name, "' has a negative stride in dimension ", d);
  }
  if (v.empty()) return {};
  if (v.data_handle() == nullptr) return fail("argument '", name, "' has shape ", shape_of(v), " but a null data pointer");
  if (v.stride(R - 1) != 1 && v.extent(R - 1) > 1)
    return fail("argument '", name, "' must be contiguous in its last dimension (stride ", v.stride(R - 1),
                ", shape ", shape_of(v), ")");
  return {};
}

/// Checks the rank-independent shape of a view against expected extents; -1 in `expect` matches any.
template <class T, std::size_t R>
status expect_shape(const char* name, const tensor_view<T, R>& v, const std::array<index_t, R>& expect) {
  VTR_TRY(validate_view(name, v));
  for (std::size_t d = 0; d < R; ++d) {
    if (expect[d] >= 0 && v.extent(d) != expect[d]) {
      std::ostringstream want;
      want << '[';
      for (std::size_t e = 0; e < R; ++e) {
        want << (e ? ", " : "");
        if (expect[e] >= 0) want << expect[e]; else want << '*';
      }
      want << ']';
      return fail("argument '", name, "' has shape ", shape_of(v), ", expected ", want.str());
    }
  }
  return {};
}

namespace detail {
/// Byte range [first, last) a view can touch (empty views touch nothing).
template <class T, std::size_t R>
std::pair<std::uintptr_t, std::uintptr_t> byte_span(const tensor_view<T, R>& v) noexcept {
  if (v.empty()) return {0, 0};
  index_t last = 0;
  for (std::size_t d = 0; d < R; ++d) last += (v.extent(d) - 1) * v.stride(d);
  const auto first = reinterpret_cast<std::uintptr_t>(v.data_handle());
  return {first, first + static_cast<std::uintptr_t>(last + 1) * sizeof(T)};
}
}  // namespace detail

/// True when two views can touch a common byte.
template <class T, std::size_t R, class U, std::size_t S>
bool views_overlap(const tensor_view<T, R>& a, const tensor_view<U, S>& b) noexcept {
  const auto x = detail::byte_span(a);
  const auto y = detail::byte_span(b);
  return x.first < y.second && y.first < x.second;
}

/// Rejects an output view that overlaps an input view.
template <class T, std::size_t R, class U, std::size_t S>
status expect_no_alias(const char* out_name, const tensor_view<T, R>& out, const char* in_name,
                       const tensor_view<U, S>& in) {
  if (views_overlap(out, in))
    return fail("output '", out_name, "' ", shape_of(out), " overlaps input '", in_name, "' ", shape_of(in),
                "; pass separate buffers");
  return {};
}

VTR_NAMESPACE_END
