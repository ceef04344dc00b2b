// Random tensor fills on top of the Philox generator (rng.hpp / rng.cpp).
//
// STREAM LAYOUT — the CUDA backend must reproduce this exactly. Let g be the generator at the
// start of the fill, n the number of elements, and B(j) = g.block(j) the Philox block at
// counter g.counter() + j (lanes B(j)[0..3]). Let u32(x) = uint32_to_unit_float(x),
// u64(lo, hi) = uint64_to_unit_double(lo | hi << 32). Element i (row-major) is:
//
//   rand/uniform  float32: u = u32(B(i/4)[i%4])                           ceil(n/4) blocks
//                 float64: u = u64(B(i/2)[2(i%2)], B(i/2)[2(i%2)+1])       ceil(n/2) blocks
//                 value = lo + (hi - lo) * u, evaluated in double, rounded to the dtype, and
//                 pulled below hi if rounding reached it.
//   randn/normal  float32: block j feeds elements 4j..4j+3. Lanes (0,1) give element 4j
//                 (cos) and 4j+1 (sin); lanes (2,3) give 4j+2 (cos) and 4j+3 (sin). For a
//                 lane pair (a, b): u1 = 1 - u32(a) in (0,1], u2 = u32(b),
//                 r = sqrt(-2 ln u1), cos/sin of 2*pi*u2, all in double.    ceil(n/4) blocks
//                 float64: block j feeds elements 2j (cos) and 2j+1 (sin) with
//                 u1 = 1 - u64(B[0], B[1]), u2 = u64(B[2], B[3]).         ceil(n/2) blocks
//                 value = mean + std * z in double, rounded to the dtype.
//   randint       int64: x = B(i/2)[2(i%2)] | B(i/2)[2(i%2)+1] << 32,
//                 value = lo + floor(x * (hi - lo) / 2^64).                ceil(n/2) blocks
//   multinomial   row r of probs[R, C]: u = u64(B(r)[0], B(r)[1]) * sum(row) (the row sum
//                 in double, left to right); the first category c with running sum > u
//                 (zero-weight categories are never picked).                R blocks
//   randperm      permutation(n, g): Fisher-Yates, one Generator::integer draw per swap.
//                                                                          max(n-1, 0) blocks
// After a fill the generator's counter has advanced by exactly the number of blocks listed,
// so consecutive fills never share a block and every element is a pure function of
// (seed, stream, counter at start, i) — independent of the thread count.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "anyrl/engine/ops.hpp"
#include "anyrl/engine/parallel.hpp"
#include "anyrl/engine/rng.hpp"

namespace anyrl {

namespace {

// Blocks per parallel chunk: about 16K float32 values, large enough to amortise a task.
constexpr std::int64_t kGrainBlocks = 4096;

inline std::uint64_t join64(std::uint32_t lo, std::uint32_t hi) {
  return static_cast<std::uint64_t>(lo) | (static_cast<std::uint64_t>(hi) << 32);
}

inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Calls fn(block_index, block) for blocks [0, nblocks) of `g`, in parallel.
template <class Fn>
void for_each_block(const Generator& g, std::int64_t nblocks, Fn&& fn) {
  parallel_for(nblocks, kGrainBlocks, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t j = b; j < e; ++j) fn(j, g.block(static_cast<std::uint64_t>(j)));
  });
}

void check_float_dtype(DType dtype, const char* op) {
  if (!is_floating(dtype))
    throw DTypeError(std::string(op) + ": dtype must be float32 or float64, got " + dtype_name(dtype));
}

void check_finite(double v, const char* op, const char* what) {
  if (!std::isfinite(v)) throw ValueError(std::string(op) + ": " + what + " must be finite, got " + std::to_string(v));
}

// lo + (hi - lo) * u rounded to T, kept inside [lo, hi) when hi > lo.
template <class T>
inline T scale_uniform(double u, double lo, double hi) {
  T v = static_cast<T>(lo + (hi - lo) * u);
  if (hi > lo && static_cast<double>(v) >= hi) v = std::nextafter(static_cast<T>(hi), static_cast<T>(lo));
  return v;
}

