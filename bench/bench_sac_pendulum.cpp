// SAC on pendulum with RLtools' benchmark configuration (issue 5, "SAC on pendulum against
// RLtools"): 10,000 env steps, one env, 100 uniform-random warm-up steps, one critic + one actor
// (+ temperature) update per env step from step 100 on, batch 100, actor 3->64->64->2 (mean,
// log-std; ReLU), twin critics 4->64->64->1 (ReLU, no LayerNorm), Adam lr 1e-3 everywhere,
// gamma 0.99, Polyak tau 0.005 (0.995), automatic alpha with target entropy -1 (= -|A|),
// float32, one thread.
//
// Plain main (no Google Benchmark): runs the whole training `--runs` times (default 5) with
// seeds 0..runs-1, prints each run's wall clock (training only: env stepping, acting, updates)
// and the final evaluation return (deterministic policy, 32 episodes, not timed), then the
// median time. RLtools' reference on the 2-core dev machine: median 2.17 s (issue 5).
//
// Denormals are flushed to zero (anyrl::set_flush_denormal(true), as torch.set_flush_denormal /
// TensorFlow's CPU default): after a few hundred steps the Adam moments of parameters behind
// dead ReLU units decay into float32's denormal range, where every multiply takes a ~100-cycle
// microcode assist (Adam alone was 14% of the run). --no-ftz keeps IEEE denormals.
//
//   bench_sac_pendulum [--runs N] [--steps N] [--seed0 S] [--no-ftz]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/parallel.hpp"
#include "anyrl/engine/rng.hpp"
#include "anyrl/engine/tensor.hpp"
#include "anyrl/envs/registry.hpp"
#include "anyrl/models/critics.hpp"
#include "anyrl/models/tanh_gaussian.hpp"
#include "anyrl/rl/critic_learners.hpp"
#include "anyrl/rl/data.hpp"

using namespace anyrl;

namespace {

// CPU time of this process (all threads): on a shared machine the wall clock includes the time
// other jobs hold the core, the CPU time does not.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct RunResult {
  double seconds = 0.0;
  double cpu = 0.0;
  double eval_return = 0.0;
};

double evaluate(const models::TanhGaussianPolicy& policy, std::uint64_t seed, int episodes) {
  auto env = envs::make_env("pendulum");
  Generator g(seed, 77);
  std::vector<float> obs(3);
  double total = 0.0;
  NoGrad ng;
  for (int e = 0; e < episodes; ++e) {
    env->reset(seed * 1000003ull + 424242ull + static_cast<std::uint64_t>(e), obs);
    for (;;) {
      Tensor a = policy.act(Tensor::from_vector(obs, Shape{1, 3}), g, /*deterministic=*/true);
      std::vector<float> av = a.to_vector<float>();
      envs::StepResult r = env->step(av, obs);
      total += r.reward;
      if (r.terminated || r.truncated) break;
    }
  }
  return total / episodes;
}

RunResult run_once(std::uint64_t seed, std::int64_t steps) {
  constexpr std::int64_t kWarmup = 100, kBatch = 100;
  Generator init(seed, 2), gen(seed, 1);
  models::TanhGaussianConfig pc;
  pc.obs_dim = 3;
  pc.act_dim = 1;
  pc.hidden = {64, 64};
  models::TanhGaussianPolicy policy(pc, init);
  models::QEnsembleConfig qc;
  qc.obs_dim = 3;
  qc.act_dim = 1;
  qc.ensemble = 2;
  qc.hidden = {64, 64};
  qc.layer_norm = false;
  auto critic = std::make_shared<models::QEnsemble>(qc, init);
  rl::CriticOptions co;
  co.gamma = 0.99;
  co.tau = 0.005;
  co.lr = 1e-3;
  co.subset = 2;  // min of the twin critics
  rl::SACOptions so;
  so.actor_lr = 1e-3;
  so.alpha_lr = 1e-3;
  so.init_temperature = 1.0;
  so.target_entropy_scale = -1.0;
  rl::SAC sac(critic, nullptr, policy, co, so);
  rl::TransitionBuffer buffer({3}, 1, steps);

  auto env = envs::make_env("pendulum");
  std::vector<float> obs(3), next(3), act(1);
  std::uint64_t episode = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  env->reset(seed * 7919ull + episode, obs);
  for (std::int64_t t = 0; t < steps; ++t) {
    if (t < kWarmup) {
      act[0] = static_cast<float>(gen.uniform_double() * 2.0 - 1.0);
    } else {
      NoGrad ng;
      act[0] = policy.act(Tensor::from_vector(obs, Shape{1, 3}), gen, /*deterministic=*/false).to_vector<float>()[0];
    }
    envs::StepResult r = env->step(act, next);
    buffer.add(obs, act, r.reward, next, r.terminated);
    if (r.terminated || r.truncated) {
      ++episode;
      env->reset(seed * 7919ull + episode, obs);
    } else {
      obs.swap(next);
    }
    if (t >= kWarmup) sac.update(buffer.sample(kBatch, gen), gen);
  }
  const auto t1 = std::chrono::steady_clock::now();
  RunResult res;
  res.cpu = cpu_seconds() - c0;
  res.seconds = std::chrono::duration<double>(t1 - t0).count();
  res.eval_return = evaluate(policy, seed, 32);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  std::int64_t steps = 10000;
  std::uint64_t seed0 = 0;
  bool ftz = true;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(next());
    else if (!std::strcmp(argv[i], "--steps")) steps = std::atoll(next());
    else if (!std::strcmp(argv[i], "--seed0")) seed0 = std::strtoull(next(), nullptr, 10);
    else if (!std::strcmp(argv[i], "--no-ftz")) ftz = false;
    else {
      std::fprintf(stderr, "usage: %s [--runs N] [--steps N] [--seed0 S] [--no-ftz]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(1);
  const bool ftz_on = ftz && set_flush_denormal(true);
  std::printf("SAC pendulum, RLtools configuration: %lld env steps, 100 warm-up, batch 100, "
              "actor 3-64-64-2, twin critics 4-64-64-1, Adam 1e-3, gamma 0.99, tau 0.005, auto alpha "
              "(target entropy -1), float32, 1 thread, denormals %s\n",
              static_cast<long long>(steps), ftz_on ? "flushed to zero" : "kept (IEEE)");
  std::vector<double> times, cpus;
  int solved = 0;
  for (int r = 0; r < runs; ++r) {
    RunResult res = run_once(seed0 + static_cast<std::uint64_t>(r), steps);
    times.push_back(res.seconds);
    cpus.push_back(res.cpu);
    solved += res.eval_return > -200.0;
    std::printf("run %d (seed %llu): %.3f s (cpu %.3f s), eval return %.1f (32 episodes, deterministic)%s\n", r,
                static_cast<unsigned long long>(seed0 + r), res.seconds, res.cpu, res.eval_return,
                res.eval_return > -200.0 ? "  solved" : "  NOT solved");
    std::fflush(stdout);
  }
  auto median_of = [](std::vector<double> s) {
    std::sort(s.begin(), s.end());
    return s.empty() ? 0.0 : (s.size() % 2 ? s[s.size() / 2] : 0.5 * (s[s.size() / 2 - 1] + s[s.size() / 2]));
  };
  const double median = median_of(times);
  std::printf("median wall clock %.3f s (cpu %.3f s) over %d runs (RLtools reference: 2.17 s); solved %d/%d (return > -200)\n",
              median, median_of(cpus), runs, solved, runs);
  return 0;
}
