// expect: steps are out of order: a prefill step acts at an earlier layer
// Compile-fail case (tests/pipeline/CMakeLists.txt): VScan stage 2 at layer 16 listed before FastV at layer 2.
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::at_layer<16, vtr::vscan::stage2>, vtr::at_layer<2, vtr::fastv::select>>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
