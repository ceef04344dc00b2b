#include "anyrl/envs/collect.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "anyrl/envs/kitchen.hpp"
#include "anyrl/envs/pendulum.hpp"
#include "anyrl/envs/pointmaze.hpp"
#include "anyrl/envs/registry.hpp"
#include "rng.hpp"
#include "thread_pool.hpp"

namespace anyrl::envs {
namespace {

using detail::Rng;

// One generated episode, appended to the dataset in episode order.
struct EpisodeData {
  std::vector<float> obs, act, rew, next;
  std::vector<uint8_t> term, tout;
  std::map<std::string, InfoArray> infos;
  int64_t len = 0;
};

// Hand-picked cells for `play` data: dead ends, junctions and room corners spread over the maze.
std::vector<Cell> play_cells(const std::string& maze) {
  if (maze == "umaze") return {{1, 1}, {1, 3}, {3, 3}, {3, 1}};
  if (maze == "medium") return {{1, 1}, {1, 6}, {2, 4}, {4, 1}, {4, 6}, {6, 1}, {6, 3}, {6, 6}};
  return {{1, 1}, {1, 6}, {1, 10}, {3, 4}, {3, 10}, {5, 1}, {5, 4}, {5, 8}, {7, 1}, {7, 5}, {7, 10}};
}

struct Recorder {
  EpisodeData& e;
  int od, ad;
  void add(std::span<const float> o, std::span<const float> a, const StepResult& r,
           std::span<const float> next, bool timeout) {
    e.obs.insert(e.obs.end(), o.begin(), o.end());
    e.act.insert(e.act.end(), a.begin(), a.end());
    e.rew.push_back(r.reward);
    e.term.push_back(r.terminated);
    e.tout.push_back(timeout);
    e.next.insert(e.next.end(), next.begin(), next.end());
    ++e.len;
  }
};

EpisodeData maze_episode(const PointMazeEnv& proto, const MazeController& ctl, bool play,
                         double noise, uint64_t seed) {
  Rng rng(seed);
  auto env_ptr = proto.clone();
  auto& env = static_cast<PointMazeEnv&>(*env_ptr);
  const MazeLayout& m = env.layout();
  const auto cells = play ? play_cells(m.name) : m.free_cells();
  std::vector<float> obs(4), next(4), act(2);
  env.reset(rng.next(), obs);
  Cell start;  // never the task goal cell itself (that episode would end at step 1)
  do start = cells[rng.randint(static_cast<int>(cells.size()))];
  while (start == m.goal);
  const auto c = MazeLayout::center(start);
  const double jitter = play ? 0.1 : 0.25;
  env.set_agent(c[0] + rng.uniform(-jitter, jitter), c[1] + rng.uniform(-jitter, jitter));
  env.observe(obs);
  // The task goal is commanded with a fixed 5% per leg (not 1/#cells): the env terminates there,
  // so this sets how many episodes end at the goal (~1/3 to 2/3 across mazes, not all).
  auto pick_goal = [&](Cell not_this) {
    if (!(not_this == m.goal) && rng.uniform() < 0.05) return m.goal;
    Cell g;
    do g = cells[rng.randint(static_cast<int>(cells.size()))];
    while (g == not_this || g == m.goal);
    return g;
  };
  Cell goal = pick_goal(start);
  EpisodeData e;
  InfoArray& goals = e.infos["goal"];
  goals.dim = 2;
  Recorder rec{e, 4, 2};
  const int limit = env.spec().time_limit;
  for (int t = 0; t < limit; ++t) {
    ctl.act(obs, goal, act);
    for (float& a : act) a = static_cast<float>(std::clamp(a + noise * rng.normal(), -1.0, 1.0));
    StepResult r = env.step(act, next);
    rec.add(obs, act, r, next, r.truncated);
    const auto gc = MazeLayout::center(goal);
    goals.data.push_back(static_cast<float>(gc[0]));
    goals.data.push_back(static_cast<float>(gc[1]));
    if (r.terminated || r.truncated) break;
    obs = next;
    // Commanded goal reached: wander on to another one (D4RL's antmaze data does the same).
    if (std::hypot(obs[0] - gc[0], obs[1] - gc[1]) <= 0.5) goal = pick_goal(goal);
  }
  return e;
}

std::vector<KitchenSubtask> random_plan(Rng& rng, const KitchenTask& task, bool exclude_full_task) {
  for (;;) {
    std::vector<int> all(kKitchenNumSubtasks);
    for (int i = 0; i < kKitchenNumSubtasks; ++i) all[i] = i;
    for (int i = kKitchenNumSubtasks - 1; i > 0; --i) std::swap(all[i], all[rng.randint(i + 1)]);
    std::vector<KitchenSubtask> plan;
    for (int i = 0; i < 4; ++i) plan.push_back(static_cast<KitchenSubtask>(all[i]));
    int in_task = 0;
    for (auto t : plan) in_task += std::find(task.begin(), task.end(), t) != task.end();
    if (!exclude_full_task || in_task < 4) return plan;
  }
}

EpisodeData kitchen_episode(const KitchenLikeEnv& proto, const std::string& kind, double noise,
                            uint64_t seed) {
  Rng rng(seed);
  auto env_ptr = proto.clone();
  auto& env = static_cast<KitchenLikeEnv&>(*env_ptr);
  const KitchenTask& task = env.task();
  std::vector<KitchenSubtask> plan;
  if (kind == "complete") {
    plan.assign(task.begin(), task.end());
  } else if (kind == "partial" && rng.uniform() < 0.25) {
    plan.assign(task.begin(), task.end());
    for (int i = 3; i > 0; --i) std::swap(plan[i], plan[rng.randint(i + 1)]);
  } else {
    plan = random_plan(rng, task, kind == "mixed");
  }
  KitchenScript script(plan, noise, rng.next());
  std::vector<float> obs(14), next(14), act(4);
  env.reset(rng.next(), obs);
  EpisodeData e;
  InfoArray& done = e.infos["completed"];
  done.dim = kKitchenNumSubtasks;
  Recorder rec{e, 14, 4};
  const int limit = env.spec().time_limit;
  for (int t = 0; t < limit; ++t) {
    script.act(env, act);
    StepResult r = env.step(act, next);
    const bool plan_done = script.finished(env);
    rec.add(obs, act, r, next, r.truncated || (plan_done && !r.terminated));
    for (int i = 0; i < kKitchenNumSubtasks; ++i)
      done.data.push_back(env.completed(static_cast<KitchenSubtask>(i)) ? 1.f : 0.f);
    if (r.terminated || r.truncated || plan_done) break;
    obs = next;
  }
  return e;
}

EpisodeData pendulum_episode(const std::string& kind, double noise, uint64_t seed) {
  Rng rng(seed);
  PendulumEnv env;
  std::vector<float> obs(3), next(3), act(1);
  env.reset(rng.next(), obs);
  EpisodeData e;
  Recorder rec{e, 3, 1};
  for (int t = 0; t < env.spec().time_limit; ++t) {
    double u;
    if (kind == "random") {
      u = rng.uniform(-1.0, 1.0);
    } else {
      // Energy pumping towards the upright energy, PD balance near the top.
      const double th = std::remainder(env.theta(), 2 * std::numbers::pi), w = env.theta_dot();
      const double energy = 0.5 * w * w + 15.0 * std::cos(th);
      u = std::cos(th) > 0.85 ? -(8.0 * th + 1.5 * w) / 2.0 : (15.0 - energy) * w * 0.1;
      u = std::clamp(u + noise * rng.normal(), -1.0, 1.0);
    }
    act[0] = static_cast<float>(u);
    StepResult r = env.step(act, next);
    rec.add(obs, act, r, next, r.truncated);
    if (r.truncated) break;
    obs = next;
  }
  return e;
}

}  // namespace

std::vector<std::string> dataset_kinds(const std::string& env) {
  if (env.starts_with("pointmaze-") && env_exists(env)) return {"play", "diverse"};
  if (env.starts_with("kitchen-like-") && env_exists(env)) return {"complete", "partial", "mixed"};
  if (env == "pendulum") return {"random", "medium"};
  if (!env_exists(env)) make_env(env);  // throws UnknownEnvError with the list of names
  throw std::invalid_argument("no dataset generator for environment '" + env + "'");
}

int64_t default_dataset_size(const std::string& env, const std::string& kind) {
  if (env == "pointmaze-umaze") return 300'000;
  if (env.starts_with("pointmaze-")) return 1'000'000;
  if (env.starts_with("kitchen-like-")) return kind == "complete" ? 50'000 : 150'000;
  return 100'000;
}

Dataset collect_dataset(const CollectOptions& opt) {
  const auto kinds = dataset_kinds(opt.env);
  if (std::find(kinds.begin(), kinds.end(), opt.dataset) == kinds.end()) {
    std::string msg = "unknown dataset '" + opt.dataset + "' for " + opt.env + "; valid:";
    for (const auto& k : kinds) msg += " " + k;
    throw std::invalid_argument(msg);
  }
  const int64_t total = opt.size > 0 ? opt.size : default_dataset_size(opt.env, opt.dataset);
  auto proto = make_env(opt.env);
  const bool maze = opt.env.starts_with("pointmaze-"), kitchen = opt.env.starts_with("kitchen-like-");
  double noise = opt.noise;
  if (noise < 0) noise = maze ? 0.2 : kitchen ? (opt.dataset == "complete" ? 0.05 : 0.1) : 0.3;
  std::unique_ptr<MazeController> ctl;
  if (maze) ctl = std::make_unique<MazeController>(static_cast<PointMazeEnv&>(*proto).layout());

  auto episode = [&](uint64_t idx) -> EpisodeData {
    const uint64_t s = detail::mix_seed(opt.seed, idx, 0x636F6C6Cull);
    if (maze)
      return maze_episode(static_cast<PointMazeEnv&>(*proto), *ctl, opt.dataset == "play", noise, s);
    if (kitchen) return kitchen_episode(static_cast<KitchenLikeEnv&>(*proto), opt.dataset, noise, s);
    return pendulum_episode(opt.dataset, noise, s);
  };

  Dataset d;
  d.obs_dim = proto->obs_dim();
  d.action_dim = proto->action_dim();
  d.observations.reserve(total * d.obs_dim);
  d.actions.reserve(total * d.action_dim);
  d.rewards.reserve(total);
  d.terminals.reserve(total);
  d.timeouts.reserve(total);
  if (opt.next_observations) d.next_observations.reserve(total * d.obs_dim);
  d.metadata = {{"env", opt.env},
                {"dataset", opt.dataset},
                {"seed", std::to_string(opt.seed)},
                {"noise", std::to_string(noise)},
                {"generator", "anyrl collect"}};

  // Episodes depend only on (seed, episode index); batches are generated in parallel and
  // appended in index order, so the result does not depend on the thread count.
  const int threads = opt.num_threads > 0 ? opt.num_threads : detail::default_threads();
  detail::ThreadPool pool(threads);
  uint64_t next_ep = 0;
  const int batch = std::max(8, threads * 8);
  std::vector<EpisodeData> eps(batch);
  while (d.size < total) {
    pool.parallel_for(batch, [&](int b, int e) {
      for (int i = b; i < e; ++i) eps[i] = episode(next_ep + i);
    });
    next_ep += batch;
    for (auto& ep : eps) {
      if (d.size >= total) break;
      const int64_t take = std::min(ep.len, total - d.size);
      const int od = d.obs_dim, ad = d.action_dim;
      d.observations.insert(d.observations.end(), ep.obs.begin(), ep.obs.begin() + take * od);
      d.actions.insert(d.actions.end(), ep.act.begin(), ep.act.begin() + take * ad);
      d.rewards.insert(d.rewards.end(), ep.rew.begin(), ep.rew.begin() + take);
      d.terminals.insert(d.terminals.end(), ep.term.begin(), ep.term.begin() + take);
      d.timeouts.insert(d.timeouts.end(), ep.tout.begin(), ep.tout.begin() + take);
      if (opt.next_observations)
        d.next_observations.insert(d.next_observations.end(), ep.next.begin(), ep.next.begin() + take * od);
      for (auto& [k, v] : ep.infos) {
        InfoArray& dst = d.infos[k];
        dst.dim = v.dim;
        dst.data.insert(dst.data.end(), v.data.begin(), v.data.begin() + take * v.dim);
      }
      d.size += take;
      // A cut episode still ends cleanly: mark the cut as a timeout.
      if (take < ep.len && !d.terminals.back()) d.timeouts.back() = 1;
    }
    if (opt.progress) opt.progress(d.size, total);
  }
  return d;
}

}  // namespace anyrl::envs
