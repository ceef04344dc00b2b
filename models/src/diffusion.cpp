#include "anyrl/models/diffusion.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace anyrl::models {

DDPMSchedule DDPMSchedule::make(int K, BetaSchedule kind, bool posterior_variance, double s, double beta_max,
                                double beta_start, double beta_end) {
  if (K < 1) throw ValueError("DDPMSchedule: K must be >= 1, got " + std::to_string(K));
  DDPMSchedule r;
  r.betas.resize(static_cast<std::size_t>(K));
  switch (kind) {
    case BetaSchedule::Cosine: {
      auto f = [&](double t) {
        const double c = std::cos((t / K + s) / (1 + s) * std::numbers::pi * 0.5);
        return c * c;
      };
      const double f0 = f(0);
      for (int t = 1; t <= K; ++t) {
        const double ab = f(t) / f0, ab_prev = f(t - 1) / f0;
        r.betas[t - 1] = std::clamp(1.0 - ab / ab_prev, 0.0, beta_max);
      }
      break;
    }
    case BetaSchedule::Linear:
      for (int t = 1; t <= K; ++t)
        r.betas[t - 1] = K == 1 ? beta_start : beta_start + (beta_end - beta_start) * (t - 1) / (K - 1);
      break;
    case BetaSchedule::VP: {
      const double bmin = 0.1, bmax = 10.0;
      for (int t = 1; t <= K; ++t) {
        const double a = std::exp(-bmin / K - 0.5 * (bmax - bmin) * (2.0 * t - 1.0) / (double(K) * K));
        r.betas[t - 1] = 1.0 - a;
      }
      break;
    }
  }
  double ab = 1.0;
  for (int t = 1; t <= K; ++t) {
    const double a = 1.0 - r.betas[t - 1];
    const double ab_prev = ab;
    ab *= a;
    r.alphas.push_back(a);
    r.alpha_bars.push_back(ab);
    r.sigmas.push_back(posterior_variance ? std::sqrt(r.betas[t - 1] * (1.0 - ab_prev) / (1.0 - ab))
                                          : std::sqrt(r.betas[t - 1]));
  }
  return r;
}

Tensor DDPMSchedule::q_sample(const Tensor& a0, const std::vector<int>& t, const Tensor& eps) const {
  const std::int64_t N = a0.size(0);
  if (static_cast<std::int64_t>(t.size()) != N)
    throw ShapeError("DDPMSchedule::q_sample: " + std::to_string(t.size()) + " timesteps for " + a0.desc());
  std::vector<double> c1(t.size()), c2(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] < 1 || t[i] > steps()) throw ValueError("DDPMSchedule::q_sample: t out of 1..K");
    c1[i] = std::sqrt(alpha_bars[t[i] - 1]);
    c2[i] = std::sqrt(1.0 - alpha_bars[t[i] - 1]);
  }
  Shape cs{N};
  for (int d = 1; d < a0.dim(); ++d) cs.push_back(1);
  Tensor C1 = Tensor::from_vector<double>(c1, cs).to(a0.dtype()), C2 = Tensor::from_vector<double>(c2, cs).to(a0.dtype());
  return add(mul(a0, C1), mul(eps, C2));
}

Tensor DDPMSchedule::p_step(const Tensor& a_t, const Tensor& eps_pred, int t, const Tensor& z, bool clip) const {
  if (t < 1 || t > steps()) throw ValueError("DDPMSchedule::p_step: t out of 1..K");
  const double a = alphas[t - 1], ab = alpha_bars[t - 1];
  Tensor x = mul(sub(a_t, mul(eps_pred, (1.0 - a) / std::sqrt(1.0 - ab))), 1.0 / std::sqrt(a));
  if (t > 1 && z.defined()) x = add(x, mul(z, sigmas[t - 1]));
  return clip ? clamp(x, -1.0, 1.0) : x;
}

DiffusionPolicy::DiffusionPolicy(const DiffusionConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder)
    : cfg_(cfg), sched_(DDPMSchedule::make(cfg.steps, cfg.schedule, cfg.posterior_variance)), encoder_(std::move(encoder)) {
  if (cfg.act_dim <= 0) throw ValueError("DiffusionPolicy: act_dim must be positive");
  feat_dim_ = encoder_ ? encoder_->out_dim() : cfg.obs_dim;
  if (feat_dim_ <= 0) throw ValueError("DiffusionPolicy: obs_dim must be positive (or give an encoder)");
  if (cfg.time_hidden.empty()) throw ValueError("DiffusionPolicy: time_hidden needs at least one width");
  if (encoder_) register_module("encoder", encoder_);
  if (cfg.time_embedding == TimeEmbeddingKind::Fourier) time_emb_ = std::make_unique<nn::FourierEmbedding>(cfg.time_dim, gen);
  else time_emb_ = std::make_unique<nn::SinusoidalEmbedding>(cfg.time_dim);
  register_module("time_emb", *time_emb_);
  nn::MLPConfig tm;
  tm.in = cfg.time_dim;
  tm.hidden.assign(cfg.time_hidden.begin(), cfg.time_hidden.end() - 1);
  tm.out = cfg.time_hidden.back();
  tm.activation = cfg.activation;
  time_mlp_ = std::make_unique<nn::MLP>(tm, gen);
  register_module("time_mlp", *time_mlp_);
  nn::LNResNetConfig rc;
  rc.in = cfg.act_dim + tm.out + feat_dim_;
  rc.out = cfg.act_dim;
  rc.hidden = cfg.hidden;
  rc.blocks = cfg.blocks;
  rc.dropout = cfg.dropout;
  rc.activation = cfg.activation;
  net_ = std::make_unique<nn::LNResNet>(rc, gen);
  register_module("net", *net_);
}

