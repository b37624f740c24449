// vtr::pipeline (DESIGN §2.9): steps composed at compile time, checked for order, layers and inputs, with
// the kept count after every step known from the prompt's shape alone (ALGORITHMS §1.5); the engine runs
// each step through the pipeline's hooks. Runs on small random data; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/core/kv.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/pipeline.hpp>

#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

int main() {
  using vtr::index_t;
  // VScan stage 1 after the projector (576 → 96), FastV at layer 2 (R = 0.5 of what is left).
  using my_pipeline = vtr::pipeline<vtr::vscan::stage1, vtr::at_layer<2, vtr::fastv::select>>;
  // Would not compile: vtr::pipeline<vtr::fastv::select, vtr::vscan::stage1>  ("steps are out of order"),
  // vtr::basic_pipeline<vtr::pre_llm_engine, vtr::fastv::select>             ("missing input").
  static_assert(my_pipeline::steps()[1].score_layer == 1 && my_pipeline::steps()[1].first_reduced_layer == 2);
  my_pipeline pipe;

  // Placeholders are sized before any tensor exists: LLaVA-1.5, 35 + 576 + 40 tokens.
  const index_t P = 35, N = 576, T = 40, D = 64, H = 4, layers = 4;
  for (const vtr::step_count& c : pipe.kept_counts({P, 1, N, 24, 24, T}))
    std::printf("%-16s layer %2td: %td visual, %td tokens\n", c.step, c.layer, c.visual.min, c.sequence.min);

  // A toy engine: features, [CLS] attention and per-layer attention rows are random here.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> seq(static_cast<std::size_t>((P + N + T) * D));
  for (auto& v : seq) v = u(rng);
  index_t visual = N;
  vtr::workspace ws;
  pipe.run_stage<vtr::stage::projector>([&](auto& step, const vtr::step_info&) {
    // vscan::stage1: [CLS] attention of a shallow and a deep encoder layer, [H][N].
    std::vector<float> shallow(static_cast<std::size_t>(H * N)), deep(shallow.size());
    for (auto& v : shallow) v = u(rng) / N;
    for (auto& v : deep) v = u(rng) / N;
    const vtr::plan p = step.plan({vtr::matrix_view<const float>(seq.data() + P * D, {N, D}),
                                   vtr::matrix_view<const float>(shallow.data(), {H, N}),
                                   vtr::matrix_view<const float>(deep.data(), {H, N})},
                                  ws);
    std::vector<float> out(static_cast<std::size_t>((P + p.size() + T) * D));
    std::copy(seq.begin(), seq.begin() + P * D, out.begin());
    vtr::apply(p, vtr::matrix_view<const float>(seq.data() + P * D, {N, D}), vtr::matrix_view<float>(out.data() + P * D, {p.size(), D}));
    std::copy(seq.end() - T * D, seq.end(), out.begin() + (P + p.size()) * D);
    seq.swap(out);
    visual = p.size();
  });
  // The LLM: after each layer, the events whose reduction applies to its output.
  std::vector<float> k_cache(static_cast<std::size_t>(layers * (P + N + T) * D));
  for (index_t l = 0; l < layers; ++l) {
    const index_t L = P + visual + T;
    pipe.run_after_layer(l, [&](auto& step, const vtr::layer_event& ev) {
      // fastv at K = 2: layer K−1 = 1's attention row of the last prompt token, [H][1][L].
      std::vector<float> row(static_cast<std::size_t>(H * L));
      for (auto& v : row) v = u(rng);
      typename std::decay_t<decltype(step)>::inputs in;
      in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(row.data(), {H, 1, L}));
      in.image_start = P;
      in.image_count = visual;
      const vtr::plan p = step.plan(in, ws);
      std::vector<float> out(static_cast<std::size_t>(p.size() * D));
      vtr::apply(p, vtr::matrix_view<const float>(seq.data(), {L, D}), vtr::matrix_view<float>(out.data(), {p.size(), D}));
      seq.swap(out);
      visual -= L - p.size();
      // An engine whose cache of layers ≥ K was filled before the plan (chunked prefill) compacts it.
      vtr::kv::compact(p, vtr::kv::layers_from(ev.first_reduced_layer),
                       vtr::tensor_view<float, 3>(k_cache.data(), {layers, L, D}, {(P + N + T) * D, D, 1}));
    });
  }
  const auto want = pipe.kept_counts({P, 1, N, 24, 24, T}).back().visual.min;
  std::printf("pipeline: %td visual tokens after the last step (predicted %td)\n", visual, want);
  return visual == want ? 0 : 1;
}
