// expect: two steps claim one layer
// Compile-fail case (tests/pipeline/CMakeLists.txt): FastV at 4 and VScan stage 2 at 4 both prune the input of layer 4.
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::at_layer<4, vtr::fastv::select>, vtr::at_layer<4, vtr::vscan::stage2>>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
