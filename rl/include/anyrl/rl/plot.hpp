// Learning curves from run folders: runs that differ only by their seed form one curve, drawn as
// the mean over seeds ± one standard error, by gnuplot (Debian `gnuplot-nox`) run as a
// subprocess with a generated script. `anyrl plot` is a thin wrapper around plot_runs().
#pragma once
#include <string>
#include <vector>

namespace anyrl::rl {

struct PlotOptions {
  std::string output = "curves.png";
  /// "<stream>/<column>" of the run folders' <stream>.csv (e.g. eval/success, train/critic_loss).
  std::string metric = "eval/success";
  /// x column of the same CSV ("step" always exists).
  std::string x = "env_steps";
  /// Config key whose value names a curve; empty: the first of name, method, run.name,
  /// trainer.method, algo present in the runs' config.toml, else the folder name without a
  /// trailing seed suffix (_s3, -seed3).
  std::string group_key;
  std::string title;
  int width = 960, height = 600;
  /// gnuplot executable; empty: $ANYRL_GNUPLOT or "gnuplot".
  std::string gnuplot;
};

/// One curve: its runs and the per-x statistics over them.
struct Curve {
  std::string label;
  std::vector<std::string> runs;
  std::vector<double> x, mean, sem;  ///< sem = sample std / sqrt(n), 0 for a single run
  std::vector<int> n;                ///< runs contributing at each x
};

/// Groups the runs and computes mean ± s.e. at each x (runs evaluated at different x are
/// linearly interpolated onto the union of their x values within their common range).
/// Throws IOError/ValueError naming the run and the missing file or column.
std::vector<Curve> summarise_runs(const std::vector<std::string>& run_dirs, const PlotOptions& opt);
/// summarise_runs + gnuplot: writes opt.output (PNG). Throws IOError with a clear message when
/// gnuplot is missing or fails (its stderr is included).
std::vector<Curve> plot_runs(const std::vector<std::string>& run_dirs, const PlotOptions& opt);
/// True if the gnuplot executable (see PlotOptions::gnuplot) is on PATH.
bool gnuplot_available(const std::string& exe = "");

}  // namespace anyrl::rl
