// Input gradients (PA-RL's dQ/da with a frozen critic, DESIGN §4) and deep graphs.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "anyrl/engine/engine.hpp"

using anyrl::DType;
using anyrl::Tensor;

namespace {

constexpr std::int64_t kB = 5, kS = 3, kA = 2, kH = 8;

Tensor rand_f64(const anyrl::Shape& s, std::mt19937_64& rng, double scale = 1.0) {
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  for (auto& x : v) x = u(rng);
  return Tensor::from_vector<double>(v, s);
}

/// A small 2-layer tanh critic Q(s, a) = w3 · tanh(W2 tanh(W1 [s; a] + b1) + b2) + b3.
struct Critic {
  Tensor W1, b1, W2, b2, W3, b3;
  explicit Critic(std::mt19937_64& rng, bool requires_grad) {
    W1 = rand_f64({kH, kS + kA}, rng, 0.8);
    b1 = rand_f64({kH}, rng, 0.3);
    W2 = rand_f64({kH, kH}, rng, 0.6);
    b2 = rand_f64({kH}, rng, 0.3);
    W3 = rand_f64({1, kH}, rng, 0.8);
    b3 = rand_f64({1}, rng, 0.3);
    for (Tensor* p : params()) p->set_requires_grad(requires_grad);
  }
  std::vector<Tensor*> params() { return {&W1, &b1, &W2, &b2, &W3, &b3}; }
  Tensor operator()(const Tensor& s, const Tensor& a) const {
    Tensor x = anyrl::concat({s, a}, -1);
    Tensor h = anyrl::tanh(anyrl::linear(x, W1, b1));
    h = anyrl::tanh(anyrl::linear(h, W2, b2));
    return anyrl::linear(h, W3, b3);  // [B, 1]
  }
};

/// Central finite differences of f(a) (a scalar) w.r.t. every element of a, in float64.
template <class F>
std::vector<double> finite_diff(const std::vector<double>& a, const anyrl::Shape& shape, F f, double eps = 1e-6) {
  anyrl::NoGrad ng;
  std::vector<double> g(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::vector<double> p = a, m = a;
    p[i] += eps;
    m[i] -= eps;
    g[i] = (f(Tensor::from_vector<double>(p, shape)) - f(Tensor::from_vector<double>(m, shape))) / (2 * eps);
  }
  return g;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double rtol = 1e-6, double atol = 1e-8) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]));
  }
}

}  // namespace

TEST_CASE("dQ/da of a frozen critic via anyrl::grad matches finite differences; critic grads untouched") {
  std::mt19937_64 rng(7);
  Critic q(rng, /*requires_grad=*/true);  // a trainable critic, frozen only for this computation
  Tensor s = rand_f64({kB, kS}, rng);
  Tensor a = rand_f64({kB, kA}, rng).set_requires_grad(true);
  const std::vector<double> a0 = a.to_vector<double>();

  Tensor Q = q(s, a);
  CHECK(Q.shape() == anyrl::Shape{kB, 1});
  auto g = anyrl::grad(anyrl::sum(Q), {a});
  REQUIRE(g.size() == 1);
  REQUIRE(g[0].defined());
  CHECK(g[0].shape() == a.shape());
  CHECK(g[0].dtype() == DType::Float64);

  auto fd = finite_diff(a0, a.shape(), [&](const Tensor& ap) { return anyrl::sum(q(s, ap)).item(); });
  check_close(g[0].to_vector<double>(), fd);

  // The frozen critic: anyrl::grad() leaves every .grad() alone (parameters and the action).
  for (Tensor* p : q.params()) CHECK_FALSE(p->grad().defined());
  CHECK_FALSE(a.grad().defined());
  // The action itself is unchanged.
  CHECK(a.to_vector<double>() == a0);

  // Gradient ascent on the action increases Q (PA-RL's local optimisation, one step).
  {
    anyrl::NoGrad ng;
    Tensor a1 = anyrl::add(a.detach(), anyrl::mul(g[0], 1e-3));
    CHECK(anyrl::sum(q(s, a1)).item() > anyrl::sum(Q).item());
  }
}

TEST_CASE("dQ/da w.r.t. action and state together, and through an ensemble min (batched [E,B,H])") {
  std::mt19937_64 rng(11);
  constexpr std::int64_t E = 3;
  Tensor W1 = rand_f64({E, kS + kA, kH}, rng, 0.8).set_requires_grad(true);
  Tensor b1 = rand_f64({E, 1, kH}, rng, 0.3).set_requires_grad(true);
  Tensor W2 = rand_f64({E, kH, 1}, rng, 0.8).set_requires_grad(true);
  auto Qmin = [&](const Tensor& s, const Tensor& a) {
    Tensor x = anyrl::concat({s, a}, 1);                              // [B, S+A]
    Tensor h = anyrl::tanh(anyrl::add(anyrl::matmul(x, W1), b1));    // [B,H]x[E,H,O] -> [E,B,H]
    Tensor q = anyrl::squeeze(anyrl::matmul(h, W2), -1);             // [E, B]
    return anyrl::min(q, {0});                                       // pessimistic: [B]
  };
  Tensor s = rand_f64({kB, kS}, rng).set_requires_grad(true);
  Tensor a = rand_f64({kB, kA}, rng).set_requires_grad(true);
  const auto a0 = a.to_vector<double>(), s0 = s.to_vector<double>();
  Tensor Q = Qmin(s, a);
  CHECK(Q.shape() == anyrl::Shape{kB});
  auto g = anyrl::grad(anyrl::sum(Q), {a, s});
  REQUIRE(g.size() == 2);
  auto fda = finite_diff(a0, a.shape(), [&](const Tensor& ap) { return anyrl::sum(Qmin(s, ap)).item(); });
  auto fds = finite_diff(s0, s.shape(), [&](const Tensor& sp) { return anyrl::sum(Qmin(sp, a)).item(); });
  check_close(g[0].to_vector<double>(), fda);
  check_close(g[1].to_vector<double>(), fds);
  CHECK_FALSE(W1.grad().defined());
  CHECK_FALSE(b1.grad().defined());
  CHECK_FALSE(W2.grad().defined());
}

