// vtr-visualize: visual tokens from pixels, and the saliency stand-in for attention.
//
// A real VLM's tokens come from a vision tower; here each grid cell (a 14-px patch of the 336-px view, the
// LLaVA-1.5 layout) becomes a small, deterministic feature vector built from its pixels:
//   * mean colour in an opponent space (luminance, red–green, yellow–blue)           3 values, weight 1.0
//   * colour spread (RMS deviation from the mean colour inside the patch)           1 value,  weight 0.6
//   * gradient energy in 4 orientation bins (0°, 45°, 90°, 135°) of the luminance   4 values, weight 0.6
//   * a 2×2×2 RGB histogram (fraction of pixels per octant)                          8 values, weight 0.3
//   * the cell's position on the grid, in [−1, 1]²                                   2 values, weight 0.5
// Every value is standardised over all tokens (z-score) and weighted, and a constant 1.5 is appended: a
// token near the image mean then points along that common axis instead of in an arbitrary direction, so
// cosine similarity (what the merging methods use) reads "similar patches" as similar. Position makes
// neighbours slightly more alike, as positional embeddings do in a ViT.
//
// Saliency stand-in for attention. The methods that score tokens by attention ([CLS] rows in the vision
// tower, text rows in the LLM) read a two-head attention map built from two classic saliency cues:
//   head 0: colour distinctiveness — distance of the patch's mean colour from the mean colour of the
//           whole image (or video), in the opponent space;
//   head 1: local contrast — mean feature distance of the patch to its 8 grid neighbours (centre–surround).
// Each cue is divided by its maximum and multiplied by kSaliencySharpness (a logit); a head's attention
// over the current visual tokens is the softmax of its logits. Merged tokens carry the mean logit of what
// they merged (the same plan is applied to the logits as to the features).
#pragma once

#include "image.hpp"

#include <vtr/config.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace viz {

using vtr::index_t;

/// Heads of the stand-in attention (colour distinctiveness, local contrast).
constexpr index_t kHeads = 2;
/// Logit of the most salient token (the least salient has logit 0): e^6 ≈ 400 between the extremes.
constexpr float kSaliencySharpness = 6.0f;

struct token_grid {
  index_t frames = 1, gh = 0, gw = 0, cell = 0;  ///< frames × gh × gw tokens of cell × cell pixels
  index_t dim = 0;                               ///< feature width
  std::vector<float> features;                   ///< [frames·gh·gw][dim], frame-major, raster order
  std::vector<float> logits;                     ///< [frames·gh·gw][kHeads] stand-in attention logits
  std::vector<rgb> colour;                       ///< [frames·gh·gw] mean colour of each token's patch
  index_t count() const { return frames * gh * gw; }
  index_t per_frame() const { return gh * gw; }
};

namespace tokens_detail {
constexpr index_t kRaw = 18;  // 3 colour + 1 spread + 4 gradient + 8 histogram + 2 position
constexpr float kWeights[kRaw] = {1.0f, 1.0f, 1.0f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.3f,
                                  0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.5f, 0.5f};
constexpr index_t kPositionBegin = 16;
constexpr float kBias = 1.5f;

inline void opponent(rgb c, float o[3]) {
  o[0] = (c.r + c.g + c.b) / 3.0f;
  o[1] = (c.r - c.g) / 2.0f;
  o[2] = (c.r + c.g) / 4.0f - c.b / 2.0f;
}
}  // namespace tokens_detail

