// pendulum: the classic swing-up with Gymnasium's Pendulum-v1 constants and reward.
//   th'' = 3g/(2l) sin(th) + 3/(m l^2) u,  g = 10, m = l = 1, dt = 0.05, |th'| <= 8, |u| <= 2
//   reward = -(normalize(th)^2 + 0.1 th'^2 + 0.001 u^2), time limit 200, never terminates.
// Action a in [-1, 1] is the torque u = 2a. Observation (cos th, sin th, th').
#pragma once
#include "anyrl/envs/env.hpp"

namespace anyrl::envs {

class PendulumEnv final : public Env {
 public:
  PendulumEnv();
  const EnvSpec& spec() const override { return spec_; }
  std::unique_ptr<Env> clone() const override;
  // Current angle (0 = upright) and angular velocity.
  double theta() const { return s_.th; }
  double theta_dot() const { return s_.thdot; }
  void set_state(double th, double thdot) { s_.th = th, s_.thdot = thdot; }

 protected:
  void do_reset(uint64_t seed) override;
  StepResult do_step(std::span<const float> action) override;
  void do_observe(std::span<float> obs) const override;
  void do_render(int width, int height, std::span<uint8_t> out) const override;
  std::vector<std::byte> do_save() const override { return pod_bytes(s_); }
  void do_load(std::span<const std::byte> b) override { pod_load(b, s_, "pendulum"); }

 private:
  struct State {
    double th = 0, thdot = 0, last_u = 0;
  };
  EnvSpec spec_;
  State s_;
};

}  // namespace anyrl::envs
