// Critics: a Q ensemble evaluated as one batched network (EnsembleLinear, [E, B, H]) with a
// scalar or HL-Gauss distributional head, and a state-value network (IQL's V).
#pragma once
#include <memory>
#include <vector>

#include "anyrl/nn/nn.hpp"

namespace anyrl::models {

/// The HL-Gauss support (Farebrother et al. 2024): M bins on [v_min, v_max], sigma =
/// sigma_ratio * bin width. Target histograms are Gaussian-CDF differences over the bins,
/// renormalised to the support.
struct HLGauss {
  std::int64_t bins = 128;
  double v_min = -100.0, v_max = 0.0;
  double sigma_ratio = 0.75;
  double bin_width() const { return (v_max - v_min) / static_cast<double>(bins); }
  double sigma() const { return sigma_ratio * bin_width(); }
  /// Bin centres [M] as `dtype`.
  Tensor centers(DType dtype = DType::Float32) const;
  /// y[...] -> probabilities [..., M] (no graph; computed in float64, returned as y's dtype).
  Tensor target_probs(const Tensor& y) const;
  /// Q = sum softmax(logits) * centres: logits[..., M] -> [...]. Differentiable.
  Tensor expectation(const Tensor& logits) const;
};

enum class QHead { Scalar, HLGauss };

struct QEnsembleConfig {
  std::int64_t obs_dim = 0;  ///< features when there is no encoder
  std::int64_t act_dim = 0;
  std::int64_t ensemble = 10;                           ///< PA-RL default (2 on small machines)
  std::vector<std::int64_t> hidden = {512, 512, 512};   ///< PA-RL "rest"; [256 x 4] for AntMaze
  nn::Activation activation = nn::Activation::ReLU;
  bool layer_norm = true;            ///< LayerNorm after each hidden Dense
  bool action_every_layer = false;   ///< concatenate the action to every hidden layer's input (pixels)
  QHead head = QHead::Scalar;
  HLGauss hl;                        ///< used when head == HLGauss
};

/// E critics as one batched network. q(obs, act) -> [E, B]; with act[B, N, A] (N candidate
/// actions per state) -> [E, B, N], the observation features computed once per state.
class QEnsemble : public nn::Module {
 public:
  QEnsemble(const QEnsembleConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder = nullptr);

  /// Scalar Q per member. Differentiable w.r.t. parameters and (if it requires grad) the action.
  Tensor q(const Tensor& obs, const Tensor& act) const;
  /// The raw head: [E, B(, N), 1] for Scalar, [E, B(, N), M] logits for HL-Gauss.
  Tensor head_output(const Tensor& obs, const Tensor& act) const;
  /// Regression loss against target[B] (shared) or [E, B] (per member), summed over members,
  /// averaged over the batch: Scalar -> (Q - y)^2; HL-Gauss -> cross-entropy(logits, hist(y)).
  Tensor loss(const Tensor& obs, const Tensor& act, const Tensor& target) const;
  /// Loss from a precomputed head_output (lets a learner reuse one forward for Q and the loss).
  Tensor loss_from_head(const Tensor& head, const Tensor& target) const;
  /// Q from a precomputed head_output.
  Tensor q_from_head(const Tensor& head) const;

  std::int64_t ensemble_size() const { return cfg_.ensemble; }
  const QEnsembleConfig& config() const { return cfg_; }
  const nn::Encoder* encoder() const { return encoder_.get(); }

 private:
  QEnsembleConfig cfg_;
  std::shared_ptr<nn::Encoder> encoder_;
  std::int64_t feat_dim_;
  std::vector<std::unique_ptr<nn::EnsembleLinear>> layers_;
  std::vector<std::unique_ptr<nn::LayerNorm>> norms_;
};

struct ValueNetConfig {
  std::int64_t obs_dim = 0;
  std::vector<std::int64_t> hidden = {256, 256};
  nn::Activation activation = nn::Activation::ReLU;
  bool layer_norm = true;
};

/// V(s): obs[B, ...] -> [B] (IQL's value network).
class ValueNet : public nn::Module {
 public:
  ValueNet(const ValueNetConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder = nullptr);
  Tensor v(const Tensor& obs) const;
  const ValueNetConfig& config() const { return cfg_; }

 private:
  ValueNetConfig cfg_;
  std::shared_ptr<nn::Encoder> encoder_;
  std::unique_ptr<nn::MLP> net_;
};

}  // namespace anyrl::models
