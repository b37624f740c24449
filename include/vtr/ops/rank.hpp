// vtr — numerical rank of a small fp32 matrix (ALGORITHMS §2.5 rank rule, SparseVLM v1 §3.2.7).
//
// rank_f32(S) = #{ σ_i > σ_max · max(rows, cols) · FLT_EPSILON }, the singular values computed in float32:
// torch.linalg.matrix_rank's default tolerance. The matrix is the |R| × v rater-by-visual score block
// (about 20 × 576), so one Jacobi SVD of singular values only is cheap; Eigen takes its own temporaries.
#pragma once

#include "../config.hpp"
#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/tensor_view.hpp"

#include <Eigen/SVD>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

/// The tolerance matrix_rank uses: σ_max · max(rows, cols) · FLT_EPSILON, in float32.
inline float matrix_rank_tolerance(float sigma_max, index_t rows, index_t cols) noexcept {
  return sigma_max * (static_cast<float>(std::max(rows, cols)) * FLT_EPSILON);
}

/// Counts the singular values (descending, as an SVD returns them) above the §2.5 tolerance.
inline index_t rank_from_singular_values(const float* sv, index_t n, index_t rows, index_t cols) noexcept {
  if (n == 0) return 0;
  const float smax = *std::max_element(sv, sv + n);
  const float tol = matrix_rank_tolerance(smax, rows, cols);
  index_t r = 0;
  for (index_t i = 0; i < n; ++i) r += sv[i] > tol ? 1 : 0;
  return r;
}

/// ALGORITHMS §2.5 rank_f32 of a: [rows, cols]. An empty matrix has rank 0. Errors: non-finite entries.
inline result<index_t> try_matrix_rank(matrix_view<const float> a) {
  VTR_TRY(validate_view("a", a));
  const index_t rows = a.extent(0), cols = a.extent(1);
  if (rows == 0 || cols == 0) return index_t(0);
  Eigen::MatrixXf m(rows, cols);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const float v = a(i, j);
      if (!std::isfinite(v)) return fail("argument 'a' ", shape_of(a), " has a non-finite value at [", i, ", ", j, "]");
      m(i, j) = v;
    }
  // Wide matrices are decomposed through their transpose (same singular values, a thin QR first).
  const Eigen::JacobiSVD<Eigen::MatrixXf> svd = rows <= cols ? Eigen::JacobiSVD<Eigen::MatrixXf>(m.transpose())
                                                              : Eigen::JacobiSVD<Eigen::MatrixXf>(m);
  const auto& s = svd.singularValues();
  return rank_from_singular_values(s.data(), static_cast<index_t>(s.size()), rows, cols);
}
inline index_t matrix_rank(matrix_view<const float> a) { return try_matrix_rank(a).value(); }

namespace ref {
/// Reference: singular values from the eigenvalues of the Gram matrix in double (well-separated spectra
/// only — the tests use matrices of known rank), with the same tolerance rule.
inline index_t matrix_rank(matrix_view<const float> a) {
  const index_t rows = a.extent(0), cols = a.extent(1);
  if (rows == 0 || cols == 0) return 0;
  Eigen::MatrixXd m(rows, cols);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) m(i, j) = a(i, j);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(m);
  std::vector<float> sv;
  for (Eigen::Index i = 0; i < svd.singularValues().size(); ++i) sv.push_back(static_cast<float>(svd.singularValues()(i)));
  return rank_from_singular_values(sv.data(), static_cast<index_t>(sv.size()), rows, cols);
}
}  // namespace ref

}  // namespace ops
VTR_NAMESPACE_END
