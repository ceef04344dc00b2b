// `anyrl demo`: the README's main job. By default a PA-RL demo — generate the pointmaze-medium
// dataset, pre-train a diffusion policy (BC) and a Cal-QL critic with PA-RL, fine-tune online,
// print the success rate before and after fine-tuning and write the learning-curve PNG — on the
// reduced budget of configs/pointmaze-medium/demo.toml. `anyrl demo engine` is the seconds-long
// engine demo: an MLP (LayerNorm, SiLU) regressing a 2-D function with Adam.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "anyrl/engine/engine.hpp"
#include "commands.hpp"
#ifdef ANYRL_HAVE_CMD_TRAIN
#include "anyrl/rl/config.hpp"
#include "anyrl/rl/plot.hpp"
#include "anyrl/rl/trainer.hpp"
#endif

namespace anyrl::app {
namespace {

std::int64_t parse_int(const Args& args, std::size_t& i, const std::string& flag) {
  if (i + 1 >= args.size()) throw ValueError(flag + " needs a value");
  const std::string& v = args[++i];
  try {
    std::size_t used = 0;
    long long x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw ValueError(flag + ": '" + v + "' is not an integer");
}

int engine_demo(const Args& args) {
  std::int64_t steps = 2000, seed = 0, batch = 512;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--steps") steps = parse_int(args, i, "--steps");
    else if (args[i] == "--seed") seed = parse_int(args, i, "--seed");
    else if (args[i] == "--threads") set_num_threads(static_cast<int>(parse_int(args, i, "--threads")));
    else if (args[i] == "--batch") batch = parse_int(args, i, "--batch");
    else throw ValueError("unknown option '" + args[i] + "' (options: --steps N --seed S --threads T --batch B)");
  }
  if (steps <= 0 || batch <= 0) throw ValueError("--steps and --batch must be positive");

  Generator gen(static_cast<std::uint64_t>(seed));
  const std::vector<std::int64_t> widths{2, 128, 128, 1};
  std::vector<Tensor> w, b, g, beta, params;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    double bound = 1.0 / std::sqrt(static_cast<double>(widths[l]));
    w.push_back(uniform(Shape{widths[l + 1], widths[l]}, -bound, bound, gen).set_requires_grad());
    b.push_back(Tensor::zeros(Shape{widths[l + 1]}).set_requires_grad());
    g.push_back(Tensor::ones(Shape{widths[l + 1]}).set_requires_grad());
    beta.push_back(Tensor::zeros(Shape{widths[l + 1]}).set_requires_grad());
    for (Tensor* t : {&w.back(), &b.back(), &g.back(), &beta.back()}) params.push_back(*t);
  }
  auto net = [&](Tensor x) {
    for (std::size_t l = 0; l < w.size(); ++l) {
      x = linear(x, w[l], b[l]);
      if (l + 1 < w.size()) x = silu(layer_norm(x, g[l], beta[l]));
    }
    return x;
  };
  // y = sin(2 x0) * cos(x1) + 0.5 x0 x1 on [-2, 2]^2
  auto target = [](const Tensor& x) {
    Tensor x0 = slice(x, 1, 0, 1), x1 = slice(x, 1, 1, 2);
    return add(mul(sin(mul(x0, 2.0)), cos(x1)), mul(mul(x0, x1), 0.5));
  };
  Adam opt(params, AdamOptions{.lr = 3e-3});
  WarmupCosineLR sched(3e-3, steps / 20, steps, 1e-4);
  Generator data(static_cast<std::uint64_t>(seed) + 1);
  Tensor x_test = uniform(Shape{4096, 2}, -2.0, 2.0, data);
  Tensor y_test = target(x_test);

