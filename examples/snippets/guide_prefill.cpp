// Integration guide (docs/integration.md), "Inside the LLM": each intra-LLM method at its insertion point in
// a real (tiny) LLaMA-style prefill with a per-layer KV cache — FastV, VScan stage 2, SparseVLM, Fit&Prune,
// DToMA D2, PruneVid stage 2 (after PruneVid stage 1 on a video) — and DToMA D3 evicting from the cache
// during decode. The decoder is examples/engine/mini_llm.hpp (RMSNorm, RoPE, attention, SwiGLU; random
// weights). Checks each step's counts against kept_count and the cache lengths; returns non-zero if
// something is off.
#include <vtr/vtr.hpp>

#include "../engine/mini_llm.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <utility>
#include <vector>

namespace {

using vtr::index_t;
using mini_llm::matrix;

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

// ---- the engine side: a stand-in for yours ----

// A small decoder, its per-layer KV cache (token-major, [layers][capacity][H_kv·d]) and the current
// sequence [prefix | visual | suffix] with one RoPE position per row.
struct toy_engine {
  mini_llm::model m;
  index_t n_layers, H, H_kv, hd, D, capacity;
  matrix x;                        // hidden states entering the next layer, [L][D]
  std::vector<std::int64_t> pos;   // RoPE position of each row
  index_t prefix = 0, visual = 0, suffix = 0;
  std::vector<float> k_cache, v_cache;
  std::vector<index_t> kv_len;     // rows cached per layer
  mini_llm::attention_capture cap; // what the last layer run captured (text rows: q, probabilities)
  matrix layer_input;              // the input of the last layer run

  toy_engine(const mini_llm::model& model, matrix embeddings, index_t p, index_t v, index_t s)
      : m(model), n_layers(static_cast<index_t>(model.layers.size())), H(model.cfg.heads), H_kv(model.cfg.kv_heads),
        hd(model.cfg.head_dim()), D(model.cfg.dim), capacity(embeddings.rows() + 8), x(std::move(embeddings)),
        prefix(p), visual(v), suffix(s) {
    pos.resize(static_cast<std::size_t>(x.rows()));
    for (index_t i = 0; i < x.rows(); ++i) pos[static_cast<std::size_t>(i)] = i;
    k_cache.assign(static_cast<std::size_t>(n_layers * capacity * H_kv * hd), 0.0f);
    v_cache.assign(k_cache.size(), 0.0f);
    kv_len.assign(static_cast<std::size_t>(n_layers), 0);
  }
  index_t length() const { return x.rows(); }

  // Runs layer l on every current row (Fit&Prune may delete rows inside it), writes the layer's K/V rows
  // to the cache and captures the text rows' attention.
  void run_layer(index_t l, mini_llm::inside_prune* inside = nullptr) {
    cap = {};
    for (index_t r = prefix + visual; r < length(); ++r) cap.rows.push_back(r);
    layer_input = x;
    matrix out;
    mini_llm::forward(m.cfg, m.layers[static_cast<std::size_t>(l)], x, pos, out, &cap, inside);
    const index_t n = cap.k.rows(), w = H_kv * hd;
    std::memcpy(k_cache.data() + l * capacity * w, cap.k.data(), sizeof(float) * static_cast<std::size_t>(n * w));
    std::memcpy(v_cache.data() + l * capacity * w, cap.v.data(), sizeof(float) * static_cast<std::size_t>(n * w));
    kv_len[static_cast<std::size_t>(l)] = n;
    x.swap(out);
  }
  // The captured probabilities of the text rows (the last prompt token last), [H][T][L].
  vtr::tensor_view<const float, 3> text_probs() const {
    const index_t rows = static_cast<index_t>(cap.rows.size()), L = cap.k.rows();
    return {cap.probs.data(), {H, rows, L}};
  }
  // Layer l's q (given rows) and k (all rows) of the input `in`, with or without RoPE.
  void layer_qk(index_t l, const matrix& in, const std::vector<mini_llm::index>& rows, bool rope, matrix& q, matrix& k) const {
    mini_llm::project_qk(m.cfg, m.layers[static_cast<std::size_t>(l)], in, pos, rows, rope, q, k);
  }
  // The cache as vtr views over its first `len` rows of every layer.
  vtr::tensor_view<float, 3> k_view(index_t len) { return {k_cache.data(), {n_layers, len, H_kv * hd}, {capacity * H_kv * hd, H_kv * hd, 1}}; }
  vtr::tensor_view<float, 3> v_view(index_t len) { return {v_cache.data(), {n_layers, len, H_kv * hd}, {capacity * H_kv * hd, H_kv * hd, 1}}; }

