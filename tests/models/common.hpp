// Shared helpers for the models suite: small configs, a BC training loop, and datasets.
#pragma once
#include <cmath>
#include <functional>
#include <numbers>

#include "anyrl/models/models.hpp"

namespace mt {
using namespace anyrl;
using namespace anyrl::models;

/// Small versions of the paper's architectures (test speed); the defaults stay the paper's.
inline DiffusionConfig small_diffusion(std::int64_t obs, std::int64_t act) {
  DiffusionConfig c;
  c.obs_dim = obs;
  c.act_dim = act;
  c.hidden = 64;
  c.blocks = 2;
  c.dropout = 0.0;
  c.time_dim = 16;
  c.time_hidden = {32, 32};
  return c;
}
inline AutoregressiveConfig small_ar(std::int64_t obs, std::int64_t act, std::int64_t bins = 64) {
  AutoregressiveConfig c;
  c.obs_dim = obs;
  c.act_dim = act;
  c.bins = bins;
  c.width = 64;
  c.layers = 2;
  c.heads = 4;
  c.mlp_ratio = 2;
  return c;
}
inline TanhGaussianConfig small_tg(std::int64_t obs, std::int64_t act) {
  TanhGaussianConfig c;
  c.obs_dim = obs;
  c.act_dim = act;
  c.hidden = {64, 64};
  return c;
}

/// A batch of (obs, action) pairs.
using DataFn = std::function<std::pair<Tensor, Tensor>(std::int64_t batch, Generator& gen)>;

/// Behaviour cloning with Adam (warm-up + cosine decay); returns the last loss. With `ema`
/// (a policy of the same class and config), keeps an exponential moving average of the
/// weights there (IDQL samples from such an EMA copy, tau = 0.005).
inline double train_bc(Policy& p, const DataFn& data, int steps, std::int64_t batch, double lr, std::uint64_t seed = 1,
                       Policy* ema = nullptr, double tau = 0.005) {
  if (ema) ema->load_state_dict(p.state_dict());
  Generator gen(seed), dgen(seed + 1000);
  Adam opt(p.parameters(), AdamOptions{.lr = lr});
  WarmupCosineLR sched(lr, 50, steps, lr * 0.1);
  p.train();
  double last = 0;
  for (int s = 0; s < steps; ++s) {
    auto [o, a] = data(batch, dgen);
    opt.set_lr(sched.at(s));
    opt.zero_grad();
    Tensor loss = p.supervised_loss(o, a, gen);
    loss.backward();
    opt.step();
    if (ema) polyak_update(ema->parameters(), p.parameters(), tau);
    last = loss.item();
  }
  p.eval();
  if (ema) ema->eval();
  return last;
}

/// Four modes at (+-0.5, +-0.5) + 0.2 s (1, 1), isotropic noise std 0.05, s ~ U(-1, 1).
inline std::array<std::pair<double, double>, 4> mode_centres(double s) {
  const double o = 0.2 * s;
  return {{{-0.5 + o, -0.5 + o}, {-0.5 + o, 0.5 + o}, {0.5 + o, -0.5 + o}, {0.5 + o, 0.5 + o}}};
}
inline std::pair<Tensor, Tensor> four_modes(std::int64_t B, Generator& gen) {
  Tensor s = uniform(Shape{B, 1}, -1, 1, gen);
  Tensor k = randint(Shape{B}, 0, 4, gen);
  Tensor z = randn(Shape{B, 2}, gen);
  auto sv = s.to_vector<double>();
  auto kv = k.to_vector<std::int64_t>();
  auto zv = z.to_vector<double>();
  std::vector<float> a(static_cast<std::size_t>(2 * B));
  for (std::int64_t i = 0; i < B; ++i) {
    auto c = mode_centres(sv[i])[kv[i]];
    a[2 * i] = static_cast<float>(c.first + 0.05 * zv[2 * i]);
    a[2 * i + 1] = static_cast<float>(c.second + 0.05 * zv[2 * i + 1]);
  }
  return {s, Tensor::from_vector<float>(a, Shape{B, 2})};
}

/// Unimodal state-dependent target f(s) = (0.7 s, 0.6 cos(pi s) - 0.2), noise std 0.02.
inline std::pair<double, double> cond_target(double s) { return {0.7 * s, 0.6 * std::cos(std::numbers::pi * s) - 0.2}; }
inline std::pair<Tensor, Tensor> conditioned(std::int64_t B, Generator& gen) {
  Tensor s = uniform(Shape{B, 1}, -1, 1, gen);
  Tensor z = randn(Shape{B, 2}, gen);
  auto sv = s.to_vector<double>();
  auto zv = z.to_vector<double>();
  std::vector<float> a(static_cast<std::size_t>(2 * B));
  for (std::int64_t i = 0; i < B; ++i) {
    auto f = cond_target(sv[i]);
    a[2 * i] = static_cast<float>(f.first + 0.02 * zv[2 * i]);
    a[2 * i + 1] = static_cast<float>(f.second + 0.02 * zv[2 * i + 1]);
  }
  return {s, Tensor::from_vector<float>(a, Shape{B, 2})};
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  if (x.size() != y.size()) return 1e300;
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}
}  // namespace mt