  std::printf("anyrl demo: MLP 2-128-128-1 (LayerNorm, SiLU), Adam, batch %lld, %d threads\n",
              static_cast<long long>(batch), num_threads());
  auto t0 = std::chrono::steady_clock::now();
  double first = 0, last = 0;
  for (std::int64_t s = 0; s < steps; ++s) {
    Tensor x = uniform(Shape{batch, 2}, -2.0, 2.0, data);
    opt.set_lr(sched.at(s));
    opt.zero_grad();
    Tensor loss = mse_loss(net(x), target(x));
    loss.backward();
    opt.step();
    if (s % (steps / 10 > 0 ? steps / 10 : 1) == 0 || s == steps - 1) {
      NoGrad ng;
      double test = mse_loss(net(x_test), y_test).item();
      if (s == 0) first = test;
      last = test;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("  step %6lld  train loss %.6f  test loss %.6f  (%.0f steps/s)\n", static_cast<long long>(s),
                  loss.item(), test, (s + 1) / std::max(secs, 1e-9));
      std::fflush(stdout);
    }
  }
  std::printf("test loss %.5f -> %.6f (%.0fx lower)\n", first, last, first / std::max(last, 1e-12));
  return last < first ? 0 : 1;
}

#ifdef ANYRL_HAVE_CMD_TRAIN
namespace fs = std::filesystem;

/// The demo config: --config, else configs/pointmaze-medium/demo.toml under the working
/// directory, else under the source tree the executable was built in (build/apps/anyrl).
fs::path find_demo_config(const std::string& given) {
  if (!given.empty()) return given;
  const fs::path rel = fs::path("configs") / "pointmaze-medium" / "demo.toml";
  if (fs::exists(rel)) return rel;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path dir = exe.parent_path(); !ec && !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
    if (fs::exists(dir / rel)) return dir / rel;
  throw ValueError("cannot find " + rel.string() +
                   " (run from the repository root or pass --config FILE)");
}

/// Last evaluation of each phase from RUN/eval.csv (columns step,phase,...,success,...).
std::map<std::string, double> last_success_by_phase(const fs::path& run) {
  std::map<std::string, double> out;
  std::ifstream f(run / "eval.csv");
  std::string line;
  std::getline(f, line);
  int phase_col = -1, success_col = -1, col = 0;
  std::stringstream header(line);
  for (std::string name; std::getline(header, name, ','); ++col) {
    if (name == "phase") phase_col = col;
    if (name == "success") success_col = col;
  }
  while (std::getline(f, line)) {
    std::stringstream row(line);
    std::string phase, success, cell;
    for (int c = 0; std::getline(row, cell, ','); ++c) {
      if (c == phase_col) phase = cell;
      if (c == success_col) success = cell;
    }
    if (!phase.empty() && !success.empty()) out[phase] = std::stod(success);
  }
  return out;
}

int parl_demo(const Args& args) {
  std::string config, out = "runs/demo";
  std::vector<std::string> sets;
  bool quiet = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw ValueError(args[i] + " needs a value");
      return args[++i];
    };
    if (args[i] == "--config") config = value();
    else if (args[i] == "--out") out = value();
    else if (args[i] == "--set") sets.push_back(value());
    else if (args[i] == "--seed") sets.push_back("seed=" + value());
    else if (args[i] == "--threads") sets.push_back("threads=" + value());
    else if (args[i] == "--quiet") quiet = true;
    else
      throw ValueError("unknown option '" + args[i] +
                       "' (options: --out DIR --config FILE --seed S --threads T --set key=value --quiet; "
                       "`anyrl demo engine` for the engine-only demo)");
  }
  const fs::path config_path = find_demo_config(config);
  rl::Config cfg = rl::make_train_config();
  cfg.load_file(config_path.string());
  cfg.apply_overrides(sets);
  std::printf("anyrl demo: PA-RL + Cal-QL with a %s policy on %s (%s)\n"
              "  dataset %s; BC %lld steps -> offline %lld critic steps -> online %lld env steps\n"
              "  run folder %s (overwritten), curve %s/curve.png\n",
              cfg.get_string("policy.kind").c_str(), cfg.get_string("env").c_str(), config_path.string().c_str(),
              cfg.get_string("dataset").c_str(), static_cast<long long>(cfg.get_int("train.bc_steps")),
              static_cast<long long>(cfg.get_int("train.offline_steps")),
              static_cast<long long>(cfg.get_int("train.online_env_steps")), out.c_str(), out.c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  rl::TrainerOptions topt;
  topt.overwrite = true;
  topt.progress = !quiet;
  rl::Trainer trainer(cfg, out, topt);
  const rl::TrainResult r = trainer.run();
  if (r.status == rl::TrainResult::Status::Stopped) {
    std::fprintf(stderr, "anyrl demo: %s\n", r.message.c_str());
    return 3;
  }
  const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 60.0;
  const auto success = last_success_by_phase(trainer.run_dir());
  auto pct = [&](const char* phase) {
    auto it = success.find(phase);
    return it == success.end() ? std::string("n/a") : std::to_string(static_cast<int>(std::lround(100 * it->second))) + "%";
  };
  std::printf("\nsuccess rate (%lld evaluation episodes each):\n"
              "  after BC pre-training (pi_opt over an untrained critic)  %s\n"
              "  after offline PA-RL pre-training  (before fine-tuning)   %s\n"
              "  after online fine-tuning                                 %s\n"
              "finished in %.1f min\n",
              static_cast<long long>(cfg.get_int("eval.episodes")), pct("bc").c_str(), pct("offline").c_str(),
              pct("online").c_str(), minutes);
  rl::PlotOptions popt;
  popt.output = (trainer.run_dir() / "curve.png").string();
  popt.x = "step";  // BC, offline and online evaluations all on one axis
  popt.title = "anyrl demo: PA-RL + Cal-QL (diffusion) on " + cfg.get_string("env");
  rl::plot_runs({trainer.run_dir().string()}, popt);
  std::printf("wrote %s (x: training step; BC, offline, then online)\n", popt.output.c_str());
  return 0;
}
#endif

}  // namespace

int cmd_demo(const Args& args) {
  if (!args.empty() && args[0] == "engine") return engine_demo(Args(args.begin() + 1, args.end()));
#ifdef ANYRL_HAVE_CMD_TRAIN
  if (!args.empty() && args[0] == "parl") return parl_demo(Args(args.begin() + 1, args.end()));
  return parl_demo(args);
#else
  std::printf("anyrl demo: built without the rl layer (ANYRL_BUILD_MODELS=OFF): running the engine demo\n");
  return engine_demo(args);
#endif
}

}  // namespace anyrl::app
