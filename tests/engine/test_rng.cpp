// Philox 4x32-10 and the random fills: known-answer vectors, the documented stream layout,
// statistical sanity, thread-count independence, streams and state save/restore.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <set>

#include "anyrl/engine/engine.hpp"

using namespace anyrl;

namespace {

using Block = std::array<std::uint32_t, 4>;

std::uint64_t join64(std::uint32_t lo, std::uint32_t hi) { return lo | (static_cast<std::uint64_t>(hi) << 32); }

// Restores the thread count when a test ends.
struct ThreadGuard {
  int prev = num_threads();
  ~ThreadGuard() { set_num_threads(prev); }
};

struct Moments {
  double mean = 0, var = 0, skew = 0, kurt = 0;
};
template <class T>
Moments moments(const T* x, std::int64_t n) {
  Moments m;
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += x[i];
  m.mean = s / n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = x[i] - m.mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  m.var = m2;
  m.skew = m3 / std::pow(m2, 1.5);
  m.kurt = m4 / (m2 * m2);
  return m;
}

template <class T>
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.data<T>(), b.data<T>(), a.nbytes()) == 0;
}

}  // namespace

TEST_CASE("philox4x32_10 matches the Random123 known-answer vectors") {
  // Random123 kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> output[4].
  CHECK(philox4x32_10({0, 0, 0, 0}, {0, 0}) == Block{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
        Block{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
        Block{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("Generator::block maps (seed, stream, counter + offset) onto Philox counter and key") {
  const std::uint64_t seed = 0x123456789abcdef0ull, stream = 0x0fedcba987654321ull;
  Generator g(seed, stream);
  g.set_counter(0xfffffffeull);  // offsets below cross the 32-bit boundary of the counter
  for (std::uint64_t off : {0ull, 1ull, 2ull, 1000ull}) {
    const std::uint64_t c = 0xfffffffeull + off;
    const Block want = philox4x32_10(
        {static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(c >> 32), static_cast<std::uint32_t>(stream),
         static_cast<std::uint32_t>(stream >> 32)},
        {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
    CHECK(g.block(off) == want);
  }
  CHECK(g.counter() == 0xfffffffeull);  // block() does not advance
  CHECK(g.advance(5) == 0xfffffffeull);
  CHECK(g.counter() == 0xfffffffeull + 5);
}

TEST_CASE("scalar draws: one block each, documented lanes, ranges") {
  Generator g(7, 3);
  const Generator g0 = g;
  const float f = g.uniform_float();
  CHECK(f == uint32_to_unit_float(g0.block(0)[0]));
  const double d = g.uniform_double();
  CHECK(d == uint64_to_unit_double(join64(g0.block(1)[0], g0.block(1)[1])));
  const double z = g.normal();
  const Block b2 = g0.block(2);
  const double u1 = 1.0 - uint64_to_unit_double(join64(b2[0], b2[1]));
  const double u2 = uint64_to_unit_double(join64(b2[2], b2[3]));
  CHECK(z == std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
  CHECK(g.counter() == 3);

  for (int i = 0; i < 10000; ++i) {
    const float a = g.uniform_float();
    const double b = g.uniform_double();
    const std::int64_t k = g.integer(-5, 5);
    REQUIRE((a >= 0.0f && a < 1.0f));
    REQUIRE((b >= 0.0 && b < 1.0));
    REQUIRE((k >= -5 && k < 5));
  }
  // Full-width ranges do not overflow.
  const std::int64_t big = g.integer(INT64_MIN, INT64_MAX);
  CHECK(big < INT64_MAX);
  CHECK_THROWS_AS(g.integer(3, 3), ValueError);
  CHECK_THROWS_WITH_AS(g.integer(4, 2), doctest::Contains("[4, 2)"), ValueError);

  // Normal moments from scalar draws.
  const int n = 200000;
  std::vector<double> xs(n);
  for (double& x : xs) x = g.normal();
  const Moments m = moments(xs.data(), n);
  CHECK(std::abs(m.mean) < 0.012);
  CHECK(std::abs(m.var - 1.0) < 0.016);
}

TEST_CASE("fills follow the documented stream layout and advance the counter") {
  Generator g(2024, 5);
  g.set_counter(17);
  const Generator g0 = g;
  const std::int64_t n = 11;  // not a multiple of 4: the last block is partly used

  SUBCASE("rand float32: block i/4, lane i%4") {
    Tensor t = rand(Shape{n}, g);
    for (std::int64_t i = 0; i < n; ++i) CHECK(t.data<float>()[i] == uint32_to_unit_float(g0.block(i / 4)[i % 4]));
    CHECK(g.counter() == 17 + 3);
  }
  SUBCASE("rand float64: block i/2, lanes 2(i%2), 2(i%2)+1") {
    Tensor t = rand(Shape{n}, g, DType::Float64);
    for (std::int64_t i = 0; i < n; ++i) {
      const Block b = g0.block(i / 2);
      CHECK(t.data<double>()[i] == uint64_to_unit_double(join64(b[2 * (i % 2)], b[2 * (i % 2) + 1])));
    }
    CHECK(g.counter() == 17 + 6);
  }
  SUBCASE("randn float32: lane pairs (0,1) and (2,3), cos then sin") {
    Tensor t = randn(Shape{n}, g);
    for (std::int64_t i = 0; i < n; ++i) {
      const Block b = g0.block(i / 4);
      const int pair = static_cast<int>(i % 4) / 2;
      const double u1 = 1.0 - static_cast<double>(uint32_to_unit_float(b[2 * pair]));
      const double u2 = uint32_to_unit_float(b[2 * pair + 1]);
      const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * std::numbers::pi * u2;
      const double want = (i % 2 == 0) ? r * std::cos(th) : r * std::sin(th);
      CHECK(t.data<float>()[i] == static_cast<float>(want));
    }
    CHECK(g.counter() == 17 + 3);
  }
  SUBCASE("randn float64: one block per pair, cos then sin") {
    Tensor t = randn(Shape{n}, g, DType::Float64);
    for (std::int64_t i = 0; i < n; ++i) {
      const Block b = g0.block(i / 2);
      const double u1 = 1.0 - uint64_to_unit_double(join64(b[0], b[1]));
      const double u2 = uint64_to_unit_double(join64(b[2], b[3]));
      const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * std::numbers::pi * u2;
      const double z = (i % 2 == 0) ? r * std::cos(th) : r * std::sin(th);
      CHECK(t.data<double>()[i] == z);
    }
    CHECK(g.counter() == 17 + 6);
    // normal(mean, std) is mean + std * z of the same stream (compared to rounding: the
    // compiler may fuse the multiply-add).
    Generator h = g0;
    Tensor s = normal(Shape{n}, 1.5, 2.0, h, DType::Float64);
    for (std::int64_t i = 0; i < n; ++i) CHECK(s.data<double>()[i] == doctest::Approx(1.5 + 2.0 * t.data<double>()[i]).epsilon(1e-15));
  }
  SUBCASE("randint: 64 bits per value, multiply-shift") {
    Tensor t = randint(Shape{n}, -10, 90, g);
    for (std::int64_t i = 0; i < n; ++i) {
      const Block b = g0.block(i / 2);
      const std::uint64_t x = join64(b[2 * (i % 2)], b[2 * (i % 2) + 1]);
      const auto want = -10 + static_cast<std::int64_t>((static_cast<unsigned __int128>(x) * 100u) >> 64);
      CHECK(t.data<std::int64_t>()[i] == want);
    }
    CHECK(g.counter() == 17 + 6);
  }
  SUBCASE("consecutive fills continue where the previous one stopped") {
    Tensor a = rand(Shape{5}, g);  // 2 blocks
    Tensor b = rand(Shape{4}, g);
    CHECK(b.data<float>()[0] == uint32_to_unit_float(g0.block(2)[0]));
    CHECK(a.data<float>()[4] == uint32_to_unit_float(g0.block(1)[0]));
  }
  SUBCASE("rank 0 and empty shapes") {
    Tensor s = rand(Shape{}, g);
    CHECK(s.dim() == 0);
    CHECK(s.numel() == 1);
    CHECK(s.item() == static_cast<double>(uint32_to_unit_float(g0.block(0)[0])));
    CHECK(g.counter() == 18);
    Tensor e = randn(Shape{0, 3}, g);
    CHECK(e.numel() == 0);
    CHECK(e.shape() == Shape{0, 3});
    CHECK(g.counter() == 18);
  }
}

TEST_CASE("uniform fills: mean, variance and range") {
  Generator g(1);
  const std::int64_t n = 1 << 20;
  Tensor t = rand(Shape{n}, g);
  const float* p = t.data<float>();
  CHECK(*std::min_element(p, p + n) >= 0.0f);
  CHECK(*std::max_element(p, p + n) < 1.0f);
  const Moments m = moments(p, n);
  // Standard errors: mean sqrt(1/12/n) = 2.8e-4, variance 7.3e-5; bounds are ~5 sigma.
  CHECK(std::abs(m.mean - 0.5) < 1.5e-3);
  CHECK(std::abs(m.var - 1.0 / 12.0) < 4e-4);
  // Every tenth of [0, 1) gets its share (binomial sd ~ 300 of 104858).
  std::vector<std::int64_t> bins(10);
  for (std::int64_t i = 0; i < n; ++i) ++bins[static_cast<std::size_t>(p[i] * 10)];
  for (auto c : bins) CHECK(std::abs(static_cast<double>(c) - n / 10.0) < 1500);

  Tensor u = uniform(Shape{n}, -3.0, 5.0, g, DType::Float64);
  const double* q = u.data<double>();
  CHECK(*std::min_element(q, q + n) >= -3.0);
  CHECK(*std::max_element(q, q + n) < 5.0);
  const Moments mu = moments(q, n);
  CHECK(std::abs(mu.mean - 1.0) < 8 * 1.5e-3);
  CHECK(std::abs(mu.var - 64.0 / 12.0) < 64 * 4e-4);
}

TEST_CASE("normal fills: first four moments") {
  Generator g(99);
  const std::int64_t n = 1 << 20;
  for (DType dt : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(dt));
    Tensor t = randn(Shape{n}, g, dt);
    const Moments m = dt == DType::Float32 ? moments(t.data<float>(), n) : moments(t.data<double>(), n);
    // Standard errors: mean 1e-3, variance 1.4e-3, skewness 2.4e-3, kurtosis 4.8e-3 (~5 sigma bounds).
    CHECK(std::abs(m.mean) < 5e-3);
    CHECK(std::abs(m.var - 1.0) < 7e-3);
    CHECK(std::abs(m.skew) < 1.2e-2);
    CHECK(std::abs(m.kurt - 3.0) < 2.5e-2);
  }
  Tensor s = normal(Shape{n}, -2.0, 0.5, g);
  const Moments m = moments(s.data<float>(), n);
  CHECK(std::abs(m.mean + 2.0) < 2.5e-3);
  CHECK(std::abs(m.var - 0.25) < 2e-3);
}

TEST_CASE("randint: range and uniformity (chi-square)") {
  Generator g(5);
  const std::int64_t n = 200000, lo = -3, hi = 7;
  Tensor t = randint(Shape{n}, lo, hi, g);
  CHECK(t.dtype() == DType::Int64);
  std::vector<double> counts(static_cast<std::size_t>(hi - lo));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t v = t.data<std::int64_t>()[i];
    REQUIRE((v >= lo && v < hi));
    counts[static_cast<std::size_t>(v - lo)] += 1;
  }
  double chi2 = 0;
  const double expect = static_cast<double>(n) / static_cast<double>(hi - lo);
  for (double c : counts) chi2 += (c - expect) * (c - expect) / expect;
  CHECK(chi2 < 27.88);  // 9 degrees of freedom, p = 0.001

  Tensor big = randint(Shape{1000}, 0, std::int64_t{1} << 40, g);
  std::int64_t mx = 0;
  for (std::int64_t i = 0; i < 1000; ++i) {
    REQUIRE(big.data<std::int64_t>()[i] >= 0);
    REQUIRE(big.data<std::int64_t>()[i] < (std::int64_t{1} << 40));
    mx = std::max(mx, big.data<std::int64_t>()[i]);
  }
  CHECK(mx > (std::int64_t{1} << 39));  // uses the high bits
  CHECK_THROWS_WITH_AS(randint(Shape{3}, 2, 2, g), doctest::Contains("randint"), ValueError);
}

TEST_CASE("multinomial and sample_categorical frequencies") {
  Generator g(11);
  const std::int64_t rows = 100000;
  std::vector<float> w;
  for (std::int64_t r = 0; r < rows; ++r) w.insert(w.end(), {1.f, 0.f, 3.f, 4.f});
  Tensor probs = Tensor::from_vector(w, Shape{rows, 4});
  const std::uint64_t c0 = g.counter();
  Tensor s = multinomial(probs, g);
  CHECK(s.shape() == Shape{rows});
  CHECK(g.counter() == c0 + rows);
  std::vector<double> counts(4);
  for (std::int64_t r = 0; r < rows; ++r) counts[static_cast<std::size_t>(s.data<std::int64_t>()[r])] += 1;
  CHECK(counts[1] == 0);  // zero weight is never drawn
  const double want[4] = {1.0 / 8, 0, 3.0 / 8, 4.0 / 8};
  for (int c : {0, 2, 3}) {
    const double sd = std::sqrt(want[c] * (1 - want[c]) / rows);
    CHECK(std::abs(counts[static_cast<std::size_t>(c)] / rows - want[c]) < 5 * sd);
  }
  // Rank-1 probs give a rank-0 result; float64 works too.
  Tensor one = multinomial(Tensor::from_vector(std::vector<double>{0, 0, 2}), g);
  CHECK(one.dim() == 0);
  CHECK(one.item() == 2.0);

  CHECK_THROWS_WITH_AS(multinomial(Tensor::from_vector(std::vector<float>{1, -1, 0, 1}, Shape{2, 2}), g),
                       doctest::Contains("row 0"), ValueError);
  CHECK_THROWS_WITH_AS(multinomial(Tensor::from_vector(std::vector<float>{1, 1, 0, 0}, Shape{2, 2}), g),
                       doctest::Contains("row 1"), ValueError);
  CHECK_THROWS_AS(multinomial(Tensor::from_vector(std::vector<std::int64_t>{1, 2}), g), DTypeError);

  std::vector<double> cw{0.5, 0.0, 1.5};
  std::vector<double> cc(3);
  const int m = 100000;
  for (int i = 0; i < m; ++i) cc[static_cast<std::size_t>(sample_categorical(cw, g))] += 1;
  CHECK(cc[1] == 0);
  CHECK(std::abs(cc[0] / m - 0.25) < 5 * std::sqrt(0.25 * 0.75 / m));
  CHECK_THROWS_WITH_AS(sample_categorical({1.0, -0.5}, g), doctest::Contains("weight 1"), ValueError);
  CHECK_THROWS_AS(sample_categorical({}, g), ValueError);
  CHECK_THROWS_AS(sample_categorical({0.0, 0.0}, g), ValueError);
}

TEST_CASE("randperm and permutation are permutations") {
  Generator g(3);
  for (std::int64_t n : {0, 1, 2, 7, 1000}) {
    Tensor p = randperm(n, g);
    CHECK(p.shape() == Shape{n});
    std::vector<std::int64_t> v = p.to_vector<std::int64_t>();
    std::sort(v.begin(), v.end());
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == i);
  }
  const auto a = permutation(1000, g);
  const auto b = permutation(1000, g);
  CHECK(a != b);
  // Each position is uniform: position 0 over many small permutations.
  std::vector<double> first(5);
  for (int i = 0; i < 50000; ++i) first[static_cast<std::size_t>(permutation(5, g)[0])] += 1;
  for (double c : first) CHECK(std::abs(c / 50000 - 0.2) < 5 * std::sqrt(0.2 * 0.8 / 50000));
  CHECK_THROWS_AS(randperm(-1, g), ValueError);
}

TEST_CASE("fills are bitwise identical with 1 and 2 threads") {
  ThreadGuard guard;
  const std::int64_t n = (1 << 20) + 3;  // large enough to be split across threads
  auto run = [&](int threads) {
    set_num_threads(threads);
    Generator g(123456789, 42);
    std::vector<Tensor> out;
    out.push_back(rand(Shape{n}, g));
    out.push_back(randn(Shape{n}, g));
    out.push_back(rand(Shape{n}, g, DType::Float64));
    out.push_back(randn(Shape{n}, g, DType::Float64));
    out.push_back(randint(Shape{n}, 0, 1000, g));
    std::vector<float> w(static_cast<std::size_t>(n / 8 * 8));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 8 + 1);
    out.push_back(multinomial(Tensor::from_vector(w, Shape{n / 8, 8}), g));
    return std::make_pair(out, g.counter());
  };
  const auto [one, c1] = run(1);
  const auto [two, c2] = run(2);
  CHECK(c1 == c2);
  CHECK(bitwise_equal<float>(one[0], two[0]));
  CHECK(bitwise_equal<float>(one[1], two[1]));
  CHECK(bitwise_equal<double>(one[2], two[2]));
  CHECK(bitwise_equal<double>(one[3], two[3]));
  CHECK(bitwise_equal<std::int64_t>(one[4], two[4]));
  CHECK(bitwise_equal<std::int64_t>(one[5], two[5]));
}

TEST_CASE("streams and seeds are independent; state save/restore replays") {
  auto first = [](Generator g) { return rand(Shape{64}, g).to_vector<float>(); };
  CHECK(first(Generator(42, 0)) != first(Generator(42, 1)));
  CHECK(first(Generator(42, 0)) != first(Generator(43, 0)));
  CHECK(first(Generator(42, 0)) == first(Generator(42, 0)));
  const Generator base(42, 0);
  CHECK(first(base.fork(1)) != first(base.fork(2)));
  CHECK(first(base.fork(1)) != first(base));
  CHECK(first(base.fork(1)) == first(base.fork(1)));

  Generator g(77, 9);
  (void)randn(Shape{10}, g);
  const auto st = g.state();
  Generator copy = g;  // a copy continues the same sequence independently
  const auto a = randn(Shape{100}, g).to_vector<float>();
  const auto a_int = randint(Shape{10}, 0, 100, g).to_vector<std::int64_t>();
  const double a_scalar = g.normal();

  Generator h(0, 0);
  h.set_state(st);
  CHECK(h.seed() == 77);
  CHECK(h.stream() == 9);
  CHECK(randn(Shape{100}, h).to_vector<float>() == a);
  CHECK(randint(Shape{10}, 0, 100, h).to_vector<std::int64_t>() == a_int);
  CHECK(h.normal() == a_scalar);
  CHECK(randn(Shape{100}, copy).to_vector<float>() == a);
  CHECK(h.counter() == g.counter());
}

TEST_CASE("random fills reject bad arguments with clear errors") {
  Generator g(1);
  CHECK_THROWS_WITH_AS(rand(Shape{2}, g, DType::Int64), doctest::Contains("int64"), DTypeError);
  CHECK_THROWS_WITH_AS(randn(Shape{2}, g, DType::Bool), doctest::Contains("randn"), DTypeError);
  CHECK_THROWS_WITH_AS(uniform(Shape{2}, 1.0, 0.0, g), doctest::Contains("uniform"), ValueError);
  CHECK_THROWS_WITH_AS(normal(Shape{2}, 0.0, -1.0, g), doctest::Contains("std"), ValueError);
  CHECK_THROWS_AS(multinomial(Tensor::from_vector(std::vector<float>{}, Shape{2, 0}), g), ShapeError);
  // uniform with lo == hi is a constant fill.
  Tensor c = uniform(Shape{3}, 2.5, 2.5, g);
  CHECK(c.to_vector<float>() == std::vector<float>{2.5f, 2.5f, 2.5f});
}
