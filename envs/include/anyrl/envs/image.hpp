// Writing RGB renderings to PNG (stb_image_write).
#pragma once
#include <cstdint>
#include <span>
#include <string>

namespace anyrl::envs {

// Writes height x width x 3 bytes to a PNG file; throws std::runtime_error on failure.
void write_png(const std::string& path, int width, int height, std::span<const uint8_t> rgb);

}  // namespace anyrl::envs
