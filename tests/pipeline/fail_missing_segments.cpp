// expect: missing input: a step needs what an earlier step produces
// Compile-fail case (tests/pipeline/CMakeLists.txt): PruneVid stage 2 without PruneVid stage 1 has no segment metadata.
#include <vtr/methods/prunevid.hpp>
#include <vtr/policies/frame_dedup.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::policies::frame_dedup, vtr::prunevid::stage2>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
