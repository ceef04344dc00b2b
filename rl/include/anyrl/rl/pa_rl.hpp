// PA-RL (DESIGN §4; paper §4, Algorithm 1, App. B.1): action optimisation (global re-ranking of
// k base-policy samples by the critic, then T gradient-ascent steps on the kept actions), the
// categorical pi_opt over the optimised candidates, distillation through the policy's own
// supervised loss, and an action cache of base samples.
//
// Policy-agnostic by construction: this header and pa_rl.cpp only use the models::Policy
// interface (sample / supervised_loss) and a critic seen as a function Q(obs, act[B, N, A]) ->
// [E, B, N]. A test greps both files for concrete policy class names.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "anyrl/engine/optim.hpp"
#include "anyrl/engine/rng.hpp"
#include "anyrl/engine/tensor.hpp"
#include "anyrl/models/critics.hpp"
#include "anyrl/models/policy.hpp"
#include "anyrl/rl/data.hpp"

namespace anyrl::rl {

/// Where a learner gets actions at a batch of states: obs[B, ...], n -> actions[B, n, A].
/// PA-RL's pi_opt, a SAC actor, a behaviour policy or uniform noise all fit.
using ActionSource = std::function<Tensor(const Tensor& obs, std::int64_t n, Generator& gen)>;

/// n samples of `policy` per state (policy.sample).
ActionSource policy_source(const models::Policy& policy);
/// n actions uniform in [low, high]^A per state.
ActionSource uniform_source(std::int64_t action_dim, double low = -1.0, double high = 1.0);

/// A critic seen as a differentiable function of the action: obs[B, ...], act[B, N, A] ->
/// [E, B, N] (E >= 1 members).
using QFunction = std::function<Tensor(const Tensor& obs, const Tensor& act)>;

enum class Selection {
  Softmax,  ///< pi_opt = categorical over candidates with weights softmax(Q / temperature)
  Argmax,   ///< pi_opt = the candidate with the highest Q
};

struct ActionOptOptions {
  std::int64_t k = 32;     ///< global: base-policy samples per state
  std::int64_t m = 10;     ///< global: candidates kept (top m by Q)
  int steps = 10;          ///< local: gradient-ascent steps T (0 = re-ranking only)
  double step_size = 3e-4; ///< local: eta
  bool ensemble_mean = true;          ///< score with the ensemble mean (false: ensemble min)
  bool include_dataset_action = true; ///< when dataset actions are given, swap the worst kept candidate for it
  Selection selection = Selection::Softmax;
  double temperature = 1.0;
  double low = -1.0, high = 1.0;      ///< action bounds (local steps clip to them)
};

/// The optimised candidate set of a batch.
struct Candidates {
  Tensor actions;  ///< [B, m, A] after local optimisation
  Tensor q;        ///< [B, m]    their scores (ensemble mean or min)
  Tensor q_start;  ///< [B, m]    scores before local optimisation
  /// Mean |a_final - a_start| over all candidate coordinates, and the mean Q gain.
  double mean_abs_delta = 0.0;
  double mean_q_gain = 0.0;
};

/// Statistics of the last optimize() call (for logs: candidate-Q spread, |delta a|).
struct ActionOptStats {
  double q_mean = 0.0;          ///< mean candidate Q
  double q_spread = 0.0;        ///< mean over states of the std of the candidates' Q
  double mean_abs_delta = 0.0;  ///< |delta a| of local optimisation
  double q_gain = 0.0;          ///< mean Q gain of local optimisation
  double accepted = 0.0;        ///< fraction of local steps accepted
  std::int64_t calls = 0;
};

class ActionOptimizer {
 public:
  /// A QEnsemble critic: its parameters are frozen (requires_grad off) during local steps and
  /// restored afterwards, and the action gradient comes from anyrl::grad, so the critic's
  /// grad() buffers are never touched.
  ActionOptimizer(const models::QEnsemble& critic, ActionOptOptions opt);
  /// Any differentiable Q function (e.g. a hand-made one in tests). `freeze` (optional) is a
  /// module whose parameters are frozen during local steps.
  ActionOptimizer(QFunction q, ActionOptOptions opt, const nn::Module* freeze = nullptr);

