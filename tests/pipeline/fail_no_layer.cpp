// expect: a prefill-layer step needs a layer
// Compile-fail case (tests/pipeline/CMakeLists.txt): A generic policy has no paper default layer.
#include <vtr/policies/keep_ratio_topk.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::policies::keep_ratio_topk>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
