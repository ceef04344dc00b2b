// bench_parl: cost of PA-RL on the CPU (issue 5 "Benchmarks").
//
//  1. One full PA-RL + Cal-QL update — critic step (Cal-QL, next and regulariser actions from
//     pi_opt), action optimisation of a batch (k policy samples, top-m, T local steps, pi_opt
//     label: Distiller::label) and the distillation step (the policy's supervised loss on those
//     labels: Distiller::supervised_step) — for the tanh-Gaussian, diffusion and autoregressive
//     policies on pointmaze-medium shapes (obs 4, act 2), at two scales:
//       paper  configs/pointmaze-medium/parl_calql_<kind>.toml as shipped (critic 10 x [256]x4
//              HL-Gauss 128 bins, k = 32, m = 10, T = 10; diffusion 256 x 3 blocks, K = 5; AR
//              width 256, 4 layers), one batch of 256 states for the critic and the distillation;
//       cpu    the same files with scripts/results.sh's overrides (critic 2 x [64, 64], 32 bins,
//              k = 4, m = 2, batch 64; diffusion 64 x 1 block; AR width 64, 1 layer).
//     Reported per update: wall clock (manual time = the sum of the three parts), the split
//     (critic_ms, actopt_ms, distill_ms) and states/s (batch / update time). The models and
//     learners are built with the public rl/ and models/ API exactly as rl::Trainer builds them.
//     Batches come from a generated pointmaze-medium "diverse" dataset (20k transitions).
//
//  2. Online fine-tuning throughput (env steps/s) of the CPU-scale PA-RL + Cal-QL diffusion run
//     (the results.sh configuration): rl::Trainer runs BC/offline for a few steps and stops; the
//     run is resumed and timed twice, with two online budgets, and the rate is
//     (env steps difference) / (time difference), so loading, the final evaluation and
//     checkpoint writing cancel out. Skip with --no_online; --online_only skips part 1.
//
// Flags: --threads=N (else $ANYRL_BENCH_THREADS, else 2), --no_online, --online_only,
// --online_steps=N1,N2 (default 1000,3000), --online_reps=R (default 3; median reported), and any
// Google Benchmark flag (defaults: 3 repetitions, aggregates only; paper-scale rows run once,
// 2 iterations (tanh-Gaussian 5), after one untimed warm-up update).
// Configs are read from $ANYRL_SOURCE_DIR/configs, else the source tree known at build time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include "anyrl/engine/parallel.hpp"
#include "anyrl/engine/rng.hpp"
#include "anyrl/engine/tensor.hpp"
#include "anyrl/envs/collect.hpp"
#include "anyrl/envs/hdf5_io.hpp"
#include "anyrl/envs/registry.hpp"
#include "anyrl/models/autoregressive.hpp"
#include "anyrl/models/critics.hpp"
#include "anyrl/models/diffusion.hpp"
#include "anyrl/models/tanh_gaussian.hpp"
#include "anyrl/rl/config.hpp"
#include "anyrl/rl/critic_learners.hpp"
#include "anyrl/rl/data.hpp"
#include "anyrl/rl/pa_rl.hpp"
#include "anyrl/rl/trainer.hpp"
#include "bench_common.hpp"

namespace ab = anyrl_bench;
namespace fs = std::filesystem;
using namespace anyrl;
using namespace anyrl::rl;

