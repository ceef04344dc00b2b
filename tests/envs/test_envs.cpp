// Environments: registry, pointmaze physics and planner, kitchen-like, pendulum, pixels,
// VectorEnv determinism, state save/restore, rendering.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "anyrl/envs/envs.hpp"

using namespace anyrl::envs;

namespace {
struct Lcg {  // tiny deterministic action source for tests
  uint64_t s;
  float next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((s >> 40) * (2.0 / 16777216.0) - 1.0);
  }
};
}  // namespace

TEST_CASE("registry: every name builds, unknown names list the valid ones") {
  for (const auto& n : env_names()) {
    auto e = make_env(n);
    CHECK(e->spec().name == n);
    CHECK(e->action_dim() > 0);
    CHECK(e->spec().time_limit > 0);
  }
  try {
    make_env("pointmaze-huge");
    FAIL("expected UnknownEnvError");
  } catch (const UnknownEnvError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("pointmaze-huge") != std::string::npos);
    CHECK(msg.find("pointmaze-large") != std::string::npos);
    CHECK(msg.find("kitchen-like-mixed") != std::string::npos);
  }
  CHECK(make_env("pointmaze-umaze-pixels")->spec().obs_shape == std::vector<int>{3, 64, 64});
}

TEST_CASE("pointmaze: layouts match D4RL's maze sizes and goals") {
  CHECK(MazeLayout::umaze().rows == 5);
  CHECK(MazeLayout::medium().rows == 8);
  CHECK(MazeLayout::large().cols == 12);
  CHECK(MazeLayout::large().rows == 9);
  for (const MazeLayout* m : {&MazeLayout::umaze(), &MazeLayout::medium(), &MazeLayout::large()}) {
    CHECK(m->is_free(m->start));
    CHECK(m->is_free(m->goal));
    MazePlanner p(*m);
    for (Cell c : m->free_cells()) CHECK(p.distance(c, m->goal) >= 0);  // connected
  }
  CHECK(make_env("pointmaze-umaze")->spec().time_limit == 700);
  CHECK(make_env("pointmaze-large")->spec().time_limit == 1000);
}

TEST_CASE("pointmaze: pushing into walls for 10k steps never leaves free space") {
  for (const char* name : {"pointmaze-umaze", "pointmaze-medium", "pointmaze-large"}) {
    auto env = make_env(name);
    auto& pm = static_cast<PointMazeEnv&>(*env);
    std::vector<float> obs(4), a(2);
    env->reset(1, obs);
    Lcg rng{42};
    int hits = 0;
    for (int t = 0; t < 10'000; ++t) {
      if (t % 40 == 0) {  // hold a full-force push in a random direction (often into a wall)
        a[0] = rng.next() > 0 ? 1.f : -1.f;
        a[1] = rng.next() > 0 ? 1.f : -1.f;
        if (rng.next() > 0.5f) a[rng.next() > 0 ? 0 : 1] = 0.f;
      }
      StepResult r = env->step(a, obs);
      REQUIRE_MESSAGE(pm.in_free_space(), std::string(name) << " step " << t << " at " << obs[0] << "," << obs[1]);
      if (r.terminated || r.truncated) {
        hits += pm.wall_hits();
        env->reset(t, obs);
      }
    }
    hits += pm.wall_hits();
    CHECK(hits > 100);  // the test really did push into walls
    // Teleporting into a wall is refused.
    CHECK_THROWS_AS(pm.set_agent(0.5, 0.5), std::invalid_argument);
  }
}

TEST_CASE("pointmaze: sparse reward, termination within 0.5 cell of the goal, time limit") {
  auto env = make_env("pointmaze-umaze");
  auto& pm = static_cast<PointMazeEnv&>(*env);
  std::vector<float> obs(4), zero(2, 0.f);
  env->reset(0, obs);
  const auto g = MazeLayout::center(MazeLayout::umaze().goal);
  pm.set_agent(g[0] + 0.45, g[1]);
  StepResult r = env->step(zero, obs);
  CHECK(r.reward == 1.f);
  CHECK(r.terminated);
  CHECK(r.info.success);
  env->reset(0, obs);
  pm.set_agent(g[0] + 0.6, g[1]);
  r = env->step(zero, obs);
  CHECK(r.reward == 0.f);
  CHECK_FALSE(r.terminated);
  env->reset(0, obs);
  for (int t = 1; t <= 700; ++t) {
    r = env->step(zero, obs);
    CHECK_FALSE(r.terminated);
    if (t < 700) REQUIRE_FALSE(r.truncated);
  }
  CHECK(r.truncated);
  CHECK(env->elapsed_steps() == 700);
}

