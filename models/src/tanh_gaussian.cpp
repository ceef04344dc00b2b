#include "anyrl/models/tanh_gaussian.hpp"

#include <cmath>
#include <numbers>

namespace anyrl::models {

TanhGaussianPolicy::TanhGaussianPolicy(const TanhGaussianConfig& cfg, Generator& gen,
                                       std::shared_ptr<nn::Encoder> encoder)
    : cfg_(cfg), encoder_(std::move(encoder)) {
  if (cfg.act_dim <= 0) throw ValueError("TanhGaussianPolicy: act_dim must be positive");
  const std::int64_t in = encoder_ ? encoder_->out_dim() : cfg.obs_dim;
  if (in <= 0) throw ValueError("TanhGaussianPolicy: obs_dim must be positive (or give an encoder)");
  if (encoder_) register_module("encoder", encoder_);
  nn::MLPConfig m;
  m.in = in;
  m.hidden = cfg.hidden;
  m.out = 2 * cfg.act_dim;
  m.activation = cfg.activation;
  m.layer_norm = cfg.layer_norm;
  net_ = std::make_unique<nn::MLP>(m, gen);
  register_module("net", *net_);
}

Shape TanhGaussianPolicy::obs_shape() const { return encoder_ ? encoder_->input_shape() : Shape{cfg_.obs_dim}; }

TanhGaussianPolicy::Dist TanhGaussianPolicy::dist(const Tensor& obs) const {
  Tensor out = net_->forward(encode_obs(encoder_.get(), obs));
  auto parts = split(out, {cfg_.act_dim, cfg_.act_dim}, -1);
  return {parts[0], clamp(parts[1], cfg_.log_std_min, cfg_.log_std_max)};
}

Tensor tanh_gaussian_log_prob(const Tensor& u, const Tensor& mean, const Tensor& log_std) {
  const double half_log_2pi = 0.5 * std::log(2.0 * std::numbers::pi);
  Tensor z = div(sub(u, mean), exp(log_std));
  Tensor gauss = sub(add(mul(square(z), -0.5), -half_log_2pi), log_std);
  // log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|.
  Tensor log_det = mul(sub(rsub(std::log(2.0), u), softplus(mul(u, -2.0))), 2.0);
  return sum(sub(gauss, log_det), {-1});
}

Tensor TanhGaussianPolicy::log_prob(const Tensor& obs, const Tensor& actions) const {
  Dist d = dist(obs);
  if (!(actions.shape() == d.mean.shape()))
    throw ShapeError("TanhGaussianPolicy::log_prob: actions " + actions.desc() + " must be " + d.mean.shape().str());
  const double e = cfg_.action_eps;
  Tensor a = clamp(actions, -1.0 + e, 1.0 - e);
  Tensor u = mul(sub(log(add(a, 1.0)), log(rsub(1.0, a))), 0.5);  // atanh
  return tanh_gaussian_log_prob(u, d.mean, d.log_std);
}

Tensor TanhGaussianPolicy::supervised_loss(const Tensor& obs, const Tensor& actions, Generator&) const {
  return neg(mean(log_prob(obs, actions)));
}

RSample TanhGaussianPolicy::rsample(const Tensor& obs, Generator& gen) const {
  Dist d = dist(obs);
  Tensor eps = randn(d.mean.shape(), gen, d.mean.dtype());
  Tensor u = add(d.mean, mul(exp(d.log_std), eps));
  return {tanh(u), tanh_gaussian_log_prob(u, d.mean, d.log_std)};
}

Tensor TanhGaussianPolicy::sample(const Tensor& obs, std::int64_t n, Generator& gen) const {
  NoGrad ng;
  Dist d = dist(obs);
  const std::int64_t B = d.mean.size(0), A = cfg_.act_dim;
  Tensor mu = unsqueeze(d.mean, 1), sd = unsqueeze(exp(d.log_std), 1);
  Tensor eps = randn(Shape{B, n, A}, gen, d.mean.dtype());
  return tanh(add(mu, mul(sd, eps)));
}

Tensor TanhGaussianPolicy::act(const Tensor& obs, Generator& gen, bool deterministic) const {
  if (!deterministic) return Policy::act(obs, gen, false);
  NoGrad ng;
  bool single = false;
  Tensor o = batch_obs(obs, single);
  Tensor a = tanh(dist(o).mean);
  return single ? a.reshape(Shape{cfg_.act_dim}) : a;
}

}  // namespace anyrl::models
