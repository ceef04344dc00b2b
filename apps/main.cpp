// anyrl — command-line entry point. `anyrl help` lists the sub-commands.
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <string>

#include "anyrl/engine/cuda.hpp"
#include "anyrl/engine/parallel.hpp"
#include "commands.hpp"

namespace {

struct Command {
  std::function<int(const anyrl::app::Args&)> run;
  const char* help;
};

std::map<std::string, Command> commands() {
  std::map<std::string, Command> c;
  c["demo"] = {anyrl::app::cmd_demo, "PA-RL demo on pointmaze-medium (success before/after fine-tuning, curve PNG); `demo engine`: engine-only MLP demo"};
#ifdef ANYRL_HAVE_CMD_COLLECT
  c["collect"] = {anyrl::app::cmd_collect, "generate an offline dataset: --env NAME --dataset KIND --out FILE.hdf5"};
#endif
#ifdef ANYRL_HAVE_CMD_INFO
  c["info"] = {anyrl::app::cmd_info, "describe a dataset file (sizes, episodes, returns)"};
#endif
#ifdef ANYRL_HAVE_CMD_PLOT
  c["plot"] = {anyrl::app::cmd_plot, "learning curves from run folders: RUN... -o curves.png [--metric eval/success]"};
#endif
#ifdef ANYRL_HAVE_CMD_TRAIN
  c["train"] = {anyrl::app::cmd_train, "train: --config configs/<task>/<method>.toml [--set k=v] [--seed N] [--out runs/NAME] | --resume runs/NAME"};
#endif
#ifdef ANYRL_HAVE_CMD_EVAL
  c["eval"] = {anyrl::app::cmd_eval, "evaluate a run's latest checkpoint: runs/NAME [--episodes N] [--record frames/]"};
#endif
  return c;
}

void usage(const std::map<std::string, Command>& cmds) {
  std::printf("usage: anyrl <command> [options]\n\ncommands:\n");
  for (const auto& [name, cmd] : cmds) std::printf("  %-10s %s\n", name.c_str(), cmd.help);
  std::printf("\n%s, %d CPU threads (ANYRL_NUM_THREADS)\n", anyrl::cuda::describe().c_str(),
              anyrl::num_threads());
}

}  // namespace

int main(int argc, char** argv) {
  auto cmds = commands();
  if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help" ||
      std::string(argv[1]) == "-h") {
    usage(cmds);
    return argc < 2 ? 2 : 0;
  }
  auto it = cmds.find(argv[1]);
  if (it == cmds.end()) {
    std::fprintf(stderr, "anyrl: unknown command '%s'\n\n", argv[1]);
    usage(cmds);
    return 2;
  }
  anyrl::app::Args args(argv + 2, argv + argc);
  try {
    return it->second.run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anyrl %s: error: %s\n", argv[1], e.what());
    return 1;
  }
}
