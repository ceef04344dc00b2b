// safetensors I/O (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
// then the raw little-endian data. Files written by anyrl load in Python's `safetensors`
// and NumPy, and theirs load here.
#pragma once
#include <map>
#include <string>

#include "anyrl/engine/optim.hpp"

namespace anyrl {

/// Writes `tensors` (CPU or not; copied to host) to `path` atomically: the data goes to a
/// temporary file in the same folder which is flushed, synced and renamed over `path`, so a
/// crash never leaves a half-written file under the final name. Throws IOError.
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor of a safetensors file onto the CPU. A truncated or corrupt file, an
/// unsupported dtype or inconsistent offsets throw IOError naming the file and the entry.
TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

/// Copies loaded tensors into existing ones (`dst`, e.g. module parameters) by name, checking
/// that every name exists with the same shape and dtype; throws ValueError naming the culprit.
/// With `strict`, extra names in `src` are an error too.
void load_into(const TensorMap& src, const TensorMap& dst, const std::string& what, bool strict = true);

/// Writes `bytes` to `path` atomically (temp file + fsync + rename). Throws IOError.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace anyrl
