// Offline dataset generators (what `anyrl collect` runs).
//
// pointmaze-*: `play` (start at and travel between a fixed set of hand-picked cells) and
// `diverse` (random start cells, random goal cells); a BFS planner + PD controller + Gaussian
// action noise. On reaching its commanded goal the controller picks another one, so episodes
// wander and do not all end at the task goal; an episode ends when the env terminates (task
// goal reached) or at the time limit.
// kitchen-like-*: `complete` (the task's 4 sub-tasks in order, small noise), `partial` (25%
// complete demos in random order + play on random subsets of 4 of the 7 sub-tasks), `mixed`
// (play only; no episode's plan contains all 4 of the task's sub-tasks).
// pendulum: `random` (uniform random actions) and `medium` (energy-pumping swing-up controller
// with noise).
//
// Output is deterministic in (env, dataset, size, seed, noise), independent of num_threads.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "anyrl/envs/dataset.hpp"

namespace anyrl::envs {

struct CollectOptions {
  std::string env;      // registry name, e.g. "pointmaze-large"
  std::string dataset;  // generator kind, e.g. "diverse"
  int64_t size = 0;     // transitions; 0: default_dataset_size(env, dataset)
  uint64_t seed = 0;
  double noise = -1.0;  // action noise std; < 0: the generator's default
  int num_threads = 0;  // <= 0: hardware threads
  bool next_observations = true;
  // Called from the calling thread with (transitions done, total) as generation proceeds.
  std::function<void(int64_t, int64_t)> progress;
};

Dataset collect_dataset(const CollectOptions& opt);
// Generator kinds available for an env (throws UnknownEnvError for an unknown env).
std::vector<std::string> dataset_kinds(const std::string& env);
// 300k for pointmaze-umaze, 1M for medium/large, 50k complete, 150k partial/mixed, 100k pendulum.
int64_t default_dataset_size(const std::string& env, const std::string& dataset);

}  // namespace anyrl::envs
