// The GIF writer (envs/gif.hpp): palette and nearest-colour mapping, the LZW code stream and the
// file layout, all checked against an independent minimal GIF parser + LZW decoder written here
// (no code shared with the encoder).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "anyrl/envs/gif.hpp"

namespace fs = std::filesystem;
using anyrl::envs::GifWriter;

namespace {

// ---- independent decoder -------------------------------------------------------------------

struct LzwStats {
  int clears = 0;     // clear codes seen (including the leading one)
  int max_width = 0;  // widest code read
};

// Decodes a GIF LZW code stream (the concatenated sub-block bytes) with minimum code size
// `min_size`. Throws on any malformed code; requires the end code and zero padding after it.
std::vector<uint8_t> lzw_decode(const std::vector<uint8_t>& data, int min_size, LzwStats* stats = nullptr) {
  const int clear = 1 << min_size, end = clear + 1;
  std::vector<std::vector<uint8_t>> dict;
  auto reset = [&] {
    dict.assign(static_cast<size_t>(clear) + 2, {});
    for (int i = 0; i < clear; ++i) dict[static_cast<size_t>(i)] = {static_cast<uint8_t>(i)};
  };
  reset();
  int width = min_size + 1;
  size_t bitpos = 0;
  auto read = [&](int n) {
    if (bitpos + static_cast<size_t>(n) > data.size() * 8) throw std::runtime_error("lzw: ran out of data");
    int v = 0;
    for (int i = 0; i < n; ++i, ++bitpos)
      if (data[bitpos / 8] >> (bitpos % 8) & 1) v |= 1 << i;
    return v;
  };
  std::vector<uint8_t> out;
  int prev = -1;
  LzwStats st;
  for (;;) {
    st.max_width = std::max(st.max_width, width);
    const int code = read(width);
    if (code == clear) {
      reset();
      width = min_size + 1;
      prev = -1;
      ++st.clears;
      continue;
    }
    if (code == end) break;
    const int next = static_cast<int>(dict.size());
    std::vector<uint8_t> entry;
    if (code < next) {
      if (dict[static_cast<size_t>(code)].empty()) throw std::runtime_error("lzw: code of the clear/end slots");
      entry = dict[static_cast<size_t>(code)];
    } else if (code == next && prev >= 0) {  // KwKwK
      entry = dict[static_cast<size_t>(prev)];
      entry.push_back(entry[0]);
    } else {
      throw std::runtime_error("lzw: code " + std::to_string(code) + " beyond the table (" + std::to_string(next) + ")");
    }
    out.insert(out.end(), entry.begin(), entry.end());
    if (prev >= 0 && next < 4096) {
      std::vector<uint8_t> added = dict[static_cast<size_t>(prev)];
      added.push_back(entry[0]);
      dict.push_back(std::move(added));
      if (static_cast<int>(dict.size()) == (1 << width) && width < 12) ++width;
    }
    prev = code;
  }
  // Only zero padding may follow the end code, within the last byte.
  if ((bitpos + 7) / 8 != data.size()) throw std::runtime_error("lzw: bytes after the end code");
  for (size_t b = bitpos; b < data.size() * 8; ++b)
    if (data[b / 8] >> (b % 8) & 1) throw std::runtime_error("lzw: non-zero padding");
  if (stats) *stats = st;
  return out;
}

struct Frame {
  int delay = -1;
  int disposal = -1;
  std::vector<uint8_t> indices;
};

struct ParsedGif {
  int width = 0, height = 0;
  std::vector<uint8_t> palette;  // 3 * entries
  int loops = -1;                // NETSCAPE2.0 loop count, -1 when absent
  std::vector<Frame> frames;
  std::vector<LzwStats> stats;
};

ParsedGif parse_gif(const std::vector<uint8_t>& f) {
  size_t p = 0;
  auto need = [&](size_t n) {
    if (p + n > f.size()) throw std::runtime_error("gif: truncated at byte " + std::to_string(p));
  };
  auto u8 = [&] {
    need(1);
    return static_cast<int>(f[p++]);
  };
  auto u16 = [&] {
    const int lo = u8();
    return lo | u8() << 8;
  };
  auto blocks = [&] {
    std::vector<uint8_t> d;
    for (int n; (n = u8()) != 0;) {
      need(static_cast<size_t>(n));
      d.insert(d.end(), f.begin() + static_cast<std::ptrdiff_t>(p), f.begin() + static_cast<std::ptrdiff_t>(p + n));
      p += static_cast<size_t>(n);
    }
    return d;
  };
  ParsedGif g;
  need(6);
  if (std::string(f.begin(), f.begin() + 6) != "GIF89a") throw std::runtime_error("gif: bad signature");
  p = 6;
  g.width = u16();
  g.height = u16();
  const int packed = u8();
  u8();  // background
  u8();  // aspect
  if (packed & 0x80) {
    const size_t n = static_cast<size_t>(3) << ((packed & 7) + 1);
    need(n);
    g.palette.assign(f.begin() + static_cast<std::ptrdiff_t>(p), f.begin() + static_cast<std::ptrdiff_t>(p + n));
    p += n;
  }
  Frame pending;
  for (;;) {
    const int intro = u8();
    if (intro == 0x3B) break;
    if (intro == 0x21) {
      const int label = u8();
      std::vector<uint8_t> d = blocks();
      if (label == 0xF9) {
        REQUIRE(d.size() == 4);
        pending.disposal = (d[0] >> 2) & 7;
        pending.delay = d[1] | d[2] << 8;
      } else if (label == 0xFF && d.size() >= 14 && std::string(d.begin(), d.begin() + 11) == "NETSCAPE2.0") {
        // The application identifier is its own 11-byte sub-block, then 03 01 loops.
        REQUIRE(d[11] == 0x01);
        g.loops = d[12] | d[13] << 8;
      }
    } else if (intro == 0x2C) {
      const int x = u16(), y = u16(), w = u16(), h = u16();
      const int ip = u8();
      REQUIRE(x == 0);
      REQUIRE(y == 0);
      REQUIRE(w == g.width);
      REQUIRE(h == g.height);
      REQUIRE((ip & 0x80) == 0);  // no local colour table
      REQUIRE((ip & 0x40) == 0);  // not interlaced
      const int min_size = u8();
      LzwStats st;
      pending.indices = lzw_decode(blocks(), min_size, &st);
      g.frames.push_back(pending);
      g.stats.push_back(st);
      pending = Frame{};
    } else {
      throw std::runtime_error("gif: unknown block 0x" + std::to_string(intro));
    }
  }
  if (p != f.size()) throw std::runtime_error("gif: bytes after the trailer");
  return g;
}

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

fs::path scratch(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("anyrl_test_gif_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<uint8_t> noise(size_t n, int alphabet, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(0, alphabet - 1);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(u(rng));
  return v;
}

int dist2(const uint8_t* a, const uint8_t* b) {
  int s = 0;
  for (int c = 0; c < 3; ++c) s += (a[c] - b[c]) * (a[c] - b[c]);
  return s;
}

}  // namespace

TEST_CASE("gif palette: 256 entries, nearest-colour mapping") {
  const auto& pal = anyrl::envs::gif_palette();
  // Corners of the cube are exact.
  CHECK(anyrl::envs::gif_palette_index(0, 0, 0) == 0);
  const uint8_t white = anyrl::envs::gif_palette_index(255, 255, 255);
  CHECK(pal[3 * white] == 255);
  CHECK(pal[3 * white + 1] == 255);
  CHECK(pal[3 * white + 2] == 255);
  // Every cube colour maps to itself.
  for (int i = 0; i < 252; ++i) {
    CAPTURE(i);
    CHECK(anyrl::envs::gif_palette_index(pal[3 * i], pal[3 * i + 1], pal[3 * i + 2]) == i);
  }
  // Random colours map to a palette entry at the minimum distance (brute force over all 256).
  std::mt19937 rng(7);
  for (int t = 0; t < 20000; ++t) {
    const uint8_t c[3] = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
    int best = 1 << 30;
    for (int i = 0; i < 256; ++i) best = std::min(best, dist2(c, &pal[3 * i]));
    const uint8_t got = anyrl::envs::gif_palette_index(c[0], c[1], c[2]);
    REQUIRE(dist2(c, &pal[3 * got]) == best);
  }
  // gif_quantize is the per-pixel mapping.
  const std::vector<uint8_t> rgb = noise(3 * 500, 256, 3);
  const std::vector<uint8_t> idx = anyrl::envs::gif_quantize(rgb);
  REQUIRE(idx.size() == 500);
  for (size_t i = 0; i < idx.size(); ++i)
    CHECK(idx[i] == anyrl::envs::gif_palette_index(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]));
  CHECK_THROWS_AS(anyrl::envs::gif_quantize(std::vector<uint8_t>(4)), std::invalid_argument);
}

