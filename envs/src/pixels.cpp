#include "anyrl/envs/pixels.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace anyrl::envs {

PixelsEnv::PixelsEnv(std::unique_ptr<Env> inner, int size, int frame_stack)
    : inner_(std::move(inner)), size_(size), stack_(frame_stack) {
  if (!inner_) throw std::invalid_argument("PixelsEnv: null inner env");
  if (size_ <= 0 || stack_ <= 0)
    throw std::invalid_argument("PixelsEnv: size and frame_stack must be positive");
  spec_ = inner_->spec();
  spec_.name = inner_->spec().name + "-pixels";
  spec_.obs_shape = {3 * stack_, size_, size_};
  frames_.assign(static_cast<size_t>(stack_) * 3 * size_ * size_, 0.f);
  rgb_.resize(static_cast<size_t>(size_) * size_ * 3);
  scratch_.resize(inner_->obs_dim());
}

std::unique_ptr<Env> PixelsEnv::clone() const {
  auto c = std::make_unique<PixelsEnv>(inner_->clone(), size_, stack_);
  c->load_state(save_state());
  return c;
}

void PixelsEnv::push_frame() {
  const size_t plane = static_cast<size_t>(size_) * size_, frame = 3 * plane;
  // Drop the oldest frame, then convert HWC bytes to CHW floats in [0, 1].
  std::memmove(frames_.data(), frames_.data() + frame, (frames_.size() - frame) * sizeof(float));
  inner_->render_rgb(size_, size_, rgb_);
  float* dst = frames_.data() + frames_.size() - frame;
  for (size_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) dst[c * plane + p] = rgb_[p * 3 + c] * (1.f / 255.f);
}

void PixelsEnv::do_reset(uint64_t seed) {
  inner_->reset(seed, scratch_);
  for (int k = 0; k < stack_; ++k) push_frame();
}

StepResult PixelsEnv::do_step(std::span<const float> action) {
  StepResult r = inner_->step(action, scratch_);
  r.truncated = false;  // the wrapper applies the (identical) time limit itself
  push_frame();
  return r;
}

void PixelsEnv::do_observe(std::span<float> obs) const {
  std::copy(frames_.begin(), frames_.end(), obs.begin());
}

void PixelsEnv::do_render(int w, int h, std::span<uint8_t> out) const { inner_->render_rgb(w, h, out); }

std::vector<std::byte> PixelsEnv::do_save() const {
  // Inner state (with its step count) followed by the frame stack.
  EnvState in = inner_->save_state();
  std::vector<std::byte> b(sizeof(int) + in.bytes.size() + frames_.size() * sizeof(float));
  std::memcpy(b.data(), &in.elapsed_steps, sizeof(int));
  std::memcpy(b.data() + sizeof(int), in.bytes.data(), in.bytes.size());
  std::memcpy(b.data() + sizeof(int) + in.bytes.size(), frames_.data(), frames_.size() * sizeof(float));
  return b;
}

void PixelsEnv::do_load(std::span<const std::byte> b) {
  const size_t fbytes = frames_.size() * sizeof(float);
  if (b.size() < sizeof(int) + fbytes)
    throw std::invalid_argument(spec_.name + ": state too small");
  EnvState in;
  in.env_name = inner_->spec().name;
  std::memcpy(&in.elapsed_steps, b.data(), sizeof(int));
  in.bytes.assign(b.begin() + sizeof(int), b.end() - fbytes);
  inner_->load_state(in);
  std::memcpy(frames_.data(), b.data() + (b.size() - fbytes), fbytes);
}

}  // namespace anyrl::envs
