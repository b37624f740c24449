// vtr-visualize: a minimal RGB image (float, [0, 1]), resampling and the few drawing primitives the
// pictures need. PNG/JPEG I/O goes through stb (image_io.cpp, the only file that includes it).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace viz {

using coord = std::ptrdiff_t;

struct rgb {
  float r = 0, g = 0, b = 0;
};
inline rgb operator+(rgb a, rgb b) { return {a.r + b.r, a.g + b.g, a.b + b.b}; }
inline rgb operator*(float s, rgb a) { return {s * a.r, s * a.g, s * a.b}; }
inline rgb mix(rgb a, rgb b, float t) { return (1.0f - t) * a + t * b; }
inline float luma(rgb c) { return 0.299f * c.r + 0.587f * c.g + 0.114f * c.b; }

struct image {
  coord w = 0, h = 0;
  std::vector<rgb> px;  // row-major

  image() = default;
  image(coord width, coord height, rgb fill = {}) : w(width), h(height), px(static_cast<std::size_t>(width * height), fill) {}
  rgb& at(coord x, coord y) { return px[static_cast<std::size_t>(y * w + x)]; }
  const rgb& at(coord x, coord y) const { return px[static_cast<std::size_t>(y * w + x)]; }
  bool empty() const { return px.empty(); }

  /// Bilinear sample at continuous coordinates (pixel centres at i + 0.5), clamped to the border.
  rgb sample(double x, double y) const {
    const double fx = std::clamp(x - 0.5, 0.0, static_cast<double>(w - 1));
    const double fy = std::clamp(y - 0.5, 0.0, static_cast<double>(h - 1));
    const coord x0 = static_cast<coord>(fx), y0 = static_cast<coord>(fy);
    const coord x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
    const float tx = static_cast<float>(fx - static_cast<double>(x0)), ty = static_cast<float>(fy - static_cast<double>(y0));
    return mix(mix(at(x0, y0), at(x1, y0), tx), mix(at(x0, y1), at(x1, y1), tx), ty);
  }
};

/// The region [x0, x0 + cw) × [y0, y0 + ch) of src resampled to out_w × out_h. Each output pixel averages a
/// grid of bilinear samples dense enough to cover its footprint (area-like when shrinking, smooth when
/// enlarging), so a 1000-px photo and a 336-px view give the same patch colours up to resampling.
inline image resample(const image& src, double x0, double y0, double cw, double ch, coord out_w, coord out_h) {
  image out(out_w, out_h);
  const double sx = cw / static_cast<double>(out_w), sy = ch / static_cast<double>(out_h);
  const int nx = std::clamp(static_cast<int>(std::ceil(sx)) + 1, 1, 8), ny = std::clamp(static_cast<int>(std::ceil(sy)) + 1, 1, 8);
  for (coord y = 0; y < out_h; ++y)
    for (coord x = 0; x < out_w; ++x) {
      rgb acc{};
      for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i)
          acc = acc + src.sample(x0 + (static_cast<double>(x) + (i + 0.5) / nx) * sx, y0 + (static_cast<double>(y) + (j + 0.5) / ny) * sy);
      out.at(x, y) = (1.0f / static_cast<float>(nx * ny)) * acc;
    }
  return out;
}

/// The largest centred square of src, resampled to side × side (the LLaVA-1.5 view is a square).
inline image square_view(const image& src, coord side) {
  const double s = static_cast<double>(std::min(src.w, src.h));
  return resample(src, (static_cast<double>(src.w) - s) / 2, (static_cast<double>(src.h) - s) / 2, s, s, side, side);
}

/// Copies src into dst with its top-left corner at (x, y) (clipped).
inline void blit(image& dst, const image& src, coord x, coord y) {
  for (coord j = 0; j < src.h; ++j)
    for (coord i = 0; i < src.w; ++i)
      if (x + i >= 0 && x + i < dst.w && y + j >= 0 && y + j < dst.h) dst.at(x + i, y + j) = src.at(i, j);
}

inline void fill_rect(image& im, coord x, coord y, coord w, coord h, rgb c) {
  for (coord j = std::max<coord>(y, 0); j < std::min(y + h, im.h); ++j)
    for (coord i = std::max<coord>(x, 0); i < std::min(x + w, im.w); ++i) im.at(i, j) = c;
}

/// A 1-px rectangle outline just inside [x, x + w) × [y, y + h).
inline void outline_rect(image& im, coord x, coord y, coord w, coord h, rgb c) {
  fill_rect(im, x, y, w, 1, c);
  fill_rect(im, x, y + h - 1, w, 1, c);
  fill_rect(im, x, y, 1, h, c);
  fill_rect(im, x + w - 1, y, 1, h, c);
}

// ---- I/O (image_io.cpp) ----

/// Loads a PNG/JPEG/… file through stb_image; returns an empty image and sets `error` on failure.
image load_image(const std::string& path, std::string& error);
/// Writes an 8-bit RGB PNG through stb_image_write; false on failure.
bool write_png(const std::string& path, const image& im);

}  // namespace viz
