#include "anyrl/envs/gif.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace anyrl::envs {
namespace {

constexpr int kLevelsR = 6, kLevelsG = 7, kLevelsB = 6;

uint8_t level_value(int level, int levels) {
  return static_cast<uint8_t>((level * 255 * 2 + (levels - 1)) / (2 * (levels - 1)));  // round(level*255/(n-1))
}

// Per-channel lookup: value -> nearest level (ties to the lower level).
struct ChannelLut {
  std::array<uint8_t, 256> level{};
  explicit ChannelLut(int levels) {
    for (int v = 0; v < 256; ++v) {
      int best = 0, best_d = 1 << 20;
      for (int l = 0; l < levels; ++l) {
        const int d = std::abs(v - level_value(l, levels));
        if (d < best_d) best = l, best_d = d;
      }
      level[v] = static_cast<uint8_t>(best);
    }
  }
};

const ChannelLut& lut_r() {
  static const ChannelLut l(kLevelsR);
  return l;
}
const ChannelLut& lut_g() {
  static const ChannelLut l(kLevelsG);
  return l;
}
const ChannelLut& lut_b() { return lut_r(); }  // same number of levels as red

// LSB-first packing of variable-width codes.
struct BitWriter {
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  void put(uint32_t code, int width) {
    acc |= code << bits;
    bits += width;
    while (bits >= 8) {
      out.push_back(static_cast<uint8_t>(acc & 0xFF));
      acc >>= 8;
      bits -= 8;
    }
  }
  void flush() {
    if (bits > 0) out.push_back(static_cast<uint8_t>(acc & 0xFF));
    acc = 0;
    bits = 0;
  }
};

void put16(std::vector<uint8_t>& o, int v) {
  o.push_back(static_cast<uint8_t>(v & 0xFF));
  o.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
}

}  // namespace

const std::array<uint8_t, 768>& gif_palette() {
  static const std::array<uint8_t, 768> pal = [] {
    std::array<uint8_t, 768> p{};  // entries 252..255 stay black
    for (int r = 0; r < kLevelsR; ++r)
      for (int g = 0; g < kLevelsG; ++g)
        for (int b = 0; b < kLevelsB; ++b) {
          const int i = (r * kLevelsG + g) * kLevelsB + b;
          p[3 * i + 0] = level_value(r, kLevelsR);
          p[3 * i + 1] = level_value(g, kLevelsG);
          p[3 * i + 2] = level_value(b, kLevelsB);
        }
    return p;
  }();
  return pal;
}

uint8_t gif_palette_index(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((lut_r().level[r] * kLevelsG + lut_g().level[g]) * kLevelsB + lut_b().level[b]);
}

std::vector<uint8_t> gif_quantize(std::span<const uint8_t> rgb) {
  if (rgb.size() % 3 != 0) throw std::invalid_argument("gif_quantize: RGB buffer size is not a multiple of 3");
  const ChannelLut &lr = lut_r(), &lg = lut_g(), &lb = lut_b();
  std::vector<uint8_t> idx(rgb.size() / 3);
  for (size_t i = 0; i < idx.size(); ++i)
    idx[i] = static_cast<uint8_t>((lr.level[rgb[3 * i]] * kLevelsG + lg.level[rgb[3 * i + 1]]) * kLevelsB +
                                  lb.level[rgb[3 * i + 2]]);
  return idx;
}

std::vector<uint8_t> gif_lzw_encode(std::span<const uint8_t> indices) {
  constexpr int kMinCodeSize = 8;
  constexpr uint32_t kClear = 1u << kMinCodeSize, kEnd = kClear + 1, kFirst = kClear + 2;
  constexpr uint32_t kMaxCodes = 4096;  // 12-bit codes
  // child[code * 256 + byte] = code of the string `code` + byte (0: not in the table; no entry
  // ever has code 0 because single-byte strings are implicit).
  std::vector<uint16_t> child(static_cast<size_t>(kMaxCodes) * 256, 0);
  BitWriter bw;
  int width = kMinCodeSize + 1;
  uint32_t next = kFirst;
  bw.put(kClear, width);
  if (indices.empty()) {
    bw.put(kEnd, width);
    bw.flush();
    return std::move(bw.out);
  }
  uint32_t w = indices[0];
  for (size_t i = 1; i < indices.size(); ++i) {
    const uint8_t c = indices[i];
    uint16_t& slot = child[static_cast<size_t>(w) * 256 + c];
    if (slot != 0) {
      w = slot;
      continue;
    }
    bw.put(w, width);
    // The decoder adds each entry one code later than we do; it widens its codes when its next
    // free code reaches 2^width, i.e. when the entry we add now is 2^width.
    const uint32_t e = next++;
    slot = static_cast<uint16_t>(e);
    if (e == (1u << width) && width < 12) ++width;
    if (e == kMaxCodes - 1) {  // table full: clear (at 12 bits) and start again
      bw.put(kClear, width);
      std::fill(child.begin(), child.end(), uint16_t{0});
      width = kMinCodeSize + 1;
      next = kFirst;
    }
    w = c;
  }
  bw.put(w, width);
  // After this last code the decoder adds one more entry (code `next`) and may widen.
  if (next == (1u << width) && width < 12) ++width;
  bw.put(kEnd, width);
  bw.flush();
  return std::move(bw.out);
}

