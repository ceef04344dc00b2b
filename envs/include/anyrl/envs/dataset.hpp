// In-memory offline dataset in D4RL's layout, episode boundaries and Monte-Carlo returns.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace anyrl::envs {

// An extra per-transition array (D4RL's infos/*): size x dim floats.
struct InfoArray {
  int dim = 1;
  std::vector<float> data;
};

// D4RL-style flat transition arrays; all row-major with `size` rows.
struct Dataset {
  int64_t size = 0;
  int obs_dim = 0;
  int action_dim = 0;
  std::vector<float> observations;       // size x obs_dim
  std::vector<float> actions;            // size x action_dim
  std::vector<float> rewards;            // size
  std::vector<uint8_t> terminals;        // size (empty: absent in the file)
  std::vector<uint8_t> timeouts;         // size (empty: absent in the file)
  std::vector<float> next_observations;  // size x obs_dim (empty: absent)
  std::map<std::string, InfoArray> infos;
  std::map<std::string, std::string> metadata;  // string attributes (env, dataset, seed, ...)

  bool has_next_observations() const { return !next_observations.empty(); }
};

// Half-open [begin, end) transition range of one episode.
struct Episode {
  int64_t begin = 0, end = 0;
  bool terminated = false;  // ended by a terminal (not a timeout / cut)
  int64_t length() const { return end - begin; }
};

// Episode boundaries: after every terminal or timeout; when both arrays are absent, wherever
// next_observations[i] differs from observations[i+1] by more than `tol` (max-abs), as D4RL's
// loaders do; a trailing partial episode is included.
std::vector<Episode> split_episodes(const Dataset& d, float tol = 1e-6f);

struct MCReturnOptions {
  double gamma = 0.99;
  double reward_scale = 1.0;  // r' = scale * r + bias, the reward the learner sees
  double reward_bias = 0.0;
  // Sparse-task convention (Cal-QL): an episode whose every shifted reward equals this value
  // never succeeded, and each of its transitions gets failure_reward / (1 - gamma), the value of
  // failing forever, instead of a truncated discounted sum.
  std::optional<double> failure_reward;
};
// Discounted return-to-go of every transition within its episode (Cal-QL's V^mu).
std::vector<float> mc_returns(const Dataset& d, const MCReturnOptions& opt = {});

struct DatasetStats {
  int64_t size = 0;
  int64_t episodes = 0, terminated_episodes = 0;
  double return_mean = 0, return_std = 0, return_min = 0, return_max = 0;
  double length_mean = 0;
  int64_t length_min = 0, length_max = 0;
};
DatasetStats dataset_stats(const Dataset& d);

}  // namespace anyrl::envs
