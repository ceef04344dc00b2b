// Dataset generators, episode splitting and Monte-Carlo returns.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <set>

#include "anyrl/envs/envs.hpp"

using namespace anyrl::envs;

namespace {
Dataset gen(const std::string& env, const std::string& kind, int64_t size, uint64_t seed, int threads) {
  CollectOptions o;
  o.env = env;
  o.dataset = kind;
  o.size = size;
  o.seed = seed;
  o.num_threads = threads;
  return collect_dataset(o);
}
bool same(const Dataset& a, const Dataset& b) {
  return a.size == b.size && a.observations == b.observations && a.actions == b.actions &&
         a.rewards == b.rewards && a.terminals == b.terminals && a.timeouts == b.timeouts &&
         a.next_observations == b.next_observations;
}
}  // namespace

TEST_CASE("pointmaze datasets: exact size, consistent transitions, episodes not all at the goal") {
  for (const char* env : {"pointmaze-umaze", "pointmaze-medium", "pointmaze-large"})
    for (const char* kind : {"play", "diverse"}) {
      const Dataset d = gen(env, kind, 60'000, 1, 2);
      REQUIRE(d.size == 60'000);
      CHECK(d.obs_dim == 4);
      CHECK(d.action_dim == 2);
      validate_dataset(d, env);
      const auto eps = split_episodes(d);
      const auto st = dataset_stats(d);
      int64_t at_goal = 0;
      for (const auto& e : eps) at_goal += e.terminated;
      MESSAGE(std::string(env) << " " << kind << ": " << eps.size() << " episodes, " << at_goal
                  << " end at the goal, mean length " << st.length_mean);
      CHECK(eps.size() >= 60);
      CHECK(at_goal > 0);
      CHECK(at_goal < static_cast<int64_t>(eps.size()));
      for (int64_t i = 0; i < d.size; ++i) {
        REQUIRE(d.rewards[i] == (d.terminals[i] ? 1.f : 0.f));  // sparse, terminal on success
        REQUIRE(std::abs(d.actions[i * 2]) <= 1.f);
        if (i + 1 < d.size && !d.terminals[i] && !d.timeouts[i])  // continuity within episodes
          REQUIRE(d.next_observations[i * 4] == d.observations[(i + 1) * 4]);
      }
      CHECK(d.infos.at("goal").dim == 2);
      CHECK(d.metadata.at("env") == env);
    }
}

TEST_CASE("generators are deterministic in the seed and independent of the thread count") {
  for (auto [env, kind] : {std::pair{"pointmaze-large", "diverse"}, std::pair{"kitchen-like-mixed", "mixed"},
                           std::pair{"pendulum", "medium"}}) {
    const Dataset a = gen(env, kind, 20'000, 5, 1), b = gen(env, kind, 20'000, 5, 2),
                  c = gen(env, kind, 20'000, 5, 3), other = gen(env, kind, 20'000, 6, 2);
    CHECK(same(a, b));
    CHECK(same(a, c));
    CHECK_FALSE(same(a, other));
  }
}

TEST_CASE("default sizes and errors") {
  CHECK(default_dataset_size("pointmaze-umaze", "play") == 300'000);
  CHECK(default_dataset_size("pointmaze-large", "diverse") == 1'000'000);
  CHECK_THROWS_AS(gen("pointmaze-large", "expert", 10, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(gen("pointmaze-huge", "play", 10, 0, 1), UnknownEnvError);
}

namespace {
// Order in which an episode completed sub-tasks, from infos/completed.
std::vector<int> completion_order(const Dataset& d, const Episode& e) {
  std::vector<int> order;
  const auto& c = d.infos.at("completed");
  std::vector<float> prev(kKitchenNumSubtasks, 0.f);
  for (int64_t i = e.begin; i < e.end; ++i)
    for (int k = 0; k < kKitchenNumSubtasks; ++k) {
      const float v = c.data[i * kKitchenNumSubtasks + k];
      if (v > 0.5f && prev[k] < 0.5f) order.push_back(k);
      prev[k] = v;
    }
  return order;
}
}  // namespace

TEST_CASE("kitchen-like datasets: complete / partial / mixed statistics") {
  const Dataset complete = gen("kitchen-like-complete", "complete", 15'000, 2, 2);
  const Dataset partial = gen("kitchen-like-partial", "partial", 40'000, 2, 2);
  const Dataset mixed = gen("kitchen-like-mixed", "mixed", 40'000, 2, 2);
  auto summary = [](const Dataset& d, const char* what) {
    int solved = 0, n = 0;
    std::set<std::vector<int>> orders;
    for (const auto& e : split_episodes(d)) {
      ++n;
      solved += e.terminated;
      orders.insert(completion_order(d, e));
    }
    MESSAGE(std::string(what) << ": " << d.size << " transitions, " << n << " episodes, " << solved
                 << " solve all 4, " << orders.size() << " distinct completion orders");
    return std::tuple{solved, n, static_cast<int>(orders.size())};
  };
  auto [cs, cn, co] = summary(complete, "complete");
  auto [ps, pn, po] = summary(partial, "partial");
  auto [ms, mn, mo] = summary(mixed, "mixed");
  CHECK(complete.size == 15'000);
  CHECK(cs >= 0.9 * (cn - 1));  // the last episode may be cut by the size limit
  CHECK(co <= 2);               // in task order (plus the cut one)
  CHECK(ps > 0);
  CHECK(ps < pn / 2);
  CHECK(po >= 3);
  CHECK(ms == 0);  // no mixed episode solves all 4
  CHECK(mo >= 3);
  float max_r = 0;
  for (float r : mixed.rewards) max_r = std::max(max_r, r);
  CHECK(max_r <= 3.f);
  CHECK(max_r >= 2.f);
}

TEST_CASE("split_episodes: terminals/timeouts, or observation discontinuities") {
  Dataset d;
  d.size = 6;
  d.obs_dim = 1;
  d.action_dim = 1;
  d.observations = {0, 1, 2, 10, 11, 12};
  d.next_observations = {1, 2, 3, 11, 12, 13};
  d.actions.assign(6, 0.f);
  d.rewards = {0, 0, 1, 0, 0, 0};
  auto e = split_episodes(d);  // no flags: discontinuity after index 2
  REQUIRE(e.size() == 2);
  CHECK(e[0].end == 3);
  d.terminals = {0, 1, 0, 0, 0, 0};
  d.timeouts = {0, 0, 0, 0, 1, 0};
  e = split_episodes(d);
  REQUIRE(e.size() == 3);
  CHECK(e[0].terminated);
  CHECK(e[1].end == 5);
  CHECK(e[2].length() == 1);
}

TEST_CASE("mc_returns: discounted return-to-go and the failed-sparse-episode convention") {
  Dataset d;
  d.size = 6;
  d.obs_dim = 1;
  d.action_dim = 1;
  d.observations.assign(6, 0.f);
  d.actions.assign(6, 0.f);
  // Episode 1 succeeds at its last step; episode 2 (3 steps) never does.
  d.rewards = {0, 0, 1, 0, 0, 0};
  d.terminals = {0, 0, 1, 0, 0, 0};
  d.timeouts = {0, 0, 0, 0, 0, 1};
  MCReturnOptions o;
  o.gamma = 0.9;
  auto r = mc_returns(d, o);
  CHECK(r[2] == doctest::Approx(1.0));
  CHECK(r[0] == doctest::Approx(0.81));
  CHECK(r[4] == doctest::Approx(0.0));
  // With Cal-QL's reward shift (r - 1) the failed episode is worth -1/(1-gamma) = -10 everywhere.
  o.reward_bias = -1.0;
  o.failure_reward = -1.0;
  r = mc_returns(d, o);
  CHECK(r[2] == doctest::Approx(0.0));
  CHECK(r[1] == doctest::Approx(-1.0));
  CHECK(r[0] == doctest::Approx(-1.9));
  for (int i = 3; i < 6; ++i) CHECK(r[i] == doctest::Approx(-10.0));
}

TEST_CASE("pointmaze generation speed") {
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset d = gen("pointmaze-large", "diverse", 300'000, 0, 0);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double per_min = d.size / s * 60.0;
  MESSAGE("pointmaze-large diverse: " << per_min / 1e6 << "M transitions/minute");
  CHECK(per_min > 1e6);
}
