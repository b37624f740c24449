// expect: steps are out of order: a step runs at an earlier stage
// Compile-fail case (tests/pipeline/CMakeLists.txt): A prefill step listed before a projector step.
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::fastv::select, vtr::vscan::stage1>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
