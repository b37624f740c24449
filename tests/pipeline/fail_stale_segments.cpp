// expect: missing input: a step needs what an earlier step produces
// Compile-fail case (tests/pipeline/CMakeLists.txt): DToMA D2 between the PruneVid stages changes the tokens the segment metadata describes.
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::prunevid::stage1, vtr::at_layer<2, vtr::dtoma::select>, vtr::prunevid::stage2>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
