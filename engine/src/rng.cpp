// Philox 4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
// SC'11) and the scalar draws of anyrl::Generator.
//
// The block function matches Random123's philox4x32_10 bit for bit (its known-answer vectors
// are checked in tests/engine/test_rng.cpp). The way a Generator turns (seed, stream, counter)
// into a Philox (counter, key) pair is part of the engine's reproducibility contract, shared
// with the tensor fills in ops/random.cpp and the CUDA backend:
//
//   ctr = { lo32(counter + offset), hi32(counter + offset), lo32(stream), hi32(stream) }
//   key = { lo32(seed), hi32(seed) }
//
// Scalar draws consume exactly one block each:
//   uniform_float : lane 0 -> uint32_to_unit_float
//   uniform_double: lanes 0 (low) and 1 (high) as one uint64 -> uint64_to_unit_double
//   normal        : Box-Muller with u1 from lanes 0,1 and u2 from lanes 2,3 (cos branch)
//   integer       : lanes 0,1 as a uint64 u, lo + floor(u * range / 2^64)
#include "anyrl/engine/rng.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "anyrl/engine/error.hpp"

namespace anyrl {

namespace {
constexpr std::uint32_t kM0 = 0xD2511F53u;
constexpr std::uint32_t kM1 = 0xCD9E8D57u;
constexpr std::uint32_t kW0 = 0x9E3779B9u;  // golden ratio
constexpr std::uint32_t kW1 = 0xBB67AE85u;  // sqrt(3) - 1

inline std::uint64_t join64(std::uint32_t lo, std::uint32_t hi) {
  return static_cast<std::uint64_t>(lo) | (static_cast<std::uint64_t>(hi) << 32);
}
}  // namespace

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * c[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * c[2];
    const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    // The key schedule bumps after every round; the bump after the last round is unused.
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

std::array<std::uint32_t, 4> Generator::block(std::uint64_t offset) const {
  const std::uint64_t ctr = counter_ + offset;  // wraps modulo 2^64, like the counter itself
  return philox4x32_10({static_cast<std::uint32_t>(ctr), static_cast<std::uint32_t>(ctr >> 32),
                        static_cast<std::uint32_t>(stream_), static_cast<std::uint32_t>(stream_ >> 32)},
                       {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
}

float Generator::uniform_float() {
  const auto b = block(0);
  advance(1);
  return uint32_to_unit_float(b[0]);
}

double Generator::uniform_double() {
  const auto b = block(0);
  advance(1);
  return uint64_to_unit_double(join64(b[0], b[1]));
}

double Generator::normal() {
  const auto b = block(0);
  advance(1);
  // 1 - u lies in (0, 1], so the log is finite.
  const double u1 = 1.0 - uint64_to_unit_double(join64(b[0], b[1]));
  const double u2 = uint64_to_unit_double(join64(b[2], b[3]));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::int64_t Generator::integer(std::int64_t lo, std::int64_t hi) {
  if (hi <= lo)
    throw ValueError("Generator::integer: empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
  const auto b = block(0);
  advance(1);
  // Multiply-shift (Lemire) with a 64-bit draw: one block per value whatever the range (so
  // tensor fills stay index-addressable); the bias is at most range / 2^64.
  const std::uint64_t range = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  const auto scaled = static_cast<std::uint64_t>(
      (static_cast<unsigned __int128>(join64(b[0], b[1])) * range) >> 64);
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + scaled);
}

std::int64_t sample_categorical(const std::vector<double>& weights, Generator& gen) {
  if (weights.empty()) throw ValueError("sample_categorical: no weights given");
  double total = 0.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double w = weights[i];
    if (!(w >= 0.0) || !std::isfinite(w))
      throw ValueError("sample_categorical: weight " + std::to_string(i) + " is " + std::to_string(w) +
                       " (weights must be finite and non-negative)");
    total += w;
  }
  if (!(total > 0.0) || !std::isfinite(total))
    throw ValueError("sample_categorical: weights sum to " + std::to_string(total) + " (need a positive finite sum)");
  const double u = gen.uniform_double() * total;
  // First index whose running sum exceeds u; zero-weight entries can never be picked.
  double acc = 0.0;
  std::int64_t last_positive = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0) continue;
    acc += weights[i];
    last_positive = static_cast<std::int64_t>(i);
    if (u < acc) return last_positive;
  }
  return last_positive;  // u rounded up to the total: take the last possible category
}

std::vector<std::int64_t> permutation(std::int64_t n, Generator& gen) {
  if (n < 0) throw ValueError("permutation: negative length " + std::to_string(n));
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  // Fisher-Yates from the back: swap i with a uniform j in [0, i]; one block per swap.
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::int64_t j = gen.integer(0, i + 1);
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

}  // namespace anyrl
