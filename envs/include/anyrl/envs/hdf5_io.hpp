// D4RL-format HDF5 files (libhdf5 C API).
//
// Layout: /observations (N, obs_dim), /actions (N, A), /rewards (N,), /terminals (N,),
// /timeouts (N,), optional /next_observations (N, obs_dim) and /infos/<name> (N,) or (N, k),
// string attributes on the root group. Reading accepts float32/float64 (and integer) data,
// h5py booleans, chunked and compressed datasets. Not thread-safe against other HDF5 users in
// the process; calls from this library are serialised by an internal mutex.
#pragma once
#include <functional>
#include <stdexcept>
#include <string>

#include "anyrl/envs/dataset.hpp"

namespace anyrl::envs {

// A dataset file that cannot be used; the message names the file, the dataset and, for bad
// values, the first offending index.
class DatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ActionRangePolicy {
  Clip,    // clip actions to [-1, 1] and warn once (what D4RL users do)
  Refuse,  // throw DatasetError
  Ignore,  // keep the values as they are
};

struct ReadOptions {
  ActionRangePolicy action_range = ActionRangePolicy::Clip;
  float action_tolerance = 1e-5f;  // values within this of [-1, 1] are clipped silently
  bool read_infos = true;
  // Receives warnings (clipped actions, missing timeouts); default prints to stderr.
  std::function<void(const std::string&)> warn;
};

// Reads and validates a D4RL-format file. Throws DatasetError for: a missing observations,
// actions or rewards dataset, a length mismatch, NaN/Inf in any float array, actions out of
// range (under ActionRangePolicy::Refuse).
Dataset read_d4rl(const std::string& path, const ReadOptions& opt = {});

struct WriteOptions {
  bool float64 = false;        // store float arrays as float64 instead of float32
  int compression = 4;         // gzip level 0..9 (0: no filter; still chunked)
  bool next_observations = true;  // write next_observations when the dataset has them
};
// Writes a dataset (terminals/timeouts as h5py-compatible booleans). Overwrites `path`.
void write_d4rl(const std::string& path, const Dataset& d, const WriteOptions& opt = {});

// Checks sizes and values of an in-memory dataset (same errors as read_d4rl, `source` names it).
void validate_dataset(const Dataset& d, const std::string& source);

}  // namespace anyrl::envs
