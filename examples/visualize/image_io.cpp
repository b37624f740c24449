// vtr-visualize: image files through stb (Debian's libstb-dev ships the compiled library; elsewhere
// CMake compiles stb_impl.cpp instead). The headers are on a SYSTEM include path: their own warnings are
// not ours.
#include "image.hpp"

#include <stb_image.h>
#include <stb_image_write.h>

#include <cmath>
#include <cstdint>

namespace viz {

image load_image(const std::string& path, std::string& error) {
  int w = 0, h = 0, comp = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &comp, 3);
  if (!data) {
    const char* why = stbi_failure_reason();
    error = why ? why : "unknown error";
    return {};
  }
  image im(w, h);
  for (std::size_t i = 0; i < im.px.size(); ++i)
    im.px[i] = {static_cast<float>(data[3 * i]) / 255.0f, static_cast<float>(data[3 * i + 1]) / 255.0f,
                static_cast<float>(data[3 * i + 2]) / 255.0f};
  stbi_image_free(data);
  return im;
}

bool write_png(const std::string& path, const image& im) {
  std::vector<unsigned char> bytes(im.px.size() * 3);
  auto q = [](float v) { return static_cast<unsigned char>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f)); };
  for (std::size_t i = 0; i < im.px.size(); ++i) {
    bytes[3 * i] = q(im.px[i].r);
    bytes[3 * i + 1] = q(im.px[i].g);
    bytes[3 * i + 2] = q(im.px[i].b);
  }
  stbi_write_png_compression_level = 9;  // the README pictures are committed: smallest files
  return stbi_write_png(path.c_str(), static_cast<int>(im.w), static_cast<int>(im.h), 3, bytes.data(),
                        static_cast<int>(im.w * 3)) != 0;
}

}  // namespace viz
