// vtr — Eigen adapters both ways (DESIGN §2.1): any row-major Eigen dense expression with direct
// access becomes a tensor_view; a rank-1/rank-2 view becomes an Eigen::Map with the view's row stride.
#pragma once

#include "tensor_view.hpp"

// GCC 12 reports a false -Wuninitialized inside Eigen's AVX-512 ptranspose (used by GEMM packing: every
// lane it warns about is written by the unpack intrinsics). GCC checks the pragma state where Eigen's
// packet code is declared, so the suppression wraps the inclusion of Eigen; every vtr header reaches
// Eigen through this one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <type_traits>

VTR_NAMESPACE_BEGIN

namespace detail {
template <class Derived>
using eigen_scalar_t = std::conditional_t<
    bool(std::remove_reference_t<Derived>::Flags & Eigen::LvalueBit) && !std::is_const_v<std::remove_reference_t<Derived>>,
    typename std::decay_t<Derived>::Scalar, const typename std::decay_t<Derived>::Scalar>;
}  // namespace detail

/// A rank-2 view of a row-major Eigen matrix, Map, Ref or block (rows × cols, row stride = outer stride).
/// Column-major matrices are rejected at compile time (their rows are not contiguous); vectors use
/// as_vector_view().
template <class Derived>
auto as_matrix_view(Derived&& m) {
  using D = std::decay_t<Derived>;
  static_assert(bool(D::IsRowMajor) || D::ColsAtCompileTime == 1 || D::RowsAtCompileTime == 1,
                "vtr::as_matrix_view needs a row-major Eigen matrix (Eigen::Matrix<T, R, C, Eigen::RowMajor>)");
  static_assert(bool(D::Flags & Eigen::DirectAccessBit), "vtr::as_matrix_view needs an Eigen object with direct access");
  using T = detail::eigen_scalar_t<Derived>;
  VTR_ASSERT(m.innerStride() == 1);
  const index_t outer = D::IsRowMajor ? m.outerStride() : m.cols();
  return matrix_view<T>(m.data(), {index_t(m.rows()), index_t(m.cols())}, {outer, 1});
}

/// A rank-1 view of a contiguous Eigen vector.
template <class Derived>
auto as_vector_view(Derived&& v) {
  using D = std::decay_t<Derived>;
  static_assert(D::ColsAtCompileTime == 1 || D::RowsAtCompileTime == 1, "vtr::as_vector_view needs an Eigen vector");
  using T = detail::eigen_scalar_t<Derived>;
  VTR_ASSERT(v.innerStride() == 1);
  return vector_view<T>(v.data(), {index_t(v.size())});
}

template <class T>
using eigen_row_matrix = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// An Eigen::Map over a rank-2 view (row-major, the view's row stride). Const views give const maps.
template <class T>
auto as_eigen(const matrix_view<T>& v) {
  using M = std::conditional_t<std::is_const_v<T>, const eigen_row_matrix<T>, eigen_row_matrix<T>>;
  return Eigen::Map<M, Eigen::Unaligned, Eigen::OuterStride<>>(v.data_handle(), v.extent(0), v.extent(1),
                                                               Eigen::OuterStride<>(v.stride(0)));
}

/// An Eigen::Map over a rank-1 view, as a column vector.
template <class T>
auto as_eigen(const vector_view<T>& v) {
  using V = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>;
  using M = std::conditional_t<std::is_const_v<T>, const V, V>;
  return Eigen::Map<M, Eigen::Unaligned, Eigen::InnerStride<>>(v.data_handle(), v.extent(0),
                                                               Eigen::InnerStride<>(v.stride(0)));
}

VTR_NAMESPACE_END
