// Run folders, metric logs (CSV + JSON lines) and the progress bar.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "anyrl/rl/logger.hpp"
#include "anyrl/rl/progress.hpp"
#include "anyrl/rl/run.hpp"

using namespace anyrl;
using namespace anyrl::rl;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("anyrl_rl_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

// A strict little JSON reader for the flat objects MetricsLogger writes: string keys, values
// that are strings, numbers or null. Throws std::runtime_error on anything malformed.
struct FlatJson {
  std::map<std::string, std::string> strings;
  std::map<std::string, double> numbers;
  std::vector<std::string> nulls;
};
FlatJson parse_flat_json(const std::string& s) {
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  auto expect = [&](char c) {
    ws();
    if (i >= s.size() || s[i] != c) throw std::runtime_error("expected '" + std::string(1, c) + "' at " + std::to_string(i));
    ++i;
  };
  auto str = [&] {
    expect('"');
    std::string o;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') {
        ++i;
        if (i >= s.size()) throw std::runtime_error("bad escape");
        const char e = s[i];
        o += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        if (e == 'u') throw std::runtime_error("\\u not expected here");
      } else {
        o += s[i];
      }
      ++i;
    }
    if (i >= s.size()) throw std::runtime_error("unterminated string");
    ++i;
    return o;
  };
  FlatJson j;
  expect('{');
  ws();
  if (s[i] == '}') return j;
  for (;;) {
    const std::string k = str();
    expect(':');
    ws();
    if (s[i] == '"') {
      j.strings[k] = str();
    } else if (s.compare(i, 4, "null") == 0) {
      j.nulls.push_back(k);
      i += 4;
    } else {
      char* end = nullptr;
      const double v = std::strtod(s.c_str() + i, &end);
      if (end == s.c_str() + i) throw std::runtime_error("bad number at " + std::to_string(i));
      // JSON numbers: no "nan"/"inf" words, no leading '+'.
      const std::string tok(s.c_str() + i, static_cast<std::size_t>(end - (s.c_str() + i)));
      if (tok.find_first_of("nNiI+") != std::string::npos) throw std::runtime_error("not a JSON number: " + tok);
      j.numbers[k] = v;
      i = static_cast<std::size_t>(end - s.c_str());
    }
    ws();
    if (s[i] == ',') {
      ++i;
      continue;
    }
    expect('}');
    ws();
    if (i != s.size()) throw std::runtime_error("trailing characters");
    return j;
  }
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> v;
  std::string l;
  while (std::getline(f, l)) v.push_back(l);
  return v;
}

}  // namespace

TEST_CASE("RunDir: creates the folder, refuses to overwrite a different run unless resuming") {
  const fs::path p = fresh_dir("rundir");
  RunDir r = RunDir::open(p, "seed = 1\n");
  CHECK(fs::is_directory(r.checkpoints_dir()));
  CHECK(r.config_text() == "seed = 1\n");
  CHECK_FALSE(r.resumed());
  // Same config, nothing produced yet: fine (a run that died at start-up).
  CHECK_NOTHROW(RunDir::open(p, "seed = 1\n"));
  // A different config: refused, naming the folder and how to proceed.
  CHECK_THROWS_WITH_AS(RunDir::open(p, "seed = 2\n"), doctest::Contains("a different run (its config.toml differs)"),
                       IOError);
  // Same config but with logs: refused too.
  std::ofstream(p / "train.csv") << "step,loss\n1,0.5\n";
  CHECK_THROWS_WITH_AS(RunDir::open(p, "seed = 1\n"), doctest::Contains("--resume"), IOError);
  // Resuming keeps everything and the stored config.
  RunDir res = RunDir::open(p, "ignored", RunDir::Mode::Resume);
  CHECK(res.resumed());
  CHECK(res.config_text() == "seed = 1\n");
  CHECK(fs::exists(p / "train.csv"));
  // Overwrite starts afresh.
  RunDir ow = RunDir::open(p, "seed = 3\n", RunDir::Mode::Overwrite);
  CHECK_FALSE(fs::exists(p / "train.csv"));
  CHECK(ow.config_text() == "seed = 3\n");
  CHECK_THROWS_WITH_AS(RunDir::open(fresh_dir("nothing"), "", RunDir::Mode::Resume), doctest::Contains("holds no run"),
                       IOError);
  CHECK_THROWS_AS(RunDir::existing(fresh_dir("nothing2")), IOError);
  fs::remove_all(p);
}

