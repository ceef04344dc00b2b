// Tanh-squashed diagonal Gaussian policy (SAC / RLPD / Cal-QL baseline actor).
#pragma once
#include <memory>
#include <vector>

#include "anyrl/models/policy.hpp"

namespace anyrl::models {

struct TanhGaussianConfig {
  std::int64_t obs_dim = 0;  ///< features when there is no encoder (ignored with one)
  std::int64_t act_dim = 0;
  std::vector<std::int64_t> hidden = {256, 256};  ///< Cal-QL / PA-RL baseline actor
  nn::Activation activation = nn::Activation::ReLU;
  bool layer_norm = false;
  double log_std_min = -5.0;  ///< log-std is clamped to [min, max] (DESIGN §3)
  double log_std_max = 2.0;
  /// Dataset actions are clipped to [-1 + eps, 1 - eps] before atanh in log_prob / the NLL.
  double action_eps = 1e-6;
};

/// MLP -> (mean, log_std) -> u ~ N(mean, std^2) -> a = tanh(u).
/// supervised_loss = mean NLL of the actions with the tanh change of variables.
class TanhGaussianPolicy : public Policy, public HasLogProb, public RSamplable {
 public:
  TanhGaussianPolicy(const TanhGaussianConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder = nullptr);

  std::string kind() const override { return "tanh_gaussian"; }
  std::int64_t action_dim() const override { return cfg_.act_dim; }
  Shape obs_shape() const override;
  Tensor sample(const Tensor& obs, std::int64_t n, Generator& gen) const override;
  Tensor supervised_loss(const Tensor& obs, const Tensor& actions, Generator& gen) const override;
  Tensor act(const Tensor& obs, Generator& gen, bool deterministic = false) const override;
  const HasLogProb* as_log_prob() const override { return this; }
  const RSamplable* as_rsamplable() const override { return this; }

  Tensor log_prob(const Tensor& obs, const Tensor& actions) const override;
  RSample rsample(const Tensor& obs, Generator& gen) const override;

  struct Dist {
    Tensor mean, log_std;  ///< [B, A] each (pre-tanh)
  };
  Dist dist(const Tensor& obs) const;
  const TanhGaussianConfig& config() const { return cfg_; }

 private:
  TanhGaussianConfig cfg_;
  std::shared_ptr<nn::Encoder> encoder_;
  std::unique_ptr<nn::MLP> net_;
};

/// log N(u; mean, std) - sum log(1 - tanh(u)^2), summed over the last dim, for pre-tanh u.
Tensor tanh_gaussian_log_prob(const Tensor& u, const Tensor& mean, const Tensor& log_std);

}  // namespace anyrl::models
