// vtr-visualize: the procedural sample scene (sample.png is this function's output, written with
// `vtr-visualize --make-sample sample.png`): sky, sun, clouds, hills, a lake, a house, a tree, a path and a
// striped ball — flat regions that merging methods should collapse, edges and small distinct objects that
// attention-based methods should keep, and a few textures in between. Deterministic (integer hashing only).
#pragma once

#include "image.hpp"

#include <cmath>
#include <cstdint>

namespace viz {

namespace scene_detail {

inline float hash01(std::int64_t x, std::int64_t y, std::uint32_t seed) {
  std::uint32_t h = static_cast<std::uint32_t>(x) * 0x8da6b343u ^ static_cast<std::uint32_t>(y) * 0xd8163841u ^ seed * 0xcb1ab31fu;
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  return static_cast<float>(h & 0xffffffu) / static_cast<float>(0x1000000);
}

/// Smooth value noise in [0, 1] at frequency `f` (cells of 1/f).
inline float value_noise(float x, float y, float f, std::uint32_t seed) {
  const float fx = x * f, fy = y * f;
  const float x0 = std::floor(fx), y0 = std::floor(fy);
  const float tx = fx - x0, ty = fy - y0;
  const float sx = tx * tx * (3 - 2 * tx), sy = ty * ty * (3 - 2 * ty);
  const auto ix = static_cast<std::int64_t>(x0), iy = static_cast<std::int64_t>(y0);
  const float a = hash01(ix, iy, seed), b = hash01(ix + 1, iy, seed), c = hash01(ix, iy + 1, seed), d = hash01(ix + 1, iy + 1, seed);
  return (a + (b - a) * sx) + ((c + (d - c) * sx) - (a + (b - a) * sx)) * sy;
}

inline float smoothstep(float e0, float e1, float x) {
  const float t = std::clamp((x - e0) / (e1 - e0), 0.0f, 1.0f);
  return t * t * (3 - 2 * t);
}

/// The scene's colour at normalised coordinates (u, v) ∈ [0, 1]², v downwards.
inline rgb scene_colour(float u, float v) {
  constexpr float pi = 3.14159265f;
  // Sky: deep blue at the top, pale at the horizon.
  const float t = std::clamp(v / 0.55f, 0.0f, 1.0f);
  rgb c = mix(rgb{0.16f, 0.36f, 0.72f}, rgb{0.72f, 0.84f, 0.95f}, t);
  // Sun with a soft glow.
  const float ds = std::hypot(u - 0.80f, v - 0.16f);
  c = mix(c, rgb{1.0f, 0.93f, 0.55f}, 0.45f * std::exp(-ds * ds / 0.012f));
  c = mix(c, rgb{1.0f, 0.86f, 0.25f}, 1.0f - smoothstep(0.060f, 0.066f, ds));
  // Clouds: soft blobs.
  const float cl = std::exp(-(std::pow((u - 0.25f) / 0.13f, 2.0f) + std::pow((v - 0.14f) / 0.035f, 2.0f))) +
                   0.8f * std::exp(-(std::pow((u - 0.36f) / 0.09f, 2.0f) + std::pow((v - 0.11f) / 0.04f, 2.0f))) +
                   0.9f * std::exp(-(std::pow((u - 0.58f) / 0.10f, 2.0f) + std::pow((v - 0.27f) / 0.025f, 2.0f)));
  c = mix(c, rgb{0.97f, 0.97f, 0.98f}, std::clamp(cl, 0.0f, 1.0f) * 0.9f);
  // Far hills: a bluish-grey silhouette.
  const float ridge = 0.47f - 0.06f * std::sin(u * 2 * pi * 1.3f + 0.4f) - 0.025f * std::sin(u * 2 * pi * 4.1f + 1.0f);
  c = mix(c, mix(rgb{0.45f, 0.52f, 0.62f}, rgb{0.38f, 0.47f, 0.50f}, std::clamp((v - ridge) * 6, 0.0f, 1.0f)),
          smoothstep(ridge - 0.003f, ridge + 0.003f, v));
  // Meadow: mowing stripes and a little noise.
  const float ground = 0.58f + 0.02f * std::sin(u * 2 * pi * 0.8f);
  if (v > ground - 0.01f) {
    const float stripe = 0.5f + 0.5f * std::sin((u * 9.0f + v * 4.0f) * 2 * pi / 2.0f);
    rgb g = mix(rgb{0.30f, 0.58f, 0.22f}, rgb{0.38f, 0.66f, 0.26f}, smoothstep(0.35f, 0.65f, stripe));
    g = mix(g, rgb{0.22f, 0.45f, 0.16f}, 0.35f * value_noise(u, v, 60.0f, 3));
    c = mix(c, g, smoothstep(ground - 0.004f, ground + 0.004f, v));
  }
  // Lake (bottom left) with horizontal ripples.
  const float lake = std::pow((u - 0.22f) / 0.20f, 2.0f) + std::pow((v - 0.82f) / 0.09f, 2.0f);
  if (lake < 1.05f) {
    const float ripple = 0.5f + 0.5f * std::sin(v * 260.0f + 3.0f * std::sin(u * 30.0f));
    const rgb w = mix(rgb{0.10f, 0.32f, 0.55f}, rgb{0.30f, 0.55f, 0.78f}, 0.35f * ripple + 0.3f * (1 - lake));
    c = mix(c, w, 1.0f - smoothstep(0.96f, 1.04f, lake));
  }
  // Path from the door to the bottom edge.
  const float path_x = 0.63f + 0.10f * std::sin((v - 0.72f) * 7.0f);
  if (v > 0.715f) {
    const float half = 0.018f + 0.05f * (v - 0.715f);
    c = mix(c, mix(rgb{0.80f, 0.70f, 0.52f}, rgb{0.70f, 0.60f, 0.44f}, value_noise(u, v, 90.0f, 7)),
            1.0f - smoothstep(half - 0.004f, half + 0.004f, std::fabs(u - path_x)));
  }
  // House: red wall, dark roof, a lit window with a cross, a door.
  if (u > 0.50f && u < 0.76f && v > 0.53f && v < 0.72f) {
    c = mix(rgb{0.72f, 0.16f, 0.12f}, rgb{0.62f, 0.12f, 0.10f}, 0.5f + 0.5f * std::sin(v * 300.0f) > 0.85f ? 1.0f : 0.0f);
    if (u > 0.54f && u < 0.61f && v > 0.57f && v < 0.64f) {
      c = rgb{0.98f, 0.90f, 0.55f};
      if (std::fabs(u - 0.575f) < 0.004f || std::fabs(v - 0.605f) < 0.004f) c = rgb{0.25f, 0.18f, 0.12f};
    }
    if (u > 0.645f && u < 0.695f && v > 0.61f) c = rgb{0.30f, 0.20f, 0.12f};
  }
  const float roof = 0.53f - 0.12f * (1.0f - std::fabs(u - 0.63f) / 0.16f);
  if (u > 0.47f && u < 0.79f && v <= 0.53f && v > roof) c = mix(rgb{0.26f, 0.22f, 0.24f}, rgb{0.34f, 0.28f, 0.30f}, std::fmod(v * 60.0f, 1.0f) < 0.5f ? 1.0f : 0.0f);
  // Tree (left of the house): trunk and a textured round canopy.
  if (std::fabs(u - 0.40f) < 0.018f && v > 0.46f && v < 0.68f) c = rgb{0.40f, 0.26f, 0.14f};
  const float crown = std::hypot((u - 0.40f) / 0.10f, (v - 0.40f) / 0.11f);
  if (crown < 1.0f) {
    const float leaf = value_noise(u, v, 40.0f, 11) * 0.6f + value_noise(u, v, 110.0f, 13) * 0.4f;
    c = mix(rgb{0.10f, 0.33f, 0.12f}, rgb{0.28f, 0.55f, 0.20f}, leaf * (1.1f - 0.5f * crown));
  }
  // Striped ball on the meadow (bottom right).
  const float db = std::hypot(u - 0.86f, v - 0.86f);
  if (db < 0.06f) {
    const float band = std::sin((u - v) * 2 * pi / 0.04f);
    c = band > 0 ? rgb{0.95f, 0.55f, 0.10f} : rgb{0.45f, 0.20f, 0.60f};
    c = mix(c, rgb{1, 1, 1}, 0.35f * std::exp(-std::pow(std::hypot(u - 0.845f, v - 0.845f) / 0.02f, 2.0f)));
  }
  return c;
}

}  // namespace scene_detail

/// The sample scene at side × side pixels, 2×2 supersampled.
inline image make_sample_scene(coord side) {
  image im(side, side);
  const float inv = 1.0f / static_cast<float>(side);
  for (coord y = 0; y < side; ++y)
    for (coord x = 0; x < side; ++x) {
      rgb acc{};
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 2; ++i)
          acc = acc + scene_detail::scene_colour((static_cast<float>(x) + 0.25f + 0.5f * static_cast<float>(i)) * inv,
                                                 (static_cast<float>(y) + 0.25f + 0.5f * static_cast<float>(j)) * inv);
      im.at(x, y) = 0.25f * acc;
    }
  return im;
}

}  // namespace viz
