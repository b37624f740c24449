// Shared helpers for vtr's benchmarks.
//
// Naming convention (bench_main.cpp's tables and bench/perf_table.py rely on it): every measured step
// registers
//   "<step>/<shape>"           the vtr kernel or method,
//   "<step>/<shape>/floor"     the floor for the same bytes/FLOPs measured in the same run (a read or
//                              memcpy of the same bytes for memory-bound steps; Eigen GEMM/SYRK of the same
//                              shape for GEMM-bound ones),
//   "<step>/<shape>/naive"     a plain scalar implementation (kernels; optional), and, for methods,
//   "<step>/<shape>/dominant"  the method's dominant step alone — the vtr kernel call(s) carrying its
//                              ALGORITHMS §5.3 dominant term, run on the same data — so that the table can
//                              show the share of the method's time spent outside it.
// The tables print each step's time, the ratios time/floor and time/naive, the share outside the dominant
// step and whether the step meets its target.
//
// Shapes: <shape> starts with the reference shape's tag — "llava15", "llava_next", "qwen25vl", "pllava" or
// "video64" (the constants below) — then '_' and the dimensions, e.g. "llava15_32x40x576". The table adds the
// step's cost as a percentage of one decoder layer's prefill at that shape ("decoder_layer/<tag>",
// bench_layer.cpp; the tables look the tag up among the measured layers, so a new shape needs only its
// layer). Steps at other shapes (a ViT block, a CLIP-width video) use another prefix and get no percentage.
//
// Targets (ALGORITHMS §5.4 and the project's performance goals) are declared at registration — add_step()
// takes one — and travel with the results as a user counter that bench_main.cpp and perf_table.py read:
//   target_memory  = 1.3   memory-bound: time ≤ 1.3 × its read/memcpy floor,
//   target_gemm    = 1.2   GEMM-bound: time ≤ 1.2 × the Eigen GEMM/SYRK floor,
//   target_us      = x     latency: time ≤ x µs (top-k of 2880 scores: 5 µs),
//   target_outside = 0.1   methods: at most 10 % of the time outside "/dominant".
//
// Benchmarks run with one thread. Registrations go through add_step(), add_floor(), add_naive() and
// add_dominant(), which set ->Unit(benchmark::kMicrosecond); heavy ones chain ->Iterations(1)->Repetitions(n)
// to keep the whole run within ~10 minutes on two cores. Each file registers from one function run during
// static initialisation (VTR_BENCH_REGISTER, placed after the file's namespace-scope data), in table order.
// Fixtures come from the cache below (shared_floats, shared_probabilities, cached), built on first use.
#pragma once

// vtr first: its headers wrap the first inclusion of <immintrin.h> in a suppression of GCC 12's false
// AVX-512 -Wuninitialized (simd/simd.hpp), which Eigen's include would otherwise preempt.
#include <vtr/core/half.hpp>
#include <vtr/ops/reduce.hpp>

#include <benchmark/benchmark.h>

