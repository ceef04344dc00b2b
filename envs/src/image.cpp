#include "anyrl/envs/image.hpp"

#include <stdexcept>

// Compiled into this library with internal linkage, so no libstb link dependency and no symbol
// clash with a user's own copy of stb.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif

namespace anyrl::envs {

void write_png(const std::string& path, int width, int height, std::span<const uint8_t> rgb) {
  if (width <= 0 || height <= 0 || rgb.size() != static_cast<size_t>(width) * height * 3)
    throw std::invalid_argument("write_png: buffer size does not match width*height*3");
  if (!stbi_write_png(path.c_str(), width, height, 3, rgb.data(), width * 3))
    throw std::runtime_error("write_png: cannot write '" + path + "'");
}

}  // namespace anyrl::envs
