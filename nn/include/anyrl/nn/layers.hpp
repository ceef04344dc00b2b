// Basic layers: Linear, EnsembleLinear, LayerNorm, Dropout, Embedding, MLP, the LN-ResNet
// diffusion backbone (IDQL / PA-RL), and diffusion-time embeddings.
//
// Randomness (dropout) always comes from a Generator* passed to forward(); a null generator
// or eval mode means "no dropout" — sampling code passes nullptr.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "anyrl/nn/init.hpp"
#include "anyrl/nn/module.hpp"

namespace anyrl::nn {

// ---- activations ----------------------------------------------------------------------------
enum class Activation { Identity, ReLU, SiLU, Mish, GELU, Tanh };
/// "identity", "relu", "silu"/"swish", "mish", "gelu", "tanh".
Activation parse_activation(const std::string& name);
std::string activation_name(Activation a);
Tensor activate(const Tensor& x, Activation a);

// ---- Linear -----------------------------------------------------------------------------------
/// y = x W^T + b with W [out, in] (PyTorch layout), via the engine's fused `linear`.
class Linear : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, Generator& gen, bool bias = true, Init init = Init::TorchDefault,
         double gain = 0.0);
  Tensor forward(const Tensor& x) const { return linear(x, weight, bias); }
  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }

  Tensor weight;  ///< [out, in]
  Tensor bias;    ///< [out] (undefined without bias)

 private:
  std::int64_t in_, out_;
};

/// E independent linear layers applied as ONE batched matmul: x[E, B, in] (or a shared
/// x[B, in], broadcast to every member) times W[E, in, out] plus b[E, 1, out] -> [E, B, out].
class EnsembleLinear : public Module {
 public:
  EnsembleLinear(std::int64_t ensemble, std::int64_t in, std::int64_t out, Generator& gen, bool bias = true,
                 Init init = Init::TorchDefault, double gain = 0.0);
  Tensor forward(const Tensor& x) const;
  std::int64_t ensemble_size() const { return e_; }
  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }

  Tensor weight;  ///< [E, in, out]
  Tensor bias;    ///< [E, 1, out]

 private:
  std::int64_t e_, in_, out_;
};

// ---- LayerNorm, Dropout, Embedding -------------------------------------------------------------
/// Normalises over the last dimension (fused engine kernel); affine weight 1, bias 0 at init.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(std::int64_t dim, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps_); }
  Tensor weight, bias;

 private:
  double eps_;
};

/// Inverted dropout: zeroes elements with probability p and scales the rest by 1/(1-p).
/// Active only in training mode with a generator.
class Dropout : public Module {
 public:
  explicit Dropout(double p) : p_(p) {
    if (p < 0 || p >= 1) throw ValueError("Dropout: p must be in [0, 1), got " + std::to_string(p));
  }
  Tensor forward(const Tensor& x, Generator* gen) const;
  double p() const { return p_; }

 private:
  double p_;
};

/// A lookup table weight[V, D] ~ N(0, std^2); forward(ids[...]) -> [..., D].
class Embedding : public Module {
 public:
  Embedding(std::int64_t num, std::int64_t dim, Generator& gen, double std = 0.02);
  Tensor forward(const Tensor& ids) const { return embedding(weight, ids); }
  Tensor weight;
};

// ---- MLP ------------------------------------------------------------------------------------
struct MLPConfig {
  std::int64_t in = 0;
  std::vector<std::int64_t> hidden = {256, 256};
  std::int64_t out = 0;
  Activation activation = Activation::ReLU;
  bool layer_norm = false;       ///< LayerNorm after each hidden Dense, before the activation
  double dropout = 0.0;          ///< after each hidden activation
  bool activate_final = false;   ///< apply the activation after the output layer too
  Init init = Init::TorchDefault;
  Init final_init = Init::TorchDefault;  ///< e.g. Small / Zeros for a policy head
  double final_gain = 0.0;
};

/// Dense -> [LayerNorm] -> act -> [Dropout] ... -> Dense(out). Parameters: layers.<i>.{weight,bias},
/// norms.<i>.{weight,bias}.
class MLP : public Module {
 public:
  MLP(const MLPConfig& cfg, Generator& gen);
  Tensor forward(const Tensor& x, Generator* gen = nullptr) const;
  const MLPConfig& config() const { return cfg_; }
  std::int64_t out_features() const { return cfg_.out; }

 private:
  MLPConfig cfg_;
  std::vector<std::unique_ptr<Linear>> layers_;
  std::vector<std::unique_ptr<LayerNorm>> norms_;
  Dropout dropout_;
};

// ---- LN-ResNet (IDQL's MLPResNet) -------------------------------------------------------------
struct LNResNetConfig {
  std::int64_t in = 0;
  std::int64_t out = 0;
  std::int64_t hidden = 256;
  int blocks = 3;
  double dropout = 0.1;
  Activation activation = Activation::Mish;
  bool layer_norm = true;
};

/// Dense(hidden) -> blocks x [Dropout -> LayerNorm -> Dense(4 hidden) -> act -> Dense(hidden),
/// + residual] -> act -> Dense(out). Parameters: input.*, blocks.<i>.{norm,fc1,fc2}.*, output.*.
class LNResNet : public Module {
 public:
  LNResNet(const LNResNetConfig& cfg, Generator& gen);
  Tensor forward(const Tensor& x, Generator* gen = nullptr) const { return forward_hidden(input.forward(x), gen); }
  /// The network after its first Dense: h = input(x) given directly. Lets a caller split the
  /// first layer (e.g. diffusion sampling computes the state's share of it once, not per step).
  Tensor forward_hidden(const Tensor& h, Generator* gen = nullptr) const;
  const LNResNetConfig& config() const { return cfg_; }

  struct Block : Module {
    Block(std::int64_t hidden, double dropout, bool ln, Generator& gen);
    Dropout drop;
    LayerNorm norm;
    Linear fc1, fc2;
    bool ln;
  };
  Linear input;
  std::vector<std::unique_ptr<Block>> blocks;
  Linear output;

 private:
  LNResNetConfig cfg_;
};

// ---- diffusion-time embeddings ----------------------------------------------------------------
/// Fixed sinusoidal embedding (Transformer / DDPM): t[N] or t[N,1] -> [N, dim],
/// [sin(t f_0..f_{h-1}), cos(t f_0..f_{h-1})], f_i = exp(-ln(max_period) i / (h - 1)), h = dim/2.
class SinusoidalEmbedding : public Module {
 public:
  explicit SinusoidalEmbedding(std::int64_t dim, double max_period = 10000.0);
  Tensor forward(const Tensor& t) const;
  std::int64_t dim() const { return dim_; }

 private:
  std::int64_t dim_;
  double max_period_;
};

/// Learned Fourier features (IDQL's FourierFeatures): W[dim/2, 1] ~ N(0, std^2) (std 0.2),
/// t -> [cos(2 pi t W^T), sin(2 pi t W^T)].
class FourierEmbedding : public Module {
 public:
  FourierEmbedding(std::int64_t dim, Generator& gen, double std = 0.2);
  Tensor forward(const Tensor& t) const;
  std::int64_t dim() const { return 2 * kernel.size(0); }
  Tensor kernel;  ///< [dim/2, 1]
};

}  // namespace anyrl::nn
