// `anyrl plot`: learning curves (mean ± standard error over seeds) from run folders, via gnuplot.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "anyrl/rl/plot.hpp"
#include "commands.hpp"

namespace anyrl::app {
namespace {

void plot_usage() {
  std::fprintf(stderr,
               "usage: anyrl plot RUN_DIR [RUN_DIR ...] [-o curves.png] [--metric eval/success] [--x env_steps]\n"
               "                  [--group CONFIG_KEY] [--title TEXT] [--size W,H]\n"
               "  Runs whose configs differ only by seed form one curve (mean ± s.e. over seeds).\n"
               "  --metric  <stream>/<column> of RUN_DIR/<stream>.csv (default eval/success)\n"
               "  --x       x column of the same file (default env_steps; 'step' always exists)\n"
               "  --group   config key naming the curves (default: name/method from config.toml)\n"
               "  Needs gnuplot (Debian: apt install gnuplot-nox; or set ANYRL_GNUPLOT).\n");
}

}  // namespace

int cmd_plot(const Args& args) {
  rl::PlotOptions opt;
  std::vector<std::string> runs;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      plot_usage();
      return 0;
    } else if (a == "-o" || a == "--out" || a == "--output") {
      opt.output = value();
    } else if (a == "--metric") {
      opt.metric = value();
    } else if (a == "--x") {
      opt.x = value();
    } else if (a == "--group") {
      opt.group_key = value();
    } else if (a == "--title") {
      opt.title = value();
    } else if (a == "--size") {
      const std::string& s = value();
      if (std::sscanf(s.c_str(), "%d,%d", &opt.width, &opt.height) != 2 || opt.width <= 0 || opt.height <= 0)
        throw std::invalid_argument("--size expects W,H in pixels, got '" + s + "'");
    } else if (!a.empty() && a[0] == '-') {
      plot_usage();
      throw std::invalid_argument("unknown option '" + a + "'");
    } else {
      runs.push_back(a);
    }
  }
  if (runs.empty()) {
    plot_usage();
    return 2;
  }
  const auto curves = rl::plot_runs(runs, opt);
  for (const auto& c : curves) {
    std::printf("%-28s %zu run%s", c.label.c_str(), c.runs.size(), c.runs.size() == 1 ? " " : "s");
    if (!c.x.empty())
      std::printf("  final %s = %.4g ± %.2g at %s = %g", opt.metric.c_str(), c.mean.back(), c.sem.back(), opt.x.c_str(),
                  c.x.back());
    std::printf("\n");
  }
  std::printf("wrote %s\n", opt.output.c_str());
  return 0;
}

}  // namespace anyrl::app
