// Fuzz target: plans from untrusted data (vtr/core/plan.hpp, apply.hpp): validate_plan must reject every
// inconsistent plan, try_apply / try_compact_in_place must then leave the destination untouched, and a
// plan they accept must apply in bounds (rank-2 float with padded rows, rank-1 int64, in place).
#include "fuzz_common.hpp"

using namespace vtr_fuzz;

namespace {

index_t entry(reader& r, index_t n) { return r.byte() < 230 ? r.extent(-1, n) : r.scalar(0, n); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  vtr::plan p;
  const index_t n = r.extent(0, 12);
  p.input_rows = r.byte() < 240 ? n : r.scalar(0, 12);
  const index_t rows = r.extent(0, 10);
  for (index_t i = 0; i < rows; ++i) p.origin.push_back(entry(r, n));
  if (r.flag()) {  // explicit terms, possibly inconsistent
    index_t off = r.byte() < 245 ? 0 : r.extent(0, 3);
    p.offsets.push_back(off);
    const index_t term_rows = rows + (r.byte() < 245 ? 0 : r.extent(-1, 1));
    for (index_t i = 0; i < term_rows; ++i) {
      const index_t k = r.byte() < 240 ? r.extent(1, 3) : r.extent(0, 3);
      for (index_t t = 0; t < k; ++t) {
        p.sources.push_back(entry(r, n));
        p.weights.push_back(r.value());
      }
      off += k;
      p.offsets.push_back(off);
      p.divisors.push_back(r.byte() < 230 ? 1.0f + static_cast<float>(r.byte()) : r.value());
    }
  }
  const bool valid = vtr::validate_plan(p).ok();
  const index_t cols = r.extent(0, 4), pad = r.extent(0, 2);
  std::vector<float> src(static_cast<std::size_t>(std::max<index_t>(n * (cols + pad), 1)));
  r.fill(src, r.flag());
  const index_t out_rows = r.byte() < 240 ? p.size() : r.extent(0, 10);
  std::vector<float> dst(static_cast<std::size_t>(std::max<index_t>(out_rows * (cols + pad), 1)), -7.0f);
  const vtr::matrix_view<const float> sv(src.data(), {n, cols}, {cols + pad, 1});
  const vtr::matrix_view<float> dv(dst.data(), {out_rows, cols}, {cols + pad, 1});
  const vtr::status s = vtr::try_apply(p, sv, dv);
  if (!valid) vtr_fuzz_check(!s.ok());
  if (!s.ok()) {
    vtr_fuzz_check(!s.message().empty());
    for (float x : dst) vtr_fuzz_check(x == -7.0f);
  } else {
    // The padding between rows is never written.
    for (index_t i = 0; i < out_rows; ++i)
      for (index_t c = cols; c < cols + pad; ++c) vtr_fuzz_check(dst[static_cast<std::size_t>(i * (cols + pad) + c)] == -7.0f);
  }

  // The same plan on an integer tensor: only a selection applies, and it gathers the origins.
  std::vector<std::int64_t> ids(static_cast<std::size_t>(std::max<index_t>(n, 1)));
  std::vector<std::int64_t> ids_out(static_cast<std::size_t>(std::max<index_t>(out_rows, 1)), -1);
  for (index_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = i;
  const vtr::status si = vtr::try_apply(p, vtr::vector_view<const std::int64_t>(ids.data(), {n}),
                                        vtr::vector_view<std::int64_t>(ids_out.data(), {out_rows}));
  if (si.ok()) {
    vtr_fuzz_check(valid && p.is_selection());
    for (index_t i = 0; i < out_rows; ++i) vtr_fuzz_check(ids_out[static_cast<std::size_t>(i)] == p.origin[static_cast<std::size_t>(i)]);
  } else {
    for (auto x : ids_out) vtr_fuzz_check(x == -1);
  }

  // In-place compaction: on error nothing moves; on success rows [0, size) are the origins, the rest stay.
  std::vector<float> x(src);
  const vtr::matrix_view<float> xv(x.data(), {n, cols}, {cols + pad, 1});
  const vtr::status sc = vtr::try_compact_in_place(p, xv);
  if (!sc.ok()) {
    vtr_fuzz_check(std::memcmp(x.data(), src.data(), x.size() * sizeof(float)) == 0);
  } else {
    vtr_fuzz_check(valid);
    const auto bytes = sizeof(float) * static_cast<std::size_t>(cols);
    for (index_t i = 0; i < p.size(); ++i)
      vtr_fuzz_check(std::memcmp(xv.row(i), sv.row(p.origin[static_cast<std::size_t>(i)]), bytes) == 0);
    for (index_t i = p.size(); i < n; ++i) vtr_fuzz_check(std::memcmp(xv.row(i), sv.row(i), bytes) == 0);
  }
  return 0;
}
