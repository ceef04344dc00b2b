#include "anyrl/rl/run.hpp"

#include <fstream>
#include <sstream>
#include <system_error>

#include "anyrl/engine/serialize.hpp"

namespace anyrl::rl {
namespace fs = std::filesystem;

std::string read_text_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IOError("cannot open '" + path.string() + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw IOError("cannot read '" + path.string() + "'");
  return ss.str();
}

namespace {

// Files that show a run has produced something worth protecting.
bool has_progress(const fs::path& p) {
  for (const char* f : {"train.csv", "eval.csv", "metrics.jsonl"}) {
    std::error_code ec;
    if (fs::exists(p / f, ec) && fs::file_size(p / f, ec) > 0) return true;
  }
  std::error_code ec;
  if (fs::exists(p / "checkpoints", ec) && !fs::is_empty(p / "checkpoints", ec)) return true;
  return false;
}

void make_dirs(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec || !fs::is_directory(p)) throw IOError("cannot create run folder '" + p.string() + "': " + ec.message());
}

}  // namespace

RunDir RunDir::open(const fs::path& path, const std::string& config_toml, Mode mode) {
  RunDir r;
  r.path_ = path;
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (exists && !fs::is_directory(path, ec)) throw IOError("run folder '" + path.string() + "' exists and is not a folder");
  const fs::path cfg = path / "config.toml";

  switch (mode) {
    case Mode::Resume:
      if (!fs::exists(cfg, ec))
        throw IOError("cannot resume '" + path.string() + "': it holds no run (no config.toml)");
      r.resumed_ = true;
      make_dirs(r.checkpoints_dir());
      return r;
    case Mode::Overwrite:
      if (exists) {
        fs::remove_all(path, ec);
        if (ec) throw IOError("cannot clear run folder '" + path.string() + "': " + ec.message());
      }
      break;
    case Mode::New:
      if (exists && !fs::is_empty(path, ec)) {
        const bool same_config = fs::exists(cfg, ec) && read_text_file(cfg) == config_toml;
        if (!same_config || has_progress(path))
          throw IOError("run folder '" + path.string() + "' already holds " +
                        (fs::exists(cfg, ec) ? std::string(same_config ? "a run with logs or checkpoints"
                                                                       : "a different run (its config.toml differs)")
                                             : std::string("other files")) +
                        "; resume it (--resume " + path.string() + "), choose another --out, or overwrite it");
      }
      break;
  }
  make_dirs(path);
  make_dirs(r.checkpoints_dir());
  write_file_atomic(cfg.string(), config_toml);
  return r;
}

RunDir RunDir::existing(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path / "config.toml", ec))
    throw IOError("'" + path.string() + "' is not a run folder (no config.toml)");
  RunDir r;
  r.path_ = path;
  r.resumed_ = true;
  return r;
}

std::string RunDir::config_text() const { return read_text_file(config_path()); }

}  // namespace anyrl::rl