TEST_CASE("pointmaze: the planner + PD controller reaches the goal from every free cell") {
  for (const char* name : {"pointmaze-umaze", "pointmaze-medium", "pointmaze-large"}) {
    auto env = make_env(name);
    auto& pm = static_cast<PointMazeEnv&>(*env);
    MazeController ctl(pm.layout());
    int worst = 0;
    for (Cell c : pm.layout().free_cells()) {
      std::vector<float> obs(4), a(2);
      env->reset(0, obs);
      const auto p = MazeLayout::center(c);
      pm.set_agent(p[0], p[1]);
      env->observe(obs);
      bool ok = false;
      int t = 0;
      for (; t < env->spec().time_limit && !ok; ++t) {
        ctl.act(obs, pm.layout().goal, a);
        StepResult r = env->step(a, obs);
        ok = r.terminated && r.info.success;
        if (r.truncated) break;
      }
      worst = std::max(worst, t);
      CHECK_MESSAGE(ok, std::string(name) << " from cell (" << c.row << "," << c.col << ")");
    }
    MESSAGE(std::string(name) << ": slowest solve " << worst << " steps");
  }
}

TEST_CASE("same seed -> identical trajectories; clone and save/restore") {
  for (const auto& name : env_names()) {
    auto a = make_env(name), b = make_env(name);
    const int od = a->obs_dim(), ad = a->action_dim();
    std::vector<float> oa(od), ob(od), act(ad);
    a->reset(123, oa);
    b->reset(123, ob);
    CHECK(oa == ob);
    Lcg rng{7};
    EnvState mid;
    std::vector<float> acts;
    for (int t = 0; t < 60; ++t) {
      for (auto& x : act) x = rng.next();
      if (t == 30) mid = a->save_state();
      if (t >= 30) acts.insert(acts.end(), act.begin(), act.end());
      StepResult ra = a->step(act, oa), rb = b->step(act, ob);
      REQUIRE(oa == ob);
      REQUIRE(ra.reward == rb.reward);
    }
    // Replaying the same actions from the saved state reproduces the same end state.
    auto c = a->clone();
    std::vector<float> oc(od), oc2(od);
    c->load_state(mid);
    CHECK(c->elapsed_steps() == 30);
    for (int t = 0; t < 30; ++t) c->step(std::span<const float>(acts).subspan(t * ad, ad), oc);
    a->observe(oc2);
    CHECK(oc == oc2);
    CHECK_THROWS_AS(make_env(name == "pendulum" ? "pointmaze-umaze" : "pendulum")->load_state(mid),
                    std::invalid_argument);
  }
}

TEST_CASE("VectorEnv: auto-reset, identical results for 1, 2 and 3 threads") {
  auto run = [](const char* name, int threads) {
    VectorEnv v(name, 5, threads);
    v.reset(99);
    std::vector<float> trace(v.obs().begin(), v.obs().end()), act(v.num_envs() * v.action_dim());
    Lcg rng{3};
    int dones = 0;
    for (int t = 0; t < 800; ++t) {
      for (auto& x : act) x = rng.next();
      v.step(act);
      trace.insert(trace.end(), v.obs().begin(), v.obs().end());
      trace.insert(trace.end(), v.rewards().begin(), v.rewards().end());
      for (int i = 0; i < v.num_envs(); ++i) dones += v.terminated()[i] || v.truncated()[i];
    }
    return std::pair{trace, dones};
  };
  for (const char* name : {"pointmaze-umaze", "pendulum", "kitchen-like-mixed"}) {
    auto [t1, d1] = run(name, 1);
    auto [t2, d2] = run(name, 2);
    auto [t3, d3] = run(name, 3);
    CHECK(t1 == t2);
    CHECK(t1 == t3);
    CHECK(d1 > 0);  // episodes ended and were reset
  }
  CHECK_THROWS_AS(VectorEnv("nope", 2), UnknownEnvError);
}

TEST_CASE("kitchen-like: scripted controller without noise solves the task >= 95%") {
  for (const char* name : {"kitchen-like-complete", "kitchen-like-mixed"}) {
    auto env = make_env(name);
    auto& k = static_cast<KitchenLikeEnv&>(*env);
    int solved = 0, steps = 0;
    const int n = 40;
    for (int ep = 0; ep < n; ++ep) {
      std::vector<float> obs(14), a(4);
      env->reset(ep, obs);
      std::vector<KitchenSubtask> plan(k.task().begin(), k.task().end());
      std::rotate(plan.begin(), plan.begin() + ep % 4, plan.end());  // several orders
      KitchenScript script(plan, 0.0, ep);
      float last = 0;
      for (;;) {
        script.act(k, a);
        StepResult r = env->step(a, obs);
        CHECK(r.reward >= last);  // completions latch
        last = r.reward;
        if (r.terminated) {
          solved += r.info.success;
          steps += env->elapsed_steps();
          break;
        }
        if (r.truncated) break;
      }
    }
    MESSAGE(std::string(name) << ": solved " << solved << "/" << n << ", mean steps " << (solved ? steps / solved : 0));
    CHECK(solved >= 0.95 * n);
  }
}

