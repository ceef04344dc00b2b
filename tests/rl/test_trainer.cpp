// The trainer end to end: smoke configs with each policy class, bitwise resume, the NaN guard,
// config errors.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <string>

#include "anyrl/engine/ops.hpp"
#include "anyrl/models/critics.hpp"
#include "anyrl/models/diffusion.hpp"
#include "anyrl/rl/checkpoint.hpp"
#include "anyrl/rl/config.hpp"
#include "anyrl/rl/critic_learners.hpp"
#include "anyrl/rl/data.hpp"
#include "anyrl/rl/pa_rl.hpp"
#include "anyrl/rl/logger.hpp"
#include "anyrl/rl/run.hpp"
#include "anyrl/rl/trainer.hpp"
#include "common.hpp"

using namespace anyrl;
using namespace anyrl::rl;
namespace fs = std::filesystem;

namespace {

fs::path source_dir() { return anyrl_test::source_dir(); }
fs::path scratch(const std::string& name) { return anyrl_test::scratch("trainer", name); }

Config smoke(const std::string& name, std::vector<std::string> sets = {}) {
  Config c = make_train_config();
  c.load_file((source_dir() / "configs" / "smoke" / (name + ".toml")).string());
  c.apply_overrides(sets);
  return c;
}

TrainerOptions quiet() {
  TrainerOptions o;
  o.progress = false;
  return o;
}

// Every tensor of two checkpoints equal bit for bit.
void check_same_checkpoint(const Checkpoint& a, const Checkpoint& b) {
  REQUIRE(a.groups.size() == b.groups.size());
  std::size_t tensors = 0;
  for (const auto& [g, ma] : a.groups) {
    REQUIRE(b.has(g));
    const auto& mb = b.at(g);
    REQUIRE(ma.size() == mb.size());
    for (const auto& [n, ta] : ma) {
      const Tensor& tb = mb.at(n);
      REQUIRE(ta.shape() == tb.shape());
      REQUIRE(ta.dtype() == tb.dtype());
      const Tensor ca = ta.contiguous(), cb = tb.contiguous();
      const std::size_t bytes = static_cast<std::size_t>(ta.numel()) * dtype_size(ta.dtype());
      INFO(g << "/" << n);
      CHECK(std::memcmp(ca.raw_data(), cb.raw_data(), bytes) == 0);
      ++tensors;
    }
  }
  CHECK(tensors > 10);
}

}  // namespace

TEST_CASE("smoke configs train end to end with each policy class") {
  for (const std::string name : {"parl_calql_diffusion", "parl_calql_autoregressive", "parl_calql_tanh_gaussian"}) {
    CAPTURE(name);
    fs::path dir = scratch(name);
    const auto t0 = std::chrono::steady_clock::now();
    Trainer t(smoke(name), dir, quiet());
    TrainResult r = t.run();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(name << ": " << secs << " s, final return " << (r.last_eval ? r.last_eval->return_mean : 0.0));
    CHECK(r.status == TrainResult::Status::Finished);
    CHECK(t.phase() == "done");
    REQUIRE(r.last_eval.has_value());
    CHECK(r.last_eval->episodes == 32);
    CHECK(std::isfinite(r.last_eval->return_mean));
    const CsvTable train = read_csv(dir / "train.csv"), eval = read_csv(dir / "eval.csv");
    CHECK(train.rows.size() > 5);
    CHECK(eval.rows.size() == 3);  // after bc, offline, online
    CHECK(train.column("critic_loss") >= 0);
    CHECK(train.column("cand_q_spread") >= 0);
    CHECK(fs::exists(dir / "metrics.jsonl"));
    CheckpointManager m(dir / "checkpoints");
    REQUIRE(m.latest().has_value());
    Checkpoint ck = m.load_latest({"distiller", "learner", "online", "rng", "counters"});
    CHECK(ck.metadata.at("phase") == "done");
    // eval reopens the run folder
    auto e = Trainer::open_for_eval(dir);
    CHECK(e->evaluate(4, 7).episodes == 4);
    fs::remove_all(dir);
  }
}

TEST_CASE("every smoke method runs") {
  for (const std::string name : {"parl_iql_diffusion", "parl_rlpd_diffusion", "calql_sac", "iql_awr", "bc_diffusion", "sac"}) {
    CAPTURE(name);
    fs::path dir = scratch(name);
    Trainer t(smoke(name, {"eval.episodes=4"}), dir, quiet());
    TrainResult r = t.run();
    CHECK(r.status == TrainResult::Status::Finished);
    CHECK(t.phase() == "done");
    fs::remove_all(dir);
  }
}