  void apply_sequence(const vtr::plan& plan, vtr::positions::policy policy);
};

// [guide:apply-sequence]
// A plan over the whole current sequence (every intra-LLM step): gather the hidden states and renumber.
void toy_engine::apply_sequence(const vtr::plan& plan, vtr::positions::policy policy) {
  matrix next(plan.size(), D);
  vtr::apply(plan, vtr::as_matrix_view(std::as_const(x)), vtr::as_matrix_view(next));
  std::vector<std::int64_t> next_pos(static_cast<std::size_t>(plan.size()));
  if (policy == vtr::positions::policy::original)
    vtr::positions::gather(plan, vtr::view_of(std::as_const(pos)), vtr::view_of(next_pos));
  else
    vtr::positions::dense(vtr::view_of(next_pos));
  x.swap(next);
  pos.swap(next_pos);
  visual = plan.size() - prefix - suffix;  // prefix and suffix rows are never removed
}
// [/guide:apply-sequence]

// The prefill: hooks between layers (`after(l)` runs once layer l is done; l = −1 before layer 0) and
// inside a layer (`inside(l)` may return a deletion for Fit&Prune).
void prefill(toy_engine& e, const std::function<void(index_t)>& after,
             const std::function<mini_llm::inside_prune*(index_t)>& inside = nullptr) {
  // [guide:prefill-loop]
  // The graph is split at every layer a hook needs: run the layers, call the hooks in between.
  after(-1);  // an event at the LLM's input (e.g. VScan stage 2 at K = 0)
  for (index_t l = 0; l < e.n_layers; ++l) {
    e.run_layer(l, inside ? inside(l) : nullptr);  // layer l caches the K/V of every row entering it
    after(l);  // events whose reduction applies to layer l's output, i.e. the input of layer l + 1
  }
  // [/guide:prefill-loop]
}

// A stand-in LLaVA-like prompt: [P prompt | 6×6 image | T question], the visual rows smooth over the grid.
matrix make_prompt(index_t P, index_t n_visual, index_t T, index_t D, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  matrix x(P + n_visual + T, D);
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = g(rng);
  for (index_t j = 1; j < n_visual; ++j) x.row(P + j) = 0.6f * x.row(P + j - 1) + 0.4f * x.row(P + j);
  return x;
}

}  // namespace