Shape DiffusionPolicy::obs_shape() const { return encoder_ ? encoder_->input_shape() : Shape{cfg_.obs_dim}; }

Tensor DiffusionPolicy::time_features(const Tensor& t) const {
  Tensor e = cfg_.time_embedding == TimeEmbeddingKind::Fourier
                 ? static_cast<const nn::FourierEmbedding&>(*time_emb_).forward(t)
                 : static_cast<const nn::SinusoidalEmbedding&>(*time_emb_).forward(t);
  return time_mlp_->forward(e);
}

Tensor DiffusionPolicy::eps(const Tensor& a_t, const Tensor& t, const Tensor& features, Generator* gen) const {
  return net_->forward(concat({a_t, time_features(t), features}, 1), gen);
}

Tensor DiffusionPolicy::supervised_loss(const Tensor& obs, const Tensor& actions, Generator& gen) const {
  Tensor s = features(obs);
  const std::int64_t B = s.size(0);
  if (actions.dim() != 2 || actions.size(0) != B || actions.size(1) != cfg_.act_dim)
    throw ShapeError("DiffusionPolicy::supervised_loss: actions " + actions.desc() + " must be [" + std::to_string(B) +
                     ", " + std::to_string(cfg_.act_dim) + "]");
  Tensor ti = randint(Shape{B}, 1, cfg_.steps + 1, gen);
  std::vector<std::int64_t> tv = ti.to_vector<std::int64_t>();
  std::vector<int> t(tv.begin(), tv.end());
  Tensor noise = randn(actions.shape(), gen, actions.dtype());
  Tensor a_t = sched_.q_sample(actions, t, noise);
  Tensor pred = eps(a_t, ti.to(actions.dtype()), s, &gen);
  return mean(sum(square(sub(pred, noise)), {1}));
}

Tensor DiffusionPolicy::sample_impl(const Tensor& obs, std::int64_t n, Generator& gen, bool deterministic) const {
  NoGrad ng;
  Tensor s = features(obs);
  const std::int64_t B = s.size(0), A = cfg_.act_dim, N = B * n, H = cfg_.hidden;
  const DType dt = s.dtype();
  // Split the LN-ResNet's first Dense over its [a_t | time | state] input: the state's share is
  // computed once for the B states (not B*n rows, not every step), the time's once per step.
  const Tensor& W = net_->input.weight;  // [H, A + Dt + F]
  const std::int64_t Dt = cfg_.time_hidden.back();
  Tensor Wa = slice(W, 1, 0, A), Wt = slice(W, 1, A, A + Dt), Ws = slice(W, 1, A + Dt, A + Dt + feat_dim_);
  Tensor hs = linear(s, Ws, net_->input.bias);                                         // [B, H]
  hs = expand(unsqueeze(hs, 1), Shape{B, n, H}).reshape(Shape{N, H});                   // [N, H]
  Tensor a = deterministic ? Tensor::zeros(Shape{N, A}, dt) : randn(Shape{N, A}, gen, dt);
  for (int t = cfg_.steps; t >= 1; --t) {
    Tensor tt = Tensor::full(Shape{1}, static_cast<double>(t), dt);
    Tensor ht = linear(time_features(tt), Wt);                                          // [1, H]
    Tensor h = add(add(linear(a, Wa), hs), ht);
    Tensor e = net_->forward_hidden(h, nullptr);
    Tensor z = (t > 1 && !deterministic) ? randn(Shape{N, A}, gen, dt) : Tensor();
    a = sched_.p_step(a, e, t, z, cfg_.clip_sample);
  }
  if (!cfg_.clip_sample) a = clamp(a, -1.0, 1.0);
  return a.reshape(Shape{B, n, A});
}

Tensor DiffusionPolicy::sample(const Tensor& obs, std::int64_t n, Generator& gen) const {
  return sample_impl(obs, n, gen, false);
}

Tensor DiffusionPolicy::act(const Tensor& obs, Generator& gen, bool deterministic) const {
  bool single = false;
  Tensor o = batch_obs(obs, single);
  Tensor a = sample_impl(o, 1, gen, deterministic);
  return single ? a.reshape(Shape{cfg_.act_dim}) : a.reshape(Shape{a.size(0), cfg_.act_dim});
}

}  // namespace anyrl::models
