// Typed TOML configs: defaults, files, overrides, errors naming file/key/value, reproducible dumps.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "anyrl/rl/config.hpp"
#include "anyrl/rl/trainer.hpp"

using namespace anyrl::rl;

namespace {

Config make() {
  Config c;
  c.add_int("seed", 0, "random seed", 0)
      .add_string("method", "pa-rl-calql", "algorithm", {"pa-rl-calql", "calql", "iql"})
      .add_float("critic.lr", 3e-4, "critic learning rate", 0.0)
      .add_float("critic.alpha", 0.005, "CQL alpha", 0.0)
      .add_int("critic.ensemble", 10, "Q ensemble size", 1, 100)
      .add_bool("critic.layer_norm", true, "LayerNorm after each hidden layer")
      .add_int_list("critic.hidden", {256, 256}, "hidden widths")
      .add_float_list("pa_rl.temps", {1.0, 0.5}, "temperatures")
      .add_int("pa_rl.global.k", 32, "base samples per state", 1)
      .add_string("env.name", "pointmaze-medium", "environment");
  return c;
}

std::string tmpfile(const std::string& name, const std::string& text) {
  const auto p = std::filesystem::temp_directory_path() / name;
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST_CASE("Config: defaults, nested tables, dotted keys") {
  Config c = make();
  CHECK(c.get_float("critic.lr") == 3e-4);
  CHECK(c.get_int_list("critic.hidden") == std::vector<std::int64_t>{256, 256});
  CHECK(c.source_of("critic.lr") == "default");
  c.load_string(R"(
seed = 3
[critic]
lr = 1e-4
ensemble = 2
hidden = [64, 64, 64]
[pa_rl]
temps = [2, 0.25]
global.k = 8
)", "a.toml");
  CHECK(c.get_int("seed") == 3);
  CHECK(c.get_float("critic.lr") == 1e-4);
  CHECK(c.get_int("critic.ensemble") == 2);
  CHECK(c.get_int_list("critic.hidden") == std::vector<std::int64_t>{64, 64, 64});
  CHECK(c.get_float_list("pa_rl.temps") == std::vector<double>{2.0, 0.25});
  CHECK(c.get_int("pa_rl.global.k") == 8);
  CHECK(c.source_of("critic.lr") == "a.toml");
  CHECK(c.get_bool("critic.layer_norm"));  // untouched default
  // Dotted keys at the top level are the same keys.
  c.load_string("critic.alpha = 0.01\n\"pa_rl\".global.k = 4\n", "b.toml");
  CHECK(c.get_float("critic.alpha") == 0.01);
  CHECK(c.get_int("pa_rl.global.k") == 4);
}

TEST_CASE("Config: --set overrides are parsed with the declared type") {
  Config c = make();
  c.apply_overrides({"critic.lr=5e-5", "seed=7", "critic.layer_norm=false", "method=iql", "env.name = pointmaze-large",
                     "critic.hidden=[32,16]", "pa_rl.temps=[1, 2.5]", "critic.alpha=1"});
  CHECK(c.get_float("critic.lr") == 5e-5);
  CHECK(c.get_int("seed") == 7);
  CHECK_FALSE(c.get_bool("critic.layer_norm"));
  CHECK(c.get_string("method") == "iql");
  CHECK(c.get_string("env.name") == "pointmaze-large");
  CHECK(c.get_int_list("critic.hidden") == std::vector<std::int64_t>{32, 16});
  CHECK(c.get_float_list("pa_rl.temps") == std::vector<double>{1.0, 2.5});
  CHECK(c.get_float("critic.alpha") == 1.0);  // an integer is fine for a float
  CHECK(c.source_of("seed") == "--set");
  c.set("env.name=\"quoted name\"");
  CHECK(c.get_string("env.name") == "quoted name");
}

TEST_CASE("Config: errors name the source, the key and the value") {
  Config c = make();
  SUBCASE("unknown key with a did-you-mean and the valid keys of its table") {
    try {
      c.load_string("[critic]\nlr = 1e-3\nlrr = 3e-4\n", "configs/maze.toml");
      FAIL("no error");
    } catch (const ConfigError& e) {
      const std::string m = e.what();
      CHECK(m.find("configs/maze.toml:3") != std::string::npos);
      CHECK(m.find("unknown key 'critic.lrr'") != std::string::npos);
      CHECK(m.find("did you mean 'critic.lr'?") != std::string::npos);
      CHECK(m.find("valid keys in [critic]: critic.lr, critic.alpha, critic.ensemble") != std::string::npos);
    }
    CHECK(c.get_float("critic.lr") == 3e-4);  // a bad file changes nothing
  }
  SUBCASE("unknown table") {
    CHECK_THROWS_WITH_AS(c.load_string("[critc]\nlr = 1\n", "x.toml"),
                         doctest::Contains("unknown key 'critc.lr' (did you mean 'critic.lr'?)"), ConfigError);
    CHECK_THROWS_WITH_AS(c.load_string("[policy]\nkind = 1\n", "x.toml"),
                         doctest::Contains("valid keys: seed, method, critic.*, pa_rl.*, env.*"), ConfigError);
  }
  SUBCASE("wrong types") {
    CHECK_THROWS_WITH_AS(c.load_string("[critic]\nensemble = 2.5\n", "t.toml"),
                         doctest::Contains("t.toml:2: critic.ensemble = 2.5 has the wrong type: expected integer, got a float"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(c.load_string("[critic]\nlr = \"fast\"\n", "t.toml"),
                         doctest::Contains("critic.lr = \"fast\" has the wrong type: expected float, got a string"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(c.load_string("critic = 3\n", "t.toml"), doctest::Contains("unknown key 'critic'"), ConfigError);
    CHECK_THROWS_WITH_AS(c.load_string("[critic]\nhidden = [1, 2.5]\n", "t.toml"),
                         doctest::Contains("(element 1 is a float)"), ConfigError);
  }
  SUBCASE("bad values: range and choices") {
    CHECK_THROWS_WITH_AS(c.load_string("[critic]\nensemble = 0\n", "r.toml"),
                         doctest::Contains("r.toml:2: critic.ensemble = 0 is out of range: must be >= 1"), ConfigError);
    CHECK_THROWS_WITH_AS(c.set("method=iqll"),
                         doctest::Contains("--set method=iqll: method = \"iqll\" is not one of: pa-rl-calql, calql, iql (did you mean 'iql'?)"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(c.load_string("[critic]\nlr = nan\n", "r.toml"), doctest::Contains("is not a finite number"),
                         ConfigError);
  }
  SUBCASE("--set errors") {
    CHECK_THROWS_WITH_AS(c.set("critic.lrr=1"), doctest::Contains("--set critic.lrr: unknown key 'critic.lrr' (did you mean 'critic.lr'?)"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(c.set("seed=abc"),
                         doctest::Contains("--set seed=abc: seed = abc has the wrong type: expected integer"), ConfigError);
    CHECK_THROWS_WITH_AS(c.set("critic.lr"), doctest::Contains("expected key=value"), ConfigError);
    CHECK_THROWS_WITH_AS(c.set("lr=1"), doctest::Contains("did you mean 'critic.lr'?"), ConfigError);
  }
  SUBCASE("syntax errors and missing files") {
    CHECK_THROWS_WITH_AS(c.load_string("[critic\nlr = 1\n", "s.toml"), doctest::Contains("s.toml:1:"), ConfigError);
    CHECK_THROWS_WITH_AS(c.load_file("/nonexistent/x.toml"), doctest::Contains("cannot open config file '/nonexistent/x.toml'"),
                         ConfigError);
  }
  SUBCASE("declarations") {
    Config d;
    d.add_int("a.b", 1, "");
    CHECK_THROWS_AS(d.add_int("a.b", 1, ""), ConfigError);
    CHECK_THROWS_AS(d.add_int("a", 1, ""), ConfigError);
    CHECK_THROWS_AS(d.add_int("x", -1, "", 0), ConfigError);  // default out of its own range
    CHECK_THROWS_WITH_AS(d.get_float("a.b"), doctest::Contains("a.b is of type integer, not float"), ConfigError);
  }
}

TEST_CASE("Config: the dump reads back bitwise and is deterministic") {
  Config c = make();
  const std::string path = tmpfile("anyrl_cfg_test_" + std::to_string(::getpid()) + ".toml", "[critic]\nlr = 0.1\nalpha = 3.3333333333333335e-05\n");
  c.load_file(path);
  c.set("pa_rl.temps=[0.1, 0.2, 0.30000000000000004]");
  const std::string dump = c.dump();
  CHECK(dump.find("[critic]") != std::string::npos);
  CHECK(dump.find("# critic learning rate\nlr = 0.1") != std::string::npos);
  Config d = make();
  d.load_string(dump, "dump.toml");
  for (const std::string& k : c.keys()) {
    CAPTURE(k);
    CHECK(c.value(k) == d.value(k));
  }
  const double x = d.get_float("critic.alpha"), y = 3.3333333333333335e-05;
  CHECK(std::memcmp(&x, &y, sizeof x) == 0);
  CHECK(d.get_float_list("pa_rl.temps")[2] == 0.30000000000000004);
  // Dumping again gives the same text, apart from the recorded sources.
  Config e = make();
  e.load_string(dump, "dump.toml");
  Config f = make();
  f.load_string(e.dump(), "dump.toml");
  CHECK(e.dump() == f.dump());
  // Help lists every key with its type and default.
  CHECK(c.help().find("critic.ensemble (integer, default 10)") != std::string::npos);
  // Flat view for tools.
  const auto flat = read_toml_flat(path);
  CHECK(flat.at("critic.lr") == "0.1");
  std::filesystem::remove(path);
}

TEST_CASE("train config: method sac and its keys (defaults keep the other methods unchanged)") {
  Config c = make_train_config();
  CHECK(c.get_int("train.random_steps") == 0);
  CHECK(c.get_int("sac.actor_every") == 1);
  CHECK(c.get_bool("critic.layer_norm") == true);
  c.set("method=sac");
  c.set("dataset=none");
  c.set("train.random_steps=100");
  c.set("critic.layer_norm=false");
  CHECK(c.get_string("method") == "sac");
  CHECK(c.get_int("train.random_steps") == 100);
  CHECK_THROWS_WITH_AS(c.set("train.random_steps=-1"), doctest::Contains("train.random_steps"), ConfigError);
  CHECK_THROWS_WITH_AS(c.set("sac.actor_every=0"), doctest::Contains("sac.actor_every"), ConfigError);
  const std::string help = c.help();
  for (const char* k : {"train.random_steps", "sac.actor_every", "critic.layer_norm", "sac"}) {
    CAPTURE(k);
    CHECK(help.find(k) != std::string::npos);
  }
  Config back = make_train_config();
  back.load_string(c.dump(), "dump");
  for (const std::string& k : c.keys()) {
    CAPTURE(k);
    CHECK(back.value_text(k) == c.value_text(k));
  }
}