TEST_CASE("MetricsLogger: CSV per stream and JSON lines, flushed per record") {
  const fs::path p = fresh_dir("logger");
  {
    MetricsLogger log(p);
    log.log("train", 10, {{"critic_loss", 0.5}, {"q_mean", -3.25}, {"phase", std::string("offline")}});
    // Readable while the logger is still open: every line is flushed.
    CHECK(lines_of(p / "train.csv").size() == 2);
    log.log("train", 20, {{"critic_loss", 0.25}, {"phase", std::string("with, comma \"quoted\"")}});  // q_mean omitted
    log.log("eval", 20, {{"env_steps", std::int64_t{5000}}, {"success", 0.625}, {"return", std::nan("")}});
    log.log("train", 30, {{"critic_loss", 0.1}, {"q_mean", 1e-7}, {"phase", std::string("online")}});
    CHECK_THROWS_WITH_AS(log.log("train", 40, {{"new_metric", 1.0}}),
                         doctest::Contains("metric 'new_metric' is not a column of stream 'train'"), ValueError);
    CHECK(log.columns("train") == std::vector<std::string>{"critic_loss", "q_mean", "phase"});
  }
  const CsvTable t = read_csv(p / "train.csv");
  CHECK(t.header == std::vector<std::string>{"step", "critic_loss", "q_mean", "phase"});
  REQUIRE(t.rows.size() == 3);
  CHECK(t.rows[0] == std::vector<std::string>{"10", "0.5", "-3.25", "offline"});
  CHECK(t.rows[1] == std::vector<std::string>{"20", "0.25", "", "with, comma \"quoted\""});
  CHECK(t.rows[2][2] == "1e-07");
  const CsvTable e = read_csv(p / "eval.csv");
  CHECK(e.header == std::vector<std::string>{"step", "env_steps", "success", "return"});
  CHECK(e.rows[0] == std::vector<std::string>{"20", "5000", "0.625", "nan"});

  const auto lines = lines_of(p / "metrics.jsonl");
  REQUIRE(lines.size() == 4);
  for (const auto& l : lines) CHECK_NOTHROW(parse_flat_json(l));
  const FlatJson j0 = parse_flat_json(lines[0]);
  CHECK(j0.strings.at("stream") == "train");
  CHECK(j0.numbers.at("step") == 10);
  CHECK(j0.numbers.at("q_mean") == -3.25);
  CHECK(j0.strings.at("phase") == "offline");
  CHECK(parse_flat_json(lines[1]).strings.at("phase") == "with, comma \"quoted\"");
  const FlatJson j2 = parse_flat_json(lines[2]);
  CHECK(j2.strings.at("stream") == "eval");
  CHECK(j2.numbers.at("success") == 0.625);
  CHECK(j2.nulls == std::vector<std::string>{"return"});  // NaN is null in JSON

  SUBCASE("resuming from a checkpoint drops the records after its step") {
    {
      MetricsLogger log(p, 20);
      CHECK(log.columns("train") == std::vector<std::string>{"critic_loss", "q_mean", "phase"});
      log.log("train", 30, {{"critic_loss", 0.1}, {"q_mean", 1e-7}, {"phase", std::string("online")}});
    }
    const CsvTable t2 = read_csv(p / "train.csv");
    REQUIRE(t2.rows.size() == 3);
    CHECK(t2.rows[2][0] == "30");
    CHECK(lines_of(p / "metrics.jsonl").size() == 4);
    CHECK(read_csv(p / "eval.csv").rows.size() == 1);
  }
  SUBCASE("a fresh logger replaces old logs") {
    { MetricsLogger log(p); }
    CHECK_FALSE(fs::exists(p / "train.csv"));
    CHECK(lines_of(p / "metrics.jsonl").empty());
  }
  fs::remove_all(p);
}

TEST_CASE("ProgressBar: phase, step/total, throughput, ETA, latest eval") {
  double t = 100.0;
  const fs::path p = fresh_dir("progress.txt");
  std::FILE* f = std::fopen(p.string().c_str(), "w+");
  REQUIRE(f);
  ProgressBar::Options o;
  o.out = f;
  o.tty = false;  // a log file: plain lines
  o.plain_interval_s = 10.0;
  o.clock = [&] { return t; };
  {
    ProgressBar bar(o);
    bar.phase("online", 1000);
    t += 2.0;
    bar.update(100);  // 50 steps/s, 900 left -> ETA 18 s
    const std::string line = bar.render();
    CHECK(line.find("online") == 0);
    CHECK(line.find("100/1000") != std::string::npos);
    CHECK(line.find(" 10%") != std::string::npos);
    CHECK(line.find("50 steps/s") != std::string::npos);
    CHECK(line.find("ETA 0:18") != std::string::npos);
    bar.set_eval("success", 0.625);
    CHECK(bar.render().find("eval success 0.625") != std::string::npos);
    t += 20.0;
    bar.update(500);  // due: a plain line
    bar.update(1000);
    bar.finish();
  }
  std::fflush(f);
  std::fclose(f);
  const auto lines = lines_of(p);
  // phase start, eval arrival, the 30 s tick and the phase end: one plain line each.
  REQUIRE(lines.size() == 4);
  for (const auto& l : lines) {
    CHECK(l.find('\r') == std::string::npos);
    CHECK(l.find('\033') == std::string::npos);
  }
  CHECK(lines[3].find("1000/1000") != std::string::npos);
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(65) == "1:05");
  fs::remove(p);

  SUBCASE("on a terminal it redraws in place") {
    std::FILE* g = std::tmpfile();
    ProgressBar::Options q = o;
    q.out = g;
    q.tty = true;
    {
      ProgressBar bar(q);
      bar.phase("bc", 10);
      t += 1.0;
      bar.update(5);
      t += 1.0;
      bar.update(10);
    }
    std::rewind(g);
    std::string all;
    char buf[512];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, g)) all.append(buf, n);
    std::fclose(g);
    CHECK(all.find("\r\033[K") != std::string::npos);
    CHECK(std::count(all.begin(), all.end(), '\n') == 1);  // one line, redrawn
    CHECK(all.find("10/10") != std::string::npos);
  }
}
