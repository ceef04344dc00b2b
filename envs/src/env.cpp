#include "anyrl/envs/env.hpp"

#include <stdexcept>

namespace anyrl::envs {

int EnvSpec::obs_dim() const {
  int n = 1;
  for (int d : obs_shape) n *= d;
  return n;
}

void Info::set(const char* key, double value) {
  for (int i = 0; i < n_; ++i)
    if (std::string_view(items_[i].key) == key) {
      items_[i].value = value;
      return;
    }
  if (n_ == kCapacity) throw std::length_error("anyrl::envs::Info: more than 16 items");
  items_[n_++] = {key, value};
}

std::optional<double> Info::get(std::string_view key) const {
  for (int i = 0; i < n_; ++i)
    if (key == items_[i].key) return items_[i].value;
  return std::nullopt;
}

static void check_size(size_t got, int want, const char* what, const EnvSpec& spec) {
  if (got != static_cast<size_t>(want))
    throw std::invalid_argument(spec.name + ": " + what + " has " + std::to_string(got) +
                                " floats, expected " + std::to_string(want));
}

void Env::reset(uint64_t seed, std::span<float> obs) {
  check_size(obs.size(), obs_dim(), "observation buffer", spec());
  elapsed_ = 0;
  do_reset(seed);
  do_observe(obs);
}

StepResult Env::step(std::span<const float> action, std::span<float> obs) {
  const EnvSpec& sp = spec();
  check_size(action.size(), sp.action_dim, "action", sp);
  check_size(obs.size(), sp.obs_dim(), "observation buffer", sp);
  StepResult r = do_step(action);
  ++elapsed_;
  if (!r.terminated && sp.time_limit > 0 && elapsed_ >= sp.time_limit) r.truncated = true;
  do_observe(obs);
  return r;
}

void Env::observe(std::span<float> obs) const {
  check_size(obs.size(), obs_dim(), "observation buffer", spec());
  do_observe(obs);
}

void Env::render_rgb(int width, int height, std::span<uint8_t> out) const {
  if (width <= 0 || height <= 0)
    throw std::invalid_argument(spec().name + ": render size must be positive");
  if (out.size() != static_cast<size_t>(width) * height * 3)
    throw std::invalid_argument(spec().name + ": render buffer must hold width*height*3 bytes");
  do_render(width, height, out);
}

std::vector<uint8_t> Env::render_rgb(int width, int height) const {
  std::vector<uint8_t> out(static_cast<size_t>(std::max(width, 0)) * std::max(height, 0) * 3);
  render_rgb(width, height, out);
  return out;
}

EnvState Env::save_state() const { return {spec().name, elapsed_, do_save()}; }

void Env::load_state(const EnvState& st) {
  if (st.env_name != spec().name)
    throw std::invalid_argument("load_state: state of '" + st.env_name + "' given to '" +
                                spec().name + "'");
  do_load(st.bytes);
  elapsed_ = st.elapsed_steps;
}

void check_state_size(std::span<const std::byte> bytes, size_t expected, const char* env) {
  if (bytes.size() != expected)
    throw std::invalid_argument(std::string(env) + ": state of " + std::to_string(bytes.size()) +
                                " bytes, expected " + std::to_string(expected));
}

}  // namespace anyrl::envs
