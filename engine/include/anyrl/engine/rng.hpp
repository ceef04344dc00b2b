// Counter-based random numbers: Philox 4x32-10 (Salmon et al., SC'11).
//
// A Generator is (seed, stream, counter). Element i of a fill of N values is a pure function
// of (seed, stream, counter_at_start, i), so fills are identical whatever the thread count,
// and the CUDA backend produces the same numbers for the same seed and counters.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace anyrl {

/// One Philox 4x32-10 block: 4 random 32-bit words for (counter, key).
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                           std::array<std::uint32_t, 2> key);

/// Maps 32 random bits to a float in [0, 1) (24-bit resolution).
inline float uint32_to_unit_float(std::uint32_t x) { return static_cast<float>(x >> 8) * 0x1p-24f; }
/// Maps 64 random bits to a double in [0, 1) (53-bit resolution).
inline double uint64_to_unit_double(std::uint64_t x) { return static_cast<double>(x >> 11) * 0x1p-53; }

/// A random stream keyed by (seed, stream). Each draw advances `counter` by the number of
/// Philox blocks it consumed. Copyable: a copy continues the same sequence independently.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t stream() const { return stream_; }
  std::uint64_t counter() const { return counter_; }
  void set_counter(std::uint64_t c) { counter_ = c; }
  /// A generator for an independent stream derived from this one (same seed, new stream id).
  Generator fork(std::uint64_t stream_id) const { return Generator(seed_, stream_ * 0x9E3779B97F4A7C15ull + stream_id + 1); }

  /// The Philox block at `counter() + offset`, without advancing.
  std::array<std::uint32_t, 4> block(std::uint64_t offset) const;
  /// Reserves `n` blocks and returns the counter of the first one.
  std::uint64_t advance(std::uint64_t n) {
    std::uint64_t c = counter_;
    counter_ += n;
    return c;
  }

  // Scalar draws (each consumes one block).
  float uniform_float();
  double uniform_double();
  double normal();
  /// Uniform integer in [lo, hi).
  std::int64_t integer(std::int64_t lo, std::int64_t hi);

  /// Raw state for checkpoints: {seed, stream, counter}.
  std::array<std::uint64_t, 3> state() const { return {seed_, stream_, counter_}; }
  void set_state(const std::array<std::uint64_t, 3>& s) {
    seed_ = s[0];
    stream_ = s[1];
    counter_ = s[2];
  }

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
  std::uint64_t counter_ = 0;
};

/// Draws an index from unnormalised non-negative `weights`.
std::int64_t sample_categorical(const std::vector<double>& weights, Generator& gen);
/// A random permutation of 0..n-1 (Fisher-Yates).
std::vector<std::int64_t> permutation(std::int64_t n, Generator& gen);

}  // namespace anyrl
