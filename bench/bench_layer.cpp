// One decoder layer's prefill (attention + SwiGLU MLP, Eigen, fp32, one thread) at each reference shape:
// the yardstick every step is compared against ("% layer" in the table — a method should cost well under
// 0.5% of one layer at the same shape).
//   llava15, llava_next, pllava, video64  LLaMA-7B layer (4096 / 11008, 32 heads) over L = 651, 2955, 2379
//                                         and 9291 tokens (prefix 35 + visual + 40 text);
//   qwen25vl                              Qwen2.5-7B layer (3584 / 18944, 28 query and 4 KV heads, RoPE base
//                                         1e6) over L = 1063.
// Each takes seconds (the 64-frame layer about a minute), so they run one iteration, once (LLaVA-1.5: three
// times).
#include "bench_util.hpp"

#include "../examples/engine/mini_llm.hpp"

#include <memory>
#include <string>

namespace {

/// The weights of the last configuration used (one layer of LLaMA-7B is 0.8 GB, of Qwen2.5-7B 0.9 GB: keep
/// one set at a time).
const mini_llm::layer_weights& weights_for(const mini_llm::config& c) {
  static std::unique_ptr<mini_llm::layer_weights> w;
  static mini_llm::index dim = -1, ffn = -1, kv = -1;
  if (!w || dim != c.dim || ffn != c.ffn || kv != c.kv_heads) {
    w.reset();
    w = std::make_unique<mini_llm::layer_weights>(mini_llm::layer_weights::random(c, 7));
    dim = c.dim;
    ffn = c.ffn;
    kv = c.kv_heads;
  }
  return *w;
}

void decoder_layer(benchmark::State& state, mini_llm::config c, mini_llm::index L) {
  const mini_llm::layer_weights& w = weights_for(c);
  mini_llm::matrix x = mini_llm::matrix::Random(L, c.dim), out;
  std::vector<std::int64_t> pos(static_cast<std::size_t>(L));
  for (mini_llm::index i = 0; i < L; ++i) pos[static_cast<std::size_t>(i)] = i;
  for (auto _ : state) {
    mini_llm::forward(c, w, x, pos, out);
    benchmark::DoNotOptimize(out.data());
  }
}

mini_llm::config llama7b() { return {}; }

mini_llm::config qwen25_7b() {
  mini_llm::config c;
  c.dim = vtr_bench::qwen25vl.dim;
  c.heads = vtr_bench::qwen25vl.heads;
  c.kv_heads = vtr_bench::qwen25vl.kv_heads;
  c.ffn = 18944;
  c.rope_base = 1e6f;
  return c;
}

VTR_BENCH_REGISTER(register_layers) {
  using namespace vtr_bench;
  const auto layer = [](const char* tag, mini_llm::config c, mini_llm::index L, int reps) {
    return benchmark::RegisterBenchmark((std::string("decoder_layer/") + tag).c_str(), decoder_layer, c, L)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1)
        ->Repetitions(reps);
  };
  layer(llava15.tag, llama7b(), llava15.seq(), 3);
  layer(llava_next.tag, llama7b(), llava_next.seq(), 1);
  layer(pllava.tag, llama7b(), pllava.seq(), 1);
  layer(video64.tag, llama7b(), video64.seq(), 1);
  layer(qwen25vl.tag, qwen25_7b(), qwen25vl.seq(), 1);
}

}  // namespace
