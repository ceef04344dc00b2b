#include "anyrl/envs/pendulum.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "canvas.hpp"
#include "rng.hpp"

namespace anyrl::envs {
namespace {
// Gymnasium Pendulum-v1 constants.
constexpr double kMaxSpeed = 8.0, kMaxTorque = 2.0, kDt = 0.05, kG = 10.0, kM = 1.0, kL = 1.0;
double angle_normalize(double x) {
  const double two_pi = 2 * std::numbers::pi;
  return std::fmod(std::fmod(x + std::numbers::pi, two_pi) + two_pi, two_pi) - std::numbers::pi;
}
}  // namespace

PendulumEnv::PendulumEnv() {
  spec_.name = "pendulum";
  spec_.obs_shape = {3};
  spec_.action_dim = 1;
  spec_.time_limit = 200;
  const double pi = std::numbers::pi;
  spec_.reward_min = static_cast<float>(-(pi * pi + 0.1 * kMaxSpeed * kMaxSpeed + 0.001 * kMaxTorque * kMaxTorque));
  spec_.reward_max = 0.f;
}

std::unique_ptr<Env> PendulumEnv::clone() const { return std::make_unique<PendulumEnv>(*this); }

void PendulumEnv::do_reset(uint64_t seed) {
  detail::Rng rng(seed);
  s_.th = rng.uniform(-std::numbers::pi, std::numbers::pi);
  s_.thdot = rng.uniform(-1.0, 1.0);
  s_.last_u = 0.0;
}

StepResult PendulumEnv::do_step(std::span<const float> action) {
  double a = action[0];
  if (std::isnan(a)) a = 0.0;
  const double u = std::clamp(a, -1.0, 1.0) * kMaxTorque;
  const double th = s_.th, thdot = s_.thdot;
  const double cost = std::pow(angle_normalize(th), 2) + 0.1 * thdot * thdot + 0.001 * u * u;
  double nthdot = thdot + (3 * kG / (2 * kL) * std::sin(th) + 3.0 / (kM * kL * kL) * u) * kDt;
  nthdot = std::clamp(nthdot, -kMaxSpeed, kMaxSpeed);
  s_.th = th + nthdot * kDt;
  s_.thdot = nthdot;
  s_.last_u = u;
  StepResult r;
  r.reward = static_cast<float>(-cost);
  // "Success" = balanced upright (|th| < 0.1 rad and slow), a diagnostic only.
  r.info.success = std::abs(angle_normalize(s_.th)) < 0.1 && std::abs(s_.thdot) < 1.0;
  r.info.set("cost", cost);
  return r;
}

void PendulumEnv::do_observe(std::span<float> obs) const {
  obs[0] = static_cast<float>(std::cos(s_.th));
  obs[1] = static_cast<float>(std::sin(s_.th));
  obs[2] = static_cast<float>(s_.thdot);
}

void PendulumEnv::do_render(int w, int h, std::span<uint8_t> out) const {
  detail::Canvas cv(w, h, out, -1.25, -1.25, 1.25, 1.25, /*y_down=*/false);
  cv.clear({245, 245, 245});
  // th = 0 is upright; positive th turns counter-clockwise.
  const double ex = -std::sin(s_.th), ey = std::cos(s_.th);
  cv.line(0, 0, ex, ey, 0.2, {204, 77, 77});
  cv.circle(0, 0, 0.06, {40, 40, 40});
  // Torque indicator: an arc-ish bar whose length shows the last torque.
  cv.line(0, -1.1, 0.5 * s_.last_u / kMaxTorque, -1.1, 0.08, {60, 60, 200});
}

}  // namespace anyrl::envs
