#include "anyrl/envs/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace anyrl::envs {

std::vector<Episode> split_episodes(const Dataset& d, float tol) {
  std::vector<Episode> eps;
  const int64_t n = d.size;
  const bool have_t = !d.terminals.empty(), have_to = !d.timeouts.empty();
  const bool use_obs = !have_t && !have_to && d.has_next_observations();
  const int od = d.obs_dim;
  int64_t begin = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool end = false, term = false;
    if (have_t && d.terminals[i]) end = term = true;
    if (have_to && d.timeouts[i]) end = true;
    if (use_obs && i + 1 < n) {
      const float* a = d.next_observations.data() + i * od;
      const float* b = d.observations.data() + (i + 1) * od;
      for (int k = 0; k < od && !end; ++k) end = std::abs(a[k] - b[k]) > tol;
    }
    if (end || i + 1 == n) {
      eps.push_back({begin, i + 1, term});
      begin = i + 1;
    }
  }
  return eps;
}

std::vector<float> mc_returns(const Dataset& d, const MCReturnOptions& opt) {
  if (opt.gamma < 0 || opt.gamma >= 1) throw std::invalid_argument("mc_returns: gamma must be in [0, 1)");
  std::vector<float> out(d.size);
  for (const Episode& e : split_episodes(d)) {
    auto r = [&](int64_t i) { return opt.reward_scale * d.rewards[i] + opt.reward_bias; };
    if (opt.failure_reward) {
      bool failed = true;
      for (int64_t i = e.begin; i < e.end && failed; ++i) failed = r(i) == *opt.failure_reward;
      if (failed) {
        std::fill(out.begin() + e.begin, out.begin() + e.end,
                  static_cast<float>(*opt.failure_reward / (1.0 - opt.gamma)));
        continue;
      }
    }
    double g = 0.0;
    for (int64_t i = e.end - 1; i >= e.begin; --i) {
      g = r(i) + opt.gamma * g;
      out[i] = static_cast<float>(g);
    }
  }
  return out;
}

DatasetStats dataset_stats(const Dataset& d) {
  DatasetStats s;
  s.size = d.size;
  const auto eps = split_episodes(d);
  s.episodes = static_cast<int64_t>(eps.size());
  if (eps.empty()) return s;
  std::vector<double> rets;
  s.length_min = eps[0].length();
  double len_sum = 0;
  for (const auto& e : eps) {
    double ret = 0;
    for (int64_t i = e.begin; i < e.end; ++i) ret += d.rewards[i];
    rets.push_back(ret);
    s.terminated_episodes += e.terminated;
    s.length_min = std::min(s.length_min, e.length());
    s.length_max = std::max(s.length_max, e.length());
    len_sum += e.length();
  }
  double sum = 0, sq = 0;
  for (double r : rets) sum += r, sq += r * r;
  s.return_mean = sum / rets.size();
  s.return_std = std::sqrt(std::max(0.0, sq / rets.size() - s.return_mean * s.return_mean));
  s.return_min = *std::min_element(rets.begin(), rets.end());
  s.return_max = *std::max_element(rets.begin(), rets.end());
  s.length_mean = len_sum / eps.size();
  return s;
}

}  // namespace anyrl::envs
