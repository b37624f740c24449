// Integration guide (docs/integration.md), "Memory": one workspace and reused plans per thread; after the
// first request nothing on the hot path allocates. This program counts every operator new of the process
// and checks that requests 2…n of a VScan stage 1 → FastV-from-Q/K → KV compaction loop make none; returns
// non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/core/kv.hpp>
#include <vtr/core/positions.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <utility>
#include <vector>

// ---- every heap allocation of the process is counted ----
namespace {
std::size_t g_allocations = 0;
void* counted(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* counted_aligned(std::size_t n, std::size_t a) {
  ++g_allocations;
  const std::size_t rounded = (n + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, rounded ? rounded : a)) return p;
  throw std::bad_alloc();
}
}  // namespace
void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_aligned(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_aligned(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using vtr::index_t;

// What one request looks like to the engine: new features, [CLS] rows, q of the last token, K of layer K−1.
struct request {
  std::vector<float> features, cls5, cls22, q_last, keys, hidden, hidden_out, k_cache, v_cache;
  std::vector<std::int64_t> pos, new_pos;
};

}  // namespace

int main() {
  const index_t N = 576, D = 64, enc_heads = 4, P = 35, T = 40, H = 4, H_kv = 2, d = 16, layers = 4, K = 2;
  const index_t n_img = vtr::vscan::stage1{{/*budget=*/144}}.kept_count(N).value(), L = P + n_img + T;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  auto fill = [&](std::vector<float>& v, index_t n) {
    v.resize(static_cast<std::size_t>(n));
    for (auto& x : v) x = u(rng);
  };
  request r;  // the engine's buffers, allocated once (outside the counted loop)
  fill(r.hidden, L * D);
  fill(r.hidden_out, L * D);
  fill(r.k_cache, layers * L * H_kv * d);
  fill(r.v_cache, layers * L * H_kv * d);
  r.pos.resize(static_cast<std::size_t>(L));
  r.new_pos.resize(static_cast<std::size_t>(L));
  std::vector<std::size_t> allocations_per_request;

  // [guide:workspace]
  // Per thread, kept across requests: the methods, one workspace (a bump arena, not thread-safe) and the
  // plans. The first request sizes the arena and the plans' capacity (or reserve() them at start-up);
  // later requests take their scratch from the arena and reuse the plans: nothing is allocated.
  vtr::vscan::stage1 scan{{/*budget=*/144}};
  vtr::fastv::select fastv{{/*layer=*/K, vtr::fastv::count_rule::ratio, /*ratio=*/0.5}};
  vtr::workspace ws;
  vtr::plan image_plan, seq_plan;
  // [/guide:workspace]

  for (int req = 0; req < 4; ++req) {
    fill(r.features, N * D);
    fill(r.cls5, enc_heads * N);
    fill(r.cls22, enc_heads * N);
    fill(r.q_last, H * d);
    fill(r.keys, L * H_kv * d);
    for (index_t i = 0; i < L; ++i) r.pos[static_cast<std::size_t>(i)] = i;
    const std::vector<index_t> q_row{L - 1};
    const std::size_t before = g_allocations;

    // [guide:hot-path]
    vtr::vscan::stage1::inputs img;
    img.features = vtr::matrix_view<const float>(r.features.data(), {N, D});
    img.attn_shallow = vtr::matrix_view<const float>(r.cls5.data(), {enc_heads, N});
    img.attn_deep = vtr::matrix_view<const float>(r.cls22.data(), {enc_heads, N});
    if (vtr::status s = scan.try_plan(img, image_plan, ws); !s) return 1;  // the try_ forms fill a plan you own
    vtr::apply(image_plan, img.features, vtr::matrix_view<float>(r.hidden.data() + P * D, {n_img, D}));

    vtr::fastv::select::inputs in;  // at layer K: q of the last token and the cached keys of layer K−1
    in.attention = vtr::ops::attention_input::from_qk(vtr::tensor_view<const float, 3>(r.q_last.data(), {1, H, d}),
                                                      vtr::tensor_view<const float, 3>(r.keys.data(), {L, H_kv, d}),
                                                      vtr::view_of(q_row));
    in.image_start = P;
    in.image_count = n_img;
    if (vtr::status s = fastv.try_plan(in, seq_plan, ws); !s) return 1;
    const index_t n = seq_plan.size();
    vtr::apply(seq_plan, vtr::matrix_view<const float>(r.hidden.data(), {L, D}), vtr::matrix_view<float>(r.hidden_out.data(), {n, D}));
    vtr::positions::gather(seq_plan, vtr::vector_view<const std::int64_t>(r.pos.data(), {L}), vtr::vector_view<std::int64_t>(r.new_pos.data(), {n}));
    vtr::kv::compact(seq_plan, vtr::kv::layers_from(K), vtr::tensor_view<float, 3>(r.k_cache.data(), {layers, L, H_kv * d}),
                     vtr::tensor_view<float, 3>(r.v_cache.data(), {layers, L, H_kv * d}));
    // [/guide:hot-path]
    allocations_per_request.push_back(g_allocations - before);
  }

  bool ok = allocations_per_request[0] > 0;  // the first request sized the arena and the plans
  for (std::size_t i = 1; i < allocations_per_request.size(); ++i) ok = ok && allocations_per_request[i] == 0;
  std::printf("guide_memory: heap allocations per request:");
  for (std::size_t a : allocations_per_request) std::printf(" %zu", a);
  std::printf(" (workspace %zu bytes, high water %zu): %s\n", ws.capacity(), ws.high_water(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
