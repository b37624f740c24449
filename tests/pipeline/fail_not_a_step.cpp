// expect: not a step: every step declares
// Compile-fail case (tests/pipeline/CMakeLists.txt): A type without a stage.
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>

struct not_a_step {};
using p = vtr::pipeline<vtr::vscan::stage1, not_a_step>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