GifWriter::GifWriter(std::string path, int width, int height, int delay_cs, int loops)
    : path_(std::move(path)), width_(width), height_(height), delay_cs_(delay_cs), loops_(loops) {
  if (width < 1 || height < 1 || width > 65535 || height > 65535)
    throw std::invalid_argument("GifWriter: image size must be 1..65535 pixels, got " + std::to_string(width) +
                                "x" + std::to_string(height));
  if (delay_cs < 0 || delay_cs > 65535) throw std::invalid_argument("GifWriter: delay must be 0..65535 (1/100 s)");
  if (loops < 0 || loops > 65535) throw std::invalid_argument("GifWriter: loop count must be 0..65535");
}

void GifWriter::add_frame(std::span<const uint8_t> rgb) {
  if (rgb.size() != static_cast<size_t>(width_) * height_ * 3)
    throw std::invalid_argument("GifWriter::add_frame: buffer size does not match width*height*3");
  add_indexed_frame(gif_quantize(rgb));
}

void GifWriter::add_indexed_frame(std::span<const uint8_t> indices) {
  if (indices.size() != static_cast<size_t>(width_) * height_)
    throw std::invalid_argument("GifWriter::add_indexed_frame: buffer size does not match width*height");
  std::vector<uint8_t>& o = body_;
  // Graphic control extension: disposal 1 (leave in place), no transparency, delay.
  o.insert(o.end(), {0x21, 0xF9, 0x04, 0x04});
  put16(o, delay_cs_);
  o.insert(o.end(), {0x00, 0x00});
  // Image descriptor: full canvas, global colour table, not interlaced.
  o.push_back(0x2C);
  put16(o, 0);
  put16(o, 0);
  put16(o, width_);
  put16(o, height_);
  o.push_back(0x00);
  // LZW minimum code size, then the code stream in sub-blocks of at most 255 bytes.
  o.push_back(8);
  const std::vector<uint8_t> lzw = gif_lzw_encode(indices);
  for (size_t p = 0; p < lzw.size(); p += 255) {
    const size_t n = std::min<size_t>(255, lzw.size() - p);
    o.push_back(static_cast<uint8_t>(n));
    o.insert(o.end(), lzw.begin() + static_cast<std::ptrdiff_t>(p), lzw.begin() + static_cast<std::ptrdiff_t>(p + n));
  }
  o.push_back(0x00);
  ++frames_;
}

void GifWriter::finish() {
  if (frames_ == 0) throw std::runtime_error("GifWriter: no frame to write to '" + path_ + "'");
  std::vector<uint8_t> head = {'G', 'I', 'F', '8', '9', 'a'};
  head.reserve(6 + 7 + 768 + 19);
  put16(head, width_);
  put16(head, height_);
  head.insert(head.end(), {0xF7, 0x00, 0x00});  // global colour table of 256 entries, 8-bit colour
  const auto& pal = gif_palette();
  head.insert(head.end(), pal.begin(), pal.end());
  head.insert(head.end(), {0x21, 0xFF, 0x0B});
  const char* app = "NETSCAPE2.0";
  head.insert(head.end(), app, app + 11);
  head.insert(head.end(), {0x03, 0x01});
  put16(head, loops_);
  head.push_back(0x00);

  const std::string tmp = path_ + ".tmp" + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write GIF '" + path_ + "': " + std::strerror(errno));
  const uint8_t trailer = 0x3B;
  bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size() &&
            std::fwrite(body_.data(), 1, body_.size(), f) == body_.size() && std::fwrite(&trailer, 1, 1, f) == 1;
  const int err = ok ? 0 : errno;
  ok = (std::fclose(f) == 0) && ok;
  std::error_code ec;
  if (!ok) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error("cannot write GIF '" + path_ + "': " + std::strerror(err ? err : EIO));
  }
  std::filesystem::rename(tmp, path_, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error("cannot write GIF '" + path_ + "': " + why);
  }
}

}  // namespace anyrl::envs
