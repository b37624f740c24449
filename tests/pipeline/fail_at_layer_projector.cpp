// expect: only prefill-layer steps act at a layer
// Compile-fail case (tests/pipeline/CMakeLists.txt): A projector step bound to a layer.
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::at_layer<3, vtr::vscan::stage1>>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
