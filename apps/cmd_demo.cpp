// `anyrl demo`: the engine end to end in a few seconds — an MLP (with LayerNorm and SiLU)
// regresses a nonlinear 2-D function with Adam, printing its loss as it falls.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "anyrl/engine/engine.hpp"
#include "commands.hpp"

namespace anyrl::app {
namespace {

std::int64_t parse_int(const Args& args, std::size_t& i, const std::string& flag) {
  if (i + 1 >= args.size()) throw ValueError(flag + " needs a value");
  const std::string& v = args[++i];
  try {
    std::size_t used = 0;
    long long x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw ValueError(flag + ": '" + v + "' is not an integer");
}

}  // namespace

int cmd_demo(const Args& args) {
  std::int64_t steps = 2000, seed = 0, batch = 512;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--steps") steps = parse_int(args, i, "--steps");
    else if (args[i] == "--seed") seed = parse_int(args, i, "--seed");
    else if (args[i] == "--threads") set_num_threads(static_cast<int>(parse_int(args, i, "--threads")));
    else if (args[i] == "--batch") batch = parse_int(args, i, "--batch");
    else throw ValueError("demo: unknown option '" + args[i] + "' (options: --steps N --seed S --threads T --batch B)");
  }
  if (steps <= 0 || batch <= 0) throw ValueError("demo: --steps and --batch must be positive");

  Generator gen(static_cast<std::uint64_t>(seed));
  const std::vector<std::int64_t> widths{2, 128, 128, 1};
  std::vector<Tensor> w, b, g, beta, params;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    double bound = 1.0 / std::sqrt(static_cast<double>(widths[l]));
    w.push_back(uniform(Shape{widths[l + 1], widths[l]}, -bound, bound, gen).set_requires_grad());
    b.push_back(Tensor::zeros(Shape{widths[l + 1]}).set_requires_grad());
    g.push_back(Tensor::ones(Shape{widths[l + 1]}).set_requires_grad());
    beta.push_back(Tensor::zeros(Shape{widths[l + 1]}).set_requires_grad());
    for (Tensor* t : {&w.back(), &b.back(), &g.back(), &beta.back()}) params.push_back(*t);
  }
  auto net = [&](Tensor x) {
    for (std::size_t l = 0; l < w.size(); ++l) {
      x = linear(x, w[l], b[l]);
      if (l + 1 < w.size()) x = silu(layer_norm(x, g[l], beta[l]));
    }
    return x;
  };
  // y = sin(2 x0) * cos(x1) + 0.5 x0 x1 on [-2, 2]^2
  auto target = [](const Tensor& x) {
    Tensor x0 = slice(x, 1, 0, 1), x1 = slice(x, 1, 1, 2);
    return add(mul(sin(mul(x0, 2.0)), cos(x1)), mul(mul(x0, x1), 0.5));
  };
  Adam opt(params, AdamOptions{.lr = 3e-3});
  WarmupCosineLR sched(3e-3, steps / 20, steps, 1e-4);
  Generator data(static_cast<std::uint64_t>(seed) + 1);
  Tensor x_test = uniform(Shape{4096, 2}, -2.0, 2.0, data);
  Tensor y_test = target(x_test);

  std::printf("anyrl demo: MLP 2-128-128-1 (LayerNorm, SiLU), Adam, batch %lld, %d threads\n",
              static_cast<long long>(batch), num_threads());
  auto t0 = std::chrono::steady_clock::now();
  double first = 0, last = 0;
  for (std::int64_t s = 0; s < steps; ++s) {
    Tensor x = uniform(Shape{batch, 2}, -2.0, 2.0, data);
    opt.set_lr(sched.at(s));
    opt.zero_grad();
    Tensor loss = mse_loss(net(x), target(x));
    loss.backward();
    opt.step();
    if (s % (steps / 10 > 0 ? steps / 10 : 1) == 0 || s == steps - 1) {
      NoGrad ng;
      double test = mse_loss(net(x_test), y_test).item();
      if (s == 0) first = test;
      last = test;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("  step %6lld  train loss %.6f  test loss %.6f  (%.0f steps/s)\n", static_cast<long long>(s),
                  loss.item(), test, (s + 1) / std::max(secs, 1e-9));
      std::fflush(stdout);
    }
  }
  std::printf("test loss %.5f -> %.6f (%.0fx lower)\n", first, last, first / std::max(last, 1e-12));
  return last < first ? 0 : 1;
}

}  // namespace anyrl::app