int main() {
  mini_llm::config cfg;
  cfg.dim = 64;
  cfg.heads = 4;
  cfg.kv_heads = 2;  // grouped-query attention: 2 query heads per KV head
  cfg.ffn = 128;
  const index_t n_layers = 8, P = 5, N = 36, T = 8, L0 = P + N + T;
  const auto model = mini_llm::model::random(cfg, n_layers, 99);
  const matrix prompt = make_prompt(P, N, T, cfg.dim, 3);
  vtr::workspace ws;

  // ---------------- FastV at K = 2: layer 1's attention row, tokens removed from layer 2's input ----------------
  {
    toy_engine e(model, prompt, P, N, T);
    const index_t K = 2;
    vtr::fastv::select fastv{{/*layer=*/K, vtr::fastv::count_rule::ratio, /*ratio=*/0.5}};
    const index_t want = fastv.kept_count(L0, N).value();
    prefill(e, [&](index_t l) {
      if (l != K - 1) return;
      // [guide:hook-fastv]
      // After layer K−1: its attention of the text rows over all L keys, the last prompt token last.
      vtr::fastv::select::inputs in;
      in.attention = vtr::ops::attention_input::from_probs(e.text_probs());  // [H][T][L]; the last row scores
      in.image_start = e.prefix;
      in.image_count = e.visual;
      const vtr::plan plan = fastv.plan(in, ws);
      e.apply_sequence(plan, vtr::positions::policy::original);  // layers ≥ K run on the kept rows
      // [/guide:hook-fastv]
    });
    expect(e.length() == want && e.kv_len[1] == L0 && e.kv_len[2] == want, "fastv: counts and cache lengths");
    expect(e.pos.back() == L0 - 1, "fastv: original ids");
  }

  // ---------------- VScan stage 2 at K = 3: layer K's q/k recomputed from layer K−1's output ----------------
  {
    toy_engine e(model, prompt, P, N, T);
    const index_t K = 3;
    vtr::vscan::stage2_params sp = vtr::vscan::stage2_params::llava();
    sp.layer = K;
    sp.keep = 9;
    vtr::vscan::stage2 late{sp};
    prefill(e, [&](index_t l) {
      if (l != K - 1) return;
      // [guide:hook-vscan2]
      // After layer K−1: layer K's q of the last row and k of every row, recomputed from layer K−1's output
      // (layer K's input norm, Wq, Wk and RoPE at the current positions); layer K then runs on survivors.
      const index_t L = e.length();
      matrix q, k;
      e.layer_qk(K, e.x, {L - 1}, /*rope=*/true, q, k);
      const std::vector<index_t> q_row{L - 1};  // the row's index in the key sequence (causal mask)
      vtr::vscan::stage2::inputs in;
      in.attention = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q.data(), {1, e.H, e.hd}),
                                                        vtr::tensor_view<const float, 3>(k.data(), {L, e.H_kv, e.hd}),
                                                        vtr::view_of(q_row));
      in.image_start = e.prefix;
      in.image_count = e.visual;
      e.apply_sequence(late.plan(in, ws), vtr::positions::policy::dense);  // LLaVA: dense renumbering
      // [/guide:hook-vscan2]
    });
    expect(e.visual == 9 && e.kv_len[2] == L0 && e.kv_len[3] == P + 9 + T, "vscan stage 2: counts and cache lengths");
    expect(e.pos.back() == P + 9 + T - 1, "vscan stage 2: dense ids");
  }

  // ---------------- SparseVLM v1.5: events after layers 2 and 6, on the layers' outputs ----------------
  {
    toy_engine e(model, prompt, P, N, T);
    vtr::sparsevlm::prune_params sp;
    sp.keep_table = {{20, 12, 6}};  // a small model: select 20, then 12, then 6 visual tokens
    // [guide:hook-sparsevlm-start]
    // Once per prefill, before layer 0: the spans, and the raters from the layer-0 input embeddings.
    vtr::sparsevlm::prefill run(sp, e.prefix, e.visual, e.suffix);
    run.select_raters(vtr::as_matrix_view(std::as_const(e.x)), ws);
    // [/guide:hook-sparsevlm-start]
    const index_t want2 = run.kept_count(2).value();
    std::vector<index_t> seen;
    prefill(e, [&](index_t l) {
      if (!run.is_sparse_layer(l)) return;
      // [guide:hook-sparsevlm]
      // After sparse layer l (2, 6, 15): its text→visual attention and its OUTPUT rows of the visual span.
      const vtr::tensor_view<const float, 3> all = e.text_probs();  // [H][T][L]
      vtr::tensor_view<const float, 3> text_to_visual(all.data_handle() + e.prefix, {e.H, e.suffix, e.visual}, all.strides());
      const vtr::plan vis = run.prune(l, vtr::ops::attention_input::from_probs(text_to_visual),
                                      vtr::as_matrix_view(std::as_const(e.x)).subrows(e.prefix, e.visual), {}, ws);
      // Kept visual rows, then the recycled clusters (origin == plan::appended), then the text.
      e.apply_sequence(vtr::sparsevlm::sequence_plan(vis, e.prefix, e.suffix), vtr::positions::policy::dense);
      // [/guide:hook-sparsevlm]
      seen.push_back(e.visual);
    });
    expect(seen.size() == 2 && seen[0] == want2 && e.visual == run.current().v_num, "sparsevlm: counts");
    expect(e.kv_len[2] == L0 && e.kv_len[3] == P + want2 + T, "sparsevlm: layer 2 caches the pre-prune rows");
  }

  // ---------------- Fit&Prune: a deletion inside layers 1 and 2 ----------------
  {
    toy_engine e(model, prompt, P, N, T);
    vtr::fitprune::layer_params fp;
    fp.recipe = {0, 12, 12, 0, 0, 0, 0, 0};  // deletions per layer (the published tables are per model)
    vtr::fitprune::layer fit(fp);
    mini_llm::inside_prune inside;  // the engine's hook inside a layer, after attention
    vtr::plan survivors;
    bool deleted = false;  // layer l deleted rows: its output has survivors.size() rows
    prefill(
        e, [&](index_t) {
          if (!deleted) return;
          deleted = false;
          // Layer l's output has survivors.size() rows: original ids, new spans.
          std::vector<std::int64_t> next_pos(static_cast<std::size_t>(survivors.size()));
          vtr::positions::gather(survivors, vtr::view_of(std::as_const(e.pos)), vtr::view_of(next_pos));
          e.pos.swap(next_pos);
          e.visual = survivors.size() - e.prefix - e.suffix;
        },
        [&](index_t l) -> mini_llm::inside_prune* {
          if (fit.deletions(l).value() == 0 || e.visual == 0) return nullptr;
          deleted = true;
          // [guide:hook-fitprune]
          // This engine calls `decide` inside layer l, after attention and before o-proj and the MLP, with the
          // probabilities of rows ≥ P (visual, then suffix) over the visual columns, [H][n + T][n]; o-proj
          // and the MLP then run on the rows it keeps. The layer's K/V cache keeps every row.
          inside.prefix = e.prefix;
          inside.visual = e.visual;
          inside.decide = [&, l](const std::vector<float>& block, std::vector<mini_llm::index>& keep) {
            vtr::fitprune::layer::inputs in;
            in.attn = vtr::ops::attention_input::from_probs(
                vtr::tensor_view<const float, 3>(block.data(), {e.H, e.visual + e.suffix, e.visual}));
            in.n_visual = e.visual;
            in.n_suffix = e.suffix;
            in.prefix = e.prefix;
            in.layer_index = l;
            survivors = fit.plan(in, ws);  // a selection over the whole sequence, ascending
            keep.assign(survivors.origin.begin(), survivors.origin.end());
          };
          // [/guide:hook-fitprune]
          return &inside;
        });
    expect(e.visual == N - 24 && e.kv_len[1] == L0 && e.kv_len[2] == L0 - 12 && e.kv_len[3] == L0 - 24,
           "fitprune: each layer caches the rows entering it");
    expect(e.pos.back() == L0 - 1, "fitprune: original ids");
  }

  // ---------------- DToMA D2 at K = 2: layer K's attention, tokens removed from its output ----------------
  {
    toy_engine e(model, prompt, P, N, T);
    const index_t K = 2;
    vtr::dtoma::select d2{{/*keep_ratio=*/0.25}};
    prefill(e, [&](index_t l) {
      if (l != K) return;
      // [guide:hook-dtoma2]
      // After layer K: its attention of the rows after the image (mean over them); a plan over the visual span.
      vtr::dtoma::select::inputs in;
      in.attn = vtr::ops::attention_input::from_probs(e.text_probs());
      in.visual_begin = e.prefix;
      in.visual_count = e.visual;
      const vtr::plan vis = d2.plan(in, ws);
      e.apply_sequence(vtr::embed_in_sequence(vis, e.prefix, e.suffix), vtr::positions::policy::original);
      // [/guide:hook-dtoma2]
    });
    expect(e.visual == d2.kept_count(N).value() && e.kv_len[2] == L0 && e.kv_len[3] == e.length(), "dtoma D2: counts");
  }

  // ---------------- a video: PruneVid stage 1 before the LLM, stage 2 at K = 2 ----------------
  {
    const index_t F = 4, n_f = 16;
    matrix video = make_prompt(P, F * n_f, T, cfg.dim, 5);
    for (index_t j = 0; j < n_f; ++j)  // frames 1 and 3 nearly repeat frames 0 and 2: static tokens
      for (index_t f : {1, 3}) video.row(P + f * n_f + j) = video.row(P + (f - 1) * n_f + j) * 0.98f + video.row(P + f * n_f + j) * 0.02f;
    vtr::prunevid::stage1 s1;
    vtr::prunevid::stage1::details segments;
    const vtr::plan merged = s1.plan({vtr::tensor_view<const float, 3>(video.data() + P * cfg.dim, {F, n_f, cfg.dim})}, ws, &segments);
    matrix embd(P + merged.size() + T, cfg.dim);
    embd.topRows(P) = video.topRows(P);
    vtr::apply(merged, vtr::matrix_view<const float>(video.data() + P * cfg.dim, {F * n_f, cfg.dim}),
               vtr::matrix_view<float>(embd.data() + P * cfg.dim, {merged.size(), cfg.dim}));
    embd.bottomRows(T) = video.bottomRows(T);
    toy_engine e(model, embd, P, merged.size(), T);
    const index_t K = 2, L1 = e.length();
    vtr::prunevid::stage2 s2{{/*alpha=*/0.4, /*layer=*/K}};
    const index_t want = s2.kept_count(P, T, segments.sizes()).value();
    prefill(e, [&](index_t l) {
      if (l != K) return;
      // [guide:hook-prunevid2]
      // After layer K: layer K's q of the rows after the video and k of every row, recomputed from the
      // layer's INPUT without RoPE; PruneVid's softmax has no mask, so no row positions are passed.
      const index_t L = e.length();
      std::vector<mini_llm::index> rows;
      for (index_t r = e.prefix + e.visual; r < L; ++r) rows.push_back(r);
      matrix q, k;
      e.layer_qk(K, e.layer_input, rows, /*rope=*/false, q, k);
      vtr::prunevid::stage2::inputs in;
      in.attention = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(q.data(), {e.suffix, e.H, e.hd}),
                                                        vtr::tensor_view<const float, 3>(k.data(), {L, e.H_kv, e.hd}), {});
      in.segments = segments.sizes();  // stage 1's metadata for this video
      in.prefix = e.prefix;
      const vtr::plan plan = s2.plan(in, ws);
      // Layers 0…K cached the whole sequence: gather their K/V with the same plan.
      vtr::kv::compact(plan, vtr::kv::layers_through(K), e.k_view(L), e.v_view(L));
      for (index_t j = 0; j <= K; ++j) e.kv_len[static_cast<std::size_t>(j)] = plan.size();
      e.apply_sequence(plan, vtr::positions::policy::original);  // layers > K run on the survivors
      // [/guide:hook-prunevid2]
    });
    bool same = true;
    for (index_t j = 0; j < n_layers; ++j) same = same && e.kv_len[static_cast<std::size_t>(j)] == want;
    expect(e.length() == want && same && want < L1, "prunevid stage 2: every layer's cache holds the survivors");
  }

  // ---------------- decode: DToMA D3 evicts visual keys from every layer's cache ----------------
  {
    toy_engine e(model, prompt, P, N, T);
    prefill(e, [](index_t) {});
    const index_t tracked = n_layers - 1;  // the layer whose attention rows are tracked (the last, §3.6.1)
    vtr::dtoma::usage_tracker d3(e.visual);
    std::mt19937 rng(17);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::int64_t next_pos = L0;  // eviction keeps positions: decode continues the original numbering
    index_t evicted_total = 0;
    for (int step = 0; step < 12; ++step) {
      // The new token's q at the tracked layer (a random embedding stands in for the sampled token).
      matrix tok(1, cfg.dim);
      for (index_t c = 0; c < cfg.dim; ++c) tok(0, c) = g(rng);
      matrix q, k_new;
      mini_llm::project_qk(model.cfg, model.layers[static_cast<std::size_t>(tracked)], tok, {next_pos}, {0}, true, q, k_new);
      const index_t len = e.kv_len[static_cast<std::size_t>(tracked)];
      // [guide:decode-d3]
      // Per generated token: its attention row at the tracked layer over the cached keys (recomputed here from
      // q and the cache, [H][1][len]), restricted to the tracked visual keys, [H][N_cur].
      std::vector<float> row(static_cast<std::size_t>(e.H * len));
      const vtr::matrix_view<float> k_rows = e.k_view(len)[tracked];  // [len][H_kv·d] of the tracked layer
      vtr::tensor_view<const float, 3> cached_k(k_rows.data_handle(), {len, e.H_kv, e.hd}, {k_rows.stride(0), e.hd, 1});
      vtr::ops::attention_rows(vtr::tensor_view<const float, 3>(q.data(), {1, e.H, e.hd}), cached_k, {},
                               vtr::ops::attention_mode{/*causal=*/false}, vtr::tensor_view<float, 3>(row.data(), {e.H, 1, len}), ws);
      const vtr::vector_view<const index_t> evict =
          d3.step(vtr::matrix_view<const float>(row.data() + e.prefix, {e.H, e.visual}, {len, 1}));
      if (evict.extent(0) > 0) {
        // The survivors of the visual span, lifted to the cache axis, compacted in every layer.
        vtr::plan keep;
        keep.reset(e.visual);
        for (index_t j = 0, r = 0; j < e.visual; ++j) {
          if (r < evict.extent(0) && evict(r) == j) ++r;
          else keep.add_copy(j);
        }
        const vtr::plan whole = vtr::kv::lift(keep, e.prefix, len);
        vtr::kv::compact(whole, vtr::kv::all_layers(), e.k_view(len), e.v_view(len));
        for (index_t& n : e.kv_len) n = whole.size();
        e.visual = keep.size();
      }
      // [/guide:decode-d3]
      evicted_total += evict.extent(0);
      ++next_pos;  // (a real engine also appends the new token's K/V to every layer here)
    }
    expect(evicted_total > 0 && e.visual == d3.size() && e.kv_len[0] == P + e.visual + T, "dtoma D3: evictions reach the cache");
  }

  std::printf("guide_prefill: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
