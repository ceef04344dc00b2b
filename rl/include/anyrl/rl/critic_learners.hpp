// Critic learners (DESIGN §5): CQL / Cal-QL, IQL (+ the AWR baseline actor), SAC / RLPD.
//
// Every learner owns a models::QEnsemble critic (scalar or HL-Gauss head: the loss comes from
// QEnsemble::loss, the Q values from q()), a Polyak-averaged target copy (tau = 5e-3) and Adam.
// Ensemble targets are the min over a random subset of 2 members (REDQ / RLPD), the min over
// all members, or the mean. Where a learner needs policy actions it asks an ActionSource
// (pa_rl.hpp): PA-RL's pi_opt, a SAC actor, a behaviour policy or uniform noise.
//
// update(batch, gen) -> metrics; the caller handles UTD ratios and data mixing. Rewards already
// carry the buffer's scale/bias; batch.mc_returns is V^mu (Cal-QL).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "anyrl/engine/optim.hpp"
#include "anyrl/models/critics.hpp"
#include "anyrl/models/policy.hpp"
#include "anyrl/rl/data.hpp"
#include "anyrl/rl/pa_rl.hpp"

namespace anyrl::rl {

using Metrics = std::map<std::string, double>;

enum class TargetReduce {
  MinSubset,  ///< min over a random subset of `subset` members (REDQ; default 2)
  MinAll,     ///< min over all members
  Mean,       ///< ensemble mean
};

struct CriticOptions {
  double gamma = 0.99;
  double tau = 5e-3;  ///< Polyak rate of the target critic
  double lr = 3e-4;
  TargetReduce target_reduce = TargetReduce::MinSubset;
  std::int64_t subset = 2;
  double grad_clip = 0.0;  ///< global-norm clip of the critic gradient (0: none)
};

/// Shared machinery: critic + Polyak target + Adam, ensemble reduction of target values.
class CriticLearnerBase {
 public:
  /// `target` may be null: a copy of `critic` is built (needs a critic without encoder).
  CriticLearnerBase(std::shared_ptr<models::QEnsemble> critic, std::shared_ptr<models::QEnsemble> target,
                    CriticOptions opt);
  virtual ~CriticLearnerBase() = default;

  virtual Metrics update(const Batch& batch, Generator& gen) = 0;

  models::QEnsemble& critic() { return *critic_; }
  const models::QEnsemble& critic() const { return *critic_; }
  models::QEnsemble& target() { return *target_; }
  const CriticOptions& options() const { return opt_; }
  Adam& critic_optimizer() { return critic_opt_; }

  /// Reduces target values q[E, B(, N)] over members (no graph): [B(, N)].
  Tensor reduce_target(const Tensor& q, Generator& gen) const;
  /// target <- (1 - tau) target + tau critic.
  void update_target();

  /// "critic.*", "target.*", "critic_optim.*" plus the subclass's extras.
  virtual TensorMap state_dict() const;
  virtual void load_state_dict(const TensorMap& state);
  /// Forgets optimiser moments (offline -> online switch).
  virtual void reset_optimizers();

  /// Optional extra metrics (e.g. the ActionOptimizer's stats), merged into update()'s result.
  std::function<void(Metrics&)> extra_metrics;

 protected:
  std::shared_ptr<models::QEnsemble> critic_, target_;
  CriticOptions opt_;
  Adam critic_opt_;
  void critic_step(const Tensor& loss);
  void add_q_metrics(Metrics& m, const Tensor& q_data_eb, const Batch& batch) const;
};

// ---- CQL / Cal-QL ---------------------------------------------------------------------------

enum class CQLForm {
  LogSumExp,  ///< CQL(H): logsumexp over n uniform + n policy actions at s and s' (released PA-RL form)
  Simple,     ///< paper Eq. 3.3: alpha (E_pi[max(Q, V^mu)] - E_D[Q])
};

struct CQLOptions {
  double alpha = 0.005;        ///< fixed CQL weight (maze, kitchen-like)
  std::int64_t n_actions = 10; ///< n uniform + n policy actions per state
  bool max_target_backup = true;  ///< target = max over n_actions next actions (else their mean)
  bool calql = true;           ///< Cal-QL bound max(Q, V^mu) on policy actions
  CQLForm form = CQLForm::LogSumExp;
  double cql_temperature = 1.0;
  double low = -1.0, high = 1.0;  ///< uniform-action bounds
};

class CalQL : public CriticLearnerBase {
 public:
  /// `source` gives next actions for the TD target and the policy actions of the regulariser.
  CalQL(std::shared_ptr<models::QEnsemble> critic, std::shared_ptr<models::QEnsemble> target, ActionSource source,
        CriticOptions opt = {}, CQLOptions cql = {});

