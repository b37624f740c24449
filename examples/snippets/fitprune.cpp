// Fit&Prune (ALGORITHMS §3.3) in an engine: (1) the per-layer deletion during prefill, from an eager
// attention map; (2) fitting a recipe for a smaller model against a FLOPs target with a toy engine.
// Runs on small random data; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/methods/fitprune.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

int main() {
  using vtr::index_t;
  namespace fp = vtr::fitprune;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);

  // ---- (1) inference at one layer ----------------------------------------------------------------
  // Sequence [prefix P | n visual | N_t suffix]; the engine's eager attention is [H][L][L] (causal).
  const index_t H = 4, P = 5, n = 24, nt = 6, L = P + n + nt, D = 16;
  std::vector<float> attn(static_cast<std::size_t>(H * L * L), 0.0f);
  for (index_t h = 0; h < H; ++h)
    for (index_t i = 0; i < L; ++i) {
      float* row = attn.data() + (h * L + i) * L;
      float s = 0;
      for (index_t j = 0; j <= i; ++j) s += row[j] = u(rng);
      for (index_t j = 0; j <= i; ++j) row[j] /= s;
    }
  // Rows from P on (visual + suffix), visual columns [P, P+n): a strided view, no copy.
  const vtr::tensor_view<const float, 3> block(attn.data() + P * L + P, {H, n + nt, n}, {L * L, L, 1});

  fp::layer_params params;  // recipe key 60 (§3.3.7); 14 tokens go at layer 0, 33 at layer 1, …
  params.reduction = 60;
  const fp::layer step(params);
  fp::layer::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(block);  // or from_qk(q_rows, k_all, positions)
  in.n_visual = n;
  in.n_suffix = nt;
  in.prefix = P;
  in.layer_index = 0;

  vtr::workspace ws;
  fp::layer::details det;
  const vtr::plan keep = step.plan(in, ws, &det);  // survivors of the whole sequence, ascending
  const index_t k = step.deletions(0).value();
  if (static_cast<index_t>(det.deleted_rel.size()) != std::min(k, n)) return 1;
  if (keep.size() != step.kept_count(P, n, nt, 0).value()) return 2;

  // Drop the deleted rows of the attention output and the residual; survivors keep their ORIGINAL
  // position ids (gathered, §3.3.3), so the next layer's RoPE sees the gaps.
  std::vector<float> hidden(static_cast<std::size_t>(L * D));
  for (auto& x : hidden) x = u(rng);
  std::vector<float> hidden_out(static_cast<std::size_t>(keep.size() * D));
  vtr::apply(keep, vtr::matrix_view<const float>(hidden.data(), {L, D}), vtr::matrix_view<float>(hidden_out.data(), {keep.size(), D}));
  std::vector<index_t> pos(static_cast<std::size_t>(L)), pos_out(static_cast<std::size_t>(keep.size()));
  std::iota(pos.begin(), pos.end(), index_t(0));
  vtr::apply(keep, vtr::view_of(std::as_const(pos)), vtr::view_of(pos_out));
  for (index_t d : det.deleted_rel)
    for (index_t p : pos_out)
      if (p == P + d) return 3;
  std::printf("layer 0, key 60: deleted %zu of %td visual tokens (lowest cross*self first: %td)\n", det.deleted_rel.size(), n,
              det.deleted_rel.front());

  // ---- (2) calibration ----------------------------------------------------------------------------
  // A toy engine: per (sample, layer) a fixed random map over all Nv tokens; "running layer l on the
  // pruned sequence" gathers the surviving rows and columns. A real engine runs its decoder layer here.
  const index_t S = 2, layers = 4, Nv = 32, Nt = 4;
  std::vector<std::vector<float>> maps;
  for (index_t i = 0; i < S * layers; ++i) {
    std::vector<float> m(static_cast<std::size_t>(2 * (Nv + Nt) * Nv));
    for (auto& x : m) x = u(rng) * u(rng);
    maps.push_back(std::move(m));
  }
  std::vector<float> buf;
  auto engine = [&](index_t s, index_t l, vtr::vector_view<const index_t> kept, fp::layer_attention& out) -> vtr::status {
    const auto& m = maps[static_cast<std::size_t>(s * layers + l)];
    const index_t nk = kept.extent(0), rows = nk + Nt;
    buf.assign(static_cast<std::size_t>(2 * rows * nk), 0.0f);
    for (index_t h = 0; h < 2; ++h)
      for (index_t r = 0; r < rows; ++r)
        for (index_t j = 0; j < nk; ++j) {
          const index_t src = r < nk ? kept(r) : Nv + (r - nk);
          buf[static_cast<std::size_t>((h * rows + r) * nk + j)] = m[static_cast<std::size_t>((h * (Nv + Nt) + src) * Nv + kept(j))];
        }
    out.attn = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(buf.data(), {2, rows, nk}));
    out.n_visual = nk;
    out.n_suffix = Nt;
    return {};
  };
  fp::statistics stats;  // Wc, Ws per sample and layer, unpruned
  if (!fp::try_collect_statistics(engine, S, layers, Nv, stats, ws).ok()) return 4;
  fp::fit_params fit;
  fit.reduction = 0.3;                          // cut 30% of the visual-token FLOPs
  fit.flops = fp::flops_model{256, 688, layers, Nv};  // d, FFN width, layers, Nv of the model
  const fp::fit_result r = fp::fit(engine, stats, fit, ws);
  if (r.probes.size() != 7 || r.recipe.size() != static_cast<std::size_t>(layers)) return 5;
  std::printf("fitted recipe (alpha %.4f, reached %d):", r.alpha, int(r.reached));
  for (index_t c : r.recipe) std::printf(" %td", c);
  std::printf("\n");

  // The fitted recipe drives the inference class directly.
  fp::layer_params custom;
  custom.recipe = r.recipe;
  if (fp::layer(custom).deletions(0).value() != r.recipe[0]) return 6;
  return 0;
}
