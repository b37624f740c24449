// expect: K must be at least 1
// Compile-fail case (tests/pipeline/CMakeLists.txt): FastV at K = 0 would read layer -1 (ALGORITHMS 3.1.3).
#include <vtr/methods/fastv.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::at_layer<0, vtr::fastv::select>>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
