// Helpers shared by the trainer-level rl test suites.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace anyrl_test {

/// The source tree (configs are read from there): $ANYRL_SOURCE_DIR, else the configure-time path.
inline std::filesystem::path source_dir() {
  if (const char* r = std::getenv("ANYRL_SOURCE_DIR")) return r;
  return ANYRL_TEST_SOURCE_DIR;
}

/// A fresh (emptied) scratch folder, unique per process, prefixed by the suite name.
inline std::filesystem::path scratch(const std::string& suite, const std::string& name) {
  std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("anyrl_test_" + suite + "_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(p);
  return p;
}

}  // namespace anyrl_test
