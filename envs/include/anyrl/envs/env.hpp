// anyrl::envs — the environment interface.
//
// Plain C++ (no engine types): observations and actions are flat float arrays passed as spans.
// Actions always live in [-1, 1]^A; environments clip out-of-range actions themselves, so a
// policy's raw output can be fed directly. Observation layout is given by EnvSpec::obs_shape
// (row-major; pixel observations are channel-first).
#pragma once
#include <array>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace anyrl::envs {

// Static description of an environment.
struct EnvSpec {
  std::string name;            // registry name, e.g. "pointmaze-large"
  std::vector<int> obs_shape;  // e.g. {4} or {3, 64, 64}
  int action_dim = 0;          // actions are in [-1, 1]^action_dim
  int time_limit = 0;          // episodes are truncated after this many steps
  float reward_min = 0.f;      // range of the per-step reward (for reward shifting,
  float reward_max = 0.f;      // e.g. Cal-QL's "best per-step reward is 0" bias)
  bool sparse_reward = false;  // reward only on (partial) task completion

  // Number of floats in one observation (product of obs_shape).
  int obs_dim() const;
};

// One named numeric entry of Info. Keys point to static strings (string literals), so filling
// an Info never allocates and stepping stays allocation-free.
struct InfoItem {
  const char* key = nullptr;
  double value = 0.0;
};

// Per-step diagnostics. `success` is the task-level success flag every env sets; the items carry
// task-specific counters (e.g. "tasks_completed", "dist_to_goal").
class Info {
 public:
  static constexpr int kCapacity = 16;
  bool success = false;

  // Sets `key` (a string literal) to `value`, overwriting an existing entry.
  void set(const char* key, double value);
  // The value of `key`, or nullopt when absent.
  std::optional<double> get(std::string_view key) const;
  std::span<const InfoItem> items() const { return {items_.data(), static_cast<size_t>(n_)}; }
  void clear() {
    n_ = 0;
    success = false;
  }

 private:
  std::array<InfoItem, kCapacity> items_{};
  int n_ = 0;
};

struct StepResult {
  float reward = 0.f;
  bool terminated = false;  // the MDP ended (e.g. goal reached): do not bootstrap
  bool truncated = false;   // the time limit was hit: bootstrap from the last observation
  Info info;
};

// Opaque snapshot of an environment's full state (including its elapsed step count and random
// state), restorable into the same kind of environment with Env::load_state.
struct EnvState {
  std::string env_name;
  int elapsed_steps = 0;
  std::vector<std::byte> bytes;
};

// Base class of every environment. Non-virtual public methods check argument sizes and apply the
// time limit; subclasses implement the do_* hooks.
class Env {
 public:
  virtual ~Env() = default;

  virtual const EnvSpec& spec() const = 0;
  int obs_dim() const { return spec().obs_dim(); }
  int action_dim() const { return spec().action_dim; }

  // Starts a new episode. The same seed always gives the same initial state. Writes the first
  // observation into `obs` (size obs_dim()).
  void reset(uint64_t seed, std::span<float> obs);
  // Applies `action` (size action_dim(), clipped to [-1, 1]) and writes the next observation.
  // `truncated` is set when the step count reaches spec().time_limit and the step did not
  // terminate. Stepping after the end of an episode is allowed but meaningless until reset.
  StepResult step(std::span<const float> action, std::span<float> obs);
  // Current observation (the one the last reset/step produced).
  void observe(std::span<float> obs) const;

  // Steps taken since the last reset.
  int elapsed_steps() const { return elapsed_; }

  // RGB rendering of the current state, row-major height x width x 3 bytes.
  void render_rgb(int width, int height, std::span<uint8_t> out) const;
  std::vector<uint8_t> render_rgb(int width, int height) const;

  // Deep copy (same state, independent afterwards).
  virtual std::unique_ptr<Env> clone() const = 0;
  // Save/restore the full state, e.g. to evaluate from a given state or branch rollouts.
  EnvState save_state() const;
  // Throws std::invalid_argument if the state came from a different kind of environment.
  void load_state(const EnvState& state);

 protected:
  virtual void do_reset(uint64_t seed) = 0;
  virtual StepResult do_step(std::span<const float> action) = 0;
  virtual void do_observe(std::span<float> obs) const = 0;
  virtual void do_render(int width, int height, std::span<uint8_t> out) const = 0;
  virtual std::vector<std::byte> do_save() const = 0;
  virtual void do_load(std::span<const std::byte> bytes) = 0;

 private:
  int elapsed_ = 0;
};

// Helpers for environments whose state is one trivially-copyable struct.
template <class T>
std::vector<std::byte> pod_bytes(const T& s) {
  std::vector<std::byte> b(sizeof(T));
  std::memcpy(b.data(), &s, sizeof(T));
  return b;
}
// Throws std::invalid_argument when the size does not match.
void check_state_size(std::span<const std::byte> bytes, size_t expected, const char* env);
template <class T>
void pod_load(std::span<const std::byte> b, T& s, const char* env) {
  check_state_size(b, sizeof(T), env);
  std::memcpy(&s, b.data(), sizeof(T));
}

}  // namespace anyrl::envs
