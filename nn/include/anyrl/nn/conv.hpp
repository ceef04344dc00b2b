// Convolutions for pixel observations: Conv2d (im2col built from the engine's index_select and
// a GEMM — a clear, correct CPU implementation; cuDNN arrives with the CUDA backend), a small
// DrQ-style CNN encoder, and random-shift augmentation (Yarats et al., 4 px).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "anyrl/nn/layers.hpp"

namespace anyrl::nn {

/// 2-D convolution, NCHW. Weight [out, in, k, k] (PyTorch layout), bias [out].
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Generator& gen,
         std::int64_t stride = 1, std::int64_t padding = 0, bool bias = true, Init init = Init::TorchDefault,
         double gain = 0.0);
  /// x[N, C, H, W] -> [N, out, Ho, Wo], Ho = (H + 2 pad - k) / stride + 1.
  Tensor forward(const Tensor& x) const;
  std::int64_t out_size(std::int64_t in) const { return (in + 2 * padding_ - k_) / stride_ + 1; }

  Tensor weight, bias;

 private:
  std::int64_t cin_, cout_, k_, stride_, padding_;
  // im2col gather indices per input (H, W), built once.
  mutable std::mutex mu_;
  mutable std::map<std::pair<std::int64_t, std::int64_t>, Tensor> index_cache_;
  Tensor im2col_index(std::int64_t H, std::int64_t W) const;
};

struct CnnEncoderConfig {
  std::int64_t channels = 3;  ///< input channels (3 for RGB, 3 * frames for stacked frames)
  std::int64_t height = 64, width = 64;
  std::int64_t filters = 32;
  int layers = 4;             ///< first conv has stride 2, the rest stride 1 (DrQ)
  std::int64_t kernel = 3;
  std::int64_t feature_dim = 50;
  double pixel_scale = 1.0 / 255.0;  ///< inputs are scaled by this and shifted by -0.5
};

/// Convs (ReLU) -> flatten -> Linear(feature_dim) -> LayerNorm -> tanh (DrQ-v2's trunk).
/// Parameters: convs.<i>.*, fc.*, norm.*.
class CnnEncoder : public Encoder {
 public:
  CnnEncoder(const CnnEncoderConfig& cfg, Generator& gen);
  Tensor forward(const Tensor& obs) const override;
  std::int64_t out_dim() const override { return cfg_.feature_dim; }
  Shape input_shape() const override { return Shape{cfg_.channels, cfg_.height, cfg_.width}; }
  const CnnEncoderConfig& config() const { return cfg_; }

 private:
  CnnEncoderConfig cfg_;
  std::vector<std::unique_ptr<Conv2d>> convs_;
  std::unique_ptr<Linear> fc_;
  LayerNorm norm_;
};

/// Random-shift augmentation: pads each image by `pad` pixels (edge replication) and crops a
/// random H x W window, one shift per image, drawn from `gen`. x[N, C, H, W] -> same shape.
/// Differentiable (an index_select).
Tensor random_shift(const Tensor& x, std::int64_t pad, Generator& gen);

}  // namespace anyrl::nn