TEST_CASE("gif LZW round-trips through an independent decoder") {
  auto roundtrip = [](const std::vector<uint8_t>& in) {
    LzwStats st;
    const std::vector<uint8_t> out = lzw_decode(anyrl::envs::gif_lzw_encode(in), 8, &st);
    REQUIRE(out.size() == in.size());
    CHECK(out == in);
    return st;
  };
  SUBCASE("tiny and degenerate inputs") {
    roundtrip({});
    roundtrip({0});
    roundtrip({255});
    roundtrip({7, 7});
    roundtrip({1, 2, 1, 2, 1, 2, 1});
    roundtrip(std::vector<uint8_t>(5000, 42));  // runs: the KwKwK case over and over
  }
  SUBCASE("every length across the 9->10 and 10->11 bit boundaries") {
    // Random bytes add about one table entry per code, so lengths up to ~1.2k codes end the
    // stream right before, at and after each width change (the end code's width is the subtle
    // case).
    const std::vector<uint8_t> src = noise(1400, 256, 11);
    for (size_t n = 1; n <= src.size(); ++n) {
      CAPTURE(n);
      roundtrip(std::vector<uint8_t>(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(n)));
    }
  }
  SUBCASE("every length around the first table reset") {
    const std::vector<uint8_t> src = noise(4500, 256, 12);
    for (size_t n = 3700; n <= src.size(); ++n) {
      CAPTURE(n);
      roundtrip(std::vector<uint8_t>(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(n)));
    }
  }
  SUBCASE("300x300 noise fills the 12-bit table and resets it many times") {
    const LzwStats st = roundtrip(noise(300 * 300, 256, 13));
    CHECK(st.max_width == 12);
    CHECK(st.clears > 10);
  }
  SUBCASE("small alphabets (long strings) and gradients") {
    const LzwStats st = roundtrip(noise(300 * 300, 3, 14));
    CHECK(st.max_width == 12);
    CHECK(st.clears >= 2);
    std::vector<uint8_t> grad(256 * 256);
    for (size_t i = 0; i < grad.size(); ++i) grad[i] = static_cast<uint8_t>((i % 256) ^ (i / 256));
    roundtrip(grad);
  }
}

