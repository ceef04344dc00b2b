#include "anyrl/nn/layers.hpp"

#include <cmath>
#include <numbers>

namespace anyrl::nn {

Activation parse_activation(const std::string& n) {
  if (n == "identity" || n == "none" || n == "linear") return Activation::Identity;
  if (n == "relu") return Activation::ReLU;
  if (n == "silu" || n == "swish") return Activation::SiLU;
  if (n == "mish") return Activation::Mish;
  if (n == "gelu") return Activation::GELU;
  if (n == "tanh") return Activation::Tanh;
  throw ValueError("parse_activation: unknown activation '" + n + "' (identity, relu, silu, mish, gelu, tanh)");
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::Identity: return "identity";
    case Activation::ReLU: return "relu";
    case Activation::SiLU: return "silu";
    case Activation::Mish: return "mish";
    case Activation::GELU: return "gelu";
    case Activation::Tanh: return "tanh";
  }
  return "?";
}

Tensor activate(const Tensor& x, Activation a) {
  switch (a) {
    case Activation::Identity: return x;
    case Activation::ReLU: return relu(x);
    case Activation::SiLU: return silu(x);
    case Activation::Mish: return mish(x);
    case Activation::GELU: return gelu(x);
    case Activation::Tanh: return tanh(x);
  }
  return x;
}

// ---- Linear ---------------------------------------------------------------------------------
Linear::Linear(std::int64_t in, std::int64_t out, Generator& gen, bool has_bias, Init init, double gain)
    : in_(in), out_(out) {
  if (in <= 0 || out <= 0)
    throw ValueError("Linear: sizes must be positive, got in=" + std::to_string(in) + " out=" + std::to_string(out));
  weight = Tensor::empty(Shape{out, in});
  if (has_bias) bias = Tensor::empty(Shape{out});
  init_weight_bias(weight, has_bias ? &bias : nullptr, init, gen, gain, false);
  register_parameter("weight", weight);
  if (has_bias) register_parameter("bias", bias);
}

EnsembleLinear::EnsembleLinear(std::int64_t e, std::int64_t in, std::int64_t out, Generator& gen, bool has_bias,
                               Init init, double gain)
    : e_(e), in_(in), out_(out) {
  if (e <= 0 || in <= 0 || out <= 0)
    throw ValueError("EnsembleLinear: sizes must be positive, got E=" + std::to_string(e) + " in=" +
                     std::to_string(in) + " out=" + std::to_string(out));
  weight = Tensor::empty(Shape{e, in, out});
  if (has_bias) bias = Tensor::empty(Shape{e, 1, out});
  // Each member initialised like a Linear(in, out) of its own.
  init_weight_bias(weight, has_bias ? &bias : nullptr, init, gen, gain, true);
  register_parameter("weight", weight);
  if (has_bias) register_parameter("bias", bias);
}

Tensor EnsembleLinear::forward(const Tensor& x) const {
  if (x.dim() == 3 && x.size(0) != e_)
    throw ShapeError("EnsembleLinear: input " + x.desc() + " has " + std::to_string(x.size(0)) +
                     " members, expected " + std::to_string(e_));
  if (x.dim() != 2 && x.dim() != 3)
    throw ShapeError("EnsembleLinear: input must be [E, B, in] or [B, in], got " + x.desc());
  return matmul(x, weight, bias);  // bias fused into the GEMM (undefined bias: plain product)
}

