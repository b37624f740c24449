// KV compaction over contiguous per-layer caches (ALGORITHMS §1.4, §2.11): both layouts, layer ranges,
// capacity strides, K and V together, fp16-sized elements, validation that writes nothing.
#include "catch.hpp"

#include <vtr/core/kv.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;

namespace {

// A value that encodes (layer, head, token, channel), so a wrong move is visible.
float code(index_t l, index_t h, index_t t, index_t c) { return float(l * 1000000 + h * 10000 + t * 10 + c % 10) + 0.25f; }

struct cache4 {
  index_t layers, heads, cap, hd;
  std::vector<float> data;
  cache4(index_t l, index_t h, index_t cap_, index_t d) : layers(l), heads(h), cap(cap_), hd(d), data(std::size_t(l * h * cap_ * d), -1.0f) {
    for (index_t a = 0; a < l; ++a)
      for (index_t b = 0; b < h; ++b)
        for (index_t t = 0; t < cap; ++t)
          for (index_t c = 0; c < d; ++c) at(a, b, t, c) = code(a, b, t, c);
  }
  float& at(index_t l, index_t h, index_t t, index_t c) { return data[std::size_t(((l * heads + h) * cap + t) * hd + c)]; }
  float get(index_t l, index_t h, index_t t, index_t c) const { return data[std::size_t(((l * heads + h) * cap + t) * hd + c)]; }
  // The filled part: `len` tokens of a `cap`-token allocation.
  vtr::tensor_view<float, 4> view(index_t len) {
    return {data.data(), {layers, heads, len, hd}, {heads * cap * hd, cap * hd, hd, 1}};
  }
};

struct cache3 {
  index_t layers, cap, width;
  std::vector<float> data;
  cache3(index_t l, index_t cap_, index_t w) : layers(l), cap(cap_), width(w), data(std::size_t(l * cap_ * w)) {
    for (index_t a = 0; a < l; ++a)
      for (index_t t = 0; t < cap; ++t)
        for (index_t c = 0; c < w; ++c) at(a, t, c) = code(a, c / 4, t, c);
  }
  float& at(index_t l, index_t t, index_t c) { return data[std::size_t((l * cap + t) * width + c)]; }
  vtr::tensor_view<float, 3> view(index_t len) { return {data.data(), {layers, len, width}, {cap * width, width, 1}}; }
};

std::vector<index_t> random_keep(std::mt19937& rng, index_t n, index_t k) {
  std::vector<index_t> all(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) all[std::size_t(i)] = i;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(k));
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

TEST_CASE("kv: heads-major cache, layer range, capacity stride") {
  std::mt19937 rng(3);
  for (index_t len : {1, 7, 17, 64}) {
    for (int rep = 0; rep < 4; ++rep) {
      const index_t layers = 5, heads = 3, hd = 4, cap = len + 5;
      const index_t k = std::uniform_int_distribution<index_t>(0, len)(rng);
      const auto keep = random_keep(rng, len, k);
      const vtr::plan p = vtr::plan::select(len, keep);
      cache4 c(layers, heads, cap, hd);
      const cache4 before = c;
      const vtr::kv::layer_range r{1, 4};
      REQUIRE(vtr::kv::try_compact(p, r, c.view(len)).ok());
      for (index_t l = 0; l < layers; ++l)
        for (index_t h = 0; h < heads; ++h)
          for (index_t t = 0; t < cap; ++t)
            for (index_t d = 0; d < hd; ++d) {
              const bool in_range = l >= 1 && l < 4;
              const float want = in_range && t < k ? code(l, h, keep[std::size_t(t)], d) : before.get(l, h, t, d);
              REQUIRE(c.at(l, h, t, d) == want);
            }
    }
  }
}

TEST_CASE("kv: token-major cache, dense rows (runs) and strided rows") {
  std::mt19937 rng(5);
  for (index_t len : {1, 15, 576, 577}) {
    const index_t layers = 3, width = 8;
    const auto keep = random_keep(rng, len, len / 4 + 1);
    const vtr::plan p = vtr::plan::select(len, keep);
    for (index_t extra_cap : {0, 9}) {
      cache3 c(layers, len + extra_cap, width);
      REQUIRE(vtr::kv::try_compact(p, vtr::kv::layers_from(1), c.view(len)).ok());
      for (index_t l = 0; l < layers; ++l)
        for (index_t t = 0; t < len; ++t)
          for (index_t d = 0; d < width; ++d) {
            const float want = l >= 1 && t < p.size() ? code(l, d / 4, keep[std::size_t(t)], d) : code(l, d / 4, t, d);
            REQUIRE(c.at(l, t, d) == want);
          }
    }
    // A row stride larger than the row (e.g. K and V interleaved per token): element-wise the same result.
    std::vector<float> wide(std::size_t(layers * len * 2 * width));
    for (index_t l = 0; l < layers; ++l)
      for (index_t t = 0; t < len; ++t)
        for (index_t d = 0; d < 2 * width; ++d) wide[std::size_t((l * len + t) * 2 * width + d)] = code(l, d / 4, t, d);
    const vtr::tensor_view<float, 3> kview(wide.data(), {layers, len, width}, {len * 2 * width, 2 * width, 1});
    REQUIRE(vtr::kv::try_compact(p, vtr::kv::all_layers(), kview).ok());
    for (index_t l = 0; l < layers; ++l)
      for (index_t t = 0; t < p.size(); ++t)
        for (index_t d = 0; d < 2 * width; ++d) {
          const float want = d < width ? code(l, d / 4, keep[std::size_t(t)], d) : code(l, d / 4, t, d);  // V half untouched
          REQUIRE(wide[std::size_t((l * len + t) * 2 * width + d)] == want);
        }
  }
}

TEST_CASE("kv: token-minor cache ([layers][channels][tokens], llama.cpp's transposed V)") {
  std::mt19937 rng(9);
  for (index_t len : {1, 13, 300}) {
    const index_t layers = 4, channels = 6, cap = len + 7;
    const auto keep = random_keep(rng, len, std::uniform_int_distribution<index_t>(0, len)(rng));
    const vtr::plan p = vtr::plan::select(len, keep);
    std::vector<float> data(static_cast<std::size_t>(layers * channels * cap));
    auto at = [&](index_t l, index_t c, index_t t) -> float& { return data[std::size_t((l * channels + c) * cap + t)]; };
    for (index_t l = 0; l < layers; ++l)
      for (index_t c = 0; c < channels; ++c)
        for (index_t t = 0; t < cap; ++t) at(l, c, t) = code(l, 0, t, c);
    const vtr::tensor_view<float, 3> v(data.data(), {layers, channels, len}, {channels * cap, cap, 1});
    REQUIRE(vtr::kv::try_compact_token_minor(p, vtr::kv::layer_range{1, 3}, v).ok());
    for (index_t l = 0; l < layers; ++l)
      for (index_t c = 0; c < channels; ++c)
        for (index_t t = 0; t < cap; ++t) {
          const bool moved = l >= 1 && l < 3 && t < p.size();
          REQUIRE(at(l, c, t) == (moved ? code(l, 0, keep[std::size_t(t)], c) : code(l, 0, t, c)));
        }
  }
  // The token axis is the last one: a plan for another length is rejected, nothing written.
  std::vector<float> data(2 * 3 * 5, 1.0f);
  const vtr::tensor_view<float, 3> v(data.data(), {2, 3, 5});
  const auto st = vtr::kv::try_compact_token_minor(vtr::plan::select(4, std::vector<index_t>{1, 3}), vtr::kv::all_layers(), v);
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.message().find("token axis (dimension 2)") != std::string::npos);
  REQUIRE(std::all_of(data.begin(), data.end(), [](float x) { return x == 1.0f; }));
  REQUIRE_THROWS_AS(vtr::kv::compact_token_minor(vtr::plan::select(4, std::vector<index_t>{1, 3}), vtr::kv::all_layers(), v),
                    vtr::invalid_input);
}

