// One LLaMA-7B-shaped decoder layer's prefill (attention + SwiGLU MLP at 4096/11008, Eigen, fp32, one
// thread): the yardstick every method is compared against ("x layer" in the table — a method should cost
// well under 0.5% of one layer at the same shape).
#include "bench_util.hpp"

#include "../examples/engine/mini_llm.hpp"

namespace {

// Sequence lengths: LLaVA-1.5 prompt (35 prefix + 576 visual + 40 text = 651) and LLaVA-NeXT (2880 visual).
void decoder_layer(benchmark::State& state, mini_llm::index L) {
  mini_llm::config c;
  static const mini_llm::layer_weights w = mini_llm::layer_weights::random(c, 7);
  mini_llm::matrix x = mini_llm::matrix::Random(L, c.dim), out;
  std::vector<std::int64_t> pos(static_cast<std::size_t>(L));
  for (mini_llm::index i = 0; i < L; ++i) pos[static_cast<std::size_t>(i)] = i;
  for (auto _ : state) {
    mini_llm::forward(c, w, x, pos, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK_CAPTURE(decoder_layer, llava15, 651)->Name("decoder_layer/llava15")->Unit(benchmark::kMillisecond)
    ->Iterations(1)->Repetitions(3);
BENCHMARK_CAPTURE(decoder_layer, llava_next, 2955)->Name("decoder_layer/llava_next")->Unit(benchmark::kMillisecond)
    ->Iterations(1)->Repetitions(1);

}  // namespace
