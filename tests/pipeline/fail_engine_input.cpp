// expect: missing input: a step needs an input that this engine does not provide
// Compile-fail case (tests/pipeline/CMakeLists.txt): An engine that only reduces before the LLM rejects FastV (ALGORITHMS 1.1).
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>

using p = vtr::basic_pipeline<vtr::pre_llm_engine, vtr::vscan::stage1, vtr::fastv::select>;
p instance;  // instantiates the pipeline's checks

int main() { return 0; }