// ---- LayerNorm / Dropout / Embedding --------------------------------------------------------
LayerNorm::LayerNorm(std::int64_t dim, double eps, bool affine) : eps_(eps) {
  if (affine) {
    weight = Tensor::ones(Shape{dim});
    bias = Tensor::zeros(Shape{dim});
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
}

Tensor Dropout::forward(const Tensor& x, Generator* gen) const {
  if (!is_training() || p_ == 0.0 || gen == nullptr) return x;
  const double keep = 1.0 - p_;
  Tensor u = rand(x.shape(), *gen, x.dtype());
  return where(lt(u, keep), mul(x, 1.0 / keep), Tensor::scalar(0.0, x.dtype()));
}

Embedding::Embedding(std::int64_t num, std::int64_t dim, Generator& gen, double std) {
  weight = normal(Shape{num, dim}, 0.0, std, gen);
  register_parameter("weight", weight);
}

// ---- MLP ------------------------------------------------------------------------------------
MLP::MLP(const MLPConfig& cfg, Generator& gen) : cfg_(cfg), dropout_(cfg.dropout) {
  if (cfg.in <= 0 || cfg.out <= 0) throw ValueError("MLP: in and out must be positive");
  std::int64_t prev = cfg.in;
  for (std::size_t i = 0; i < cfg.hidden.size(); ++i) {
    layers_.push_back(std::make_unique<Linear>(prev, cfg.hidden[i], gen, true, cfg.init));
    register_module("layers." + std::to_string(i), *layers_.back());
    if (cfg.layer_norm) {
      norms_.push_back(std::make_unique<LayerNorm>(cfg.hidden[i]));
      register_module("norms." + std::to_string(i), *norms_.back());
    }
    prev = cfg.hidden[i];
  }
  layers_.push_back(std::make_unique<Linear>(prev, cfg.out, gen, true, cfg.final_init, cfg.final_gain));
  register_module("layers." + std::to_string(cfg.hidden.size()), *layers_.back());
  register_module("dropout", dropout_);
}

Tensor MLP::forward(const Tensor& x_in, Generator* gen) const {
  Tensor x = x_in;
  const std::size_t n = layers_.size();
  for (std::size_t i = 0; i < n; ++i) {
    x = layers_[i]->forward(x);
    if (i + 1 < n) {
      if (cfg_.layer_norm) x = norms_[i]->forward(x);
      x = activate(x, cfg_.activation);
      x = dropout_.forward(x, gen);
    } else if (cfg_.activate_final) {
      x = activate(x, cfg_.activation);
    }
  }
  return x;
}

// ---- LN-ResNet ------------------------------------------------------------------------------
LNResNet::Block::Block(std::int64_t h, double dropout, bool use_ln, Generator& gen)
    : drop(dropout), norm(h), fc1(h, 4 * h, gen), fc2(4 * h, h, gen), ln(use_ln) {
  register_module("drop", drop);
  if (use_ln) register_module("norm", norm);
  register_module("fc1", fc1);
  register_module("fc2", fc2);
}

LNResNet::LNResNet(const LNResNetConfig& cfg, Generator& gen)
    : input(cfg.in, cfg.hidden, gen), output(cfg.hidden, cfg.out, gen), cfg_(cfg) {
  register_module("input", input);
  for (int i = 0; i < cfg.blocks; ++i) {
    blocks.push_back(std::make_unique<Block>(cfg.hidden, cfg.dropout, cfg.layer_norm, gen));
    register_module("blocks." + std::to_string(i), *blocks.back());
  }
  register_module("output", output);
}

Tensor LNResNet::forward_hidden(const Tensor& h_in, Generator* gen) const {
  Tensor h = h_in;
  for (const auto& b : blocks) {
    Tensor x = b->drop.forward(h, gen);
    if (b->ln) x = b->norm.forward(x);
    x = b->fc2.forward(activate(b->fc1.forward(x), cfg_.activation));
    h = add(h, x);
  }
  return output.forward(activate(h, cfg_.activation));
}

// ---- time embeddings ------------------------------------------------------------------------
namespace {
Tensor as_column(const Tensor& t) {
  if (t.dim() == 1) return t.reshape(Shape{t.size(0), 1});
  if (t.dim() == 2 && t.size(1) == 1) return t;
  throw ShapeError("time embedding: t must be [N] or [N, 1], got " + t.desc());
}
}  // namespace

SinusoidalEmbedding::SinusoidalEmbedding(std::int64_t dim, double max_period) : dim_(dim), max_period_(max_period) {
  if (dim < 4 || dim % 2) throw ValueError("SinusoidalEmbedding: dim must be even and >= 4, got " + std::to_string(dim));
}

Tensor SinusoidalEmbedding::forward(const Tensor& t) const {
  const std::int64_t h = dim_ / 2;
  std::vector<double> f(static_cast<std::size_t>(h));
  for (std::int64_t i = 0; i < h; ++i)
    f[i] = std::exp(-std::log(max_period_) * static_cast<double>(i) / static_cast<double>(h - 1));
  Tensor freqs = Tensor::from_vector<double>(f, Shape{1, h}).to(t.dtype());
  Tensor arg = mul(as_column(t), freqs);
  return concat({sin(arg), cos(arg)}, 1);
}

FourierEmbedding::FourierEmbedding(std::int64_t dim, Generator& gen, double std) {
  if (dim < 2 || dim % 2) throw ValueError("FourierEmbedding: dim must be even, got " + std::to_string(dim));
  kernel = normal(Shape{dim / 2, 1}, 0.0, std, gen);
  register_parameter("kernel", kernel);
}

Tensor FourierEmbedding::forward(const Tensor& t) const {
  Tensor arg = mul(linear(as_column(t), kernel), 2.0 * std::numbers::pi);
  return concat({cos(arg), sin(arg)}, 1);
}

}  // namespace anyrl::nn
