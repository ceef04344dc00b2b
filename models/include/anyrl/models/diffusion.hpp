// DDPM diffusion policy (IDQL / PA-RL): an LN-ResNet noise network eps(a_t, t, s), the
// epsilon-prediction loss, and ancestral sampling clipped to [-1, 1], batched over B states x
// n samples in one network pass per denoising step.
#pragma once
#include <memory>
#include <vector>

#include "anyrl/models/policy.hpp"

namespace anyrl::models {

enum class BetaSchedule {
  Cosine,  ///< Nichol & Dhariwal, s = 0.008, beta clipped at beta_max (IDQL / PA-RL default)
  Linear,  ///< beta linear in [beta_start, beta_end]
  VP,      ///< IDQL's variance-preserving schedule (b_min 0.1, b_max 10)
};

/// The noise schedule and the two DDPM equations, with t in 1..K (index t-1 in the vectors).
struct DDPMSchedule {
  std::vector<double> betas, alphas, alpha_bars;
  /// sigma_t of the sampler: sqrt(beta_t) (IDQL, default) or the posterior
  /// sqrt(beta_t (1 - abar_{t-1}) / (1 - abar_t)).
  std::vector<double> sigmas;

  static DDPMSchedule make(int K, BetaSchedule kind, bool posterior_variance = false, double cosine_s = 0.008,
                           double beta_max = 0.999, double beta_start = 1e-4, double beta_end = 2e-2);
  int steps() const { return static_cast<int>(betas.size()); }

  /// Forward noising sqrt(abar_t) a0 + sqrt(1 - abar_t) eps, one t per row of a0[N, A].
  Tensor q_sample(const Tensor& a0, const std::vector<int>& t, const Tensor& eps) const;
  /// One reverse step: (a_t - (1 - alpha_t)/sqrt(1 - abar_t) eps_pred) / sqrt(alpha_t) + sigma_t z
  /// (z ignored at t = 1), then clipped to [-1, 1] when `clip`.
  Tensor p_step(const Tensor& a_t, const Tensor& eps_pred, int t, const Tensor& z, bool clip) const;
};

enum class TimeEmbeddingKind { Fourier, Sinusoidal };

struct DiffusionConfig {
  std::int64_t obs_dim = 0;
  std::int64_t act_dim = 0;
  int steps = 5;                              ///< K
  BetaSchedule schedule = BetaSchedule::Cosine;
  bool posterior_variance = false;            ///< sigma_t^2 = beta_t (false) or beta-tilde_t (true)
  bool clip_sample = true;                    ///< clip to [-1, 1] after every step (IDQL)
  std::int64_t hidden = 256;                  ///< LN-ResNet width
  int blocks = 3;
  double dropout = 0.1;
  nn::Activation activation = nn::Activation::Mish;
  TimeEmbeddingKind time_embedding = TimeEmbeddingKind::Fourier;
  std::int64_t time_dim = 64;
  std::vector<std::int64_t> time_hidden = {128, 128};  ///< MLP after the time embedding
};

class DiffusionPolicy : public Policy {
 public:
  DiffusionPolicy(const DiffusionConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder = nullptr);

  std::string kind() const override { return "diffusion"; }
  std::int64_t action_dim() const override { return cfg_.act_dim; }
  Shape obs_shape() const override;
  Tensor sample(const Tensor& obs, std::int64_t n, Generator& gen) const override;
  /// mean over the batch of ||eps - eps_phi(sqrt(abar_t) a + sqrt(1 - abar_t) eps, s, t)||^2
  /// (summed over action dims), t uniform in 1..K.
  Tensor supervised_loss(const Tensor& obs, const Tensor& actions, Generator& gen) const override;
  /// deterministic: starts from a_K = 0 and adds no noise.
  Tensor act(const Tensor& obs, Generator& gen, bool deterministic = false) const override;

  /// The noise network on explicit inputs: a_t[N, A], t[N] (float, 1..K), features[N, F].
  Tensor eps(const Tensor& a_t, const Tensor& t, const Tensor& features, Generator* gen = nullptr) const;
  /// Time features for t[N] (float): embedding -> MLP.
  Tensor time_features(const Tensor& t) const;
  const DDPMSchedule& schedule() const { return sched_; }
  const DiffusionConfig& config() const { return cfg_; }
  Tensor features(const Tensor& obs) const { return encode_obs(encoder_.get(), obs); }

 private:
  DiffusionConfig cfg_;
  DDPMSchedule sched_;
  std::shared_ptr<nn::Encoder> encoder_;
  std::unique_ptr<nn::Module> time_emb_;  // FourierEmbedding or SinusoidalEmbedding
  std::unique_ptr<nn::MLP> time_mlp_;
  std::unique_ptr<nn::LNResNet> net_;
  std::int64_t feat_dim_;

  Tensor sample_impl(const Tensor& obs, std::int64_t n, Generator& gen, bool deterministic) const;
};

}  // namespace anyrl::models
