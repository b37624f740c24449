// expect: two steps claim one layer
// Compile-fail case (tests/pipeline/CMakeLists.txt): PruneVid stage 2 at 3 prunes layer 3's output; FastV at 4 prunes layer 4's input: the same point.
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::prunevid::stage1, vtr::at_layer<3, vtr::prunevid::stage2>, vtr::at_layer<4, vtr::fastv::select>>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
