// Pixel observations: wraps any env and replaces its observation by its own RGB rendering
// (no proprioception), the CALVIN-style variant. Observation shape is (3 * frame_stack, size,
// size), channel-first, values in [0, 1]; the oldest frame comes first. After reset the stack is
// filled with copies of the first frame.
#pragma once
#include <memory>

#include "anyrl/envs/env.hpp"

namespace anyrl::envs {

class PixelsEnv final : public Env {
 public:
  explicit PixelsEnv(std::unique_ptr<Env> inner, int size = 64, int frame_stack = 1);

  const EnvSpec& spec() const override { return spec_; }
  std::unique_ptr<Env> clone() const override;
  Env& inner() { return *inner_; }
  const Env& inner() const { return *inner_; }

 protected:
  void do_reset(uint64_t seed) override;
  StepResult do_step(std::span<const float> action) override;
  void do_observe(std::span<float> obs) const override;
  void do_render(int width, int height, std::span<uint8_t> out) const override;
  std::vector<std::byte> do_save() const override;
  void do_load(std::span<const std::byte> b) override;

 private:
  void push_frame();
  std::unique_ptr<Env> inner_;
  int size_, stack_;
  EnvSpec spec_;
  std::vector<float> frames_;   // stack_ x 3 x size x size, oldest first
  std::vector<uint8_t> rgb_;    // scratch
  std::vector<float> scratch_;  // inner observation (discarded)
};

}  // namespace anyrl::envs
