// Optimisers and training utilities. All updates run without recording a graph and write
// parameters in place, so a training step allocates nothing once the state exists.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "anyrl/engine/tensor.hpp"

namespace anyrl {

/// A named set of tensors (module parameters, optimiser state): the unit of checkpoints.
using TensorMap = std::map<std::string, Tensor>;

/// Base class: holds the parameters (leaves with requires_grad) and a learning rate.
class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;

  /// Applies one update from the parameters' current grad() (parameters without grad are skipped).
  virtual void step() = 0;
  /// Clears every parameter's gradient. By default (as PyTorch >= 2.0) the gradient is dropped
  /// (`grad()` becomes undefined) so the next backward writes it fresh instead of adding to a
  /// zeroed buffer — one memory pass less per step. `set_to_none = false` zeroes in place.
  void zero_grad(bool set_to_none = true);

  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  const std::vector<Tensor>& params() const { return params_; }
  std::int64_t steps() const { return step_; }

  /// Optimiser state as named tensors ("step", "<i>.exp_avg", ...), for checkpoints.
  virtual TensorMap state_dict() const;
  /// Restores state saved by state_dict(); throws ValueError naming a missing/mismatched entry.
  virtual void load_state_dict(const TensorMap& state);
  /// Forgets moments and the step count (PA-RL resets optimisers at the offline->online switch).
  virtual void reset_state();

 protected:
  std::vector<Tensor> params_;
  double lr_;
  std::int64_t step_ = 0;
  // Per-parameter state buffers, same shape as the parameter; names used in state_dict().
  std::vector<std::vector<Tensor>> state_;
  std::vector<std::string> state_names_;
  void ensure_state();
};

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double weight_decay = 0.0;  ///< L2 added to the gradient
  bool nesterov = false;
};
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions opt);
  void step() override;

 private:
  SGDOptions opt_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  ///< Adam: L2 in the gradient; AdamW: decoupled decay
};
/// Adam (Kingma & Ba) with bias correction; one fused loop over each parameter.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions opt, bool decoupled_weight_decay = false);
  void step() override;
  const AdamOptions& options() const { return opt_; }

 private:
  AdamOptions opt_;
  bool decoupled_;
};
/// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay (default 1e-2).
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions opt) : Adam(std::move(params), opt, true) {}
};

/// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

/// target <- (1 - tau) * target + tau * source, elementwise over matching lists (target networks).
void polyak_update(const std::vector<Tensor>& target, const std::vector<Tensor>& source, double tau);

/// Learning-rate schedules: a function of the step (0-based) returning the rate.
class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double at(std::int64_t step) const = 0;
};
class ConstantLR : public LRSchedule {
 public:
  explicit ConstantLR(double lr) : lr_(lr) {}
  double at(std::int64_t) const override { return lr_; }

 private:
  double lr_;
};
/// Linear warm-up from 0 to `lr` over `warmup` steps, then cosine decay to `final_lr` at
/// `total` steps (cosine part disabled when total <= warmup). Constant after `total`.
class WarmupCosineLR : public LRSchedule {
 public:
  WarmupCosineLR(double lr, std::int64_t warmup, std::int64_t total, double final_lr = 0.0)
      : lr_(lr), final_(final_lr), warmup_(warmup), total_(total) {}
  double at(std::int64_t step) const override;

 private:
  double lr_, final_;
  std::int64_t warmup_, total_;
};

}  // namespace anyrl
