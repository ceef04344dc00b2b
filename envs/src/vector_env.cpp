#include "anyrl/envs/vector_env.hpp"

#include <algorithm>
#include <stdexcept>

#include "rng.hpp"
#include "thread_pool.hpp"

namespace anyrl::envs {

struct VectorEnv::Pool : detail::ThreadPool {
  using detail::ThreadPool::ThreadPool;
};

VectorEnv::VectorEnv(const std::string& name, int num_envs, int num_threads) {
  init([name] { return make_env(name); }, num_envs, num_threads);
}

VectorEnv::VectorEnv(const EnvFactory& factory, int num_envs, int num_threads) {
  init(factory, num_envs, num_threads);
}

VectorEnv::~VectorEnv() = default;

void VectorEnv::init(const EnvFactory& factory, int n, int threads) {
  if (n <= 0) throw std::invalid_argument("VectorEnv: num_envs must be positive");
  for (int i = 0; i < n; ++i) envs_.push_back(factory());
  obs_dim_ = envs_[0]->obs_dim();
  act_dim_ = envs_[0]->action_dim();
  if (threads <= 0) threads = detail::default_threads();
  pool_ = std::make_unique<Pool>(std::min(threads, n));
  episode_index_.assign(n, 0);
  obs_.assign(static_cast<size_t>(n) * obs_dim_, 0.f);
  final_obs_ = obs_;
  rewards_.assign(n, 0.f);
  terminated_.assign(n, 0);
  truncated_.assign(n, 0);
  success_.assign(n, 0);
  infos_.assign(n, Info{});
  ep_return_.assign(n, 0.0);
  final_return_.assign(n, 0.0);
  ep_length_.assign(n, 0);
  final_length_.assign(n, 0);
}

int VectorEnv::num_threads() const { return pool_->size(); }

uint64_t VectorEnv::episode_seed(int i) const {
  return detail::mix_seed(seed_, static_cast<uint64_t>(i), episode_index_[i]);
}

static std::span<float> row(std::vector<float>& v, int i, int d) {
  return {v.data() + static_cast<size_t>(i) * d, static_cast<size_t>(d)};
}

void VectorEnv::reset(uint64_t seed) {
  seed_ = seed;
  pool_->parallel_for(num_envs(), [&](int b, int e) {
    for (int i = b; i < e; ++i) {
      episode_index_[i] = 0;
      envs_[i]->reset(episode_seed(i), row(obs_, i, obs_dim_));
      ep_return_[i] = 0.0;
      ep_length_[i] = 0;
      rewards_[i] = 0.f;
      terminated_[i] = truncated_[i] = success_[i] = 0;
      infos_[i].clear();
    }
  });
}

void VectorEnv::step_one(int i, std::span<const float> action) {
  auto o = row(obs_, i, obs_dim_);
  StepResult r = envs_[i]->step(action, o);
  rewards_[i] = r.reward;
  terminated_[i] = r.terminated;
  truncated_[i] = r.truncated;
  success_[i] = r.info.success;
  infos_[i] = r.info;
  ep_return_[i] += r.reward;
  ++ep_length_[i];
  if (r.terminated || r.truncated) {
    auto f = row(final_obs_, i, obs_dim_);
    std::copy(o.begin(), o.end(), f.begin());
    final_return_[i] = ep_return_[i];
    final_length_[i] = ep_length_[i];
    ep_return_[i] = 0.0;
    ep_length_[i] = 0;
    ++episode_index_[i];
    envs_[i]->reset(episode_seed(i), o);
  }
}

void VectorEnv::step(std::span<const float> actions) {
  if (actions.size() != static_cast<size_t>(num_envs()) * act_dim_)
    throw std::invalid_argument("VectorEnv::step: expected num_envs x action_dim = " +
                                std::to_string(num_envs() * act_dim_) + " actions, got " +
                                std::to_string(actions.size()));
  pool_->parallel_for(num_envs(), [&](int b, int e) {
    for (int i = b; i < e; ++i)
      step_one(i, actions.subspan(static_cast<size_t>(i) * act_dim_, act_dim_));
  });
}

}  // namespace anyrl::envs
