// Transitions for off-policy RL: a fixed-capacity replay buffer stored as CPU engine tensors,
// offline buffers built from D4RL-style datasets with Monte-Carlo returns (Cal-QL's V^mu),
// per-episode writers that give online episodes their returns when they end, and a sampler that
// mixes offline and online data at a fixed ratio.
//
// Allocation: every buffer is allocated once at construction. add() writes in place; sample() and
// gather() produce batch tensors through the engine's caching allocator, so with a fixed batch
// size a training loop stops allocating from the OS after its first iterations
// (anyrl::allocator_stats().os_allocs stays flat).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "anyrl/engine/optim.hpp"  // TensorMap
#include "anyrl/engine/rng.hpp"
#include "anyrl/engine/tensor.hpp"

namespace anyrl::envs {
struct Dataset;
struct EnvSpec;
}  // namespace anyrl::envs

namespace anyrl::rl {

/// A minibatch of transitions, all float32 CPU tensors with leading dimension B.
struct Batch {
  Tensor obs;         ///< [B, obs_shape...]
  Tensor actions;     ///< [B, A]
  Tensor rewards;     ///< [B]   (after the buffer's RewardTransform)
  Tensor next_obs;    ///< [B, obs_shape...]
  Tensor masks;       ///< [B]   1 - terminal: 0 where the MDP ended (do not bootstrap)
  Tensor mc_returns;  ///< [B]   discounted return-to-go of the transition's episode (V^mu)
  /// Rows [0, num_offline) came from the offline buffer, the rest from the online one
  /// (MixedSampler); a single-buffer batch has num_offline == 0.
  std::int64_t num_offline = 0;

  std::int64_t size() const { return obs.defined() ? obs.size(0) : 0; }
  /// The same batch on another device (buffers live on the CPU; learners may run on CUDA).
  Batch to(Device device) const;
};

/// r' = scale * r + bias: the reward the learner sees (e.g. Cal-QL's bias that makes the best
/// per-step reward 0: −1 for the mazes, −4 for the kitchen-like task).
struct RewardTransform {
  double scale = 1.0;
  double bias = 0.0;
  float operator()(float r) const { return static_cast<float>(scale * r + bias); }
};

/// How Monte-Carlo returns are computed (for offline data and for finished online episodes).
struct ReturnOptions {
  double gamma = 0.99;
  /// Cal-QL's sparse-failure convention: an episode whose every (transformed) reward equals this
  /// value never succeeded; each of its transitions gets failure_reward / (1 − gamma), the value of
  /// failing forever, instead of a truncated discounted sum. nullopt: plain discounted sums.
  std::optional<double> failure_reward;
};

/// The failure reward to use for `spec` under `t`: t(spec.reward_min) for sparse-reward tasks,
/// nullopt otherwise.
std::optional<double> sparse_failure_reward(const envs::EnvSpec& spec, const RewardTransform& t);

/// Discounted returns-to-go of one episode's (already transformed) rewards into `out` (same
/// length), with the failure convention of `opt`. Allocation-free.
void discounted_returns(std::span<const float> rewards, const ReturnOptions& opt, std::span<float> out);

/// Value stored as mc_return for transitions of an episode that has not ended yet. It is the
/// lowest finite float, so Cal-QL's max(Q, V^mu) bound is inactive for them (and finite checks
/// pass) until EpisodeWriter::end() writes the real value.
inline constexpr float kPendingReturn = -3.4028234663852886e38f;

/// Options of TransitionBuffer::from_dataset.
struct OfflineOptions {
  RewardTransform reward;
  ReturnOptions returns;
  /// Source name for error messages (usually the file path).
  std::string source = "dataset";
  /// Extra rows reserved beyond the dataset's size (0: exactly the dataset).
  std::int64_t extra_capacity = 0;
};

/// What from_dataset did (how many rows it kept and why it dropped the others).
struct OfflineStats {
  std::int64_t rows = 0;        ///< transitions in the buffer
  std::int64_t episodes = 0;    ///< episodes found in the dataset
  std::int64_t dropped = 0;     ///< last rows of cut episodes without a next observation
  std::int64_t failed_episodes = 0;  ///< episodes that got the failure convention
};

/// Fixed-capacity ring buffer of transitions. When full, add() overwrites the oldest row.
class TransitionBuffer {
 public:
  /// Preallocates `capacity` rows of observations with shape `obs_shape` and actions of
  /// `action_dim` floats. Rewards given to add() go through `reward`.
  TransitionBuffer(std::vector<std::int64_t> obs_shape, std::int64_t action_dim, std::int64_t capacity,
                   RewardTransform reward = {});

