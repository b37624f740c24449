// Benchmarks of VScan (ALGORITHMS §3.4) and FastV (§3.1) at the image shapes (§5.1, §5.3; bench_util.hpp):
//   LLaVA-1.5:   576 visual tokens × 4096, 32 heads, prefix 35, 40 text tokens (L = 651);
//   LLaVA-NeXT:  2880 visual tokens (5 crops of 576; stage 1 runs per crop with the same T);
//   Qwen2.5-VL:  1008 merged tokens (28×36) × 3584, 28 query / 4 KV heads, prefix 15 (L = 1063).
// Floors (bench_util.hpp naming): stage 1's dominant step is the merge GEMM, (N−K)×K×D through Eigen;
// stage 2 / FastV read one attention row per head over the visual columns (floor_read of those bytes); the
// Q/K form's dominant read is the key matrix (floor_read of L·H_kv·d_h floats).
// Dominant steps ("/dominant", run alone on the same data): stage 1 — the similarity GEMM of the pruned
// rows against the kept rows (ops::cross_dot on the rows the method gathers); stage 2 and FastV — the
// head-mean reduction of the query row over the visual columns, or, in the Q/K form, recomputing that row
// (ops::attention_rows).
#include "bench_util.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/ops/similarity.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace {

using vtr::index_t;
using vtr_bench::image_shape;

constexpr index_t enc_heads = 16, budget = 96;

// ---- VScan stage 1 ------------------------------------------------------------------------------

/// Post-projector features of all crops and the encoder's [CLS] rows (shallow and deep layer).
struct stage1_data {
  std::shared_ptr<const std::vector<float>> feats, shallow, deep;
  explicit stage1_data(const image_shape& s)
      : feats(vtr_bench::shared_floats(std::size_t(s.visual * s.dim), 3, -1.0f, 1.0f)),
        shallow(vtr_bench::shared_probabilities(std::size_t(s.crops * enc_heads), std::size_t(s.visual / s.crops), 4)),
        deep(vtr_bench::shared_probabilities(std::size_t(s.crops * enc_heads), std::size_t(s.visual / s.crops), 5)) {}
  index_t per_crop(const image_shape& s) const { return s.visual / s.crops; }
  vtr::vscan::stage1::crops_inputs inputs(const image_shape& s) const {
    const index_t n = per_crop(s);
    return {vtr::matrix_view<const float>(feats->data(), {s.visual, s.dim}),
            vtr::tensor_view<const float, 3>(shallow->data(), {s.crops, enc_heads, n}),
            vtr::tensor_view<const float, 3>(deep->data(), {s.crops, enc_heads, n})};
  }
  vtr::vscan::stage1::inputs crop(const image_shape& s, index_t c) const {
    const index_t n = per_crop(s);
    return {vtr::matrix_view<const float>(feats->data() + c * n * s.dim, {n, s.dim}),
            vtr::matrix_view<const float>(shallow->data() + c * enc_heads * n, {enc_heads, n}),
            vtr::matrix_view<const float>(deep->data() + c * enc_heads * n, {enc_heads, n})};
  }
};

/// Scores, window + global scan and the nearest-kept assignment (the plan), T = 96 per crop.
void vscan_stage1(benchmark::State& state, image_shape s) {
  const stage1_data d(s);
  const vtr::vscan::stage1 scan{{budget}};
  vtr::workspace ws;
  vtr::plan p;
  if (s.crops == 1) {
    const auto in = d.crop(s, 0);
    raise_if_error(scan.try_plan(in, p, ws));  // sizes the workspace and the plan
    for (auto _ : state) {
      raise_if_error(scan.try_plan(in, p, ws));
      benchmark::DoNotOptimize(p.origin.data());
    }
  } else {
    const auto in = d.inputs(s);
    raise_if_error(scan.try_plan_crops(in, p, ws));
    for (auto _ : state) {
      raise_if_error(scan.try_plan_crops(in, p, ws));
      benchmark::DoNotOptimize(p.origin.data());
    }
  }
}

void vscan_stage1_floor(benchmark::State& state, image_shape s) {
  vtr_bench::floor_gemm_abt(state, s.visual / s.crops - budget, budget, s.dim, s.crops);
}

