// The policy-agnostic interface (DESIGN §3). Everything PA-RL needs from a policy class is
//
//   sample(obs[B, ...], n, gen)              -> actions[B, n, A]   (no graph; any sampler)
//   supervised_loss(obs[B, ...], act[B, A], gen) -> scalar          (the class's own loss)
//
// plus parameters(), save/load and train/eval, which come from nn::Module. Optional
// capabilities are *queried*, never assumed:
//
//   if (auto* lp = policy.as_log_prob()) lp->log_prob(obs, actions);
//   if (auto* rs = policy.as_rsamplable()) rs->rsample(obs, gen);   // SAC / RLPD
//
// Random numbers always come from the Generator passed in, so runs are reproducible.
// Actions live in [-1, 1]^A. Observations are [B, obs_dim] floats, or anything an
// nn::Encoder given to the policy maps to [B, features] (pixels [B, C, H, W]).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "anyrl/nn/nn.hpp"

namespace anyrl::models {

/// A policy whose log-density (or log-probability, for discrete ones) can be evaluated.
class HasLogProb {
 public:
  virtual ~HasLogProb() = default;
  /// log pi(actions | obs) per row: obs[B, ...], actions[B, A] -> [B]. Differentiable.
  virtual Tensor log_prob(const Tensor& obs, const Tensor& actions) const = 0;
};

/// A reparameterised sample with its log-density (gradients flow through both).
struct RSample {
  Tensor action;    ///< [B, A]
  Tensor log_prob;  ///< [B]
};

/// A policy that supports the reparameterisation trick (tanh-Gaussian: SAC, RLPD, Cal-QL).
class RSamplable {
 public:
  virtual ~RSamplable() = default;
  virtual RSample rsample(const Tensor& obs, Generator& gen) const = 0;
};

/// The interface every policy class implements.
class Policy : public nn::Module {
 public:
  /// Short class name ("tanh_gaussian", "diffusion", "autoregressive", ...).
  virtual std::string kind() const = 0;
  virtual std::int64_t action_dim() const = 0;

  /// n actions per state: obs[B, ...] -> [B, n, A]. Runs without recording a graph, in eval
  /// semantics (no dropout) whatever the module's mode.
  virtual Tensor sample(const Tensor& obs, std::int64_t n, Generator& gen) const = 0;

  /// The class's own supervised (likelihood-style) loss on (obs[B, ...], actions[B, A]) ->
  /// scalar, averaged over the batch. Differentiable w.r.t. the parameters; uses `gen` for
  /// the class's own randomness (diffusion timesteps and noise, dropout).
  virtual Tensor supervised_loss(const Tensor& obs, const Tensor& actions, Generator& gen) const = 0;

  /// One action per state: obs of a single state (rank of one observation) -> [A], or a batch
  /// [B, ...] -> [B, A]. `deterministic` picks the class's most likely / noise-free action
  /// (tanh(mean); greedy bins; DDPM with zero noise). Default: sample(obs, 1).
  virtual Tensor act(const Tensor& obs, Generator& gen, bool deterministic = false) const;

  /// Optional capabilities (nullptr when the class does not have them).
  virtual const HasLogProb* as_log_prob() const { return nullptr; }
  virtual const RSamplable* as_rsamplable() const { return nullptr; }

  /// Shape of one observation (without the batch dimension); used by act() to tell a single
  /// state from a batch.
  virtual Shape obs_shape() const = 0;

 protected:
  /// Adds a leading batch dimension when `obs` is a single state; sets `single`.
  Tensor batch_obs(const Tensor& obs, bool& single) const;
};

/// Features of a batch of observations: the encoder's output when there is one, else the
/// observation flattened to [B, -1].
Tensor encode_obs(const nn::Encoder* encoder, const Tensor& obs);

}  // namespace anyrl::models
