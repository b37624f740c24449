// SparseVLM v1.5 (ALGORITHMS §3.2) in an engine's prefill loop, on small random data: raters from the
// layer-0 embeddings, then one prune event at each sparse layer (2, 6, 15) driven by sparsevlm::prefill.
// Returns non-zero if a count or a plan is off.
#include <vtr/core/apply.hpp>
#include <vtr/methods/sparsevlm.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  using vtr::index_t;
  const index_t P = 35, n_visual = 576, n_text = 40, D = 64, heads = 4;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  auto random = [&](index_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = u(rng);
    return v;
  };

  vtr::workspace ws;
  vtr::sparsevlm::prefill run({/*retained=*/192}, P, n_visual, n_text);  // v1.5, table 300/200/110
  std::vector<float> x = random(run.current().length() * D);                // layer-0 input embeddings
  run.select_raters(vtr::matrix_view<const float>(x.data(), {run.current().length(), D}), ws);

  for (index_t layer = 0; layer < 32; ++layer) {
    // ... the engine runs decoder layer `layer` on x with position ids run.positions() ...
    if (!run.is_sparse_layer(layer)) continue;
    const auto s = run.current();
    const index_t expect = run.kept_count(layer).value();  // known before the attention exists (§1.5)
    // The layer's attention, text rows × visual columns [H][Nt][v] (or Q/K: attention_input::from_qk).
    std::vector<float> attn = random(heads * s.n_text * s.v_num);
    const vtr::matrix_view<const float> hidden(x.data(), {s.length(), D});  // the layer's output
    const vtr::plan vis = run.prune(layer, vtr::ops::attention_input::from_probs({attn.data(), {heads, s.n_text, s.v_num}}),
                                    hidden.subrows(s.prefix, s.v_num), /*jitter=*/{}, ws);
    // Re-assemble [prefix | kept visual | recycled clusters | text] and continue with it.
    const vtr::plan seq = vtr::sparsevlm::sequence_plan(vis, s.prefix, s.n_text);
    std::vector<float> next(static_cast<std::size_t>(seq.size() * D));
    vtr::apply(seq, hidden, vtr::matrix_view<float>(next.data(), {seq.size(), D}));
    x.swap(next);
    std::printf("layer %2td: %td visual tokens -> %td (%td kept + %td recycled clusters), sequence %td\n", layer, s.v_num,
                vis.size(), vis.size() - vis.appended_rows(), vis.appended_rows(), seq.size());
    if (vis.size() != expect || seq.size() != run.current().length()) return 1;
  }
  return run.current().v_num == 113 ? 0 : 1;  // 110 kept + 3 clusters reach the last 16 layers
}
