// Checkpoints: everything needed to resume a run bitwise — named groups of tensors (policy,
// critic, target, optimisers, buffers, RNG states, counters) plus string metadata — stored as ONE
// safetensors file per checkpoint (tensor "group/name"), so a checkpoint is complete or absent.
//
// Atomicity: the file is written to a temporary name, synced and renamed (save_safetensors), and
// only then does the `latest` pointer file (also written atomically) name it. A crash at any
// point leaves `latest` naming the previous, complete checkpoint.
//
// The files are plain safetensors: `safetensors.safe_open(path)` in Python reads them.
#pragma once
#include <cstdint>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "anyrl/engine/optim.hpp"  // TensorMap
#include "anyrl/engine/error.hpp"
#include "anyrl/engine/rng.hpp"

namespace anyrl::rl {

struct Checkpoint {
  /// Tensor groups by name ("policy", "critic", "critic_target", "critic_optim", "buffer", ...).
  /// Group names and tensor names must not contain '/' in the group part.
  std::map<std::string, TensorMap> groups;
  /// Free-form strings (e.g. "phase", a JSON blob of trainer state). Keys starting with
  /// "anyrl." are reserved.
  std::map<std::string, std::string> metadata;
  /// Step counter this checkpoint was taken at (also in the file name).
  std::int64_t step = 0;

  /// The group, created if absent (for filling).
  TensorMap& group(const std::string& name) { return groups[name]; }
  /// The group; throws ValueError naming the checkpoint's groups when it is missing.
  const TensorMap& at(const std::string& name) const;
  bool has(const std::string& name) const { return groups.count(name) != 0; }
  /// One tensor of a group; throws ValueError naming the group's entries when missing.
  const Tensor& tensor(const std::string& group, const std::string& name) const;
  /// Throws ValueError listing every group of `names` that is absent.
  void require(const std::vector<std::string>& names) const;

  // Counters (group "counters", int64 scalars) and RNG states (group "rng", int64 [3]).
  void set_counter(const std::string& name, std::int64_t value);
  std::int64_t counter(const std::string& name) const;
  void set_rng(const std::string& name, const Generator& gen);
  /// Restores `gen` to the saved state.
  void get_rng(const std::string& name, Generator& gen) const;

  /// Origin of a loaded checkpoint (for messages).
  std::string source;
};

/// Writes `ck` to `path` atomically. Throws IOError.
void save_checkpoint(const std::filesystem::path& path, const Checkpoint& ck);
/// Reads a checkpoint; a truncated/corrupt file or one that is not an anyrl checkpoint throws
/// IOError naming the file; `required` groups that are missing throw ValueError naming them.
Checkpoint load_checkpoint(const std::filesystem::path& path, const std::vector<std::string>& required = {});

/// The checkpoints of one run folder: ckpt_<step>[_<tag>].safetensors + `latest`.
class CheckpointManager {
 public:
  /// `keep_last` > 0: after each save, only the newest `keep_last` unpinned checkpoints stay.
  explicit CheckpointManager(std::filesystem::path dir, int keep_last = 3);

  /// Saves ck as ckpt_<step>.safetensors (or ckpt_<step>_<tag> when `tag` is given), points
  /// `latest` at it and prunes. `pinned` checkpoints (phase ends) are never pruned.
  std::filesystem::path save(const Checkpoint& ck, const std::string& tag = "", bool pinned = false);
  /// The checkpoint `latest` names, if any (nullopt for a fresh run). Throws IOError when
  /// `latest` names a file that does not exist.
  std::optional<std::filesystem::path> latest() const;
  /// load_checkpoint(latest()); throws IOError when there is none.
  Checkpoint load_latest(const std::vector<std::string>& required = {}) const;
  /// Checkpoint files present, oldest step first.
  std::vector<std::filesystem::path> list() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  int keep_last_;
};

// ---- NaN / Inf guard ----------------------------------------------------------------------------

/// Thrown by check_finite: `what()` is e.g. "critic loss is NaN" or
/// "q_values has 3 NaN and 1 Inf among 256 values (first at index 17)".
struct NonFiniteError : ValueError {
  NonFiniteError(const std::string& name, const std::string& msg) : ValueError(msg), name(name) {}
  std::string name;
};
/// Throws NonFiniteError when `t` (any float tensor; CPU or device) holds NaN/Inf.
void check_finite(const std::string& name, const Tensor& t);
void check_finite(const std::string& name, double value);
/// Exploding values: throws NonFiniteError when |t| exceeds `limit` anywhere (or is not finite).
void check_bounded(const std::string& name, const Tensor& t, double limit);
/// "stopped at step S: <error>; last good checkpoint: <path>" (or "no checkpoint was written").
std::string stopped_message(std::int64_t step, const std::exception& error,
                            const std::optional<std::filesystem::path>& last_good);

}  // namespace anyrl::rl