TEST_CASE("GifWriter writes a looping GIF89a that decodes to the quantised frames") {
  const fs::path dir = scratch("writer");
  const int w = 37, h = 23;  // odd sizes
  std::vector<std::vector<uint8_t>> frames;
  {
    std::vector<uint8_t> grad(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        uint8_t* px = &grad[3 * static_cast<size_t>(y * w + x)];
        px[0] = static_cast<uint8_t>(x * 255 / (w - 1));
        px[1] = static_cast<uint8_t>(y * 255 / (h - 1));
        px[2] = static_cast<uint8_t>((x + y) * 4);
      }
    frames.push_back(grad);
    std::vector<uint8_t> checker(grad.size());
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) checker[3 * static_cast<size_t>(y * w + x) + c] = ((x / 4 + y / 4) % 2) ? 230 : 20;
    frames.push_back(checker);
    frames.push_back(noise(grad.size(), 256, 21));
  }
  const fs::path out = dir / "anim.gif";
  {
    GifWriter g(out.string(), w, h, 4);
    for (const auto& f : frames) g.add_frame(f);
    CHECK(g.frames() == 3);
    g.finish();
  }
  const std::vector<uint8_t> bytes = read_file(out);
  REQUIRE(bytes.size() > 800);
  CHECK(std::string(bytes.begin(), bytes.begin() + 6) == "GIF89a");
  CHECK(bytes.back() == 0x3B);
  const ParsedGif g = parse_gif(bytes);
  CHECK(g.width == w);
  CHECK(g.height == h);
  const auto& pal = anyrl::envs::gif_palette();
  REQUIRE(g.palette.size() == 768);
  CHECK(std::equal(g.palette.begin(), g.palette.end(), pal.begin()));
  CHECK(g.loops == 0);
  REQUIRE(g.frames.size() == frames.size());
  for (size_t k = 0; k < frames.size(); ++k) {
    CAPTURE(k);
    CHECK(g.frames[k].delay == 4);
    CHECK(g.frames[k].disposal == 1);
    REQUIRE(g.frames[k].indices.size() == static_cast<size_t>(w) * h);
    CHECK(g.frames[k].indices == anyrl::envs::gif_quantize(frames[k]));
    // The decoded colours are the nearest palette colours: within half a level step.
    for (size_t i = 0; i < g.frames[k].indices.size(); ++i) {
      const uint8_t* c = &g.palette[3 * g.frames[k].indices[i]];
      const uint8_t* src = &frames[k][3 * i];
      REQUIRE(std::abs(c[0] - src[0]) <= 26);
      REQUIRE(std::abs(c[1] - src[1]) <= 22);
      REQUIRE(std::abs(c[2] - src[2]) <= 26);
    }
  }
  // The checkerboard's two grey levels come back exactly as palette entries.
  CHECK(g.frames[1].indices[0] == anyrl::envs::gif_palette_index(20, 20, 20));

  SUBCASE("a 300x300 noise frame (table resets inside one frame), indexed frames, delay and loops") {
    const fs::path big = dir / "big.gif";
    const std::vector<uint8_t> idx = noise(300 * 300, 256, 22);
    GifWriter gw(big.string(), 300, 300, 10, 3);
    gw.add_indexed_frame(idx);
    gw.add_indexed_frame(std::vector<uint8_t>(300 * 300, 17));
    gw.finish();
    const ParsedGif p = parse_gif(read_file(big));
    CHECK(p.loops == 3);
    REQUIRE(p.frames.size() == 2);
    CHECK(p.frames[0].delay == 10);
    CHECK(p.frames[0].indices == idx);
    CHECK(p.frames[1].indices == std::vector<uint8_t>(300 * 300, 17));
    CHECK(p.stats[0].clears > 10);
    CHECK(p.stats[0].max_width == 12);
  }
  SUBCASE("overwrites atomically and leaves no temporary file") {
    GifWriter g2(out.string(), 2, 2);
    g2.add_frame(std::vector<uint8_t>(12, 255));
    g2.finish();
    const ParsedGif p = parse_gif(read_file(out));
    CHECK(p.width == 2);
    REQUIRE(p.frames.size() == 1);
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) files += e.path().filename().string().find(".tmp") == std::string::npos ? 1 : 100;
    CHECK(files == 1);
  }
  fs::remove_all(dir);
}

TEST_CASE("GifWriter errors") {
  const fs::path dir = scratch("errors");
  CHECK_THROWS_AS(GifWriter("x.gif", 0, 4), std::invalid_argument);
  CHECK_THROWS_AS(GifWriter("x.gif", 4, 70000), std::invalid_argument);
  CHECK_THROWS_AS(GifWriter("x.gif", 4, 4, -1), std::invalid_argument);
  GifWriter g((dir / "a.gif").string(), 4, 4);
  CHECK_THROWS_AS(g.add_frame(std::vector<uint8_t>(4 * 4 * 3 - 1)), std::invalid_argument);
  CHECK_THROWS_AS(g.add_indexed_frame(std::vector<uint8_t>(15)), std::invalid_argument);
  CHECK_THROWS_AS(g.finish(), std::runtime_error);  // no frame
  // An unwritable destination: a clear error naming the file, nothing left behind.
  const fs::path bad = dir / "no_such_folder" / "b.gif";
  GifWriter b(bad.string(), 4, 4);
  b.add_frame(std::vector<uint8_t>(48, 0));
  try {
    b.finish();
    FAIL("finish() should throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("b.gif") != std::string::npos);
  }
  CHECK(fs::is_empty(dir));
  fs::remove_all(dir);
}