  /// An offline buffer holding every transition of `d` (next observations from the file, or the
  /// next row within the episode; the last row of an episode that was cut without a terminal and
  /// has no next observation is dropped, as D4RL's qlearning_dataset does), with rewards
  /// transformed and Monte-Carlo returns computed by envs::mc_returns. Throws ValueError naming
  /// `opt.source`, the array and the first index for NaN/Inf or inconsistent sizes.
  static TransitionBuffer from_dataset(const envs::Dataset& d, const OfflineOptions& opt = {},
                                       OfflineStats* stats = nullptr);

  // ---- shape and state ----------------------------------------------------------------------
  const std::vector<std::int64_t>& obs_shape() const { return obs_shape_; }
  std::int64_t obs_dim() const { return obs_dim_; }
  std::int64_t action_dim() const { return action_dim_; }
  std::int64_t capacity() const { return capacity_; }
  /// Valid rows (≤ capacity).
  std::int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == capacity_; }
  /// Row the next add() writes.
  std::int64_t position() const { return total_added_ % capacity_; }
  /// Transitions ever added (the "stamp" of the next add()).
  std::int64_t total_added() const { return total_added_; }
  const RewardTransform& reward_transform() const { return reward_; }

  // ---- writing ------------------------------------------------------------------------------
  /// Appends one transition (reward is the raw env reward; the buffer applies its transform).
  /// Returns the transition's stamp (its row is stamp % capacity()). Allocation-free.
  /// Throws ShapeError when a span has the wrong length.
  std::int64_t add(std::span<const float> obs, std::span<const float> action, float reward,
                   std::span<const float> next_obs, bool terminal, float mc_return = kPendingReturn);
  /// True while the transition with this stamp has not been overwritten.
  bool holds(std::int64_t stamp) const { return stamp >= 0 && stamp < total_added_ && total_added_ - stamp <= capacity_; }
  /// Stored (transformed) reward / mc_return of a row.
  float reward_at(std::int64_t row) const;
  float mc_return_at(std::int64_t row) const;
  void set_mc_return(std::int64_t row, float value);
  /// Forgets every transition (keeps the memory).
  void clear();

  // ---- reading ------------------------------------------------------------------------------
  /// n rows drawn uniformly with replacement from [0, size()) by anyrl::randint(gen).
  /// Throws ValueError when the buffer is empty.
  Batch sample(std::int64_t n, Generator& gen) const;
  /// The rows named by a 1-D int64 tensor (each in [0, size())).
  Batch gather(const Tensor& indices) const;
  /// Storage views of the valid rows [0, size()) (no copy; do not keep across add()).
  Tensor obs() const { return obs_.slice0(0, size_); }
  Tensor actions() const { return actions_.slice0(0, size_); }
  Tensor rewards() const { return rewards_.slice0(0, size_); }
  Tensor next_obs() const { return next_obs_.slice0(0, size_); }
  Tensor masks() const { return masks_.slice0(0, size_); }
  Tensor mc_returns() const { return mc_returns_.slice0(0, size_); }

