// Learning curves: grouping runs by config (seed aside), mean ± s.e., and the gnuplot PNG.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "anyrl/rl/logger.hpp"
#include "anyrl/rl/plot.hpp"
#include "anyrl/rl/run.hpp"

using namespace anyrl;
using namespace anyrl::rl;
namespace fs = std::filesystem;

namespace {

// A fake finished run: config.toml + eval.csv with success = base + slope * k at env_steps 1000k.
fs::path fake_run(const fs::path& root, const std::string& name, const std::string& method, int seed, double base,
                  double slope) {
  const fs::path p = root / name;
  RunDir::open(p, "method = \"" + method + "\"\nseed = " + std::to_string(seed) + "\n[critic]\nlr = 0.0003\n",
               RunDir::Mode::Overwrite);
  MetricsLogger log(p);
  for (int k = 0; k <= 4; ++k)
    log.log("eval", k * 10, {{"env_steps", std::int64_t{1000} * k}, {"success", base + slope * k}});
  return p;
}

}  // namespace

TEST_CASE("plot: runs differing only by seed form one curve with mean ± standard error") {
  const fs::path root = fs::temp_directory_path() / ("anyrl_rl_test_plot_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const auto a0 = fake_run(root, "parl_s0", "pa-rl", 0, 0.1, 0.2);
  const auto a1 = fake_run(root, "parl_s1", "pa-rl", 1, 0.3, 0.1);
  const auto b0 = fake_run(root, "calql_s0", "calql", 0, 0.0, 0.05);
  PlotOptions opt;
  opt.output = (root / "curves.png").string();
  const std::vector<std::string> runs = {a0.string(), a1.string(), b0.string()};

  const auto curves = summarise_runs(runs, opt);
  REQUIRE(curves.size() == 2);
  CHECK(curves[0].label == "pa-rl");
  CHECK(curves[0].runs.size() == 2);
  CHECK(curves[1].label == "calql");
  REQUIRE(curves[0].x.size() == 5);
  CHECK(curves[0].x[2] == 2000);
  // k = 2: values 0.5 and 0.5 -> mean 0.5, s.e. 0; k = 4: 0.9 and 0.7 -> mean 0.8, s.e. 0.1.
  CHECK(curves[0].mean[2] == doctest::Approx(0.5));
  CHECK(curves[0].sem[2] == doctest::Approx(0.0).epsilon(1e-9));
  CHECK(curves[0].mean[4] == doctest::Approx(0.8));
  CHECK(curves[0].sem[4] == doctest::Approx(0.1));
  CHECK(curves[1].sem[4] == 0.0);  // one seed

  SUBCASE("errors name the run and the column") {
    PlotOptions bad = opt;
    bad.metric = "eval/succes";
    CHECK_THROWS_WITH_AS(summarise_runs(runs, bad), doctest::Contains("has no column 'succes' (columns: step, env_steps, success)"),
                         ValueError);
    bad.metric = "train/loss";
    CHECK_THROWS_WITH_AS(summarise_runs(runs, bad), doctest::Contains("has no train.csv"), IOError);
  }

  if (!gnuplot_available()) {
    MESSAGE("gnuplot is not installed: skipping the PNG check (Debian: apt install gnuplot-nox)");
  } else {
    plot_runs(runs, opt);
    REQUIRE(fs::exists(opt.output));
    std::ifstream f(opt.output, std::ios::binary);
    char magic[8] = {};
    f.read(magic, 8);
    CHECK(std::string(magic + 1, 3) == "PNG");
    CHECK(fs::file_size(opt.output) > 1000);
  }
  SUBCASE("a missing gnuplot is a clear error") {
    PlotOptions no = opt;
    no.gnuplot = "/nonexistent/gnuplot";
    CHECK_THROWS_WITH_AS(plot_runs(runs, no), doctest::Contains("was not found on PATH"), IOError);
  }
  fs::remove_all(root);
}