TEST_CASE("every configs/smoke file is valid and run by a test in this file") {
  // The smoke configs the test cases of this file train (a new configs/smoke/*.toml must be
  // added to one of their lists); pointmaze_parl_calql_diffusion (~11 s) is only parsed here.
  const std::set<std::string> run = {
      "parl_calql_diffusion", "parl_calql_autoregressive", "parl_calql_tanh_gaussian", "parl_iql_diffusion",
      "parl_rlpd_diffusion",  "calql_sac",                 "iql_awr",                  "bc_diffusion",
      "sac",                  "idql_diffusion",            "cem_diffusion",            "parl_calql_diffusion_no_global_opt",
      "parl_calql_diffusion_no_local_opt"};
  const std::set<std::string> parse_only = {"pointmaze_parl_calql_diffusion"};
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(source_dir() / "configs" / "smoke")) {
    if (e.path().extension() != ".toml") continue;
    const std::string name = e.path().stem().string();
    CAPTURE(name);
    ++n;
    CHECK_NOTHROW(smoke(name));
    CHECK(run.count(name) + parse_only.count(name) == 1);
  }
  CHECK(n == run.size() + parse_only.size());
}

TEST_CASE("method sac: online only, no dataset, per-step updates, logs and checkpoints like the others") {
  fs::path dir = scratch("sac_smoke");
  Trainer t(smoke("sac", {"eval.episodes=4"}), dir, quiet());
  TrainResult r = t.run();
  CHECK(r.status == TrainResult::Status::Finished);
  CHECK(t.phase() == "done");
  CHECK(t.global_step() == 400);
  REQUIRE(r.first_eval.has_value());
  REQUIRE(r.last_eval.has_value());
  const CsvTable train = read_csv(dir / "train.csv"), eval = read_csv(dir / "eval.csv");
  CHECK(train.rows.size() == 2);  // one row per 200-step episode
  CHECK(eval.rows.size() == 3);   // before training, after episode 1, at the end
  REQUIRE(eval.rows.size() >= 1);
  CHECK(eval.rows[0][static_cast<std::size_t>(eval.column("env_steps"))] == "0");
  for (const char* col : {"critic_loss", "actor_loss", "alpha", "q_data_mean", "episode_return"}) {
    CAPTURE(col);
    const int c = train.column(col);
    REQUIRE(c >= 0);
    for (const auto& row : train.rows) CHECK(!row[static_cast<std::size_t>(c)].empty());
  }
  const Checkpoint ck = CheckpointManager(dir / "checkpoints").load_latest();
  CHECK(ck.metadata.at("method") == "sac");
  CHECK(ck.at("learner").count("log_alpha") == 1);
  CHECK(ck.at("online").count("obs") == 1);
  CHECK(ck.tensor("trainer", "critic_acc").numel() == 1);
  auto e = Trainer::open_for_eval(dir);
  CHECK(e->evaluate(4, 7).episodes == 4);
  fs::remove_all(dir);
  // Only tanh-Gaussian policies; other methods still need a dataset.
  try {
    Trainer bad(smoke("sac", {"policy.kind=diffusion"}), scratch("sac_bad"), quiet());
    FAIL("expected ConfigError");
  } catch (const ConfigError& err) {
    const std::string w = err.what();
    CHECK(w.find("policy.kind") != std::string::npos);
    CHECK(w.find("diffusion") != std::string::npos);
    CHECK(w.find("sac") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(Trainer(smoke("calql_sac", {"dataset=none"}), scratch("sac_bad2"), quiet()),
                       doctest::Contains("dataset"), ConfigError);
}

TEST_CASE("method sac: a resumed run is bitwise identical to an uninterrupted one") {
  // Fractional UTD and a delayed actor so the accumulator and step counters cross checkpoints;
  // stops after the first episode (inside the random warm-up budget's episode) and the second.
  const std::vector<std::string> sets = {"eval.episodes=4", "train.online_env_steps=600", "train.checkpoint_every=100",
                                         "train.utd=1.3", "sac.actor_every=2", "train.random_steps=250"};
  fs::path full = scratch("sac_full");
  {
    Trainer t(smoke("sac", sets), full, quiet());
    REQUIRE(t.run().status == TrainResult::Status::Finished);
  }
  const Checkpoint ref = CheckpointManager(full / "checkpoints").load_latest();
  for (std::int64_t stop : {150, 350}) {
    CAPTURE(stop);
    fs::path part = scratch("sac_part" + std::to_string(stop));
    {
      TrainerOptions o = quiet();
      o.stop_at_step = stop;
      Trainer t(smoke("sac", sets), part, o);
      REQUIRE(t.run().status == TrainResult::Status::Interrupted);
    }
    {
      auto t = Trainer::resume(part, quiet());
      CHECK(t->global_step() >= stop);
      REQUIRE(t->run().status == TrainResult::Status::Finished);
    }
    const Checkpoint got = CheckpointManager(part / "checkpoints").load_latest();
    CHECK(got.step == ref.step);
    check_same_checkpoint(ref, got);
    for (const char* f : {"train.csv", "eval.csv", "metrics.jsonl"})
      CHECK_MESSAGE(read_text_file(full / f) == read_text_file(part / f), f);
    fs::remove_all(part);
  }
  fs::remove_all(full);
}

TEST_CASE("method sac: NaN in the critic loss stops the run at the episode boundary") {
  fs::path dir = scratch("sac_nan");
  TrainerOptions o = quiet();
  o.metrics_hook = [](std::map<std::string, double>& m, std::int64_t step) {
    if (step == 400 && m.count("critic_loss")) m["critic_loss"] = std::numeric_limits<double>::quiet_NaN();
  };
  Trainer t(smoke("sac", {"eval.episodes=4", "train.online_env_steps=600"}), dir, o);
  TrainResult r = t.run();
  CHECK(r.status == TrainResult::Status::Stopped);
  CHECK(r.message.find("critic_loss") != std::string::npos);
  CHECK(r.message.find("stopped at step 400") != std::string::npos);
  Checkpoint ck = CheckpointManager(dir / "checkpoints").load_latest({"learner"});
  CHECK(ck.step == 200);
  auto res = Trainer::resume(dir, quiet());
  CHECK(res->global_step() == 200);
  fs::remove_all(dir);
}

TEST_CASE("a resumed run is bitwise identical to an uninterrupted one") {
  // Interrupt in each phase: bc (step 17), offline (30 + 7), online (after the first episode).
  const std::vector<std::string> sets = {"eval.episodes=4", "train.online_env_steps=400", "eval.every_episodes=1",
                                         "train.checkpoint_every=10"};
  fs::path full = scratch("full");
  {
    Trainer t(smoke("parl_calql_diffusion", sets), full, quiet());
    REQUIRE(t.run().status == TrainResult::Status::Finished);
  }
  const Checkpoint ref = CheckpointManager(full / "checkpoints").load_latest();
  for (std::int64_t stop : {17, 37, 250}) {
    CAPTURE(stop);
    fs::path part = scratch("part" + std::to_string(stop));
    {
      TrainerOptions o = quiet();
      o.stop_at_step = stop;
      Trainer t(smoke("parl_calql_diffusion", sets), part, o);
      TrainResult r = t.run();
      REQUIRE(r.status == TrainResult::Status::Interrupted);
    }
    {
      auto t = Trainer::resume(part, quiet());
      CHECK(t->global_step() >= stop);
      REQUIRE(t->run().status == TrainResult::Status::Finished);
    }
    const Checkpoint got = CheckpointManager(part / "checkpoints").load_latest();
    CHECK(got.step == ref.step);
    check_same_checkpoint(ref, got);
    for (const char* f : {"train.csv", "eval.csv", "metrics.jsonl"})
      CHECK_MESSAGE(read_text_file(full / f) == read_text_file(part / f), f);
    fs::remove_all(part);
  }
  fs::remove_all(full);
}

TEST_CASE("NaN in the critic loss stops the run and keeps the last checkpoint loadable") {
  fs::path dir = scratch("nan");
  TrainerOptions o = quiet();
  o.metrics_hook = [](std::map<std::string, double>& m, std::int64_t step) {
    if (step == 42 && m.count("critic_loss")) m["critic_loss"] = std::numeric_limits<double>::quiet_NaN();
  };
  Trainer t(smoke("parl_calql_diffusion", {"eval.episodes=4", "train.checkpoint_every=5"}), dir, o);
  TrainResult r = t.run();
  CHECK(r.status == TrainResult::Status::Stopped);
  MESSAGE(r.message);
  CHECK(r.message.find("critic_loss") != std::string::npos);
  CHECK(r.message.find("stopped at step 42") != std::string::npos);
  CHECK(r.message.find("last good checkpoint") != std::string::npos);
  Checkpoint ck = CheckpointManager(dir / "checkpoints").load_latest({"distiller", "learner"});
  CHECK(ck.step == 40);
  auto e = Trainer::open_for_eval(dir);
  CHECK(e->global_step() == 40);
  // and the run resumes from it
  auto res = Trainer::resume(dir, quiet());
  CHECK(res->global_step() == 40);
  fs::remove_all(dir);
}

TEST_CASE("config errors name the key") {
  Config c = make_train_config();
  CHECK_THROWS_WITH_AS(c.set("critic.ensembel=3"), doctest::Contains("critic.ensembel"), ConfigError);
  CHECK_THROWS_WITH_AS(c.set("method=ppo"), doctest::Contains("method"), ConfigError);
  CHECK_THROWS_WITH_AS(c.set("train.utd=-1"), doctest::Contains("train.utd"), ConfigError);
  CHECK_THROWS_WITH_AS(c.load_string("[parl]\nkk = 3\n", "x.toml"), doctest::Contains("parl.kk"), ConfigError);
  Config bad = smoke("parl_calql_diffusion", {"env=pointmaze-tiny"});
  try {
    Trainer t(bad, scratch("badenv"), quiet());
    FAIL("expected ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("pointmaze-umaze") != std::string::npos);  // lists valid names
    CHECK(std::string(e.what()).find("'env'") != std::string::npos);
  }
  Config bad2 = smoke("parl_calql_diffusion", {"dataset=generate:nosuch:100"});
  CHECK_THROWS_WITH_AS(Trainer(bad2, scratch("badds"), quiet()), doctest::Contains("dataset"), ConfigError);
}

// ---- action cache, ablations, CEM, IDQL --------------------------------------------------------

namespace {

// Stand-in policy: every sample of a state is that state's first feature, and every sample()
// call and row is counted, so tests can see when the policy is (not) sampled and which buffer
// row a cached sample belongs to.
class CountingPolicy : public models::Policy {
 public:
  explicit CountingPolicy(std::int64_t obs_dim) : obs_dim_(obs_dim) {}
  std::string kind() const override { return "counting"; }
  std::int64_t action_dim() const override { return 1; }
  Tensor sample(const Tensor& obs, std::int64_t n, Generator&) const override {
    ++calls;
    rows += obs.size(0);
    Tensor first = unsqueeze(slice(obs, 1, 0, 1), 1);  // [B, 1, 1]
    return expand(first, Shape{obs.size(0), n, 1}).clone();
  }
  Tensor supervised_loss(const Tensor& obs, const Tensor&, Generator&) const override { return mean(obs); }
  Shape obs_shape() const override { return Shape{obs_dim_}; }
  mutable std::int64_t calls = 0, rows = 0;

 private:
  std::int64_t obs_dim_;
};

void add_row(TransitionBuffer& b, float v) {
  std::vector<float> o{v, 0.25f}, a{0.0f}, no{v + 0.5f, 0.25f};
  b.add(o, a, -1.0f, no, false);
}

// Every cached sample of every row equals that row's first feature (obs) / +0.5 (next_obs).
void check_cache_follows(const ActionCache& c, const TransitionBuffer& b) {
  REQUIRE(c.rows() == b.size());
  const std::vector<float> obs = b.obs().contiguous().to_vector<float>();
  std::vector<std::int64_t> all(static_cast<std::size_t>(b.size()));
  for (std::int64_t i = 0; i < b.size(); ++i) all[static_cast<std::size_t>(i)] = i;
  const Tensor idx = Tensor::from_vector(all);
  const std::vector<float> os = c.obs_samples(idx).to_vector<float>(), ns = c.next_obs_samples(idx).to_vector<float>();
  for (std::int64_t r = 0; r < b.size(); ++r)
    for (std::int64_t j = 0; j < c.k(); ++j) {
      CHECK(os[static_cast<std::size_t>(r * c.k() + j)] == obs[static_cast<std::size_t>(r * 2)]);
      CHECK(ns[static_cast<std::size_t>(r * c.k() + j)] == obs[static_cast<std::size_t>(r * 2)] + 0.5f);
    }
}

}  // namespace

TEST_CASE("action cache follows ring-buffer overwrites and round-trips through state_dict") {
  TransitionBuffer buf({2}, 1, 5);
  CountingPolicy pol(2);
  Generator g(0, 0);
  ActionCache cache(3);
  for (int i = 0; i < 3; ++i) add_row(buf, 0.1f * i);
  cache.sync(pol, buf, g);
  CHECK(pol.rows == 6);  // 3 obs + 3 next_obs rows
  check_cache_follows(cache, buf);
  // 4 more rows: 2 appended (rows 3, 4), then the ring wraps over rows 0 and 1
  for (int i = 3; i < 7; ++i) add_row(buf, 0.1f * i);
  pol.rows = 0;
  cache.sync(pol, buf, g);
  CHECK(pol.rows == 8);  // only the 4 written rows, obs and next_obs
  CHECK(cache.synced() == 7);
  check_cache_follows(cache, buf);
  pol.rows = 0;
  cache.sync(pol, buf, g);  // nothing written: no sampling
  CHECK(pol.rows == 0);
  // more than a capacity's worth written: full refresh
  for (int i = 7; i < 14; ++i) add_row(buf, 0.1f * i);
  cache.sync(pol, buf, g);
  CHECK(pol.rows == 10);
  check_cache_follows(cache, buf);
  // state_dict round trip (and k mismatch is an error)
  ActionCache back(3);
  back.load_state_dict(cache.state_dict("c."), "c.");
  CHECK(back.synced() == cache.synced());
  check_cache_follows(back, buf);
  ActionCache wrong(4);
  CHECK_THROWS_AS(wrong.load_state_dict(cache.state_dict()), ValueError);
  ActionCache empty(3);
  ActionCache empty_back(3);
  empty_back.load_state_dict(empty.state_dict());
  CHECK(empty_back.rows() == 0);
}

TEST_CASE("critic updates reuse cached base samples instead of sampling the policy") {
  Generator g(3, 0);
  models::QEnsembleConfig qc;
  qc.obs_dim = 2;
  qc.act_dim = 1;
  qc.ensemble = 2;
  qc.hidden = {16};
  auto critic = std::make_shared<models::QEnsemble>(qc, g);
  ActionOptOptions ao;
  ao.k = 4;
  ao.m = 2;
  ao.steps = 1;
  ao.step_size = 0.01;
  ActionOptimizer aopt(*critic, ao);
  CountingPolicy pol(2);
  CQLOptions cq;
  cq.n_actions = 2;
  CalQL learner(critic, nullptr, aopt.source(pol), CriticOptions{}, cq);
  TransitionBuffer buf({2}, 1, 64);
  for (int i = 0; i < 40; ++i) add_row(buf, -1.0f + 0.05f * i);
  ActionCache cache(ao.k);
  cache.refresh(pol, buf, g);
  CHECK(pol.calls == 2);
  for (int i = 0; i < 5; ++i) {
    Batch b = cache.sample(buf, 8, g, aopt);
    learner.update(b, g);
    aopt.clear_bindings();
  }
  CHECK(pol.calls == 2);  // TD targets and CQL samples came from the cache
  for (int i = 0; i < 5; ++i) learner.update(buf.sample(8, g), g);
  CHECK(pol.calls >= 2 + 5 * 2);  // without it: obs and next_obs sampled every update
}

TEST_CASE("action cache speed-up of an offline PA-RL update (diffusion, smoke-sized)") {
  // Offline PA-RL + Cal-QL update = critic step (pi_opt for TD targets and CQL samples) + one
  // distillation step; with the cache the critic step's base samples come from the cache, and
  // the cache is recomputed once per distillation epoch (2 * N * k samples, amortised below).
  for (std::int64_t k : {4, 32}) {
    Generator g(5, 0);
    models::DiffusionConfig pc;
    pc.obs_dim = 3;
    pc.act_dim = 1;
    pc.steps = 3;
    pc.hidden = 32;
    pc.blocks = 1;
    auto policy = std::make_shared<models::DiffusionPolicy>(pc, g);
    models::QEnsembleConfig qc;
    qc.obs_dim = 3;
    qc.act_dim = 1;
    qc.ensemble = 2;
    qc.hidden = {32, 32};
    auto critic = std::make_shared<models::QEnsemble>(qc, g);
    ActionOptOptions ao;
    ao.k = k;
    ao.m = 2;
    ao.steps = 2;
    ao.step_size = 0.01;
    ActionOptimizer aopt(*critic, ao);
    CQLOptions cq;
    cq.n_actions = 2;
    CalQL learner(critic, nullptr, aopt.source(*policy), CriticOptions{}, cq);
    Distiller dist(*policy, aopt);
    const std::int64_t N = 1000, B = 32;
    TransitionBuffer buf({3}, 1, N);
    for (std::int64_t i = 0; i < N; ++i) {
      std::vector<float> o{std::sin(0.1f * i), std::cos(0.1f * i), 0.01f * (i % 100)}, a{std::sin(0.3f * i)};
      buf.add(o, a, -1.0f, o, false, -10.0f);
    }
    ActionCache cache(k);
    const int iters = 20;
    auto secs = [](auto t0) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) {
      learner.update(buf.sample(B, g), g);
      Batch pb = buf.sample(B, g);
      dist.step(pb.obs, g, pb.actions);
    }
    const double without = secs(t0) / iters;
    t0 = std::chrono::steady_clock::now();
    cache.refresh(*policy, buf, g);
    const double refresh = secs(t0);
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) {
      learner.update(cache.sample(buf, B, g, aopt), g);
      aopt.clear_bindings();
      Batch pb = buf.sample(B, g);
      dist.step(pb.obs, g, pb.actions);
    }
    const double with = secs(t0) / iters;
    const double epoch_steps = static_cast<double>(N) / B;  // distillation steps per epoch
    const double amortised = with + refresh / epoch_steps;
    MESSAGE("k=" << k << ": offline PA-RL update " << without * 1e3 << " ms without cache, " << with * 1e3
                 << " ms with (+ refresh " << refresh * 1e3 << " ms per epoch of " << epoch_steps
                 << " steps = " << amortised * 1e3 << " ms amortised): speed-up " << without / with
                 << "x per update, " << without / amortised << "x amortised");
    if (k >= 32) CHECK(with < without);  // k = 4: too close to call on shared cores
  }
}

TEST_CASE("IDQL, CEM and the PA-RL ablations run from their smoke configs") {
  for (const std::string name : {"idql_diffusion", "cem_diffusion", "parl_calql_diffusion_no_global_opt",
                                 "parl_calql_diffusion_no_local_opt"}) {
    CAPTURE(name);
    fs::path dir = scratch(name);
    const auto t0 = std::chrono::steady_clock::now();
    Trainer t(smoke(name, {"eval.episodes=4"}), dir, quiet());
    TrainResult r = t.run();
    MESSAGE(name << ": " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
    CHECK(r.status == TrainResult::Status::Finished);
    CHECK(t.phase() == "done");
    REQUIRE(r.last_eval.has_value());
    CHECK(std::isfinite(r.last_eval->return_mean));
    const CsvTable train = read_csv(dir / "train.csv");
    CHECK(train.rows.size() > 5);
    if (name == "idql_diffusion") CHECK(train.column("value_loss") >= 0);
    if (name == "parl_calql_diffusion_no_local_opt") {
      // T = 0: local optimisation never moves an action
      const int c = train.column("local_abs_delta");
      REQUIRE(c >= 0);
      for (const auto& row : train.rows)
        if (!row[static_cast<std::size_t>(c)].empty()) CHECK(std::stod(row[static_cast<std::size_t>(c)]) == 0.0);
    }
    fs::remove_all(dir);
  }
  {  // IDQL's advantage-weighted (softmax) selection
    fs::path dir = scratch("idql_softmax");
    Trainer t(smoke("idql_diffusion", {"eval.episodes=4", "idql.selection=softmax", "train.online_env_steps=0"}), dir,
              quiet());
    TrainResult r = t.run();
    CHECK(r.status == TrainResult::Status::Finished);
    REQUIRE(r.last_eval.has_value());
    CHECK(std::isfinite(r.last_eval->return_mean));
    fs::remove_all(dir);
  }
  // bad combinations name the key
  CHECK_THROWS_WITH_AS(Trainer(smoke("cem_diffusion", {"parl.m=100"}), scratch("badcem"), quiet()),
                       doctest::Contains("parl.m"), ConfigError);
}

TEST_CASE("a resumed run with the action cache is bitwise identical to an uninterrupted one") {
  // Refresh every 15 distillation steps so refreshes happen offline and online; stops in the
  // offline phase (cache built) and online (online rows cached as they arrive).
  const std::vector<std::string> sets = {"eval.episodes=4",         "train.online_env_steps=400",
                                         "eval.every_episodes=1",   "train.checkpoint_every=10",
                                         "parl.action_cache=true",  "parl.cache_refresh_unit=steps",
                                         "parl.cache_refresh_every=15", "train.online_capacity=300"};
  fs::path full = scratch("cache_full");
  {
    Trainer t(smoke("parl_calql_diffusion", sets), full, quiet());
    REQUIRE(t.run().status == TrainResult::Status::Finished);
  }
  const Checkpoint ref = CheckpointManager(full / "checkpoints").load_latest();
  CHECK(ref.has("cache_offline"));
  CHECK(ref.has("cache_online"));
  for (std::int64_t stop : {37, 250}) {
    CAPTURE(stop);
    fs::path part = scratch("cache_part" + std::to_string(stop));
    {
      TrainerOptions o = quiet();
      o.stop_at_step = stop;
      Trainer t(smoke("parl_calql_diffusion", sets), part, o);
      REQUIRE(t.run().status == TrainResult::Status::Interrupted);
    }
    {
      auto t = Trainer::resume(part, quiet());
      REQUIRE(t->run().status == TrainResult::Status::Finished);
    }
    const Checkpoint got = CheckpointManager(part / "checkpoints").load_latest();
    CHECK(got.step == ref.step);
    check_same_checkpoint(ref, got);
    for (const char* f : {"train.csv", "eval.csv", "metrics.jsonl"})
      CHECK_MESSAGE(read_text_file(full / f) == read_text_file(part / f), f);
    fs::remove_all(part);
  }
  fs::remove_all(full);
}

TEST_CASE("parl.selection = auto: argmax or softmax from the pre-training candidate-Q spread; resumes bitwise") {
  const std::vector<std::string> base = {"eval.episodes=4", "train.online_env_steps=400", "train.checkpoint_every=10",
                                         "parl.selection=auto"};
  auto with = [&](const std::string& threshold) {
    std::vector<std::string> s = base;
    s.push_back("parl.auto_spread_threshold=" + threshold);
    return s;
  };
  // A threshold above any spread selects argmax, 0 selects softmax; the choice is recorded.
  for (auto [threshold, expect] : {std::pair<std::string, std::string>{"1e9", "argmax"}, {"0", "softmax"}}) {
    CAPTURE(threshold);
    fs::path dir = scratch("auto" + expect);
    Trainer t(smoke("parl_calql_diffusion", with(threshold)), dir, quiet());
    REQUIRE(t.run().status == TrainResult::Status::Finished);
    const Checkpoint ck = CheckpointManager(dir / "checkpoints").load_latest();
    CHECK(ck.metadata.at("parl_selection") == expect);
    CHECK(ck.tensor("trainer", "spread_n").to_vector<std::int64_t>().at(0) > 0);
    CHECK(ck.tensor("trainer", "spread_sum").to_vector<double>().at(0) > 0.0);
    fs::remove_all(dir);
  }
  // The decision survives an interruption during online fine-tuning.
  fs::path full = scratch("auto_full"), part = scratch("auto_part");
  {
    Trainer t(smoke("parl_calql_diffusion", with("1e9")), full, quiet());
    REQUIRE(t.run().status == TrainResult::Status::Finished);
  }
  {
    TrainerOptions o = quiet();
    o.stop_at_step = 250;
    Trainer t(smoke("parl_calql_diffusion", with("1e9")), part, o);
    REQUIRE(t.run().status == TrainResult::Status::Interrupted);
  }
  {
    auto t = Trainer::resume(part, quiet());
    REQUIRE(t->run().status == TrainResult::Status::Finished);
  }
  check_same_checkpoint(CheckpointManager(full / "checkpoints").load_latest(),
                        CheckpointManager(part / "checkpoints").load_latest());
  CHECK(read_text_file(full / "train.csv") == read_text_file(part / "train.csv"));
  fs::remove_all(full);
  fs::remove_all(part);
}