TEST_CASE("kv: K and V together; ranges of the methods; fp16-sized elements") {
  const index_t layers = 6, len = 10;
  // PruneVid stage 2 at K = 2 compacts layers 0…2.
  const vtr::plan p = vtr::plan::select(len, {0, 1, 4, 7, 9});
  std::vector<std::uint16_t> k(std::size_t(layers * len * 2)), v(k.size());
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = static_cast<std::uint16_t>(i);
    v[i] = static_cast<std::uint16_t>(50000 + i);
  }
  const vtr::tensor_view<std::uint16_t, 3> kv_k(k.data(), {layers, len, 2}), kv_v(v.data(), {layers, len, 2});
  vtr::kv::compact(p, vtr::kv::layers_through(2), kv_k, kv_v);
  for (index_t l = 0; l < layers; ++l)
    for (index_t t = 0; t < p.size(); ++t)
      for (index_t c = 0; c < 2; ++c) {
        const index_t src = l <= 2 ? p.origin[std::size_t(t)] : t;
        CHECK(k[std::size_t((l * len + t) * 2 + c)] == std::uint16_t((l * len + src) * 2 + c));
        CHECK(v[std::size_t((l * len + t) * 2 + c)] == std::uint16_t(50000 + (l * len + src) * 2 + c));
      }
  CHECK(vtr::kv::layers_from(16).end(32) == 32);
  CHECK(vtr::kv::layers_through(10).end(32) == 11);
}

