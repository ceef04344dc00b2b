// Causal multi-head self-attention and a pre-LN transformer block, with an incremental
// key/value cache for autoregressive decoding (each new token costs one forward step over
// itself, attending to the cached keys/values of the earlier tokens).
#pragma once
#include <cstdint>
#include <vector>

#include "anyrl/nn/layers.hpp"

namespace anyrl::nn {

/// Keys and values of the tokens seen so far, per layer: k, v are [N, heads, T, head_dim].
struct KVCache {
  struct Layer {
    Tensor k, v;
  };
  std::vector<Layer> layers;
  /// Number of cached positions (0 when empty).
  std::int64_t length() const { return layers.empty() || !layers[0].k.defined() ? 0 : layers[0].k.size(2); }
  void clear() { layers.clear(); }
  /// Repeats every cached sequence n times along the batch (row b -> rows b*n .. b*n+n-1):
  /// a prefix encoded once for B states serves B x n samples.
  void repeat_interleave(std::int64_t n);
};

/// softmax(Q K^T / sqrt(d) + causal mask) V over heads, with fused qkv and output projections.
/// Parameters: qkv.{weight,bias} [3D, D], proj.{weight,bias} [D, D].
class CausalSelfAttention : public Module {
 public:
  CausalSelfAttention(std::int64_t dim, std::int64_t heads, Generator& gen);
  /// x[N, T, D] -> [N, T, D]. With a cache layer, x holds the T *new* positions, which attend
  /// to the cached ones and causally to each other; their keys/values are appended to it.
  Tensor forward(const Tensor& x, KVCache::Layer* cache = nullptr) const;
  std::int64_t heads() const { return heads_; }

  Linear qkv, proj;

 private:
  std::int64_t dim_, heads_;
};

struct TransformerConfig {
  std::int64_t dim = 256;
  std::int64_t heads = 8;
  std::int64_t mlp_ratio = 4;
  double dropout = 0.0;
  Activation activation = Activation::GELU;
};

/// Pre-LN block: x += Drop(Attn(LN1 x)); x += Drop(MLP(LN2 x)). Parameters: ln1, attn, ln2, fc1, fc2.
class TransformerBlock : public Module {
 public:
  TransformerBlock(const TransformerConfig& cfg, Generator& gen);
  Tensor forward(const Tensor& x, KVCache::Layer* cache = nullptr, Generator* gen = nullptr) const;

  LayerNorm ln1;
  CausalSelfAttention attn;
  LayerNorm ln2;
  Linear fc1, fc2;
  Dropout drop;

 private:
  TransformerConfig cfg_;
};

/// The additive causal mask for T new queries after `past` cached keys: [T, past + T] with 0
/// where key j <= past + i and a large negative value elsewhere.
Tensor causal_mask(std::int64_t T, std::int64_t past, DType dtype);

}  // namespace anyrl::nn
