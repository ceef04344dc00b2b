// Environment throughput: steps per second single-threaded (Env::step) and batched (VectorEnv),
// and dataset generation speed. Actions come from a fixed cheap sequence so the env dominates.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "anyrl/envs/envs.hpp"

using namespace anyrl::envs;

namespace {

const char* const kEnvs[] = {"pointmaze-large", "kitchen-like-mixed", "pendulum", "pointmaze-large-pixels"};

void fill_actions(std::vector<float>& a, uint64_t& s) {
  for (auto& x : a) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>((s >> 40) * (2.0 / 16777216.0) - 1.0);
  }
}

void BM_EnvStep(benchmark::State& state) {
  auto env = make_env(kEnvs[state.range(0)]);
  std::vector<float> obs(env->obs_dim()), act(env->action_dim());
  env->reset(0, obs);
  uint64_t s = 1;
  uint64_t ep = 0;
  for (auto _ : state) {
    fill_actions(act, s);
    StepResult r = env->step(act, obs);
    if (r.terminated || r.truncated) env->reset(++ep, obs);
    benchmark::DoNotOptimize(obs.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(env->spec().name);
}
BENCHMARK(BM_EnvStep)->DenseRange(0, 3);

// args: env index, num_envs, threads
void BM_VectorEnvStep(benchmark::State& state) {
  VectorEnv v(kEnvs[state.range(0)], static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  v.reset(0);
  std::vector<float> act(v.num_envs() * v.action_dim());
  uint64_t s = 1;
  for (auto _ : state) {
    fill_actions(act, s);
    v.step(act);
    benchmark::DoNotOptimize(v.obs().data());
  }
  state.SetItemsProcessed(state.iterations() * v.num_envs());
  state.SetLabel(v.spec().name + " x" + std::to_string(v.num_envs()) + " threads=" +
                 std::to_string(v.num_threads()));
}
BENCHMARK(BM_VectorEnvStep)
    ->Args({0, 64, 1})->Args({0, 64, 2})
    ->Args({1, 64, 1})->Args({1, 64, 2})
    ->Args({2, 64, 1})->Args({2, 64, 2})
    ->Args({3, 16, 1})->Args({3, 16, 2})
    ->UseRealTime();

void BM_CollectPointmaze(benchmark::State& state) {
  for (auto _ : state) {
    CollectOptions o;
    o.env = "pointmaze-large";
    o.dataset = "diverse";
    o.size = 200'000;
    o.num_threads = static_cast<int>(state.range(0));
    auto d = collect_dataset(o);
    benchmark::DoNotOptimize(d.observations.data());
  }
  state.SetItemsProcessed(state.iterations() * 200'000);
}
BENCHMARK(BM_CollectPointmaze)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
