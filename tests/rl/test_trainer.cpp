// The trainer end to end: smoke configs with each policy class, bitwise resume, the NaN guard,
// config errors.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include "anyrl/rl/checkpoint.hpp"
#include "anyrl/rl/config.hpp"
#include "anyrl/rl/logger.hpp"
#include "anyrl/rl/run.hpp"
#include "anyrl/rl/trainer.hpp"

using namespace anyrl;
using namespace anyrl::rl;
namespace fs = std::filesystem;

namespace {

fs::path source_dir() {
  if (const char* r = std::getenv("ANYRL_SOURCE_DIR")) return r;
  return ANYRL_TEST_SOURCE_DIR;
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("anyrl_test_trainer_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

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
  for (const std::string name : {"parl_iql_diffusion", "parl_rlpd_diffusion", "calql_sac", "iql_awr", "bc_diffusion"}) {
    CAPTURE(name);
    fs::path dir = scratch(name);
    Trainer t(smoke(name, {"eval.episodes=4"}), dir, quiet());
    TrainResult r = t.run();
    CHECK(r.status == TrainResult::Status::Finished);
    CHECK(t.phase() == "done");
    fs::remove_all(dir);
  }
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