Tensor uniform_impl(const Shape& shape, double lo, double hi, Generator& gen, DType dtype, const char* op) {
  check_float_dtype(dtype, op);
  check_finite(lo, op, "lo");
  check_finite(hi, op, "hi");
  if (hi < lo) throw ValueError(std::string(op) + ": hi (" + std::to_string(hi) + ") < lo (" + std::to_string(lo) + ")");
  Tensor t = Tensor::empty(shape, dtype);
  const std::int64_t n = t.numel();
  const Generator g = gen;
  if (dtype == DType::Float32) {
    float* p = t.data<float>();
    const std::int64_t nb = ceil_div(n, 4);
    for_each_block(g, nb, [&](std::int64_t j, const std::array<std::uint32_t, 4>& b) {
      const std::int64_t base = 4 * j;
      const int lanes = static_cast<int>(std::min<std::int64_t>(4, n - base));
      for (int l = 0; l < lanes; ++l) p[base + l] = scale_uniform<float>(uint32_to_unit_float(b[l]), lo, hi);
    });
    gen.advance(static_cast<std::uint64_t>(nb));
  } else {
    double* p = t.data<double>();
    const std::int64_t nb = ceil_div(n, 2);
    for_each_block(g, nb, [&](std::int64_t j, const std::array<std::uint32_t, 4>& b) {
      const std::int64_t base = 2 * j;
      p[base] = scale_uniform<double>(uint64_to_unit_double(join64(b[0], b[1])), lo, hi);
      if (base + 1 < n) p[base + 1] = scale_uniform<double>(uint64_to_unit_double(join64(b[2], b[3])), lo, hi);
    });
    gen.advance(static_cast<std::uint64_t>(nb));
  }
  return t;
}

// Box-Muller on u1 in (0, 1], u2 in [0, 1): two independent N(0, 1) values.
inline void box_muller(double u1, double u2, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  z0 = r * std::cos(theta);
  z1 = r * std::sin(theta);
}

Tensor normal_impl(const Shape& shape, double mean, double std, Generator& gen, DType dtype, const char* op) {
  check_float_dtype(dtype, op);
  check_finite(mean, op, "mean");
  check_finite(std, op, "std");
  if (std < 0.0) throw ValueError(std::string(op) + ": std must be >= 0, got " + std::to_string(std));
  Tensor t = Tensor::empty(shape, dtype);
  const std::int64_t n = t.numel();
  const Generator g = gen;
  if (dtype == DType::Float32) {
    float* p = t.data<float>();
    const std::int64_t nb = ceil_div(n, 4);
    for_each_block(g, nb, [&](std::int64_t j, const std::array<std::uint32_t, 4>& b) {
      double z[4];
      box_muller(1.0 - static_cast<double>(uint32_to_unit_float(b[0])), uint32_to_unit_float(b[1]), z[0], z[1]);
      box_muller(1.0 - static_cast<double>(uint32_to_unit_float(b[2])), uint32_to_unit_float(b[3]), z[2], z[3]);
      const std::int64_t base = 4 * j;
      const int lanes = static_cast<int>(std::min<std::int64_t>(4, n - base));
      for (int l = 0; l < lanes; ++l) p[base + l] = static_cast<float>(mean + std * z[l]);
    });
    gen.advance(static_cast<std::uint64_t>(nb));
  } else {
    double* p = t.data<double>();
    const std::int64_t nb = ceil_div(n, 2);
    for_each_block(g, nb, [&](std::int64_t j, const std::array<std::uint32_t, 4>& b) {
      double z0, z1;
      box_muller(1.0 - uint64_to_unit_double(join64(b[0], b[1])), uint64_to_unit_double(join64(b[2], b[3])), z0, z1);
      const std::int64_t base = 2 * j;
      p[base] = mean + std * z0;
      if (base + 1 < n) p[base + 1] = mean + std * z1;
    });
    gen.advance(static_cast<std::uint64_t>(nb));
  }
  return t;
}

}  // namespace

Tensor rand(const Shape& shape, Generator& gen, DType dtype) { return uniform_impl(shape, 0.0, 1.0, gen, dtype, "rand"); }

Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype) {
  return uniform_impl(shape, lo, hi, gen, dtype, "uniform");
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype) { return normal_impl(shape, 0.0, 1.0, gen, dtype, "randn"); }

Tensor normal(const Shape& shape, double mean, double std, Generator& gen, DType dtype) {
  return normal_impl(shape, mean, std, gen, dtype, "normal");
}

