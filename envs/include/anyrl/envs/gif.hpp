// Animated GIF (GIF89a) writing for RGB renderings — our own small encoder, no dependency.
//
// Every frame is mapped onto one fixed 256-entry global palette: a 6 x 7 x 6 RGB cube (levels
// 0..5 red, 0..6 green, 0..5 blue; index = (r * 7 + g) * 6 + b, entries 252..255 are black),
// with nearest-colour mapping (per channel; exact Euclidean nearest because the palette is a
// separable grid). Pixel indices are compressed with the GIF variant of LZW: minimum code size
// 8, clear code 256, end code 257, codes 9 -> 12 bits as the table grows, a clear code and a
// table reset when the table is full (4096 entries), LSB-first bit packing into <= 255-byte
// sub-blocks. The file carries the NETSCAPE2.0 looping extension and a graphic control
// extension (delay in 1/100 s) per frame, and is written atomically (temp file + rename).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace anyrl::envs {

/// The fixed palette, 256 x RGB.
const std::array<uint8_t, 768>& gif_palette();
/// Palette index of the nearest palette colour to (r, g, b).
uint8_t gif_palette_index(uint8_t r, uint8_t g, uint8_t b);
/// height x width x 3 RGB bytes -> one palette index per pixel.
std::vector<uint8_t> gif_quantize(std::span<const uint8_t> rgb);

/// GIF LZW code stream of 8-bit indices (minimum code size 8): the raw bytes, before the split
/// into sub-blocks. Starts with a clear code, ends with the end code.
std::vector<uint8_t> gif_lzw_encode(std::span<const uint8_t> indices);

/// Collects frames in memory and writes the animation on finish().
class GifWriter {
 public:
  /// `delay_cs`: per-frame delay in 1/100 s; `loops`: 0 = forever (NETSCAPE2.0).
  /// Throws std::invalid_argument on a size outside 1..65535 or a negative delay/loop count.
  GifWriter(std::string path, int width, int height, int delay_cs = 4, int loops = 0);

  /// Appends one height x width x 3 RGB frame (throws std::invalid_argument on a size mismatch).
  void add_frame(std::span<const uint8_t> rgb);
  /// Appends one frame of palette indices (width * height bytes).
  void add_indexed_frame(std::span<const uint8_t> indices);
  int frames() const { return frames_; }

  /// Writes `path` (a temporary file next to it, then rename). Throws std::runtime_error when
  /// the file cannot be written (the temporary file is removed) or when no frame was added.
  void finish();

 private:
  std::string path_;
  int width_, height_, delay_cs_, loops_;
  int frames_ = 0;
  std::vector<uint8_t> body_;  // encoded frames (extensions + descriptors + data)
};

}  // namespace anyrl::envs
