// `anyrl train`: BC -> offline (PA-RL) critic pre-training -> online fine-tuning, from a TOML
// config into a run folder; `--resume runs/NAME` continues from the latest checkpoint.
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "anyrl/rl/config.hpp"
#include "anyrl/rl/trainer.hpp"
#include "commands.hpp"

namespace anyrl::app {
namespace {

void train_usage() {
  std::fprintf(stderr,
               "usage: anyrl train --config configs/<task>/<method>.toml [--set key=value ...] [--seed N]\n"
               "                   [--out runs/NAME] [--overwrite] [--quiet]\n"
               "       anyrl train --resume runs/NAME\n"
               "       anyrl train --help-config      (every config key with type, default and description)\n");
}

void print_eval(const char* what, const rl::EvalResult& r) {
  std::printf("%s: success %.3f, return %.2f ± %.2f, length %.1f (%lld episodes)\n", what, r.success, r.return_mean,
              r.return_std, r.length_mean, static_cast<long long>(r.episodes));
}

}  // namespace

int cmd_train(const Args& args) {
  std::string config_path, out, resume;
  std::vector<std::string> sets;
  std::string seed;
  bool overwrite = false, quiet = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      train_usage();
      return 0;
    } else if (a == "--help-config") {
      std::printf("%s", rl::make_train_config().help().c_str());
      return 0;
    } else if (a == "--config" || a == "-c") {
      config_path = value();
    } else if (a == "--set") {
      sets.push_back(value());
    } else if (a == "--seed") {
      seed = value();
    } else if (a == "--out" || a == "-o") {
      out = value();
    } else if (a == "--resume") {
      resume = value();
    } else if (a == "--overwrite") {
      overwrite = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      train_usage();
      throw std::invalid_argument("unknown argument '" + a + "'");
    }
  }
  rl::TrainerOptions topt;
  topt.progress = !quiet;
  topt.overwrite = overwrite;
  std::unique_ptr<rl::Trainer> trainer;
  if (!resume.empty()) {
    if (!config_path.empty() || !sets.empty() || !seed.empty())
      throw std::invalid_argument("--resume continues a run with its stored config; --config/--set/--seed are not allowed");
    trainer = rl::Trainer::resume(resume, topt);
    std::printf("resuming %s at step %lld (phase %s)\n", resume.c_str(), static_cast<long long>(trainer->global_step()),
                trainer->phase().c_str());
  } else {
    if (config_path.empty()) {
      train_usage();
      return 2;
    }
    rl::Config cfg = rl::make_train_config();
    cfg.load_file(config_path);
    cfg.apply_overrides(sets);
    if (!seed.empty()) cfg.set("seed=" + seed);
    if (out.empty()) {
      std::string name = std::filesystem::path(config_path).parent_path().filename().string() + "-" +
                         std::filesystem::path(config_path).stem().string() + "-s" + std::to_string(cfg.get_int("seed"));
      out = "runs/" + name;
    }
    trainer = std::make_unique<rl::Trainer>(cfg, out, topt);
    std::printf("run %s: %s on %s with a %s policy\n", out.c_str(), cfg.get_string("method").c_str(),
                cfg.get_string("env").c_str(), cfg.get_string("policy.kind").c_str());
  }
  std::fflush(stdout);
  const rl::TrainResult r = trainer->run();
  if (r.first_eval) print_eval("first eval", *r.first_eval);
  if (r.last_eval) print_eval("last eval ", *r.last_eval);
  if (r.status == rl::TrainResult::Status::Stopped) {
    std::fprintf(stderr, "anyrl train: %s\n", r.message.c_str());
    return 3;
  }
  std::printf("%s at step %lld; run folder %s\n",
              r.status == rl::TrainResult::Status::Finished ? "finished" : "interrupted",
              static_cast<long long>(r.step), trainer->run_dir().string().c_str());
  return 0;
}

}  // namespace anyrl::app