namespace {

fs::path source_dir() {
  if (const char* s = std::getenv("ANYRL_SOURCE_DIR")) return s;
  return ANYRL_BENCH_SOURCE_DIR;
}

// scripts/results.sh common_overrides (network sizes and batches; budgets are irrelevant here).
const std::vector<std::string>& cpu_overrides() {
  static const std::vector<std::string> o = {
      "critic.ensemble=2", "critic.subset=2", "critic.hidden=[64, 64]", "critic.bins=32", "critic.lr=1e-3",
      "critic.batch_size=64", "calql.n_actions=2", "policy.batch_size=64", "policy.lr=1e-3",
      "policy.warmup_steps=10", "policy.distill_lr=3e-4", "policy.dropout=0.0", "policy.diffusion_hidden=64",
      "policy.diffusion_blocks=1", "policy.ar_width=64", "policy.ar_layers=1", "policy.ar_heads=2",
      "policy.ar_bins=32", "policy.hidden=[64, 64]", "parl.k=4", "parl.m=2", "idql.samples=16"};
  return o;
}

Config load_config(const std::string& kind, bool cpu, std::vector<std::string> extra = {}) {
  Config c = make_train_config();
  c.load_file((source_dir() / "configs" / "pointmaze-medium" / ("parl_calql_" + kind + ".toml")).string());
  std::vector<std::string> sets;
  if (cpu) sets = cpu_overrides();
  else sets = {"policy.batch_size=256"};  // one batch of 256 states for critic and distillation
  sets.insert(sets.end(), extra.begin(), extra.end());
  c.apply_overrides(sets);
  return c;
}

// The offline data: pointmaze-medium "diverse", 20k transitions, Cal-QL's reward bias and
// sparse-failure returns (as the trainer loads it).
const TransitionBuffer& offline_buffer() {
  static const TransitionBuffer buf = [] {
    envs::CollectOptions co;
    co.env = "pointmaze-medium";
    co.dataset = "diverse";
    co.size = 20000;
    envs::Dataset d = envs::collect_dataset(co);
    auto env = envs::make_env("pointmaze-medium");
    OfflineOptions oo;
    oo.reward = RewardTransform{1.0, -1.0};
    oo.returns.gamma = 0.99;
    oo.returns.failure_reward = sparse_failure_reward(env->spec(), oo.reward);
    return TransitionBuffer::from_dataset(d, oo);
  }();
  return buf;
}

// Policy, critic, action optimiser, distiller and Cal-QL learner, built from a config the way
// rl::Trainer builds a parl_calql run.
struct ParlSetup {
  Config cfg;
  std::shared_ptr<models::Policy> policy;
  std::shared_ptr<models::QEnsemble> critic;
  std::unique_ptr<ActionOptimizer> aopt;
  std::unique_ptr<Distiller> distiller;
  std::unique_ptr<CalQL> calql;
  std::int64_t critic_batch = 0, policy_batch = 0;

  explicit ParlSetup(Config c) : cfg(std::move(c)) {
    Generator init(0, 2);
    const std::int64_t obs_dim = 4, act_dim = 2;
    policy = make_policy(cfg, obs_dim, act_dim, init);  // the trainer's own construction
    critic = make_critic(cfg, obs_dim, act_dim, init);

    ActionOptOptions ao;
    ao.k = cfg.get_int("parl.k");
    ao.m = cfg.get_int("parl.m");
    ao.steps = static_cast<int>(cfg.get_int("parl.steps"));
    ao.step_size = cfg.get_float("parl.step_size");
    ao.include_dataset_action = cfg.get_bool("parl.dataset_action");
    ao.temperature = cfg.get_float("parl.temperature");
    ao.selection = cfg.get_string("parl.selection") == "argmax" ? Selection::Argmax : Selection::Softmax;
    aopt = std::make_unique<ActionOptimizer>(*critic, ao);
    DistillOptions dopt;
    dopt.lr = cfg.get_float("policy.distill_lr");
    dopt.grad_clip = cfg.get_float("policy.grad_clip");
    distiller = std::make_unique<Distiller>(*policy, *aopt, dopt);

    CriticOptions co;
    co.gamma = cfg.get_float("train.gamma");
    co.tau = cfg.get_float("critic.tau");
    co.lr = cfg.get_float("critic.lr");
    co.subset = cfg.get_int("critic.subset");
    co.grad_clip = cfg.get_float("critic.grad_clip");
    CQLOptions cq;
    cq.alpha = cfg.get_float("calql.alpha");
    cq.n_actions = cfg.get_int("calql.n_actions");
    cq.max_target_backup = cfg.get_bool("calql.max_target_backup");
    cq.calql = cfg.get_bool("calql.bound");
    cq.form = cfg.get_string("calql.form") == "simple" ? CQLForm::Simple : CQLForm::LogSumExp;
    calql = std::make_unique<CalQL>(critic, nullptr, aopt->source(*policy), co, cq);
    critic_batch = cfg.get_int("critic.batch_size");
    policy_batch = cfg.get_int("policy.batch_size");
  }
};

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct Row {
  std::string kind, scale;
  std::string name() const { return "parl_update/" + kind + "/" + scale; }
};

const std::vector<Row>& rows() {
  static const std::vector<Row> r = [] {
    std::vector<Row> v;
    for (const char* scale : {"cpu", "paper"})
      for (const char* kind : {"tanh_gaussian", "diffusion", "autoregressive"}) v.push_back({kind, scale});
    return v;
  }();
  return r;
}

// The split counters of each benchmark as reported (the "median" aggregate with repetitions,
// else the run itself), next to KeepingReporter's median time.
class SplitReporter : public ab::KeepingReporter {
 public:
  using ab::KeepingReporter::KeepingReporter;
  void ReportRuns(const std::vector<Run>& runs) override {
    ab::KeepingReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (!median && r.run_type == Run::RT_Aggregate) continue;
      const std::string name = r.run_name.function_name;
      if (!median && have_median_.count(name)) continue;
      if (median) have_median_.insert(name);
      auto& c = counters_[name];
      for (const char* k : {"critic_ms", "actopt_ms", "distill_ms"}) {
        auto it = r.counters.find(k);
        if (it != r.counters.end()) c[k] = it->second.value;
      }
    }
  }
  double counter(const std::string& name, const char* key) const {
    auto it = counters_.find(name);
    if (it == counters_.end()) return 0;
    auto jt = it->second.find(key);
    return jt == it->second.end() ? 0 : jt->second;
  }

