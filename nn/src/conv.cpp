#include "anyrl/nn/conv.hpp"

#include <algorithm>

namespace anyrl::nn {

Conv2d::Conv2d(std::int64_t cin, std::int64_t cout, std::int64_t k, Generator& gen, std::int64_t stride,
               std::int64_t padding, bool has_bias, Init init, double gain)
    : cin_(cin), cout_(cout), k_(k), stride_(stride), padding_(padding) {
  if (cin <= 0 || cout <= 0 || k <= 0 || stride <= 0 || padding < 0) throw ValueError("Conv2d: invalid sizes");
  weight = Tensor::empty(Shape{cout, cin, k, k});
  if (has_bias) bias = Tensor::empty(Shape{cout});
  init_weight_bias(weight, has_bias ? &bias : nullptr, init, gen, gain, false);
  register_parameter("weight", weight);
  if (has_bias) register_parameter("bias", bias);
}

// Column (oy, ox) row of im2col holds, for c, ky, kx, the input pixel (c, oy*s + ky - p,
// ox*s + kx - p), or the zero appended after the C*H*W pixels when it falls in the padding.
Tensor Conv2d::im2col_index(std::int64_t H, std::int64_t W) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(H, W);
  auto it = index_cache_.find(key);
  if (it != index_cache_.end()) return it->second;
  const std::int64_t Ho = out_size(H), Wo = out_size(W), zero = cin_ * H * W;
  std::vector<std::int64_t> idx;
  idx.reserve(static_cast<std::size_t>(Ho * Wo * cin_ * k_ * k_));
  for (std::int64_t oy = 0; oy < Ho; ++oy)
    for (std::int64_t ox = 0; ox < Wo; ++ox)
      for (std::int64_t c = 0; c < cin_; ++c)
        for (std::int64_t ky = 0; ky < k_; ++ky)
          for (std::int64_t kx = 0; kx < k_; ++kx) {
            const std::int64_t y = oy * stride_ + ky - padding_, x = ox * stride_ + kx - padding_;
            idx.push_back(y < 0 || y >= H || x < 0 || x >= W ? zero : (c * H + y) * W + x);
          }
  Tensor t = Tensor::from_vector<std::int64_t>(idx);
  index_cache_[key] = t;
  return t;
}

Tensor Conv2d::forward(const Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != cin_)
    throw ShapeError("Conv2d: input must be [N, " + std::to_string(cin_) + ", H, W], got " + x.desc());
  const std::int64_t N = x.size(0), H = x.size(2), W = x.size(3), Ho = out_size(H), Wo = out_size(W);
  if (Ho <= 0 || Wo <= 0) throw ShapeError("Conv2d: input " + x.desc() + " is smaller than the kernel");
  Tensor flat = x.reshape(Shape{N, cin_ * H * W});
  if (padding_ > 0) flat = concat({flat, Tensor::zeros(Shape{N, 1}, x.dtype())}, 1);
  Tensor cols = index_select(flat, 1, im2col_index(H, W)).reshape(Shape{N, Ho * Wo, cin_ * k_ * k_});
  Tensor y = linear(cols, weight.reshape(Shape{cout_, cin_ * k_ * k_}), bias);  // [N, L, out]
  return permute(y, {0, 2, 1}).reshape(Shape{N, cout_, Ho, Wo});
}

CnnEncoder::CnnEncoder(const CnnEncoderConfig& cfg, Generator& gen) : cfg_(cfg), norm_(cfg.feature_dim) {
  if (cfg.layers < 1) throw ValueError("CnnEncoder: needs at least one conv layer");
  std::int64_t c = cfg.channels, h = cfg.height, w = cfg.width;
  for (int i = 0; i < cfg.layers; ++i) {
    convs_.push_back(std::make_unique<Conv2d>(c, cfg.filters, cfg.kernel, gen, i == 0 ? 2 : 1, 0, true,
                                              Init::KaimingUniform));
    register_module("convs." + std::to_string(i), *convs_.back());
    h = convs_.back()->out_size(h);
    w = convs_.back()->out_size(w);
    c = cfg.filters;
    if (h <= 0 || w <= 0) throw ValueError("CnnEncoder: the image is too small for " + std::to_string(cfg.layers) + " layers");
  }
  fc_ = std::make_unique<Linear>(c * h * w, cfg.feature_dim, gen);
  register_module("fc", *fc_);
  register_module("norm", norm_);
}

Tensor CnnEncoder::forward(const Tensor& obs) const {
  if (obs.dim() != 4 || obs.size(1) != cfg_.channels || obs.size(2) != cfg_.height || obs.size(3) != cfg_.width)
    throw ShapeError("CnnEncoder: expected [N, " + std::to_string(cfg_.channels) + ", " + std::to_string(cfg_.height) +
                     ", " + std::to_string(cfg_.width) + "], got " + obs.desc());
  Tensor x = add(mul(obs, cfg_.pixel_scale), -0.5);
  for (const auto& c : convs_) x = relu(c->forward(x));
  x = x.reshape(Shape{x.size(0), -1});
  return tanh(norm_.forward(fc_->forward(x)));
}

Tensor random_shift(const Tensor& x, std::int64_t pad, Generator& gen) {
  if (x.dim() != 4) throw ShapeError("random_shift: input must be [N, C, H, W], got " + x.desc());
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  if (pad == 0) return x;
  Tensor shifts = randint(Shape{N, 2}, 0, 2 * pad + 1, gen);
  const std::int64_t* s = shifts.data<std::int64_t>();
  std::vector<std::int64_t> idx(static_cast<std::size_t>(x.numel()));
  std::size_t q = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t dy = s[2 * n] - pad, dx = s[2 * n + 1] - pad;
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < H; ++i)
        for (std::int64_t j = 0; j < W; ++j) {
          const std::int64_t y = std::clamp<std::int64_t>(i + dy, 0, H - 1), xx = std::clamp<std::int64_t>(j + dx, 0, W - 1);
          idx[q++] = ((n * C + c) * H + y) * W + xx;
        }
  }
  return index_select(x.reshape(Shape{x.numel()}), 0, Tensor::from_vector<std::int64_t>(idx)).reshape(x.shape());
}

}  // namespace anyrl::nn