  // ---- checkpoints --------------------------------------------------------------------------
  /// Contents of the valid rows plus {size, total_added, capacity, obs_dim, action_dim} as an
  /// int64 tensor "<prefix>meta": enough to resume with bitwise-identical future samples.
  TensorMap state_dict(const std::string& prefix = "") const;
  /// Restores a state_dict() into this (already constructed, same-shaped) buffer. Throws
  /// ValueError naming the missing entry or the mismatched shape/capacity.
  void load_state_dict(const TensorMap& state, const std::string& prefix = "");

 private:
  Batch gather_unchecked(const Tensor& indices) const;

  std::vector<std::int64_t> obs_shape_;
  std::int64_t obs_dim_ = 0, action_dim_ = 0, capacity_ = 0;
  std::int64_t size_ = 0, total_added_ = 0;
  RewardTransform reward_;
  Tensor obs_, actions_, rewards_, next_obs_, masks_, mc_returns_;
};

/// Records one episode's transitions into a buffer as they happen and, when the episode ends,
/// writes their discounted returns-to-go (with the failure convention) into the buffer's
/// mc_returns. Rows of the running episode hold kPendingReturn until then. Use one writer per
/// environment copy (VectorEnv). Allocation-free once `max_episode_length` stamps fit.
class EpisodeWriter {
 public:
  EpisodeWriter(TransitionBuffer& buffer, ReturnOptions returns, std::int64_t max_episode_length = 1000);

  /// Adds one transition (raw reward) to the buffer and remembers it as part of this episode.
  std::int64_t add(std::span<const float> obs, std::span<const float> action, float reward,
                   std::span<const float> next_obs, bool terminal);
  /// Ends the episode: computes and stores the MC returns of its transitions still in the
  /// buffer, then starts a new one. Returns the episode's undiscounted (transformed) return.
  double end();
  /// Transitions recorded in the running episode.
  std::int64_t length() const { return static_cast<std::int64_t>(stamps_.size()); }

  /// The running episode (stamps), for checkpoints taken mid-episode.
  TensorMap state_dict(const std::string& prefix = "") const;
  void load_state_dict(const TensorMap& state, const std::string& prefix = "");

 private:
  TransitionBuffer* buffer_;
  ReturnOptions returns_;
  std::vector<std::int64_t> stamps_;
  std::vector<float> rewards_, out_;
};

/// How MixedSampler splits a batch between its offline and online buffers.
struct MixOptions {
  /// Fraction of each batch drawn from the OFFLINE buffer (Cal-QL's `mixing_ratio`; RLPD's
  /// symmetric sampling is 0.5). The offline count is floor(n · fraction) exactly.
  double offline_fraction = 0.5;
  /// Instead of a fixed fraction, split in proportion to the buffers' sizes (PA-RL's
  /// distillation batches): offline count = floor(n · size_off / (size_off + size_on)).
  bool proportional = false;
};

/// Draws batches from an offline and an online buffer and concatenates them (offline rows first).
/// While one buffer is empty the whole batch comes from the other.
class MixedSampler {
 public:
  MixedSampler(const TransitionBuffer& offline, const TransitionBuffer& online, MixOptions opt = {});

  /// How many of n rows come from the offline buffer under the current sizes.
  std::int64_t offline_count(std::int64_t n) const;
  /// Offline rows drawn first (uniformly), then online rows, with the same generator.
  Batch sample(std::int64_t n, Generator& gen) const;
  const MixOptions& options() const { return opt_; }

 private:
  const TransitionBuffer* off_;
  const TransitionBuffer* on_;
  MixOptions opt_;
};

/// Concatenates two batches along the batch dimension (num_offline = a.num_offline if b has none).
Batch concat_batches(const Batch& a, const Batch& b);

/// Generator state as an int64 tensor [3] {seed, stream, counter} (for checkpoints), and back.
Tensor generator_state(const Generator& gen);
void set_generator_state(Generator& gen, const Tensor& state, const std::string& what = "generator");

}  // namespace anyrl::rl
