// `anyrl collect`: generate an offline dataset and write it as a D4RL-format HDF5 file.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "anyrl/envs/collect.hpp"
#include "anyrl/envs/dataset.hpp"
#include "anyrl/envs/hdf5_io.hpp"
#include "anyrl/envs/registry.hpp"
#include "commands.hpp"

namespace anyrl::app {
namespace {

void collect_usage() {
  std::fprintf(stderr,
               "usage: anyrl collect --env NAME --dataset KIND --out FILE.hdf5 [options]\n"
               "  --size N          transitions (default: 300k umaze, 1M medium/large, kitchen 50k/150k)\n"
               "  --seed S          generator seed (default 0); output is deterministic in it\n"
               "  --noise X         action noise std (default: the generator's)\n"
               "  --threads T       worker threads (default: all cores; does not change the data)\n"
               "  --float64         store float arrays as float64\n"
               "  --no-next-obs     omit next_observations\n"
               "  --compression L   gzip level 0..9 (default 4)\n"
               "datasets: pointmaze-*: play, diverse; kitchen-like-*: complete, partial, mixed;\n"
               "          pendulum: random, medium\n");
}

int64_t parse_int(const std::string& flag, const std::string& v) {
  try {
    size_t pos = 0;
    // Accept 1000000, 1e6, 300k, 1M.
    double x = std::stod(v, &pos);
    if (pos < v.size() && (v[pos] == 'k' || v[pos] == 'K')) x *= 1e3, ++pos;
    else if (pos < v.size() && (v[pos] == 'm' || v[pos] == 'M')) x *= 1e6, ++pos;
    if (pos != v.size() || x < 0) throw std::invalid_argument(v);
    return static_cast<int64_t>(x);
  } catch (const std::exception&) {
    throw std::invalid_argument(flag + " expects a non-negative number, got '" + v + "'");
  }
}

}  // namespace

int cmd_collect(const Args& args) {
  envs::CollectOptions opt;
  envs::WriteOptions wopt;
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "--env") opt.env = value();
    else if (a == "--dataset") opt.dataset = value();
    else if (a == "--out" || a == "-o") out = value();
    else if (a == "--size") opt.size = parse_int(a, value());
    else if (a == "--seed") opt.seed = static_cast<uint64_t>(parse_int(a, value()));
    else if (a == "--noise") opt.noise = std::stod(value());
    else if (a == "--threads") opt.num_threads = static_cast<int>(parse_int(a, value()));
    else if (a == "--float64") wopt.float64 = true;
    else if (a == "--no-next-obs") opt.next_observations = false;
    else if (a == "--compression") wopt.compression = static_cast<int>(parse_int(a, value()));
    else if (a == "--help" || a == "-h") {
      collect_usage();
      return 0;
    } else {
      collect_usage();
      throw std::invalid_argument("unknown option '" + a + "'");
    }
  }
  if (opt.env.empty() || opt.dataset.empty() || out.empty()) {
    collect_usage();
    throw std::invalid_argument("--env, --dataset and --out are required");
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  int last_pct = -1;
  // Redraw in place on a terminal; in a log file, one line every 25%.
  const bool tty = isatty(fileno(stderr)) != 0;
  opt.progress = [&](int64_t done, int64_t total) {
    const int pct = static_cast<int>(100 * done / std::max<int64_t>(total, 1));
    if (pct == last_pct || (!tty && last_pct >= 0 && pct / 25 == last_pct / 25 && pct != 100)) return;
    last_pct = pct;
    constexpr int kWidth = 40;
    const int fill = pct * kWidth / 100;
    std::fprintf(stderr, "%s%s/%s [%.*s%*s] %3d%% %lld/%lld  %.0f/s", tty ? "\r" : "", opt.env.c_str(), opt.dataset.c_str(),
                 fill, "########################################", kWidth - fill, "", pct,
                 static_cast<long long>(done), static_cast<long long>(total), done / std::max(elapsed(), 1e-9));
    if (!tty) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
  const envs::Dataset d = envs::collect_dataset(opt);
  const double gen_s = elapsed();
  if (tty) std::fprintf(stderr, "\n");
  envs::write_d4rl(out, d, wopt);
  const auto st = envs::dataset_stats(d);
  std::printf("wrote %s: %lld transitions, %lld episodes (%lld terminated), return %.3f +- %.3f, "
              "generated in %.2f s (%.2fM transitions/min), total %.2f s\n",
              out.c_str(), static_cast<long long>(d.size), static_cast<long long>(st.episodes),
              static_cast<long long>(st.terminated_episodes), st.return_mean, st.return_std, gen_s,
              d.size / gen_s * 60e-6, elapsed());
  return 0;
}

}  // namespace anyrl::app