#include <vtr/core/eigen.hpp>  // Eigen, with vtr's GCC-12 AVX-512 warning suppression

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace vtr_bench {

using vtr::index_t;

// ---------------------------------------------------------------------------------------------------
// Reference shapes (ALGORITHMS §5.1)

/// An image model's prefill: the LLM sequence [prefix | visual | text] and its attention geometry.
struct image_shape {
  const char* tag;
  index_t prefix, visual, text;       ///< P, N, N_t
  index_t dim, heads, kv_heads, head_dim;
  index_t crops, grid_h, grid_w;      ///< visual = crops · grid_h · grid_w (patch or merged grid per crop)
  index_t seq() const noexcept { return prefix + visual + text; }
};

/// LLaVA-1.5-7B: 576 visual tokens (24×24), L = 35 + 576 + 40 = 651, D = 4096, 32 heads of 128.
inline constexpr image_shape llava15{"llava15", 35, 576, 40, 4096, 32, 32, 128, 1, 24, 24};
/// LLaVA-NeXT-7B anyres: base image + 4 tiles of 24×24 = 2880 visual tokens, L = 2955.
inline constexpr image_shape llava_next{"llava_next", 35, 2880, 40, 4096, 32, 32, 128, 5, 24, 24};
/// Qwen2.5-VL-7B: a 28×36 merged grid (a 784×1008 image) = 1008 visual tokens, D = 3584, 28 query heads and
/// 4 KV heads of 128; 15 chat-template tokens before the image, L = 1063.
inline constexpr image_shape qwen25vl{"qwen25vl", 15, 1008, 40, 3584, 28, 4, 128, 1, 28, 36};

/// A video model's prefill: F frames of grid × grid tokens after pooling, then the LLaVA-7B LLM.
struct video_shape {
  const char* tag;
  index_t frames, grid, dim, heads, head_dim, prefix, text;
  index_t per_frame() const noexcept { return grid * grid; }
  index_t tokens() const noexcept { return frames * grid * grid; }
  index_t seq() const noexcept { return prefix + tokens() + text; }
};

/// PLLaVA: 16 frames × 12×12 pooled tokens × 4096 (2304 video tokens, L = 2379).
inline constexpr video_shape pllava{"pllava", 16, 12, 4096, 32, 128, 35, 40};
/// Long video: 64 frames × 12×12 × 4096 (9216 video tokens, L = 9291).
inline constexpr video_shape video64{"video64", 64, 12, 4096, 32, 128, 35, 40};

/// "<step>/<tag>_<dims>".
inline std::string shape_name(const std::string& step, const char* tag, const std::string& dims) {
  return step + "/" + tag + "_" + dims;
}

/// "AxBxC…" from the given extents.
template <class... I>
std::string dims(I... extents) {
  std::string s;
  for (long long e : {static_cast<long long>(extents)...}) s += (s.empty() ? "" : "x") + std::to_string(e);
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Data

/// Uniform [lo, hi) floats from a fixed seed (benchmarks are reproducible).
inline std::vector<float> random_floats(std::size_t n, unsigned seed = 1, float lo = 0.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

/// Random softmax rows: `rows` rows of `cols` positive values summing to 1.
inline std::vector<float> random_probabilities(std::size_t rows, std::size_t cols, unsigned seed = 1) {
  auto v = random_floats(rows * cols, seed, 0.0f, 1.0f);
  for (std::size_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::size_t c = 0; c < cols; ++c) s += v[r * cols + c];
    for (std::size_t c = 0; c < cols; ++c) v[r * cols + c] = static_cast<float>(v[r * cols + c] / s);
  }
  return v;
}

/// Fixtures built once and shared: Google Benchmark calls a benchmark function once per repetition (and
/// a few times more to size the iteration count), and a step, its floor, naive and dominant versions
/// read the same data, so regenerating megabytes of random numbers per call would dominate the run.
/// Entries are kept by key, least recently used dropped beyond a byte budget; the shared_ptr keeps an
/// entry alive while a benchmark still holds it.
template <class E, class Make>
std::shared_ptr<const std::vector<E>> cached(const std::string& key, Make&& make) {
  struct entry {
    std::string key;
    std::shared_ptr<const std::vector<E>> data;
  };
  static std::mutex mutex;
  static std::list<entry> lru;  // most recent first
  static std::size_t bytes = 0;
  constexpr std::size_t budget = std::size_t(1) << 30;
  std::lock_guard<std::mutex> lock(mutex);
  for (auto it = lru.begin(); it != lru.end(); ++it)
    if (it->key == key) {
      lru.splice(lru.begin(), lru, it);
      return lru.front().data;
    }
  auto data = std::make_shared<const std::vector<E>>(make());
  const std::size_t size = data->size() * sizeof(E);
  while (!lru.empty() && bytes + size > budget) {
    bytes -= lru.back().data->size() * sizeof(E);
    lru.pop_back();
  }
  lru.push_front({key, data});
  bytes += size;
  return data;
}

/// random_floats, cached.
inline std::shared_ptr<const std::vector<float>> shared_floats(std::size_t n, unsigned seed = 1, float lo = 0.0f,
                                                               float hi = 1.0f) {
  const std::string key = "floats/" + std::to_string(n) + "/" + std::to_string(seed) + "/" + std::to_string(lo) + "/" +
                          std::to_string(hi);
  return cached<float>(key, [&] { return random_floats(n, seed, lo, hi); });
}

/// random_probabilities, cached.
inline std::shared_ptr<const std::vector<float>> shared_probabilities(std::size_t rows, std::size_t cols, unsigned seed = 1) {
  const std::string key = "probs/" + std::to_string(rows) + "x" + std::to_string(cols) + "/" + std::to_string(seed);
  return cached<float>(key, [&] { return random_probabilities(rows, cols, seed); });
}

/// `f` rounded to a half type (vtr::float16 / vtr::bfloat16), cached under `key` (naming f's data).
template <class H>
std::shared_ptr<const std::vector<H>> shared_half(const std::string& key, const std::vector<float>& f) {
  return cached<H>(std::string(std::is_same_v<H, vtr::bfloat16> ? "bf16/" : "f16/") + key, [&] {
    std::vector<H> h(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) h[i] = H(f[i]);
    return h;
  });
}

/// `k` of `n` indices, spread at random (fixed seed), ascending.
inline std::vector<index_t> spread_indices(index_t n, index_t k, unsigned seed = 5) {
  std::vector<index_t> all(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
  std::mt19937 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(k));
  std::sort(all.begin(), all.end());
  return all;
}

// ---------------------------------------------------------------------------------------------------
// Targets and registration

/// What a step is held to: a user counter named after the target class, valued at the limit.
struct target {
  const char* counter;  ///< nullptr: no target
  double limit;
};
inline constexpr target no_target{nullptr, 0.0};
/// Memory-bound step: ≤ 1.3 × its read/memcpy floor.
inline constexpr target memory_bound{"target_memory", 1.3};
/// GEMM-bound step: ≤ 1.2 × Eigen's GEMM/SYRK of the same shape.
inline constexpr target gemm_bound{"target_gemm", 1.2};
/// Latency budget in µs (top-k of 2880 scores: 5 µs).
inline constexpr target latency_us(double us) { return {"target_us", us}; }
/// Method: at most 10 % of its time outside its "/dominant" step.
inline constexpr target method_overhead{"target_outside", 0.10};

/// Registers `fn(state, args...)` as "<name>" held to `t`.
template <class Fn, class... A>
benchmark::internal::Benchmark* add_step(const std::string& name, target t, Fn fn, A... args) {
  return benchmark::RegisterBenchmark(name.c_str(),
                                      [=](benchmark::State& st) {
                                        fn(st, args...);
                                        if (t.counter) st.counters[t.counter] = t.limit;
                                      })
      ->Unit(benchmark::kMicrosecond);
}

namespace detail {
template <class Fn, class... A>
benchmark::internal::Benchmark* reg(const std::string& name, Fn fn, A... args) {
  return benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { fn(st, args...); })
      ->Unit(benchmark::kMicrosecond);
}
}  // namespace detail

/// "<name>/floor", "<name>/naive", "<name>/dominant" of the step registered as `name`.
template <class Fn, class... A>
benchmark::internal::Benchmark* add_floor(const std::string& name, Fn fn, A... args) {
  return detail::reg(name + "/floor", fn, args...);
}
template <class Fn, class... A>
benchmark::internal::Benchmark* add_naive(const std::string& name, Fn fn, A... args) {
  return detail::reg(name + "/naive", fn, args...);
}
template <class Fn, class... A>
benchmark::internal::Benchmark* add_dominant(const std::string& name, Fn fn, A... args) {
  return detail::reg(name + "/dominant", fn, args...);
}

// ---------------------------------------------------------------------------------------------------
// Floors

/// Memory floor: read `n` floats once (a vectorised sum the compiler cannot drop).
inline void floor_read(benchmark::State& state, const float* p, std::size_t n) {
  for (auto _ : state) {
    Eigen::Map<const Eigen::VectorXf> v(p, static_cast<Eigen::Index>(n));
    float s = v.sum();
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * sizeof(float)));
}