  const ActionOptOptions& options() const { return opt_; }
  ActionOptOptions& options() { return opt_; }

  /// Scores actions[B, N, A] -> [B, N] (ensemble mean or min), without a graph.
  Tensor score(const Tensor& obs, const Tensor& actions) const;
  /// Global step: the top-m of samples[B, k, A] by score, sorted best first.
  Candidates select_top(const Tensor& obs, const Tensor& samples) const;
  /// Replaces the last (worst) candidate by data_actions[B, A] (released PA-RL code).
  Candidates with_dataset_action(const Tensor& obs, Candidates c, const Tensor& data_actions) const;
  /// Local step: T steps of a <- clip(a + eta * dQ/da) per candidate, each kept only when it
  /// raises that candidate's Q (the best iterate is kept). Never lowers any candidate's Q.
  Candidates local(const Tensor& obs, Candidates c) const;

  /// Full action optimisation: base samples (`samples` [B, k, A] when given — e.g. from the
  /// action cache — else policy.sample(obs, k)), top-m, optional dataset action, local steps.
  Candidates optimize(const models::Policy& policy, const Tensor& obs, Generator& gen,
                      const Tensor& data_actions = Tensor(), const Tensor& samples = Tensor()) const;

  /// pi_opt weights softmax(q / temperature) over the last dim: [B, m].
  Tensor weights(const Tensor& q) const;
  /// One action per state from pi_opt: [B, A] (categorical over softmax(q) or argmax).
  Tensor sample_pi_opt(const Tensor& cands, const Tensor& q, Generator& gen) const;
  /// n actions per state from pi_opt: [B, n, A] (with replacement; argmax repeats the best).
  Tensor sample_pi_opt_n(const Tensor& cands, const Tensor& q, std::int64_t n, Generator& gen) const;

  /// pi_opt as an ActionSource for critic learners (TD-target next actions, CQL samples).
  /// Base samples come from a binding (bind_base_samples) when the obs tensor is bound, else
  /// from policy.sample. The optimizer and the policy must outlive the source.
  ActionSource source(const models::Policy& policy) const;

  /// Binds precomputed base samples [B, k, A] to an obs tensor (same storage): the action
  /// cache path. Bindings hold until clear_bindings().
  void bind_base_samples(const Tensor& obs, const Tensor& samples) const;
  void clear_bindings() const;
  /// The bound samples of `obs`, or an undefined tensor.
  Tensor bound_samples(const Tensor& obs) const;

  const ActionOptStats& stats() const { return stats_; }
  void reset_stats() const { stats_ = ActionOptStats{}; }

