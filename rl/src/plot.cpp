#include "anyrl/rl/plot.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "anyrl/engine/error.hpp"
#include "anyrl/rl/config.hpp"
#include "anyrl/rl/logger.hpp"
#include "anyrl/rl/run.hpp"

extern char** environ;

namespace anyrl::rl {
namespace fs = std::filesystem;

namespace {

// Config keys that vary between seeds of one experiment and must not split a curve.
bool seed_like(const std::string& key) {
  const std::string last = key.substr(key.rfind('.') + 1);
  static const std::set<std::string> skip = {"seed", "out", "output", "run_dir", "resume", "threads", "num_threads"};
  return skip.count(last) != 0;
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

std::string strip_seed_suffix(const std::string& name) {
  static const std::regex re("[-_.](s|seed)[-_]?[0-9]+$", std::regex::icase);
  return std::regex_replace(name, re, "");
}

struct Series {
  std::vector<double> x, y;
};

Series read_series(const std::string& run, const PlotOptions& opt) {
  const auto slash = opt.metric.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == opt.metric.size())
    throw ValueError("plot: --metric must be <stream>/<column> (e.g. eval/success), got '" + opt.metric + "'");
  const std::string stream = opt.metric.substr(0, slash), col = opt.metric.substr(slash + 1);
  const fs::path csv = fs::path(run) / (stream + ".csv");
  if (!fs::exists(csv)) throw IOError("plot: run '" + run + "' has no " + csv.filename().string() + " (stream '" + stream + "')");
  const CsvTable t = read_csv(csv);
  const int xi = t.column(opt.x), yi = t.column(col);
  auto cols = [&] {
    std::string s;
    for (const auto& h : t.header) s += (s.empty() ? "" : ", ") + h;
    return s;
  };
  if (xi < 0) throw ValueError("plot: " + csv.string() + " has no x column '" + opt.x + "' (columns: " + cols() + ")");
  if (yi < 0) throw ValueError("plot: " + csv.string() + " has no column '" + col + "' (columns: " + cols() + ")");
  Series s;
  for (const auto& row : t.rows) {
    char* e1 = nullptr;
    char* e2 = nullptr;
    const double x = std::strtod(row[xi].c_str(), &e1), y = std::strtod(row[yi].c_str(), &e2);
    if (row[xi].empty() || row[yi].empty() || *e1 || *e2 || !std::isfinite(x) || !std::isfinite(y)) continue;
    s.x.push_back(x);
    s.y.push_back(y);
  }
  // Sorted by x, last value wins for a repeated x (a resumed run may repeat a row).
  std::vector<std::size_t> idx(s.x.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return s.x[a] < s.x[b]; });
  Series o;
  for (std::size_t i : idx) {
    if (!o.x.empty() && o.x.back() == s.x[i]) o.y.back() = s.y[i];
    else o.x.push_back(s.x[i]), o.y.push_back(s.y[i]);
  }
  if (o.x.empty()) throw ValueError("plot: run '" + run + "' has no finite values of " + opt.metric + " vs " + opt.x);
  return o;
}

double interp(const Series& s, double x) {
  auto it = std::lower_bound(s.x.begin(), s.x.end(), x);
  if (it == s.x.end()) return s.y.back();
  const std::size_t j = static_cast<std::size_t>(it - s.x.begin());
  if (*it == x || j == 0) return s.y[j];
  const double t = (x - s.x[j - 1]) / (s.x[j] - s.x[j - 1]);
  return s.y[j - 1] + t * (s.y[j] - s.y[j - 1]);
}

std::string find_exe(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    const std::string dir = p.substr(start, end - start);
    const std::string cand = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return "";
}

std::string gnuplot_name(const std::string& opt) {
  if (!opt.empty()) return opt;
  const char* e = std::getenv("ANYRL_GNUPLOT");
  return e && *e ? e : "gnuplot";
}

std::string gp_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("''") : std::string(1, c);
  return o + "'";
}