TEST_CASE("kv: lift a visual-span plan to the whole axis") {
  const vtr::plan vis = vtr::plan::select(4, {1, 3});
  const vtr::plan whole = vtr::kv::lift(vis, 2, 9);
  CHECK(whole.input_rows == 9);
  CHECK(whole.origin == std::vector<index_t>{0, 1, 3, 5, 6, 7, 8});
  vtr::plan out;
  CHECK_FALSE(vtr::kv::try_lift(vis, 6, 9, out).ok());
}

TEST_CASE("kv: bad input is rejected and nothing is written") {
  cache4 c(4, 2, 8, 3);
  const std::vector<float> snapshot = c.data;
  auto msg = [](const vtr::status& s) { return s.message(); };

  // Token axis mismatch names the argument and the shape.
  auto s = vtr::kv::try_compact(vtr::plan::select(7, {0, 2}), vtr::kv::all_layers(), c.view(8));
  REQUIRE_FALSE(s.ok());
  CHECK(msg(s).find("'cache'") != std::string::npos);
  CHECK(msg(s).find("[4, 2, 8, 3]") != std::string::npos);
  // Not ascending.
  s = vtr::kv::try_compact(vtr::plan::select(8, {3, 1}), vtr::kv::all_layers(), c.view(8));
  CHECK(msg(s).find("ascending") != std::string::npos);
  // Duplicate origin (not strictly ascending).
  CHECK_FALSE(vtr::kv::try_compact(vtr::plan::select(8, {3, 3}), vtr::kv::all_layers(), c.view(8)).ok());
  // Merge plan.
  vtr::plan merge = vtr::plan::select(8, {0});
  const index_t src[] = {1, 2};
  merge.add_merge(1, src, 2, nullptr, 2.0f);
  CHECK(msg(vtr::kv::try_compact(merge, vtr::kv::all_layers(), c.view(8))).find("selection") != std::string::npos);
  // Layer range outside the cache.
  s = vtr::kv::try_compact(vtr::plan::select(8, {0, 5}), vtr::kv::layer_range{2, 7}, c.view(8));
  CHECK(msg(s).find("layer range [2, 7)") != std::string::npos);
  CHECK_FALSE(vtr::kv::try_compact(vtr::plan::select(8, {0, 5}), vtr::kv::layer_range{3, 2}, c.view(8)).ok());
  // K fine, V wrong: neither is touched.
  cache4 v(3, 2, 8, 3);
  const std::vector<float> vsnap = v.data;
  s = vtr::kv::try_compact(vtr::plan::select(8, {0, 5}), vtr::kv::all_layers(), c.view(8), v.view(8));
  CHECK(msg(s).find("layer counts") != std::string::npos);
  CHECK(c.data == snapshot);
  CHECK(v.data == vsnap);
  CHECK_THROWS_AS(vtr::kv::compact(vtr::plan::select(7, {0}), vtr::kv::all_layers(), c.view(8)), vtr::invalid_input);
  CHECK(c.data == snapshot);
  // The identity and the empty selection are fine.
  CHECK(vtr::kv::try_compact(vtr::plan::select(8, {0, 1, 2, 3, 4, 5, 6, 7}), vtr::kv::all_layers(), c.view(8)).ok());
  CHECK(c.data == snapshot);
  CHECK(vtr::kv::try_compact(vtr::plan::select(8, {}), vtr::kv::all_layers(), c.view(8)).ok());
  CHECK(c.data == snapshot);
}
