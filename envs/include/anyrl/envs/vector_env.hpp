// N copies of an environment stepped in parallel, with automatic reset.
//
// Determinism: copy i's k-th episode is reset with a seed derived from (seed, i, k) only, and each
// copy is stepped by exactly one thread at a time, so results are bit-identical for any
// num_threads.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "anyrl/envs/env.hpp"
#include "anyrl/envs/registry.hpp"

namespace anyrl::envs {

class VectorEnv {
 public:
  // num_threads <= 0: min(num_envs, hardware threads). num_threads == 1 steps inline.
  VectorEnv(const std::string& name, int num_envs, int num_threads = 0);
  VectorEnv(const EnvFactory& factory, int num_envs, int num_threads = 0);
  ~VectorEnv();
  VectorEnv(const VectorEnv&) = delete;
  VectorEnv& operator=(const VectorEnv&) = delete;

  int num_envs() const { return static_cast<int>(envs_.size()); }
  int num_threads() const;
  const EnvSpec& spec() const { return envs_.front()->spec(); }
  int obs_dim() const { return obs_dim_; }
  int action_dim() const { return act_dim_; }

  // Resets every copy; obs() then holds the first observations.
  void reset(uint64_t seed);
  // Steps every copy with its row of `actions` (num_envs x action_dim). A copy whose episode ends
  // (terminated or truncated) is reset immediately: obs() then holds the new episode's first
  // observation and final_obs() the last observation of the finished episode.
  void step(std::span<const float> actions);

  std::span<const float> obs() const { return obs_; }              // num_envs x obs_dim
  std::span<const float> final_obs() const { return final_obs_; }  // valid where done
  std::span<const float> rewards() const { return rewards_; }
  std::span<const uint8_t> terminated() const { return terminated_; }
  std::span<const uint8_t> truncated() const { return truncated_; }
  std::span<const uint8_t> success() const { return success_; }
  const Info& info(int i) const { return infos_.at(i); }
  // Episode return and length of each copy's current (unfinished) episode.
  std::span<const double> episode_returns() const { return ep_return_; }
  // Return/length of the episode that ended at the last step (valid where done).
  std::span<const double> final_returns() const { return final_return_; }
  std::span<const int> final_lengths() const { return final_length_; }

  Env& env(int i) { return *envs_.at(i); }

 private:
  struct Pool;
  void init(const EnvFactory& factory, int num_envs, int num_threads);
  void step_one(int i, std::span<const float> action);
  uint64_t episode_seed(int i) const;

  std::vector<std::unique_ptr<Env>> envs_;
  std::unique_ptr<Pool> pool_;
  int obs_dim_ = 0, act_dim_ = 0;
  uint64_t seed_ = 0;
  std::vector<uint64_t> episode_index_;
  std::vector<float> obs_, final_obs_, rewards_;
  std::vector<uint8_t> terminated_, truncated_, success_;
  std::vector<Info> infos_;
  std::vector<double> ep_return_, final_return_;
  std::vector<int> ep_length_, final_length_;
};

}  // namespace anyrl::envs
