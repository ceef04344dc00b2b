// The offline -> online trainer (DESIGN §4-5, PA-RL paper App. B): one config, one run folder.
//
// Phases, each optional by budget:
//   bc       behaviour cloning of the policy on the offline data (policy.supervised_loss)
//   offline  critic pre-training; PA-RL methods use pi_opt as the critic's action source and
//            distil pi_opt into the policy
//   online   one trajectory per epoch acting with pi_opt, then len x UTD critic steps (batch
//            mixed offline/online at `train.mixing_ratio`) and len x `train.distill_per_env_step`
//            distillation steps (batch split in proportion to the buffer sizes); optimisers are
//            reset when the phase starts
// Method "sac" is online only (no dataset, no bc/offline phase): `train.random_steps` uniform
// random env steps, then per env step `train.utd` critic updates and, every `sac.actor_every`
// steps, one actor + temperature update (textbook SAC); episodes remain the loop boundaries.
// Evaluation runs `eval.episodes` episodes on an envs::VectorEnv acting with pi_opt (argmax by
// default) or the policy's deterministic action, after each phase and every
// `eval.every_episodes` online episodes.
//
// Reproducibility: every random number comes from anyrl::Generator streams (training stream,
// per-evaluation streams, per-episode env seeds derived from counters); checkpoints hold every
// module, optimiser, RNG state, the online buffer and the counters, and are only taken at loop
// boundaries, so a resumed CPU run is bitwise identical to an uninterrupted one (same seed and
// threads), logs included.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "anyrl/engine/rng.hpp"
#include "anyrl/rl/config.hpp"

namespace anyrl::models {
class Policy;
class QEnsemble;
}  // namespace anyrl::models

namespace anyrl::rl {

/// Declares every trainer option (keys, types, defaults = the paper's hyper-parameters).
void declare_train_config(Config& c);
/// A Config with declare_train_config applied.
Config make_train_config();

/// The policy a trainer config describes (policy.kind and its policy.* keys), initialised from
/// `init`. The trainer builds its policy with this; benchmarks and embedders can too.
std::shared_ptr<models::Policy> make_policy(const Config& c, std::int64_t obs_dim, std::int64_t act_dim,
                                            Generator& init);
/// The critic ensemble a trainer config describes (critic.* keys), initialised from `init`;
/// throws ConfigError for an empty HL-Gauss support or critic.subset > critic.ensemble.
std::shared_ptr<models::QEnsemble> make_critic(const Config& c, std::int64_t obs_dim, std::int64_t act_dim,
                                               Generator& init);

struct TrainerOptions {
  bool progress = true;           ///< draw a ProgressBar on `progress_out`
  std::FILE* progress_out = stderr;
  bool overwrite = false;         ///< replace an existing run folder (RunDir::Mode::Overwrite)
  /// Testing/interruption: stop (after writing a checkpoint) once the global step reaches this
  /// value at a loop boundary; -1: never.
  std::int64_t stop_at_step = -1;
  /// Called with every update's metrics and the global step before the NaN guard (tests inject
  /// NaN here).
  std::function<void(std::map<std::string, double>&, std::int64_t)> metrics_hook;
};

struct EvalResult {
  double success = 0.0;      ///< fraction of episodes with the task's success flag
  double return_mean = 0.0;  ///< undiscounted env return
  double return_std = 0.0;
  double length_mean = 0.0;
  std::int64_t episodes = 0;
};

struct TrainResult {
  enum class Status { Finished, Interrupted, Stopped } status = Status::Finished;
  std::string message;                  ///< stopped_message() for Stopped
  std::int64_t step = 0;                ///< global step reached
  std::optional<EvalResult> first_eval, last_eval;
};

class Trainer {
 public:
  /// A new run in `run_dir` with a fully resolved config.
  Trainer(const Config& cfg, const std::filesystem::path& run_dir, TrainerOptions opt = {});
  /// Resumes the run in `run_dir` from its latest checkpoint (its config.toml is read back).
  static std::unique_ptr<Trainer> resume(const std::filesystem::path& run_dir, TrainerOptions opt = {});
  /// Read-only access to a finished or running run (eval): loads the latest checkpoint.
  static std::unique_ptr<Trainer> open_for_eval(const std::filesystem::path& run_dir);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Runs the remaining phases.
  TrainResult run();
  /// Evaluates the current policy: `episodes` episodes on a VectorEnv, env seeds and sampling
  /// from stream `stream` (no effect on the training state).
  EvalResult evaluate(std::int64_t episodes, std::uint64_t stream);
  /// Rolls out `episodes` episodes one at a time, writing frame PNGs into `dir`
  /// (ep<E>_<step>.png, `size` x `size` pixels). Returns the evaluation of those episodes.
  EvalResult record_frames(const std::filesystem::path& dir, std::int64_t episodes, int size = 256);

  const Config& config() const;
  std::int64_t global_step() const;
  std::string phase() const;
  const std::filesystem::path& run_dir() const;

  struct Impl;

 private:
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace anyrl::rl
