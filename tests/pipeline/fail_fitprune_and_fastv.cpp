// expect: two steps claim one layer
// Compile-fail case (tests/pipeline/CMakeLists.txt): Fit&Prune prunes at every layer, so no other prefill step fits next to it.
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/fitprune.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::pipeline<vtr::fitprune::layer, vtr::at_layer<20, vtr::fastv::select>>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
