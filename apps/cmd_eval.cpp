// `anyrl eval runs/NAME`: evaluates the run's latest checkpoint (acting with pi_opt for PA-RL
// methods, the policy's deterministic action otherwise) and optionally records rollouts: PNG
// frames into a folder, or one animated GIF (`--record out.gif`, see gif_record.hpp).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "anyrl/rl/trainer.hpp"
#include "commands.hpp"
#include "gif_record.hpp"

namespace anyrl::app {
namespace {
void eval_usage() {
  std::fprintf(stderr,
               "usage: anyrl eval runs/NAME [--episodes N] [--record frames_dir/ | --record out.gif]\n"
               "                  [--record-episodes N] [--size PX] [--record-every N] [--gif-delay CS]\n"
               "  --record DIR      writes one PNG per step (epEEE_SSSS.png) into DIR (a folder: no\n"
               "                    extension, a trailing '/', or an existing folder)\n"
               "  --record X.gif    writes one looping animated GIF of the recorded episodes\n"
               "  --record-every N  GIF only: keep every N-th step (and each episode's last frame)\n"
               "  --gif-delay CS    GIF only: delay per frame in 1/100 s (default 4)\n");
}

enum class RecordKind { None, Folder, Gif };

// What `--record PATH` asks for; throws on an extension other than .gif.
RecordKind record_kind(const std::string& record) {
  if (record.empty()) return RecordKind::None;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (record.back() == '/' || fs::is_directory(record, ec)) return RecordKind::Folder;
  std::string ext = fs::path(record).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext.empty()) return RecordKind::Folder;
  if (ext == ".gif") return RecordKind::Gif;
  throw std::invalid_argument("--record " + record + ": unknown extension '" + ext +
                              "' (give X.gif for an animated GIF, or a folder for PNG frames)");
}
}  // namespace

int cmd_eval(const Args& args) {
  std::string run, record;
  long long episodes = -1, rec_eps = 1;
  int size = 256, every = 1, delay_cs = 4;
  bool gif_flags = false;
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
    } else if (a == "--record-every") {
      every = std::stoi(value());
      if (every < 1) throw std::invalid_argument("--record-every must be >= 1");
      gif_flags = true;
    } else if (a == "--gif-delay") {
      delay_cs = std::stoi(value());
      if (delay_cs < 0 || delay_cs > 65535) throw std::invalid_argument("--gif-delay must be 0..65535 (1/100 s)");
      gif_flags = true;
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
  if (rec_eps < 1) throw std::invalid_argument("--record-episodes must be positive");
  if (size < 1 || size > 65535) throw std::invalid_argument("--size must be 1..65535");
  const RecordKind kind = record_kind(record);
  if (gif_flags && kind != RecordKind::Gif)
    throw std::invalid_argument("--record-every / --gif-delay need --record X.gif");
  if (kind == RecordKind::Gif) check_gif_destination(record);  // fail before the evaluation
  auto t = rl::Trainer::open_for_eval(run);
  if (episodes < 0) episodes = t->config().get_int("eval.episodes");
  const rl::EvalResult r = t->evaluate(episodes, 900000);
  std::printf("%s (phase %s, step %lld): success %.3f, return %.2f ± %.2f, length %.1f over %lld episodes\n",
              run.c_str(), t->phase().c_str(), static_cast<long long>(t->global_step()), r.success, r.return_mean,
              r.return_std, r.length_mean, episodes);
  if (kind == RecordKind::Gif) {
    GifRecordOptions o;
    o.episodes = rec_eps;
    o.size = size;
    o.every = every;
    o.delay_cs = delay_cs;
    const GifRecordResult g = record_gif(*t, record, o);
    std::printf("recorded %lld episode(s) into %s (%d frames): success %.3f, return %.2f, length %.1f\n", rec_eps,
                record.c_str(), g.frames, g.eval.success, g.eval.return_mean, g.eval.length_mean);
  } else if (kind == RecordKind::Folder) {
    const rl::EvalResult rr = t->record_frames(record, rec_eps, size);
    std::printf("recorded %lld episode(s) into %s: success %.3f, return %.2f, length %.1f\n", rec_eps, record.c_str(),
                rr.success, rr.return_mean, rr.length_mean);
  }
  return 0;
}

}  // namespace anyrl::app