Tensor randint(const Shape& shape, std::int64_t lo, std::int64_t hi, Generator& gen) {
  if (hi <= lo)
    throw ValueError("randint: empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
  Tensor t = Tensor::empty(shape, DType::Int64);
  const std::int64_t n = t.numel();
  std::int64_t* p = t.data<std::int64_t>();
  const std::uint64_t range = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  const auto draw = [&](std::uint32_t a, std::uint32_t b) {
    const auto scaled = static_cast<std::uint64_t>((static_cast<unsigned __int128>(join64(a, b)) * range) >> 64);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + scaled);
  };
  const Generator g = gen;
  const std::int64_t nb = ceil_div(n, 2);
  for_each_block(g, nb, [&](std::int64_t j, const std::array<std::uint32_t, 4>& b) {
    p[2 * j] = draw(b[0], b[1]);
    if (2 * j + 1 < n) p[2 * j + 1] = draw(b[2], b[3]);
  });
  gen.advance(static_cast<std::uint64_t>(nb));
  return t;
}

namespace {
template <class T>
void multinomial_rows(const T* w, std::int64_t rows, std::int64_t C, const Generator& g, std::int64_t* out) {
  // Validate every row first so no exception is thrown from inside a worker thread.
  std::vector<double> totals(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    double total = 0.0;
    for (std::int64_t c = 0; c < C; ++c) {
      const double v = static_cast<double>(w[r * C + c]);
      if (!(v >= 0.0) || !std::isfinite(v))
        throw ValueError("multinomial: probs[row " + std::to_string(r) + ", " + std::to_string(c) + "] = " +
                         std::to_string(v) + " (weights must be finite and non-negative)");
      total += v;
    }
    if (!(total > 0.0) || !std::isfinite(total))
      throw ValueError("multinomial: row " + std::to_string(r) + " sums to " + std::to_string(total) +
                       " (need a positive finite sum)");
    totals[static_cast<std::size_t>(r)] = total;
  }
  parallel_for(rows, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(C, 1)), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const auto blk = g.block(static_cast<std::uint64_t>(r));
      const double u = uint64_to_unit_double(join64(blk[0], blk[1])) * totals[static_cast<std::size_t>(r)];
      const T* row = w + r * C;
      double acc = 0.0;
      std::int64_t pick = 0;
      for (std::int64_t c = 0; c < C; ++c) {
        if (!(row[c] > 0)) continue;
        acc += static_cast<double>(row[c]);
        pick = c;
        if (u < acc) break;
      }
      out[r] = pick;
    }
  });
}
}  // namespace

Tensor multinomial(const Tensor& probs, Generator& gen) {
  if (!probs.defined()) throw ValueError("multinomial: probs is undefined");
  if (!probs.device().is_cpu())
    throw DeviceError("multinomial: " + probs.desc() + " is not on the CPU; random fills run on the CPU only");
  check_float_dtype(probs.dtype(), "multinomial");
  if (probs.dim() < 1) throw ShapeError("multinomial: probs must have rank >= 1, got " + probs.desc());
  const std::int64_t C = probs.shape().back();
  if (C == 0) throw ShapeError("multinomial: probs has no categories: " + probs.desc());
  const Shape& s = probs.shape();
  const Shape out_shape(std::span<const std::int64_t>(s.begin(), s.end() - 1));
  Tensor out = Tensor::empty(out_shape, DType::Int64);
  const std::int64_t rows = out.numel();
  const Generator g = gen;
  if (probs.dtype() == DType::Float32)
    multinomial_rows(probs.data<float>(), rows, C, g, out.data<std::int64_t>());
  else
    multinomial_rows(probs.data<double>(), rows, C, g, out.data<std::int64_t>());
  gen.advance(static_cast<std::uint64_t>(rows));
  return out;
}

Tensor randperm(std::int64_t n, Generator& gen) {
  if (n < 0) throw ValueError("randperm: negative length " + std::to_string(n));
  const std::vector<std::int64_t> p = permutation(n, gen);
  Tensor t = Tensor::empty(Shape{n}, DType::Int64);
  std::int64_t* d = t.data<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) d[i] = p[static_cast<std::size_t>(i)];
  return t;
}

}  // namespace anyrl