/// Memory floor: read `n` floats (cached random data).
inline void floor_read_n(benchmark::State& state, std::size_t n) {
  const auto x = shared_floats(n, 101);
  floor_read(state, x->data(), n);
}

/// Memory floor: copy `bytes` from src to dst.
inline void floor_memcpy(benchmark::State& state, void* dst, const void* src, std::size_t bytes) {
  for (auto _ : state) {
    std::memcpy(dst, src, bytes);
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

/// Memory floor: copy `n` floats between two buffers of their own.
inline void floor_memcpy_n(benchmark::State& state, std::size_t n) {
  const auto x = shared_floats(n, 102);
  std::vector<float> y(n);
  floor_memcpy(state, y.data(), x->data(), n * sizeof(float));
}

/// Memory floor of a step that reads `read_n` floats and writes `write_n` of them (write_n ≤ read_n; a merge
/// or a gather-and-reduce): a memcpy of write_n floats (read + write) plus one read of the rest.
inline void floor_read_write(benchmark::State& state, std::size_t read_n, std::size_t write_n) {
  const auto x = shared_floats(read_n, 106);
  std::vector<float> y(write_n);
  for (auto _ : state) {
    std::memcpy(y.data(), x->data(), write_n * sizeof(float));
    Eigen::Map<const Eigen::VectorXf> rest(x->data() + write_n, static_cast<Eigen::Index>(read_n - write_n));
    float s = rest.sum();
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (read_n + write_n) * sizeof(float)));
}

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_map = Eigen::Map<const row_major>;

/// GEMM floor: `count` independent products C_i[m×n] = A_i[m×k]·B_i[n×k]ᵀ in fp32 through Eigen
/// (row-major, as the kernels use them; count > 1: per head or per crop), each into its own output.
inline void floor_gemm_abt(benchmark::State& state, Eigen::Index m, Eigen::Index n, Eigen::Index k, Eigen::Index count = 1) {
  const auto a = shared_floats(static_cast<std::size_t>(count * m * k), 103, -1.0f, 1.0f);
  const auto b = shared_floats(static_cast<std::size_t>(count * n * k), 104, -1.0f, 1.0f);
  std::vector<float> c(static_cast<std::size_t>(count * m * n));
  for (auto _ : state) {
    for (Eigen::Index i = 0; i < count; ++i) {
      Eigen::Map<row_major> ci(c.data() + i * m * n, m, n);
      ci.noalias() = const_map(a->data() + i * m * k, m, k) * const_map(b->data() + i * n * k, n, k).transpose();
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
}

/// SYRK floor: the lower triangle of X_i·X_iᵀ for X_i[n_i×k], one rank update per size (e.g. one per
/// DPC-kNN call of a method), through Eigen.
inline void floor_syrk_sizes(benchmark::State& state, std::vector<index_t> sizes, Eigen::Index k) {
  const index_t n_max = sizes.empty() ? 1 : *std::max_element(sizes.begin(), sizes.end());
  const auto x = shared_floats(static_cast<std::size_t>(n_max * k), 105, -1.0f, 1.0f);
  Eigen::MatrixXf c(n_max, n_max);
  for (auto _ : state) {
    for (index_t n : sizes) {
      auto cn = c.topLeftCorner(n, n);
      cn.setZero();
      cn.selfadjointView<Eigen::Lower>().rankUpdate(const_map(x->data(), n, k));
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
}

/// SYRK floor: the lower triangle of X·Xᵀ for X[n×k].
inline void floor_syrk(benchmark::State& state, Eigen::Index n, Eigen::Index k) { floor_syrk_sizes(state, {n}, k); }

// ---------------------------------------------------------------------------------------------------
// Naive versions

/// The literal §2.2/§2.3 definition on a contiguous [H][R][C] block of T (float or a half type): per
/// column, per row, widen and reduce the heads, then reduce the rows.
template <class T>
void naive_reduce_attention(const T* a, index_t heads, index_t rows, index_t cols, vtr::ops::head_reduce hr,
                            vtr::ops::row_reduce rr, float* out) {
  using vtr::ops::head_reduce;
  using vtr::ops::row_reduce;
  for (index_t c = 0; c < cols; ++c) {
    float acc = rr == row_reduce::max ? -1e30f : 0.0f;
    for (index_t r = 0; r < rows; ++r) {
      float hv = hr == head_reduce::max ? -1e30f : 0.0f;
      for (index_t h = 0; h < heads; ++h) {
        const float x = vtr::to_float(a[(h * rows + r) * cols + c]);
        hv = hr == head_reduce::max ? std::max(hv, x) : hv + x;
      }
      if (hr == head_reduce::mean) hv /= float(heads);
      acc = rr == row_reduce::max ? std::max(acc, hv) : acc + hv;
    }
    out[c] = rr == row_reduce::mean ? acc / float(rows) : acc;
  }
}

}  // namespace vtr_bench

/// Defines a file's registration function `name`, run during static initialisation (place it after the
/// file's namespace-scope data, which is initialised in order of definition).
#define VTR_BENCH_REGISTER(name)                                  \
  void name();                                                    \
  [[maybe_unused]] const bool name##_registered = (name(), true); \
  void name()
