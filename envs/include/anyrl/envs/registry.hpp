// Creating environments by name.
//
// Built-in names: pointmaze-{umaze,medium,large}, kitchen-like-{complete,partial,mixed},
// pendulum, and "<name>-pixels" for any of them (64x64 RGB observations, see pixels.hpp).
#pragma once
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "anyrl/envs/env.hpp"

namespace anyrl::envs {

// Thrown for a name that is not registered; the message lists the valid names.
class UnknownEnvError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

using EnvFactory = std::function<std::unique_ptr<Env>()>;

// Creates the environment registered under `name`. A "-pixels" suffix wraps any registered env
// in PixelsEnv (64x64, no frame stacking); use PixelsEnv directly for other settings.
std::unique_ptr<Env> make_env(const std::string& name);
// Sorted list of registered names (without the -pixels variants).
std::vector<std::string> env_names();
bool env_exists(const std::string& name);
// Registers (or replaces) a factory. Thread-safe.
void register_env(const std::string& name, EnvFactory factory);

}  // namespace anyrl::envs