/// Tokens of `views` (each gh·cell × gw·cell pixels, one per frame).
inline token_grid make_tokens(const std::vector<image>& views, index_t gh, index_t gw, index_t cell) {
  using namespace tokens_detail;
  constexpr float pi = 3.14159265f;
  token_grid g;
  g.frames = static_cast<index_t>(views.size());
  g.gh = gh;
  g.gw = gw;
  g.cell = cell;
  g.dim = kRaw + 1;
  const index_t n = g.count();
  std::vector<float> raw(static_cast<std::size_t>(n * kRaw), 0.0f);
  std::vector<float> mean_opp(static_cast<std::size_t>(n * 3));
  g.colour.resize(static_cast<std::size_t>(n));
  const float npx = static_cast<float>(cell * cell);
  for (index_t f = 0; f < g.frames; ++f) {
    const image& im = views[static_cast<std::size_t>(f)];
    auto lum = [&](coord x, coord y) {
      float o[3];
      opponent(im.at(std::clamp<coord>(x, 0, im.w - 1), std::clamp<coord>(y, 0, im.h - 1)), o);
      return o[0];
    };
    for (index_t r = 0; r < gh; ++r)
      for (index_t c = 0; c < gw; ++c) {
        const index_t t = f * gh * gw + r * gw + c;
        float* v = raw.data() + t * kRaw;
        rgb sum{};
        float o_sum[3] = {0, 0, 0}, o_sq[3] = {0, 0, 0};
        for (index_t y = r * cell; y < (r + 1) * cell; ++y)
          for (index_t x = c * cell; x < (c + 1) * cell; ++x) {
            const rgb p = im.at(x, y);
            sum = sum + p;
            float o[3];
            opponent(p, o);
            for (int k = 0; k < 3; ++k) {
              o_sum[k] += o[k];
              o_sq[k] += o[k] * o[k];
            }
            const float gx = lum(x + 1, y) - lum(x - 1, y), gy = lum(x, y + 1) - lum(x, y - 1);
            const float mag = std::sqrt(gx * gx + gy * gy);
            float theta = std::atan2(gy, gx);
            if (theta < 0) theta += pi;
            const int bin = static_cast<int>(std::lround(theta / (pi / 4))) % 4;
            v[4 + bin] += mag / npx;
            v[8 + (p.r > 0.5f ? 4 : 0) + (p.g > 0.5f ? 2 : 0) + (p.b > 0.5f ? 1 : 0)] += 1.0f / npx;
          }
        g.colour[static_cast<std::size_t>(t)] = (1.0f / npx) * sum;
        float spread = 0;
        for (int k = 0; k < 3; ++k) {
          const float m = o_sum[k] / npx;
          v[k] = m;
          mean_opp[static_cast<std::size_t>(t * 3 + k)] = m;
          spread += std::max(0.0f, o_sq[k] / npx - m * m);
        }
        v[3] = std::sqrt(spread);
        v[16] = (static_cast<float>(c) + 0.5f) / static_cast<float>(gw) * 2.0f - 1.0f;
        v[17] = (static_cast<float>(r) + 0.5f) / static_cast<float>(gh) * 2.0f - 1.0f;
      }
  }
  // Standardise each value over every token, weight it, append the constant.
  std::vector<float> z(raw.size());
  for (index_t k = 0; k < kRaw; ++k) {
    double s = 0, s2 = 0;
    for (index_t t = 0; t < n; ++t) s += raw[static_cast<std::size_t>(t * kRaw + k)];
    const double mean = s / static_cast<double>(n);
    for (index_t t = 0; t < n; ++t) s2 += std::pow(raw[static_cast<std::size_t>(t * kRaw + k)] - mean, 2.0);
    const double sd = std::max(std::sqrt(s2 / static_cast<double>(n)), 1e-3);
    for (index_t t = 0; t < n; ++t) {
      const std::size_t i = static_cast<std::size_t>(t * kRaw + k);
      z[i] = static_cast<float>((raw[i] - mean) / sd) * kWeights[k];
    }
  }
  g.features.resize(static_cast<std::size_t>(n * g.dim));
  for (index_t t = 0; t < n; ++t) {
    std::copy(z.begin() + t * kRaw, z.begin() + (t + 1) * kRaw, g.features.begin() + t * g.dim);
    g.features[static_cast<std::size_t>(t * g.dim + kRaw)] = kBias;
  }
  // The two saliency cues.
  float global[3] = {0, 0, 0};
  for (index_t t = 0; t < n; ++t)
    for (int k = 0; k < 3; ++k) global[k] += mean_opp[static_cast<std::size_t>(t * 3 + k)] / static_cast<float>(n);
  std::vector<float> distinct(static_cast<std::size_t>(n)), contrast(static_cast<std::size_t>(n));
  for (index_t f = 0; f < g.frames; ++f)
    for (index_t r = 0; r < gh; ++r)
      for (index_t c = 0; c < gw; ++c) {
        const index_t t = f * gh * gw + r * gw + c;
        float d2 = 0;
        for (int k = 0; k < 3; ++k) d2 += std::pow(mean_opp[static_cast<std::size_t>(t * 3 + k)] - global[k], 2.0f);
        distinct[static_cast<std::size_t>(t)] = std::sqrt(d2);
        float acc = 0;
        int cnt = 0;
        for (index_t dr = -1; dr <= 1; ++dr)
          for (index_t dc = -1; dc <= 1; ++dc) {
            if ((dr == 0 && dc == 0) || r + dr < 0 || r + dr >= gh || c + dc < 0 || c + dc >= gw) continue;
            const index_t u = t + dr * gw + dc;
            float e = 0;
            for (index_t k = 0; k < kPositionBegin; ++k)
              e += std::pow(z[static_cast<std::size_t>(t * kRaw + k)] - z[static_cast<std::size_t>(u * kRaw + k)], 2.0f);
            acc += std::sqrt(e);
            ++cnt;
          }
        contrast[static_cast<std::size_t>(t)] = acc / static_cast<float>(cnt);
      }
  const float dmax = std::max(*std::max_element(distinct.begin(), distinct.end()), 1e-6f);
  const float cmax = std::max(*std::max_element(contrast.begin(), contrast.end()), 1e-6f);
  g.logits.resize(static_cast<std::size_t>(n * kHeads));
  for (index_t t = 0; t < n; ++t) {
    g.logits[static_cast<std::size_t>(t * kHeads)] = kSaliencySharpness * distinct[static_cast<std::size_t>(t)] / dmax;
    g.logits[static_cast<std::size_t>(t * kHeads + 1)] = kSaliencySharpness * contrast[static_cast<std::size_t>(t)] / cmax;
  }
  return g;
}

/// softmax over the n tokens of head h's logits ([n][kHeads]) times `sharpness` into out[n], scaled by `share`.
inline void head_softmax(const std::vector<float>& logits, index_t n, index_t h, float share, float* out, float sharpness = 1.0f) {
  float mx = -1e30f;
  for (index_t j = 0; j < n; ++j) mx = std::max(mx, sharpness * logits[static_cast<std::size_t>(j * kHeads + h)]);
  float s = 0;
  for (index_t j = 0; j < n; ++j) s += (out[j] = std::exp(sharpness * logits[static_cast<std::size_t>(j * kHeads + h)] - mx));
  for (index_t j = 0; j < n; ++j) out[j] *= share / s;
}

}  // namespace viz