TEST_CASE("dQ/da via backward() accumulates into a.grad(); a critic with requires_grad=false stays untouched") {
  std::mt19937_64 rng(7);
  Critic q(rng, /*requires_grad=*/false);  // frozen critic
  Tensor s = rand_f64({kB, kS}, rng);
  Tensor a = rand_f64({kB, kA}, rng).set_requires_grad(true);
  const auto a0 = a.to_vector<double>();
  auto fd = finite_diff(a0, a.shape(), [&](const Tensor& ap) { return anyrl::sum(q(s, ap)).item(); });

  anyrl::sum(q(s, a)).backward();
  REQUIRE(a.grad().defined());
  check_close(a.grad().to_vector<double>(), fd);
  for (Tensor* p : q.params()) CHECK_FALSE(p->grad().defined());

  // A second pass accumulates: the gradient doubles.
  anyrl::backward(anyrl::sum(q(s, a)));
  std::vector<double> fd2(fd.size());
  for (std::size_t i = 0; i < fd.size(); ++i) fd2[i] = 2 * fd[i];
  check_close(a.grad().to_vector<double>(), fd2);

  // zero_grad then a per-sample upstream gradient (backward of the non-scalar Q).
  a.zero_grad();
  Tensor Q = q(s, a);
  std::vector<double> w(static_cast<std::size_t>(kB));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.5 + static_cast<double>(i);
  anyrl::backward(Q, Tensor::from_vector<double>(w, {kB, 1}));
  auto fdw = finite_diff(a0, a.shape(), [&](const Tensor& ap) {
    auto qv = q(s, ap).to_vector<double>();
    double r = 0;
    for (std::size_t i = 0; i < qv.size(); ++i) r += w[i] * qv[i];
    return r;
  });
  check_close(a.grad().to_vector<double>(), fdw);
}

TEST_CASE("dQ/da in float32 agrees with float64") {
  std::mt19937_64 rng(7);
  Critic q(rng, false);
  Tensor s = rand_f64({kB, kS}, rng);
  Tensor a = rand_f64({kB, kA}, rng).set_requires_grad(true);
  auto g64 = anyrl::grad(anyrl::sum(q(s, a)), {a})[0].to_vector<double>();

  Critic q32 = q;
  for (Tensor* p : q32.params()) *p = p->to(DType::Float32);
  Tensor a32 = a.detach().to(DType::Float32).set_requires_grad(true);
  auto g32 = anyrl::grad(anyrl::sum(q32(s.to(DType::Float32), a32)), {a32})[0];
  CHECK(g32.dtype() == DType::Float32);
  check_close(g32.to_vector<double>(), g64, 1e-4, 1e-5);
}

TEST_CASE("a long chain (5000 sequential adds) backward does not overflow the stack") {
  Tensor x = Tensor::scalar(1.0, DType::Float64).set_requires_grad(true);
  {
    Tensor y = x;
    for (int i = 0; i < 5000; ++i) y = anyrl::add(y, x);
    anyrl::backward(y);
    REQUIRE(x.grad().defined());
    CHECK(x.grad().item() == 5001.0);
    CHECK(y.item() == 5001.0);
  }  // the chain is destroyed here (must not recurse 5000 deep either)
  x.zero_grad();
  {
    // A chain that is never backpropagated is destroyed safely too; and grad() works on it.
    Tensor y = x;
    for (int i = 0; i < 5000; ++i) y = anyrl::mul(y, 1.0);
    auto g = anyrl::grad(y, {x});
    CHECK(g[0].item() == 1.0);
  }
  {
    Tensor y = x;
    for (int i = 0; i < 5000; ++i) y = anyrl::tanh(y) + 0.0;
    (void)y;
  }
}

// Destroying a very deep graph that was never backpropagated used to recurse through
// Node -> input TensorImpl -> grad_fn -> Node ... and overflow the stack between 100k and 200k
// nodes; Node's destructor now tears the chain down iteratively.
TEST_CASE("a 300000-node graph that is never backpropagated is destroyed without overflowing the stack") {
  Tensor x = Tensor::scalar(1.0, DType::Float64).set_requires_grad(true);
  {
    Tensor y = x;
    for (int i = 0; i < 300000; ++i) y = anyrl::add(y, x);
    CHECK(y.item() == 300001.0);
  }
}