// Runs `exe script`, stderr to `err`; returns the exit status (or -1 when it could not start).
int run_gnuplot(const std::string& exe, const fs::path& script, const fs::path& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::string a0 = exe, a1 = script.string();
  char* argv[] = {a0.data(), a1.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

bool gnuplot_available(const std::string& exe) { return !find_exe(gnuplot_name(exe)).empty(); }

std::vector<Curve> summarise_runs(const std::vector<std::string>& run_dirs, const PlotOptions& opt) {
  if (run_dirs.empty()) throw ValueError("plot: no run folders given");
  struct RunInfo {
    std::string dir, label;
    std::map<std::string, std::string> cfg;  // without seed-like keys
    bool has_cfg = false;
  };
  std::vector<RunInfo> runs;
  for (const auto& d : run_dirs) {
    if (!fs::is_directory(d)) throw IOError("plot: '" + d + "' is not a folder");
    RunInfo r;
    r.dir = d;
    const fs::path cfg = fs::path(d) / "config.toml";
    if (fs::exists(cfg)) {
      r.has_cfg = true;
      for (auto& [k, v] : read_toml_flat(cfg.string()))
        if (!seed_like(k)) r.cfg[k] = v;
    }
    std::string label;
    if (!opt.group_key.empty()) {
      auto it = r.cfg.find(opt.group_key);
      if (it == r.cfg.end())
        throw ValueError("plot: run '" + d + "' has no config key '" + opt.group_key + "' for --group");
      label = unquote(it->second);
    } else {
      for (const char* k : {"name", "method", "run.name", "trainer.method", "algo"})
        if (auto it = r.cfg.find(k); it != r.cfg.end()) {
          label = unquote(it->second);
          break;
        }
    }
    if (label.empty()) label = strip_seed_suffix(fs::path(d).lexically_normal().filename().string().empty()
                                                     ? fs::path(d).lexically_normal().parent_path().filename().string()
                                                     : fs::path(d).lexically_normal().filename().string());
    r.label = label;
    runs.push_back(std::move(r));
  }
  // Group: same config (seed aside) when configs exist, else same label.
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    bool placed = false;
    for (auto& g : groups) {
      const RunInfo& r0 = runs[g[0]];
      const bool same = (r0.has_cfg && runs[i].has_cfg) ? r0.cfg == runs[i].cfg && r0.label == runs[i].label
                                                         : r0.label == runs[i].label;
      if (same) {
        g.push_back(i);
        placed = true;
        break;
      }
    }
    if (!placed) groups.push_back({i});
  }
  // Disambiguate equal labels of different groups by the first config key that differs.
  std::vector<std::string> labels;
  for (auto& g : groups) labels.push_back(runs[g[0]].label);
  for (std::size_t a = 0; a < groups.size(); ++a)
    for (std::size_t b = 0; b < groups.size(); ++b) {
      if (a == b || runs[groups[a][0]].label != runs[groups[b][0]].label) continue;
      const auto& ca = runs[groups[a][0]].cfg;
      const auto& cb = runs[groups[b][0]].cfg;
      for (const auto& [k, v] : ca) {
        auto it = cb.find(k);
        if (it == cb.end() || it->second != v) {
          labels[a] += " " + k + "=" + unquote(v);
          break;
        }
      }
    }

  std::vector<Curve> curves;
  for (std::size_t gi = 0; gi < groups.size(); ++gi) {
    Curve c;
    c.label = labels[gi];
    std::vector<Series> ser;
    for (std::size_t i : groups[gi]) {
      c.runs.push_back(runs[i].dir);
      ser.push_back(read_series(runs[i].dir, opt));
    }
    // Common x range; the union of x values inside it.
    double lo = -INFINITY, hi = INFINITY;
    for (const auto& s : ser) lo = std::max(lo, s.x.front()), hi = std::min(hi, s.x.back());
    std::set<double> xs;
    for (const auto& s : ser)
      for (double x : s.x)
        if (x >= lo && x <= hi) xs.insert(x);
    if (xs.empty()) throw ValueError("plot: the runs of '" + c.label + "' share no range of " + opt.x);
    for (double x : xs) {
      const int n = static_cast<int>(ser.size());
      double sum = 0;
      std::vector<double> ys;
      for (const auto& s : ser) ys.push_back(interp(s, x)), sum += ys.back();
      const double mean = sum / n;
      double ss = 0;
      for (double y : ys) ss += (y - mean) * (y - mean);
      c.x.push_back(x);
      c.mean.push_back(mean);
      c.sem.push_back(n > 1 ? std::sqrt(ss / (n - 1)) / std::sqrt(static_cast<double>(n)) : 0.0);
      c.n.push_back(n);
    }
    curves.push_back(std::move(c));
  }
  return curves;
}

std::vector<Curve> plot_runs(const std::vector<std::string>& run_dirs, const PlotOptions& opt) {
  const std::string exe_name = gnuplot_name(opt.gnuplot);
  const std::string exe = find_exe(exe_name);
  if (exe.empty())
    throw IOError("plot: gnuplot ('" + exe_name +
                  "') was not found on PATH; install it (Debian/Ubuntu: apt install gnuplot-nox) or set ANYRL_GNUPLOT");
  std::vector<Curve> curves = summarise_runs(run_dirs, opt);

  static std::atomic<int> counter{0};
  const fs::path tmp = fs::temp_directory_path() /
                       ("anyrl-plot-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};

  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  std::string plot;
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const fs::path dat = tmp / ("curve" + std::to_string(i) + ".dat");
    std::ofstream f(dat);
    f.precision(17);
    for (std::size_t j = 0; j < curves[i].x.size(); ++j)
      f << curves[i].x[j] << ' ' << curves[i].mean[j] << ' ' << curves[i].sem[j] << '\n';
    if (!f) throw IOError("plot: cannot write '" + dat.string() + "'");
    const std::string col = colours[i % 10];
    const std::string title = curves[i].label + " (n=" + std::to_string(curves[i].runs.size()) + ")";
    if (!plot.empty()) plot += ", \\\n     ";
    plot += gp_quote(dat.string()) + " using 1:($2-$3):($2+$3) with filledcurves fs transparent solid 0.2 noborder lc rgb " +
            gp_quote(col) + " notitle, \\\n     " + gp_quote(dat.string()) + " using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb " +
            gp_quote(col) + " title " + gp_quote(title);
  }
  fs::path out = fs::absolute(opt.output);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  auto script_for = [&](const std::string& terminal) {
    std::string s;
    s += "set terminal " + terminal + " size " + std::to_string(opt.width) + "," + std::to_string(opt.height) + " noenhanced\n";
    s += "set output " + gp_quote(out.string()) + "\n";
    s += "set title " + gp_quote(opt.title.empty() ? opt.metric + " (mean ± s.e. over seeds)" : opt.title) + "\n";
    s += "set xlabel " + gp_quote(opt.x) + "\nset ylabel " + gp_quote(opt.metric) + "\n";
    s += "set grid\nset key bottom right\n";
    s += "plot " + plot + "\n";
    return s;
  };
  const fs::path err = tmp / "stderr.txt";
  int rc = -1;
  for (const char* terminal : {"pngcairo", "png"}) {
    const fs::path script = tmp / "plot.gp";
    std::ofstream(script) << script_for(terminal);
    rc = run_gnuplot(exe, script, err);
    if (rc == 0 && fs::exists(out) && fs::file_size(out) > 0) return curves;
  }
  std::string msg;
  {
    std::ifstream f(err);
    msg.assign(std::istreambuf_iterator<char>(f), {});
  }
  throw IOError("plot: gnuplot (" + exe + ") failed with status " + std::to_string(rc) + (msg.empty() ? "" : ": " + msg));
}

}  // namespace anyrl::rl
