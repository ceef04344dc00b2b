// End-to-end engine checks: an MLP learns, training is bitwise deterministic across thread
// counts and runs, and a steady-state training step allocates nothing from the OS.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "anyrl/engine/engine.hpp"

using namespace anyrl;

Tensor sin_approx(const Tensor& x);

namespace {

// A plain MLP built from engine ops (the nn/ layer is not needed here).
struct MLP {
  std::vector<Tensor> w, b;
  MLP(const std::vector<std::int64_t>& widths, Generator& gen, bool layer_norm = false) : ln(layer_norm) {
    for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
      double bound = 1.0 / std::sqrt(static_cast<double>(widths[i]));
      w.push_back(uniform(Shape{widths[i + 1], widths[i]}, -bound, bound, gen).set_requires_grad());
      b.push_back(Tensor::zeros(Shape{widths[i + 1]}).set_requires_grad());
      if (layer_norm && i + 2 < widths.size()) {
        g.push_back(Tensor::ones(Shape{widths[i + 1]}).set_requires_grad());
        beta.push_back(Tensor::zeros(Shape{widths[i + 1]}).set_requires_grad());
      }
    }
  }
  bool ln;
  std::vector<Tensor> g, beta;
  Tensor operator()(Tensor x) const {
    for (std::size_t i = 0; i < w.size(); ++i) {
      x = linear(x, w[i], b[i]);
      if (i + 1 < w.size()) {
        if (ln) x = layer_norm(x, g[i], beta[i]);
        x = silu(x);
      }
    }
    return x;
  }
  std::vector<Tensor> params() const {
    std::vector<Tensor> p = w;
    p.insert(p.end(), b.begin(), b.end());
    p.insert(p.end(), g.begin(), g.end());
    p.insert(p.end(), beta.begin(), beta.end());
    return p;
  }
};

// Target: a smooth nonlinear function of two inputs.
Tensor target_fn(const Tensor& x) {
  Tensor x0 = slice(x, 1, 0, 1), x1 = slice(x, 1, 1, 2);
  return add(mul(sin_approx(x0), x1), tanh(mul(x0, x1)));
}

}  // namespace

// sin is not an engine op; tanh-based smooth stand-in keeps the target nonlinear.
Tensor sin_approx(const Tensor& x) { return tanh(mul(x, 2.0)); }

namespace {

std::vector<float> train(int threads, int steps, double* first_loss = nullptr, double* last_loss = nullptr,
                         std::uint64_t* allocs_after_warmup = nullptr) {
  set_num_threads(threads);
  Generator gen(1234);
  MLP net({2, 64, 64, 1}, gen, true);
  Adam opt(net.params(), AdamOptions{.lr = 3e-3});
  Generator data_gen(99);
  Tensor x = uniform(Shape{256, 2}, -2.0, 2.0, data_gen);
  Tensor y = target_fn(x);
  for (int s = 0; s < steps; ++s) {
    if (s == 2) reset_allocator_stats();
    opt.zero_grad();
    Tensor loss = mse_loss(net(x), y);
    loss.backward();
    opt.step();
    if (s == 0 && first_loss) *first_loss = loss.item();
    if (s == steps - 1 && last_loss) *last_loss = loss.item();
  }
  if (allocs_after_warmup) *allocs_after_warmup = allocator_stats().os_allocs;
  std::vector<float> out;
  for (const Tensor& p : net.params()) {
    auto v = p.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace

TEST_CASE("an MLP fits a nonlinear 2-D function: loss drops by 100x with Adam") {
  double first = 0, last = 0;
  train(2, 1500, &first, &last);
  MESSAGE("MLP regression loss: " << first << " -> " << last);
  CHECK(last < first / 100.0);
}

TEST_CASE("200 Adam steps are bitwise identical with 1 and 2 threads and across runs") {
  std::vector<float> a = train(1, 200), b = train(2, 200), c = train(2, 200);
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(b.data(), c.data(), b.size() * sizeof(float)) == 0);
  set_num_threads(2);
}

TEST_CASE("a steady-state training step makes zero OS allocations") {
  std::uint64_t allocs = 1;
  train(2, 30, nullptr, nullptr, &allocs);
  CHECK(allocs == 0);
}

TEST_CASE("batched ensemble matmul trains too (E x B x H)") {
  set_num_threads(2);
  Generator gen(7);
  const std::int64_t E = 4, B = 64, H = 32;
  Tensor w1 = mul(randn(Shape{E, 2, H}, gen), 0.5).detach().set_requires_grad();
  Tensor w2 = mul(randn(Shape{E, H, 1}, gen), 0.5).detach().set_requires_grad();
  Adam opt({w1, w2}, AdamOptions{.lr = 1e-2});
  Tensor x = uniform(Shape{B, 2}, -1, 1, gen);
  // Bias-free tanh nets are odd functions, so the target must be odd too.
  Tensor y = add(tanh(mul(slice(x, 1, 0, 1), 2.0)), slice(x, 1, 1, 2));
  double first = 0, last = 0;
  for (int s = 0; s < 800; ++s) {
    opt.zero_grad();
    Tensor q = matmul(tanh(matmul(x, w1)), w2);  // [E, B, 1], x broadcast over members
    Tensor loss = mse_loss(q, expand(y, Shape{E, B, 1}));
    loss.backward();
    opt.step();
    if (s == 0) first = loss.item();
    last = loss.item();
  }
  CHECK(last < first / 100.0);
}
