// The run folder: runs/NAME/ holds everything one training run produces — the resolved config
// (config.toml), metric logs (train.csv, eval.csv, metrics.jsonl), checkpoints/ and plots — so
// a run can be resumed, evaluated and plotted from its folder alone.
#pragma once
#include <filesystem>
#include <string>

#include "anyrl/engine/error.hpp"

namespace anyrl::rl {

class RunDir {
 public:
  enum class Mode {
    New,        ///< create; refuse a folder that already holds a different run
    Resume,     ///< the folder must hold a run (config.toml); nothing is cleared
    Overwrite,  ///< delete whatever is there and start afresh
  };

  /// Opens `path` for a run whose fully resolved config is `config_toml` (written to
  /// config.toml atomically). Mode::New accepts a missing or empty folder, or one holding the
  /// same config and no logs or checkpoints yet (a run that died before its first step); any
  /// other existing run is refused with an error saying how to resume or overwrite it.
  /// Mode::Resume requires an existing config.toml and does not rewrite it (the trainer reads it
  /// back with config_text()).
  static RunDir open(const std::filesystem::path& path, const std::string& config_toml, Mode mode = Mode::New);
  /// An existing run folder, read-only use (eval, plot). Throws IOError if it holds no run.
  static RunDir existing(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::string name() const { return path_.filename().string(); }
  /// path() / name.
  std::filesystem::path file(const std::string& name) const { return path_ / name; }
  std::filesystem::path config_path() const { return path_ / "config.toml"; }
  /// path()/checkpoints (created by open()).
  std::filesystem::path checkpoints_dir() const { return path_ / "checkpoints"; }
  /// The stored config.toml.
  std::string config_text() const;
  bool resumed() const { return resumed_; }

 private:
  std::filesystem::path path_;
  bool resumed_ = false;
};

/// Reads a whole file (IOError naming it on failure).
std::string read_text_file(const std::filesystem::path& path);

}  // namespace anyrl::rl
