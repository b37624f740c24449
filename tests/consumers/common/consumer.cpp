// A downstream program: selects and merges rows with a plan, as an engine would.
#include <vtr/vtr.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7};  // 4 tokens × 2
  std::vector<float> y(4, -1.0f);
  const vtr::plan p = vtr::plan::select(4, {1, 3});
  vtr::apply(p, vtr::matrix_view<const float>(x.data(), {4, 2}), vtr::matrix_view<float>(y.data(), {2, 2}));
  const bool ok = y == std::vector<float>{2, 3, 6, 7};
  std::printf("vtr %s consumer: %s\n", VTR_VERSION_STRING, ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