 private:
  std::map<std::string, std::map<std::string, double>> counters_;
  std::set<std::string> have_median_;
};

void bench_update(benchmark::State& st, const Row& row) {
  ParlSetup s(load_config(row.kind, row.scale == "cpu"));
  const TransitionBuffer& buf = offline_buffer();
  Generator gen(1, 1);
  // Warm-up: one untimed update (first-touch allocations, Adam moments).
  {
    Batch b = buf.sample(s.critic_batch, gen);
    s.calql->update(b, gen);
    Batch pb = buf.sample(s.policy_batch, gen);
    s.distiller->supervised_step(pb.obs, s.distiller->label(pb.obs, gen, pb.actions), gen);
  }
  double tc = 0, ta = 0, td = 0;
  for (auto _ : st) {
    Batch b = buf.sample(s.critic_batch, gen);
    Batch pb = buf.sample(s.policy_batch, gen);
    const auto t0 = Clock::now();
    Metrics m = s.calql->update(b, gen);
    const auto t1 = Clock::now();
    Tensor labels = s.distiller->label(pb.obs, gen, pb.actions);
    const auto t2 = Clock::now();
    const double loss = s.distiller->supervised_step(pb.obs, labels, gen);
    const auto t3 = Clock::now();
    benchmark::DoNotOptimize(loss);
    benchmark::DoNotOptimize(m);
    tc += secs(t0, t1);
    ta += secs(t1, t2);
    td += secs(t2, t3);
    st.SetIterationTime(secs(t0, t3));
  }
  const double n = static_cast<double>(st.iterations());
  st.counters["critic_ms"] = tc / n * 1e3;
  st.counters["actopt_ms"] = ta / n * 1e3;
  st.counters["distill_ms"] = td / n * 1e3;
  st.counters["states/s"] = static_cast<double>(s.critic_batch) * n / (tc + ta + td);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ---- online fine-tuning -------------------------------------------------------------------------

struct OnlineRun {
  std::int64_t env_steps = 0;
  double seconds = 0;
};

// Trains the CPU-scale diffusion run up to its last offline step, then resumes it and times the
// rest (last offline step, evaluation, the online phase with `online_steps` env steps, final
// evaluation and checkpoint).
OnlineRun time_online(const fs::path& dataset, std::int64_t online_steps, int threads, std::int64_t bc,
                      std::int64_t off) {
  const fs::path dir = fs::temp_directory_path() /
                       ("anyrl_bench_parl_" + std::to_string(::getpid()) + "_" + std::to_string(online_steps));
  Config c = load_config("diffusion", true,
                         {"dataset=" + dataset.string(), "threads=" + std::to_string(threads),
                          "train.bc_steps=" + std::to_string(bc), "train.offline_steps=" + std::to_string(off),
                          "train.online_env_steps=" + std::to_string(online_steps), "train.utd=0.5",
                          "train.distill_per_env_step=0.25", "train.log_every=100", "train.checkpoint_every=0",
                          "eval.episodes=2", "eval.every_episodes=0"});
  TrainerOptions o;
  o.progress = false;
  o.overwrite = true;
  o.stop_at_step = bc + off - 1;
  {
    Trainer t(c, dir, o);
    t.run();
  }
  TrainerOptions r;
  r.progress = false;
  const auto t0 = Clock::now();
  auto t = Trainer::resume(dir, r);
  t->run();
  OnlineRun out;
  out.seconds = secs(t0, Clock::now());
  out.env_steps = t->global_step() - bc - off;
  t.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return out;
}

void run_online(int threads, std::int64_t n1, std::int64_t n2, int reps) {
  std::printf("\n== online fine-tuning: pointmaze-medium parl_calql_diffusion, results.sh CPU scale "
              "(utd 0.5, distill 0.25 per env step, batch 64), %d thread(s) ==\n",
              threads);
  const fs::path data = fs::temp_directory_path() / ("anyrl_bench_parl_" + std::to_string(::getpid()) + ".hdf5");
  envs::CollectOptions co;
  co.env = "pointmaze-medium";
  co.dataset = "diverse";
  co.size = 50000;
  envs::write_d4rl(data.string(), envs::collect_dataset(co));
  const std::int64_t bc = 50, off = 50;
  std::vector<double> rates;
  for (int rep = 0; rep < reps; ++rep) {
    const OnlineRun a = time_online(data, n1, threads, bc, off);
    const OnlineRun b = time_online(data, n2, threads, bc, off);
    const double rate = static_cast<double>(b.env_steps - a.env_steps) / (b.seconds - a.seconds);
    std::printf("  rep %d: %lld env steps in %.2f s, %lld env steps in %.2f s -> %.1f env steps/s  (load %s)\n", rep,
                static_cast<long long>(a.env_steps), a.seconds, static_cast<long long>(b.env_steps), b.seconds, rate,
                ab::load_average().c_str());
    rates.push_back(rate);
  }
  std::printf("online fine-tuning: median %.1f env steps/s (%d threads)\n", median(rates), threads);
  std::error_code ec;
  fs::remove(data, ec);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = ab::take_threads_flag(argc, argv);
  const bool no_online = ab::take_flag(argc, argv, "--no_online");
  const bool online_only = ab::take_flag(argc, argv, "--online_only");
  std::int64_t n1 = 1000, n2 = 3000;
  int reps = 3;
  {
    int w = 1;
    for (int r = 1; r < argc; ++r) {
      if (std::strncmp(argv[r], "--online_steps=", 15) == 0) {
        long long a = 0, b = 0;
        if (std::sscanf(argv[r] + 15, "%lld,%lld", &a, &b) != 2 || a < 1 || b <= a) {
          std::fprintf(stderr, "bench_parl: --online_steps=N1,N2 with 1 <= N1 < N2\n");
          return 2;
        }
        n1 = a;
        n2 = b;
      } else if (std::strncmp(argv[r], "--online_reps=", 14) == 0) {
        reps = std::max(1, std::atoi(argv[r] + 14));
      } else {
        argv[w++] = argv[r];
      }
    }
    argc = w;
    argv[argc] = nullptr;
  }
  anyrl::set_num_threads(threads);
  auto args = ab::with_default_flags(argc, argv, {"--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"});
  int n = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  std::printf("cpu: %s   load: %s   threads: %d\n", ab::cpu_model().c_str(), ab::load_average().c_str(),
              anyrl::num_threads());
  benchmark::AddCustomContext("threads", std::to_string(threads));

  if (!online_only) {
    for (const Row& r : rows()) {
      auto* b = benchmark::RegisterBenchmark(r.name().c_str(), [r](benchmark::State& st) { bench_update(st, r); });
      b->UseManualTime()->Unit(benchmark::kMillisecond);
      // Paper-scale updates take seconds on 2 cores: a fixed, small number of iterations.
      if (r.scale == "paper") b->Iterations(r.kind == "tanh_gaussian" ? 5 : 2)->Repetitions(1);
    }
    SplitReporter rep;
    benchmark::RunSpecifiedBenchmarks(&rep);
    std::printf("\n== one PA-RL + Cal-QL update (medians; load now %s; %d thread(s)) ==\n", ab::load_average().c_str(),
                threads);
    std::printf("%-34s %10s %10s %10s %10s %10s\n", "update", "total ms", "critic ms", "actopt ms", "distill ms",
                "states/s");
    for (const Row& r : rows()) {
      const ab::Result* res = rep.find(r.name());
      if (!res || res->error) continue;
      const std::int64_t batch = r.scale == "cpu" ? 64 : 256;
      std::printf("%-34s %10.1f %10.1f %10.1f %10.1f %10.0f\n", r.name().c_str(), res->seconds * 1e3,
                  rep.counter(r.name(), "critic_ms"), rep.counter(r.name(), "actopt_ms"),
                  rep.counter(r.name(), "distill_ms"), batch / res->seconds);
    }
  }
  if (!no_online) run_online(threads, n1, n2, reps);
  benchmark::Shutdown();
  return 0;
}