TEST_CASE("kitchen-like: every sub-task is solvable alone and needs its own motion") {
  for (int i = 0; i < kKitchenNumSubtasks; ++i) {
    const auto t = static_cast<KitchenSubtask>(i);
    KitchenLikeEnv env("kitchen-like-complete", kitchen_task_complete());
    std::vector<float> obs(14), a(4);
    env.reset(5, obs);
    KitchenScript script({t}, 0.0, 1);
    int steps = 0;
    while (!script.finished(env) && steps < 200) {
      script.act(env, a);
      env.step(a, obs);
      ++steps;
    }
    CHECK_MESSAGE(env.completed(t), kitchen_subtask_name(t));
    CHECK_MESSAGE(steps >= 20, kitchen_subtask_name(t) << " took only " << steps);
    // Only that sub-task got done.
    CHECK(std::popcount(env.state().done_mask) == 1);
  }
  // Dragging the kettle along the table does not move it.
  KitchenLikeEnv env("kitchen-like-complete", kitchen_task_complete());
  std::vector<float> obs(14);
  env.reset(0, obs);
  KitchenScript reach({KitchenSubtask::Kettle}, 0.0, 0);
  std::vector<float> a(4);
  while (env.state().held != static_cast<int>(KitchenSubtask::Kettle)) {
    reach.act(env, a);
    env.step(a, obs);
  }
  const double kx = env.state().kettle[0];
  std::vector<float> drag = {1.f, 0.f, 0.f, 1.f};
  for (int i = 0; i < 10; ++i) env.step(drag, obs);
  CHECK(env.state().kettle[0] == doctest::Approx(kx));
}

TEST_CASE("pendulum: Gymnasium dynamics and reward") {
  PendulumEnv env;
  std::vector<float> obs(3);
  env.reset(0, obs);
  env.set_state(0.5, -1.0);
  std::vector<float> a = {0.5f};  // torque 1.0
  StepResult r = env.step(a, obs);
  const double cost = 0.25 + 0.1 * 1.0 + 0.001 * 1.0;
  CHECK(r.reward == doctest::Approx(-cost).epsilon(1e-6));
  const double thdot = -1.0 + (15.0 * std::sin(0.5) + 3.0 * 1.0) * 0.05;
  CHECK(env.theta_dot() == doctest::Approx(thdot));
  CHECK(env.theta() == doctest::Approx(0.5 + thdot * 0.05));
  CHECK(obs[0] == doctest::Approx(std::cos(0.5 + thdot * 0.05)));
  CHECK(env.spec().time_limit == 200);
}

TEST_CASE("pixels: 64x64 RGB observations with frame stacking") {
  PixelsEnv env(make_env("pointmaze-medium"), 64, 3);
  CHECK(env.spec().obs_shape == std::vector<int>{9, 64, 64});
  std::vector<float> obs(env.obs_dim());
  env.reset(0, obs);
  const size_t frame = 3 * 64 * 64;
  CHECK(std::equal(obs.begin(), obs.begin() + frame, obs.begin() + 2 * frame));
  CHECK(*std::max_element(obs.begin(), obs.end()) <= 1.f);
  std::vector<float> a = {1.f, 1.f};
  for (int i = 0; i < 10; ++i) env.step(a, obs);
  CHECK_FALSE(std::equal(obs.begin(), obs.begin() + frame, obs.begin() + 2 * frame));
  auto c = env.clone();
  std::vector<float> oc(env.obs_dim());
  c->observe(oc);
  CHECK(oc == obs);
}

TEST_CASE("render_rgb works for every env and write_png writes a file") {
  for (const auto& name : env_names()) {
    auto env = make_env(name);
    std::vector<float> obs(env->obs_dim());
    env->reset(0, obs);
    auto img = env->render_rgb(48, 32);
    CHECK(img.size() == 48u * 32u * 3u);
    std::set<int> colors;
    for (size_t i = 0; i < img.size(); i += 3) colors.insert(img[i] << 16 | img[i + 1] << 8 | img[i + 2]);
    CHECK_MESSAGE(colors.size() >= 3, name);
  }
  auto env = make_env("pendulum");
  const std::string path = "envs_test_render.png";
  write_png(path, 32, 32, env->render_rgb(32, 32));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f);
  unsigned char sig[4] = {};
  CHECK(std::fread(sig, 1, 4, f) == 4);
  std::fclose(f);
  std::remove(path.c_str());
  CHECK(sig[1] == 'P');
  CHECK(sig[2] == 'N');
  CHECK_THROWS(write_png("/nonexistent-dir/x.png", 32, 32, env->render_rgb(32, 32)));
}