/// The rows the merge compares, gathered as the method gathers them: pruned [N−K][D] and kept [K][D].
struct similarity_blocks {
  std::vector<float> pruned, kept;
  index_t n_pruned = 0, n_kept = 0;
  similarity_blocks(const vtr::matrix_view<const float>& x, std::vector<index_t> keep) {
    std::sort(keep.begin(), keep.end());
    const index_t d = x.extent(1);
    for (index_t i = 0; i < x.extent(0); ++i) {
      std::vector<float>& dst = std::binary_search(keep.begin(), keep.end(), i) ? kept : pruned;
      dst.insert(dst.end(), x.row(i), x.row(i) + d);
    }
    n_kept = static_cast<index_t>(keep.size());
    n_pruned = x.extent(0) - n_kept;
  }
};

/// Runs the similarity GEMM of each block set (one per crop) — the dominant step alone.
void similarity_gemms(benchmark::State& state, const std::vector<similarity_blocks>& blocks, index_t d) {
  std::vector<std::vector<float>> out;
  for (const auto& b : blocks) out.emplace_back(std::size_t(b.n_pruned * b.n_kept));
  for (auto _ : state) {
    for (std::size_t c = 0; c < blocks.size(); ++c) {
      const similarity_blocks& b = blocks[c];
      vtr::ops::cross_dot(vtr::matrix_view<const float>(b.pruned.data(), {b.n_pruned, d}),
                          vtr::matrix_view<const float>(b.kept.data(), {b.n_kept, d}),
                          vtr::matrix_view<float>(out[c].data(), {b.n_pruned, b.n_kept}));
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void vscan_stage1_dominant(benchmark::State& state, image_shape s) {
  const stage1_data d(s);
  const vtr::vscan::stage1 scan{{budget}};
  vtr::workspace ws;
  std::vector<similarity_blocks> blocks;
  for (index_t c = 0; c < s.crops; ++c) {
    vtr::vscan::stage1::details det;
    const auto in = d.crop(s, c);
    scan.plan(in, ws, &det);
    std::vector<index_t> keep = det.local_idx;
    keep.insert(keep.end(), det.global_idx.begin(), det.global_idx.end());
    blocks.emplace_back(in.features, keep);
  }
  similarity_gemms(state, blocks, s.dim);
}

// The same plan applied to the features (memory-bound: read N·D, write K·D).
void vscan_stage1_apply(benchmark::State& state, image_shape s) {
  const stage1_data d(s);
  const vtr::vscan::stage1 scan{{budget}};
  const auto in = d.crop(s, 0);
  vtr::workspace ws;
  const vtr::plan p = scan.plan(in, ws);
  std::vector<float> out(std::size_t(p.size() * s.dim));
  for (auto _ : state) {
    vtr::apply(p, in.features, vtr::matrix_view<float>(out.data(), {p.size(), s.dim}));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void vscan_stage1_apply_floor(benchmark::State& state, image_shape s) {
  vtr_bench::floor_read_write(state, std::size_t(s.visual * s.dim), std::size_t(budget * s.dim));
}

// ---- VScan stage 1, Qwen2.5-VL: received-attention scores, greedy capped windows, merge (§3.4.3) ----

struct qwen_stage1_data {
  std::shared_ptr<const std::vector<float>> feats, local, global;
  explicit qwen_stage1_data(const image_shape& s)
      : feats(vtr_bench::shared_floats(std::size_t(s.visual * s.dim), 3, -1.0f, 1.0f)),
        local(vtr_bench::shared_floats(std::size_t(s.visual), 4)),
        global(vtr_bench::shared_floats(std::size_t(s.visual), 5)) {}
  vtr::vscan::stage1_qwen::inputs inputs(const image_shape& s) const {
    return {vtr::vector_view<const float>(local->data(), {s.visual}), vtr::vector_view<const float>(global->data(), {s.visual}),
            vtr::matrix_view<const float>(feats->data(), {s.visual, s.dim}), s.grid_h, s.grid_w};
  }
};

void vscan_stage1_qwen(benchmark::State& state, image_shape s) {
  const qwen_stage1_data d(s);
  const vtr::vscan::stage1_qwen scan;
  const auto in = d.inputs(s);
  vtr::workspace ws;
  vtr::plan p;
  raise_if_error(scan.try_plan(in, p, ws));
  for (auto _ : state) {
    raise_if_error(scan.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}

index_t qwen_kept(const image_shape& s) { return vtr::vscan::stage1_qwen().kept_count(s.grid_h, s.grid_w).value(); }

void vscan_stage1_qwen_floor(benchmark::State& state, image_shape s) {
  vtr_bench::floor_gemm_abt(state, s.visual - qwen_kept(s), qwen_kept(s), s.dim);
}

void vscan_stage1_qwen_dominant(benchmark::State& state, image_shape s) {
  const qwen_stage1_data d(s);
  const auto in = d.inputs(s);
  vtr::workspace ws;
  vtr::vscan::stage1_qwen::details det;
  vtr::vscan::stage1_qwen().plan(in, ws, &det);
  std::vector<index_t> keep = det.local_idx;
  keep.insert(keep.end(), det.global_idx.begin(), det.global_idx.end());
  similarity_gemms(state, {similarity_blocks(in.features, keep)}, s.dim);
}

// ---- Row-scoring methods: VScan stage 2 and FastV ------------------------------------------------

/// One query row's attention: probabilities [H][1][seq] or q [1][H][d] and k [seq][H_kv][d]; the visual
/// span [prefix, prefix + nv).
struct row_case {
  index_t heads, kv_heads, head_dim, prefix, nv, seq;
  bool qk;
};

struct row_data {
  row_case c;
  std::shared_ptr<const std::vector<float>> probs, q, k;
  std::vector<index_t> pos;
  explicit row_data(const row_case& rc) : c(rc), pos{rc.seq - 1} {
    if (c.qk) {
      q = vtr_bench::shared_floats(std::size_t(c.heads * c.head_dim), 8, -1.0f, 1.0f);
      k = vtr_bench::shared_floats(std::size_t(c.seq * c.kv_heads * c.head_dim), 9, -1.0f, 1.0f);
    } else {
      probs = vtr_bench::shared_probabilities(std::size_t(c.heads), std::size_t(c.seq), 7);
    }
  }
  vtr::tensor_view<const float, 3> qv() const { return {q->data(), {1, c.heads, c.head_dim}}; }
  vtr::tensor_view<const float, 3> kv() const { return {k->data(), {c.seq, c.kv_heads, c.head_dim}}; }
  vtr::ops::attention_input input() const {
    if (c.qk) return vtr::ops::attention_input::from_qk(qv(), kv(), vtr::view_of(pos));
    return vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(probs->data(), {c.heads, 1, c.seq}));
  }
};

template <class Method>
void row_method(benchmark::State& state, const Method& m, row_case c) {
  const row_data d(c);
  typename Method::inputs in;
  in.attention = d.input();
  in.image_start = c.prefix;
  in.image_count = c.nv;
  vtr::workspace ws;
  vtr::plan p;
  raise_if_error(m.try_plan(in, p, ws));
  for (auto _ : state) {
    raise_if_error(m.try_plan(in, p, ws));
    benchmark::DoNotOptimize(p.origin.data());
  }
}

/// Floor: reading the visual span of the row (probabilities) or the keys (Q/K).
void row_floor(benchmark::State& state, row_case c) {
  vtr_bench::floor_read_n(state, std::size_t(c.qk ? c.seq * c.kv_heads * c.head_dim : c.heads * c.nv));
}

/// Dominant: the head-mean reduction of the row over the visual columns, or recomputing the row.
void row_dominant(benchmark::State& state, row_case c, vtr::ops::attention_mode mode) {
  const row_data d(c);
  vtr::workspace ws;
  if (c.qk) {
    std::vector<float> out(std::size_t(c.heads * c.seq));
    const vtr::tensor_view<float, 3> ov(out.data(), {c.heads, 1, c.seq});
    for (auto _ : state) {
      vtr::ops::attention_rows(d.qv(), d.kv(), vtr::view_of(d.pos), mode, ov, ws);
      benchmark::DoNotOptimize(out.data());
      benchmark::ClobberMemory();
    }
    return;
  }
  std::vector<float> out(std::size_t(c.nv));
  const vtr::tensor_view<const float, 3> vis(d.probs->data() + c.prefix, {c.heads, 1, c.nv}, {c.seq, c.seq, 1});
  for (auto _ : state) {
    vtr::ops::reduce_attention(vis, vtr::ops::head_reduce::mean, vtr::ops::row_reduce::mean, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void vscan_stage2(benchmark::State& state, row_case c, bool qwen) {
  row_method(state, vtr::vscan::stage2(qwen ? vtr::vscan::stage2_params::qwen() : vtr::vscan::stage2_params::llava()), c);
}
void fastv(benchmark::State& state, row_case c) { row_method(state, vtr::fastv::select(), c); }

VTR_BENCH_REGISTER(register_vscan_fastv) {
  using namespace vtr_bench;
  for (const image_shape& s : {llava15, llava_next}) {
    const std::string d = s.crops > 1 ? dims(s.crops, s.visual / s.crops) : dims(s.visual);
    const std::string n = shape_name("vscan.stage1", s.tag, d + "_T96");
    add_step(n, method_overhead, vscan_stage1, s);
    add_floor(n, vscan_stage1_floor, s);
    add_dominant(n, vscan_stage1_dominant, s);
  }
  {
    const std::string n = shape_name("vscan.stage1.apply", llava15.tag, dims(llava15.visual) + "_T96");
    add_step(n, memory_bound, vscan_stage1_apply, llava15);
    add_floor(n, vscan_stage1_apply_floor, llava15);
  }
  {
    const image_shape& s = qwen25vl;
    const std::string n = shape_name("vscan.stage1_qwen", s.tag, dims(s.grid_h, s.grid_w, s.dim) + "_r0167");
    add_step(n, method_overhead, vscan_stage1_qwen, s);
    add_floor(n, vscan_stage1_qwen_floor, s);
    add_dominant(n, vscan_stage1_qwen_dominant, s);
  }

  // Stage 2 at layer K on the stage-1 output: LLaVA-1.5 S = 35 + 96 + 40 = 171, keep 32 (causal, RoPE'd
  // q/k); Qwen2.5-VL S = 15 + 168 + 40 = 223, keep ⌊0.333·168⌋ = 55 (no RoPE, ±inf → 0, GQA 28/4).
  const vtr::ops::attention_mode llava_mode{true, false}, qwen_mode{true, true};
  for (bool qk : {false, true}) {
    const row_case l{llava15.heads, llava15.kv_heads, llava15.head_dim, llava15.prefix,
                     budget, llava15.prefix + budget + llava15.text, qk};
    std::string n = shape_name(qk ? "vscan.stage2_qk" : "vscan.stage2", llava15.tag, "S" + std::to_string(l.seq) + "_keep32");
    add_step(n, method_overhead, vscan_stage2, l, false);
    add_floor(n, row_floor, l);
    add_dominant(n, row_dominant, l, llava_mode);
    const index_t qn = qwen_kept(qwen25vl);
    const row_case q{qwen25vl.heads, qwen25vl.kv_heads, qwen25vl.head_dim, qwen25vl.prefix,
                     qn, qwen25vl.prefix + qn + qwen25vl.text, qk};
    n = shape_name(qk ? "vscan.stage2_qk" : "vscan.stage2", qwen25vl.tag, "S" + std::to_string(q.seq) + "_r0333");
    add_step(n, method_overhead, vscan_stage2, q, true);
    add_floor(n, row_floor, q);
    add_dominant(n, row_dominant, q, qwen_mode);
  }

  // FastV at K = 2, R = 0.5 over the whole prompt (the last prompt token's row).
  for (bool qk : {false, true})
    for (const image_shape& s : {llava15, llava_next, qwen25vl}) {
      const row_case c{s.heads, s.kv_heads, s.head_dim, s.prefix, s.visual, s.seq(), qk};
      const std::string n = shape_name(qk ? "fastv.select_qk" : "fastv.select", s.tag, "L" + std::to_string(s.seq()) + "_R050");
      add_step(n, method_overhead, fastv, c);
      add_floor(n, row_floor, c);
      add_dominant(n, row_dominant, c, llava_mode);
    }
}

}  // namespace
