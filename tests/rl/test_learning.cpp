// Learning tests (issue 5, "Tests -> Learning"): small budgets that show a policy actually learns,
// through the trainer and the configs checked into the repo (read from ANYRL_SOURCE_DIR).
//   (a) SAC solves pendulum: method sac with configs/pendulum/sac.toml (RLtools' configuration),
//       eval return > -200 within the config's 10,000 env steps.
//   (b) PA-RL + Cal-QL with a diffusion policy on pointmaze-umaze:
//       configs/pointmaze-umaze/parl_calql_diffusion_ci.toml, success after online > after BC.
//   (c) the same PA-RL code path trains an autoregressive and a tanh-Gaussian policy (smoke
//       configs with a longer BC phase: the BC loss decreases, the run finishes).
// Labelled "learning" in ctest (minutes on 2 cores).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "anyrl/rl/config.hpp"
#include "anyrl/rl/logger.hpp"
#include "anyrl/rl/trainer.hpp"
#include "common.hpp"

using namespace anyrl;
using namespace anyrl::rl;
namespace fs = std::filesystem;

namespace {

fs::path source_dir() { return anyrl_test::source_dir(); }
fs::path scratch(const std::string& name) { return anyrl_test::scratch("learning", name); }

Config load(const std::string& rel, const std::vector<std::string>& sets = {}) {
  Config c = make_train_config();
  c.load_file((source_dir() / "configs" / rel).string());
  c.apply_overrides(sets);
  return c;
}

TrainerOptions quiet() {
  TrainerOptions o;
  o.progress = false;
  return o;
}

struct Timed {
  TrainResult result;
  double seconds = 0.0;
};

Timed train(const Config& c, const fs::path& dir) {
  const auto t0 = std::chrono::steady_clock::now();
  Trainer t(c, dir, quiet());
  Timed r;
  r.result = t.run();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// Values of a numeric column of train.csv for rows of `phase` (empty cells skipped).
std::vector<double> column(const fs::path& dir, const std::string& name, const std::string& phase) {
  const CsvTable t = read_csv(dir / "train.csv");
  const int c = t.column(name), p = t.column("phase");
  REQUIRE(c >= 0);
  REQUIRE(p >= 0);
  std::vector<double> out;
  for (const auto& row : t.rows)
    if (row[p] == phase && !row[c].empty()) out.push_back(std::stod(row[c]));
  return out;
}

double mean_of(const std::vector<double>& v, std::size_t from, std::size_t to) {
  double s = 0;
  for (std::size_t i = from; i < to; ++i) s += v[i];
  return s / static_cast<double>(to - from);
}

}  // namespace

TEST_CASE("learning: SAC solves pendulum (method sac, configs/pendulum/sac.toml)") {
  const fs::path dir = scratch("sac");
  // The config as checked in: 10,000 env steps, 100 random warm-up steps, per-step updates,
  // 32-episode evaluations before training and every 5 episodes.
  Timed r = train(load("pendulum/sac.toml"), dir);
  REQUIRE(r.result.status == TrainResult::Status::Finished);
  REQUIRE(r.result.first_eval.has_value());
  REQUIRE(r.result.last_eval.has_value());
  // First evaluation (env step) with return > -200, from eval.csv.
  const CsvTable ev = read_csv(dir / "eval.csv");
  const int es = ev.column("env_steps"), rc = ev.column("return");
  REQUIRE(es >= 0);
  REQUIRE(rc >= 0);
  std::string curve;
  std::int64_t solved_at = -1;
  for (const auto& row : ev.rows) {
    curve += row[static_cast<std::size_t>(es)] + ":" + row[static_cast<std::size_t>(rc)] + " ";
    if (solved_at < 0 && std::stod(row[static_cast<std::size_t>(rc)]) > -200.0)
      solved_at = std::stoll(row[static_cast<std::size_t>(es)]);
  }
  MESSAGE("SAC pendulum: first eval " << r.result.first_eval->return_mean << ", last eval "
                                      << r.result.last_eval->return_mean << " over "
                                      << r.result.last_eval->episodes << " episodes, " << r.seconds
                                      << " s; first > -200 at env step " << solved_at << "; curve (env_steps:return) "
                                      << curve);
  CHECK(r.result.step == 10000);
  CHECK(r.result.last_eval->episodes >= 32);
  CHECK(r.result.first_eval->return_mean < -400.0);  // it did have to learn (untrained policy)
  CHECK(r.result.last_eval->return_mean > -200.0);
  CHECK(solved_at > 0);
  CHECK(solved_at <= 10000);
  fs::remove_all(dir);
}

// Seed 0 (the config's). NOT seed-robust: online > bc holds on seeds 0 and 3 but not 1 and 2
// (docs/training.md "Learning tests").
TEST_CASE("learning: PA-RL + Cal-QL (diffusion) raises pointmaze-umaze success after online steps") {
  const fs::path dir = scratch("parl_umaze");
  Timed r = train(load("pointmaze-umaze/parl_calql_diffusion_ci.toml"), dir);
  REQUIRE(r.result.status == TrainResult::Status::Finished);
  const CsvTable ev = read_csv(dir / "eval.csv");
  const int ph = ev.column("phase"), su = ev.column("success");
  REQUIRE(ph >= 0);
  double bc = -1, online = -1;
  std::string trace;
  for (const auto& row : ev.rows) {
    trace += row[ph] + " " + row[su] + "; ";
    if (row[ph] == "bc") bc = std::stod(row[su]);
    if (row[ph] == "online") online = std::stod(row[su]);
  }
  MESSAGE("PA-RL umaze success by phase: " << trace << r.seconds << " s");
  REQUIRE(r.result.last_eval.has_value());
  CHECK(r.result.last_eval->episodes >= 32);
  REQUIRE(bc >= 0);
  REQUIRE(online >= 0);
  CHECK(online > bc);          // strictly better than the BC start ...
  CHECK(online >= bc + 3.0 / 32);  // ... by at least 3 of 32 episodes
  fs::remove_all(dir);
}

TEST_CASE("learning: the PA-RL path trains autoregressive and tanh-Gaussian policies (smoke)") {
  for (const char* name : {"parl_calql_autoregressive", "parl_calql_tanh_gaussian"}) {
    CAPTURE(name);
    const fs::path dir = scratch(name);
    // The smoke config with a longer BC phase (200 steps, a record every 10) so the BC loss
    // trend is measurable; offline/online phases as in the smoke config.
    Timed r = train(load(std::string("smoke/") + name + ".toml",
                         {"train.bc_steps=200", "train.log_every=10", "policy.lr_schedule=constant"}),
                    dir);
    REQUIRE(r.result.status == TrainResult::Status::Finished);
    REQUIRE(r.result.last_eval.has_value());
    const std::vector<double> bc = column(dir, "bc_loss", "bc");
    REQUIRE(bc.size() >= 10);
    const double first = mean_of(bc, 0, 3), last = mean_of(bc, bc.size() - 3, bc.size());
    // Distillation ran in the offline and online phases (the PA-RL path, not only BC).
    const std::vector<double> dist = column(dir, "distill_loss", "offline");
    MESSAGE(std::string(name) << ": bc_loss " << first << " -> " << last << ", " << dist.size()
                 << " offline distillation records, " << r.seconds << " s");
    CHECK(last < first);
    CHECK(!dist.empty());
    for (double d : dist) CHECK(std::isfinite(d));
    fs::remove_all(dir);
  }
}