  /// Metrics: critic_loss, td_loss, cql_loss, q_data_mean, q_data_std, q_rand_mean, q_pi_mean,
  /// calql_bound_rate (fraction of policy-action Qs below V^mu), q_mc_gap, target_mean.
  Metrics update(const Batch& batch, Generator& gen) override;
  /// y = r + gamma * mask * reduce_E(max_n or mean_n Q_target(s', a'_n)), [B] (no graph).
  Tensor td_target(const Batch& batch, Generator& gen) const;
  /// The TD target from given next actions [B, n, A] (hand-checks).
  Tensor td_target_from(const Batch& batch, const Tensor& next_actions, Generator& gen) const;

  void set_source(ActionSource s) { source_ = std::move(s); }
  const CQLOptions& cql_options() const { return cql_; }
  CQLOptions& cql_options() { return cql_; }

 private:
  ActionSource source_;
  CQLOptions cql_;
};

// ---- IQL ------------------------------------------------------------------------------------

struct IQLOptions {
  double expectile = 0.7;  ///< tau (0.9 for the mazes)
  double beta = 3.0;       ///< AWR temperature (10 for the mazes)
  double max_weight = 100.0;
  double value_lr = 3e-4;
};

class IQL : public CriticLearnerBase {
 public:
  IQL(std::shared_ptr<models::QEnsemble> critic, std::shared_ptr<models::QEnsemble> target,
      std::shared_ptr<models::ValueNet> value, CriticOptions opt = {}, IQLOptions iql = {});

  /// V step (expectile of reduced target Q - V), Q step (to r + gamma mask V(s')), Polyak.
  /// Metrics: value_loss, q_loss, v_mean, q_data_mean, q_data_std, adv_mean, q_mc_gap.
  Metrics update(const Batch& batch, Generator& gen) override;
  /// One expectile-regression step of V towards q_target[B] at obs; returns the loss.
  double value_step(const Tensor& obs, const Tensor& q_target);
  /// AWR weights exp(beta (Q_target(s, a) - V(s))) clipped at max_weight: [B] (no graph).
  Tensor awr_weights(const Tensor& obs, const Tensor& actions, Generator& gen) const;
  /// exp(beta * adv) clipped at max_weight (no graph).
  Tensor weights_from_advantage(const Tensor& adv) const;

  models::ValueNet& value() { return *value_; }
  const IQLOptions& iql_options() const { return iql_; }
  TensorMap state_dict() const override;
  void load_state_dict(const TensorMap& state) override;
  void reset_optimizers() override;

 private:
  std::shared_ptr<models::ValueNet> value_;
  IQLOptions iql_;
  Adam value_opt_;
};

/// The AWR baseline actor (IQL): maximises mean(w * log pi(a|s)) through Policy::as_log_prob().
/// PA-RL + IQL uses the Distiller instead.
class AWRActor {
 public:
  AWRActor(models::Policy& policy, const IQL& iql, double lr = 3e-4);
  /// Metrics: actor_loss, awr_weight_mean, awr_weight_max.
  Metrics update(const Batch& batch, Generator& gen);
  Adam& optimizer() { return opt_; }
  void reset_optimizer() { opt_.reset_state(); }

 private:
  models::Policy* policy_;
  const models::HasLogProb* lp_;
  const IQL* iql_;
  Adam opt_;
};

// ---- SAC / RLPD -----------------------------------------------------------------------------

struct SACOptions {
  double actor_lr = 3e-4;
  double alpha_lr = 3e-4;
  double init_temperature = 1.0;
  /// Target entropy = target_entropy_scale * |A| (-1: SAC; -0.5: RLPD).
  double target_entropy_scale = -1.0;
  bool backup_entropy = true;  ///< subtract alpha log pi(a'|s') in the target (only with the actor source)
  bool train_actor = true;     ///< false for PA-RL + RLPD (the Distiller replaces the actor update)
  /// When set, next actions for the target come from here (e.g. PA-RL's pi_opt; no entropy term).
  ActionSource next_action_source;
};

class SAC : public CriticLearnerBase {
 public:
  /// The actor must provide as_rsamplable() when train_actor or no next_action_source is set.
  SAC(std::shared_ptr<models::QEnsemble> critic, std::shared_ptr<models::QEnsemble> target, models::Policy& actor,
      CriticOptions opt = {}, SACOptions sac = {});

  /// Critic step (+ actor and temperature steps when train_actor). RLPD's UTD: call
  /// update_critic several times, then update_actor once.
  Metrics update(const Batch& batch, Generator& gen) override;
  Metrics update_critic(const Batch& batch, Generator& gen);
  /// Actor: mean(alpha log pi - mean_E Q(s, a~pi)); temperature: -log_alpha (log pi + H_target).
  Metrics update_actor(const Batch& batch, Generator& gen);

  double alpha() const;
  double target_entropy() const { return target_entropy_; }
  TensorMap state_dict() const override;
  void load_state_dict(const TensorMap& state) override;
  void reset_optimizers() override;

 private:
  models::Policy* actor_;
  const models::RSamplable* rs_;
  SACOptions sac_;
  double target_entropy_;
  Tensor log_alpha_;
  Adam actor_opt_, alpha_opt_;
};

}  // namespace anyrl::rl
