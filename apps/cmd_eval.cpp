// `anyrl eval runs/NAME`: evaluates the run's latest checkpoint (acting with pi_opt for PA-RL
// methods, the policy's deterministic action otherwise) and optionally saves rollout frames.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "anyrl/rl/trainer.hpp"
#include "commands.hpp"

namespace anyrl::app {
namespace {
void eval_usage() {
  std::fprintf(stderr,
               "usage: anyrl eval runs/NAME [--episodes N] [--record frames_dir/] [--record-episodes N] [--size PX]\n"
               "  --record DIR   writes one PNG per step (epEEE_SSSS.png); GIF output is not implemented\n");
}
}  // namespace

int cmd_eval(const Args& args) {
  std::string run, record;
  long long episodes = -1, rec_eps = 1;
  int size = 256;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      eval_usage();
      return 0;
    } else if (a == "--episodes") {
      episodes = std::stoll(value());
      if (episodes <= 0) throw std::invalid_argument("--episodes must be positive");
    } else if (a == "--record") {
      record = value();
    } else if (a == "--record-episodes") {
      rec_eps = std::stoll(value());
    } else if (a == "--size") {
      size = std::stoi(value());
    } else if (!a.empty() && a[0] == '-') {
      eval_usage();
      throw std::invalid_argument("unknown option '" + a + "'");
    } else if (run.empty()) {
      run = a;
    } else {
      throw std::invalid_argument("one run folder expected, got also '" + a + "'");
    }
  }
  if (run.empty()) {
    eval_usage();
    return 2;
  }
  if (!record.empty() && (record.size() > 4 && record.substr(record.size() - 4) == ".gif"))
    throw std::invalid_argument("--record " + record + ": GIF output is not implemented; give a folder for PNG frames");
  auto t = rl::Trainer::open_for_eval(run);
  if (episodes < 0) episodes = t->config().get_int("eval.episodes");
  const rl::EvalResult r = t->evaluate(episodes, 900000);
  std::printf("%s (phase %s, step %lld): success %.3f, return %.2f ± %.2f, length %.1f over %lld episodes\n",
              run.c_str(), t->phase().c_str(), static_cast<long long>(t->global_step()), r.success, r.return_mean,
              r.return_std, r.length_mean, episodes);
  if (!record.empty()) {
    const rl::EvalResult rr = t->record_frames(record, rec_eps, size);
    std::printf("recorded %lld episode(s) into %s: success %.3f, return %.2f, length %.1f\n", rec_eps, record.c_str(),
                rr.success, rr.return_mean, rr.length_mean);
  }
  return 0;
}

}  // namespace anyrl::app
