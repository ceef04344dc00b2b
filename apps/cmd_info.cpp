// `anyrl info`: describe a D4RL-format dataset file, an environment, or the available ones.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "anyrl/envs/collect.hpp"
#include "anyrl/envs/dataset.hpp"
#include "anyrl/envs/env.hpp"
#include "anyrl/envs/hdf5_io.hpp"
#include "anyrl/envs/image.hpp"
#include "anyrl/envs/registry.hpp"
#include "commands.hpp"

namespace anyrl::app {
namespace {

void info_usage() {
  std::fprintf(stderr,
               "usage: anyrl info FILE.hdf5 [--gamma G]   sizes, episodes, return statistics\n"
               "       anyrl info --env NAME [--png FILE.png] [--width W] [--height H] [--seed S]\n"
               "                                          env spec; PNG of its start state\n"
               "       anyrl info                          list environments and dataset kinds\n");
}

std::string shape_str(const std::vector<int>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

int describe_file(const std::string& path, double gamma) {
  envs::ReadOptions ro;
  const envs::Dataset d = envs::read_d4rl(path, ro);
  const auto st = envs::dataset_stats(d);
  std::printf("%s\n", path.c_str());
  for (const auto& [k, v] : d.metadata) std::printf("  %-18s %s\n", (k + ":").c_str(), v.c_str());
  std::printf("  transitions:       %lld\n", static_cast<long long>(d.size));
  std::printf("  observations:      (%lld, %d)\n", static_cast<long long>(d.size), d.obs_dim);
  std::printf("  actions:           (%lld, %d)\n", static_cast<long long>(d.size), d.action_dim);
  std::printf("  next_observations: %s\n", d.has_next_observations() ? "yes" : "no");
  std::printf("  terminals:         %s\n", d.terminals.empty() ? "absent" : "yes");
  std::printf("  timeouts:          %s\n", d.timeouts.empty() ? "absent" : "yes");
  for (const auto& [k, v] : d.infos) std::printf("  infos/%-12s (%lld, %d)\n", k.c_str(), static_cast<long long>(d.size), v.dim);
  std::printf("  episodes:          %lld (%lld end in a terminal)\n", static_cast<long long>(st.episodes),
              static_cast<long long>(st.terminated_episodes));
  std::printf("  episode length:    mean %.1f, min %lld, max %lld\n", st.length_mean,
              static_cast<long long>(st.length_min), static_cast<long long>(st.length_max));
  std::printf("  episode return:    mean %.4f, std %.4f, min %.4f, max %.4f\n", st.return_mean,
              st.return_std, st.return_min, st.return_max);
  double rmin = 0, rmax = 0, rsum = 0;
  for (int64_t i = 0; i < d.size; ++i) {
    const double r = d.rewards[i];
    rmin = i ? std::min(rmin, r) : r;
    rmax = i ? std::max(rmax, r) : r;
    rsum += r;
  }
  std::printf("  reward:            mean %.4f, min %.4f, max %.4f\n", d.size ? rsum / d.size : 0.0, rmin, rmax);
  if (d.size > 0) {
    envs::MCReturnOptions mo;
    mo.gamma = gamma;
    const auto g = envs::mc_returns(d, mo);
    double s = 0;
    for (float x : g) s += x;
    std::printf("  MC return-to-go:   mean %.4f (gamma %.3f)\n", s / d.size, gamma);
  }
  return 0;
}

int describe_env(const std::string& name, const std::string& png, int w, int h, uint64_t seed) {
  auto env = envs::make_env(name);
  const auto& sp = env->spec();
  std::printf("%s\n  observation: %s\n  action:      (%d,) in [-1, 1]\n  time limit:  %d\n"
              "  reward:      [%g, %g]%s\n",
              sp.name.c_str(), shape_str(sp.obs_shape).c_str(), sp.action_dim, sp.time_limit,
              sp.reward_min, sp.reward_max, sp.sparse_reward ? " (sparse)" : "");
  try {
    std::string kinds;
    for (const auto& k : envs::dataset_kinds(name)) kinds += " " + k;
    std::printf("  datasets:   %s\n", kinds.c_str());
  } catch (const std::invalid_argument&) {
  }
  if (!png.empty()) {
    std::vector<float> obs(env->obs_dim());
    env->reset(seed, obs);
    envs::write_png(png, w, h, env->render_rgb(w, h));
    std::printf("  wrote start state (seed %llu) to %s (%dx%d)\n", static_cast<unsigned long long>(seed),
                png.c_str(), w, h);
  }
  return 0;
}

}  // namespace

int cmd_info(const Args& args) {
  std::string file, env, png;
  int w = 256, h = 256;
  uint64_t seed = 0;
  double gamma = 0.99;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "--env") env = value();
    else if (a == "--png") png = value();
    else if (a == "--width") w = std::stoi(value());
    else if (a == "--height") h = std::stoi(value());
    else if (a == "--seed") seed = std::stoull(value());
    else if (a == "--gamma") gamma = std::stod(value());
    else if (a == "--help" || a == "-h") {
      info_usage();
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      info_usage();
      throw std::invalid_argument("unknown option '" + a + "'");
    } else if (file.empty()) file = a;
    else throw std::invalid_argument("more than one file given");
  }
  if (!file.empty()) return describe_file(file, gamma);
  if (!env.empty()) return describe_env(env, png, w, h, seed);
  std::printf("environments (append -pixels for 64x64 RGB observations):\n");
  for (const auto& n : envs::env_names()) {
    std::string kinds;
    try {
      for (const auto& k : envs::dataset_kinds(n)) kinds += " " + k;
    } catch (const std::exception&) {
    }
    std::printf("  %-24s datasets:%s\n", n.c_str(), kinds.c_str());
  }
  return 0;
}

}  // namespace anyrl::app
