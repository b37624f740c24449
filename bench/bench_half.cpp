// Half-precision inputs: reduce_attention reading fp16/bf16 attention directly (widened to fp32 on load,
// fp32 folds) at [H][N_t][N], against its floor — one read of the same number of bytes (half of the fp32
// block) — and a scalar loop over the half values. Also the method-level conversion vtr::convert_rows
// (bf16/fp16 → fp32) of the image or video features, against a memcpy of the fp32 bytes it writes (it reads
// half as many, so the ratio is slightly flattering), and a scalar conversion loop.
#include "bench_util.hpp"

#include <vtr/core/half.hpp>
#include <vtr/ops/convert.hpp>
#include <vtr/ops/reduce.hpp>

#include <string>
#include <vector>

namespace {

using vtr::index_t;
namespace ops = vtr::ops;
using vtr_bench::dims;

struct reduce_case {
  index_t heads, rows, cols;
  ops::head_reduce h;
  ops::row_reduce r;
};

template <class H>
std::shared_ptr<const std::vector<H>> half_probabilities(const reduce_case& c) {
  const auto a = vtr_bench::shared_probabilities(static_cast<std::size_t>(c.heads * c.rows), static_cast<std::size_t>(c.cols));
  return vtr_bench::shared_half<H>("probs/" + dims(c.heads, c.rows, c.cols), *a);
}

template <class H>
void reduce_half_step(benchmark::State& state, reduce_case c) {
  const auto a = half_probabilities<H>(c);
  const vtr::tensor_view<const H, 3> v(a->data(), {c.heads, c.rows, c.cols});
  std::vector<float> out(static_cast<std::size_t>(c.cols));
  vtr::workspace ws;
  for (auto _ : state) {
    ops::reduce_attention(v, c.h, c.r, vtr::view_of(out), ws);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * a->size() * sizeof(H)));
}

template <class H>
void reduce_half_naive(benchmark::State& state, reduce_case c) {
  const auto a = half_probabilities<H>(c);
  std::vector<float> out(static_cast<std::size_t>(c.cols));
  for (auto _ : state) {
    vtr_bench::naive_reduce_attention(a->data(), c.heads, c.rows, c.cols, c.h, c.r, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// Floor: one read of the half block's bytes (as floats: half as many).
void reduce_half_floor(benchmark::State& state, reduce_case c) {
  vtr_bench::floor_read_n(state, static_cast<std::size_t>(c.heads * c.rows * c.cols) / 2);
}

// ---------------------------------------------------------------------------------------------------
// convert_rows: half features [rows][dim] → fp32.

template <class H>
std::shared_ptr<const std::vector<H>> half_features(index_t rows, index_t dim) {
  const auto f = vtr_bench::shared_floats(std::size_t(rows * dim), 3, -2.0f, 2.0f);
  return vtr_bench::shared_half<H>("features/" + dims(rows, dim), *f);
}

template <class H>
void convert_step(benchmark::State& state, index_t rows, index_t dim) {
  const auto h = half_features<H>(rows, dim);
  std::vector<float> out(h->size());
  const vtr::matrix_view<const H> in(h->data(), {rows, dim});
  const vtr::matrix_view<float> o(out.data(), {rows, dim});
  for (auto _ : state) {
    vtr::convert_rows(in, o);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * h->size() * sizeof(H)));
}

template <class H>
void convert_naive(benchmark::State& state, index_t rows, index_t dim) {
  const auto h = half_features<H>(rows, dim);
  std::vector<float> out(h->size());
  for (auto _ : state) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = vtr::to_float((*h)[i]);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void convert_floor(benchmark::State& state, index_t rows, index_t dim) {
  vtr_bench::floor_memcpy_n(state, std::size_t(rows * dim));
}

VTR_BENCH_REGISTER(register_half) {
  using namespace vtr_bench;
  using ops::head_reduce;
  using ops::row_reduce;

  const auto reduce = [](auto tag_type, const char* type, const char* kind, const char* tag, reduce_case c) {
    using H = decltype(tag_type);
    const std::string n = shape_name(std::string("reduce_attention_") + type + "." + kind, tag, dims(c.heads, c.rows, c.cols));
    add_step(n, memory_bound, reduce_half_step<H>, c);
    add_floor(n, reduce_half_floor, c);
    add_naive(n, reduce_half_naive<H>, c);
  };
  const reduce_case l15{llava15.heads, llava15.text, llava15.visual, head_reduce::mean, row_reduce::mean};
  reduce(vtr::bfloat16{}, "bfloat16", "mean_mean", llava15.tag, l15);
  reduce(vtr::float16{}, "float16", "mean_mean", llava15.tag, l15);
  reduce(vtr::bfloat16{}, "bfloat16", "max_max", llava15.tag,
         {llava15.heads, llava15.text, llava15.visual, head_reduce::max, row_reduce::max});
  reduce(vtr::bfloat16{}, "bfloat16", "mean_mean", llava_next.tag,
         {llava_next.heads, llava_next.text, llava_next.visual, head_reduce::mean, row_reduce::mean});

  const auto convert = [](auto tag_type, const char* type, const char* tag, index_t rows, index_t dim) {
    using H = decltype(tag_type);
    const std::string n = shape_name(std::string("convert_rows.") + type, tag, dims(rows, dim));
    add_step(n, memory_bound, convert_step<H>, rows, dim);
    add_floor(n, convert_floor, rows, dim);
    add_naive(n, convert_naive<H>, rows, dim);
  };
  convert(vtr::bfloat16{}, "bf16", llava15.tag, llava15.visual, llava15.dim);
  convert(vtr::float16{}, "f16", llava15.tag, llava15.visual, llava15.dim);
  convert(vtr::bfloat16{}, "bf16", qwen25vl.tag, qwen25vl.visual, qwen25vl.dim);
  convert(vtr::bfloat16{}, "bf16", video64.tag, video64.tokens(), video64.dim);
}

}  // namespace