 private:
  QFunction qfn_;
  ActionOptOptions opt_;
  const nn::Module* freeze_ = nullptr;
  mutable ActionOptStats stats_;
  mutable std::vector<std::pair<Tensor, Tensor>> bindings_;
  Tensor reduce(const Tensor& q_ebn) const;
  void record(const Candidates& c, double accepted) const;
};

/// k base-policy samples per row of a TransitionBuffer (for obs and next_obs), computed in
/// chunks under NoGrad, refreshed on request (after each distillation epoch) and extended for
/// rows added since (online data). Rows are the buffer's row indices.
///
/// Ring buffers: the cache remembers the buffer's total_added() at its last refresh/extend/sync
/// (synced()); sync() recomputes exactly the rows written since, whether appended or
/// overwritten in place after the ring wrapped, so a row's samples always belong to the
/// transition the row holds now. state_dict()/load_state_dict() carry the samples and that
/// counter, so a resumed run reuses bit-identical samples.
class ActionCache {
 public:
  explicit ActionCache(std::int64_t k) : k_(k) {}
  /// Recomputes the samples of every row of `buffer`.
  void refresh(const models::Policy& policy, const TransitionBuffer& buffer, Generator& gen,
               std::int64_t chunk = 1024);
  /// Computes samples for rows [rows(), buffer.size()) only (rows appended since; no wrap).
  void extend(const models::Policy& policy, const TransitionBuffer& buffer, Generator& gen,
              std::int64_t chunk = 1024);
  /// Computes samples for every row written since the last refresh/extend/sync: appended rows
  /// and rows the ring buffer overwrote (in write order, obs then next_obs per contiguous
  /// segment). Falls back to refresh() when the cache is empty, when more than capacity()
  /// rows were written, or when the buffer shrank (clear()). No-op when nothing was written.
  void sync(const models::Policy& policy, const TransitionBuffer& buffer, Generator& gen,
            std::int64_t chunk = 1024);
  /// Forgets every sample.
  void clear();
  std::int64_t rows() const { return obs_samples_.defined() ? obs_samples_.size(0) : 0; }
  std::int64_t k() const { return k_; }
  /// buffer.total_added() at the last refresh / extend / sync.
  std::int64_t synced() const { return synced_; }
  /// Samples of the given rows (int64 [B]) -> [B, k, A].
  Tensor obs_samples(const Tensor& rows) const;
  Tensor next_obs_samples(const Tensor& rows) const;
  /// Draws n rows uniformly (anyrl::randint, exactly as TransitionBuffer::sample, so the batch is
  /// the one buffer.sample(n, gen) would give) and returns the batch with the rows' cached
  /// samples in `obs_s` / `next_s` ([n, k, A]).
  Batch draw(const TransitionBuffer& buffer, std::int64_t n, Generator& gen, Tensor& obs_s, Tensor& next_s) const;
  /// Draws n rows uniformly (anyrl::randint, as TransitionBuffer::sample), gathers the batch and
  /// binds its obs / next_obs to the cached samples in `opt` (so opt.source() uses them).
  Batch sample(const TransitionBuffer& buffer, std::int64_t n, Generator& gen, const ActionOptimizer& opt) const;

  /// "<prefix>meta" int64 {k, rows, synced} plus "<prefix>obs_samples" / "<prefix>next_samples"
  /// when the cache holds rows.
  TensorMap state_dict(const std::string& prefix = "") const;
  /// Restores a state_dict() (the tensors are copied). Throws ValueError on a missing entry or
  /// a k mismatch.
  void load_state_dict(const TensorMap& state, const std::string& prefix = "");

 private:
  std::int64_t k_;
  std::int64_t synced_ = 0;
  Tensor obs_samples_, next_samples_;  // [N, k, A]
  Tensor compute(const models::Policy& policy, const Tensor& obs, Generator& gen, std::int64_t chunk) const;
};

struct DistillOptions {
  double lr = 5e-5;          ///< PA-RL fine-tuning rate (1e-5 kitchen-like)
  double grad_clip = 0.0;    ///< global-norm clip (0: none)
  /// Selection used to label states (defaults to the optimizer's).
  bool use_optimizer_selection = true;
  Selection selection = Selection::Softmax;
};

/// Labels states with pi_opt samples and takes supervised steps on the policy with its own Adam.
class Distiller {
 public:
  Distiller(models::Policy& policy, const ActionOptimizer& optimizer, DistillOptions opt = {});

  /// pi_opt labels [B, A] for obs (dataset actions swapped in when given and enabled).
  Tensor label(const Tensor& obs, Generator& gen, const Tensor& data_actions = Tensor(),
               const Tensor& samples = Tensor()) const;
  /// One supervised step on labels of obs. Metrics: distill_loss, q_label, cand_q_spread,
  /// local_abs_delta, local_q_gain.
  std::map<std::string, double> step(const Tensor& obs, Generator& gen, const Tensor& data_actions = Tensor(),
                                     const Tensor& samples = Tensor());
  /// One supervised step on given (obs, actions) pairs (BC pre-training uses the same path).
  double supervised_step(const Tensor& obs, const Tensor& actions, Generator& gen);

  Adam& optimizer() { return adam_; }
  void reset_optimizer() { adam_.reset_state(); }
  TensorMap state_dict() const;  ///< "policy.*", "optim.*"
  void load_state_dict(const TensorMap& state);

 private:
  models::Policy* policy_;
  const ActionOptimizer* aopt_;
  DistillOptions opt_;
  Adam adam_;
};

}  // namespace anyrl::rl
