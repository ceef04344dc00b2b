// Autoregressive transformer policy: each action dimension is tokenised into uniform bins over
// [low, high]; the state is projected (not discretised) to prefix token(s); a causal pre-LN
// transformer predicts bin i from the state and bins < i. Sampling decodes dimension by
// dimension with a key/value cache: A forward steps, each over one new token.
#pragma once
#include <memory>
#include <vector>

#include "anyrl/models/policy.hpp"

namespace anyrl::models {

/// Per-dimension uniform binning of [low, high] into `bins` bins.
struct UniformTokenizer {
  std::int64_t bins = 128;
  double low = -1.0, high = 1.0;
  double width() const { return (high - low) / static_cast<double>(bins); }
  /// actions[..., A] (float) -> int64 tokens, floor((a - low) / width) clamped to [0, bins).
  Tensor encode(const Tensor& actions) const;
  /// tokens -> bin centres low + (i + 0.5) width, as `dtype`.
  Tensor decode(const Tensor& tokens, DType dtype = DType::Float32) const;
};

struct AutoregressiveConfig {
  std::int64_t obs_dim = 0;
  std::int64_t act_dim = 0;
  std::int64_t bins = 128;
  double low = -1.0, high = 1.0;
  std::int64_t prefix_tokens = 1;  ///< the state becomes this many tokens
  std::int64_t width = 256;
  int layers = 4;
  std::int64_t heads = 8;
  std::int64_t mlp_ratio = 4;
  double dropout = 0.0;
  double temperature = 1.0;  ///< sampling temperature
};

class AutoregressivePolicy : public Policy, public HasLogProb {
 public:
  AutoregressivePolicy(const AutoregressiveConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder = nullptr);

  std::string kind() const override { return "autoregressive"; }
  std::int64_t action_dim() const override { return cfg_.act_dim; }
  Shape obs_shape() const override;
  Tensor sample(const Tensor& obs, std::int64_t n, Generator& gen) const override;
  /// Teacher-forced next-token cross-entropy, averaged over batch and action dimensions.
  Tensor supervised_loss(const Tensor& obs, const Tensor& actions, Generator& gen) const override;
  /// deterministic: greedy (arg-max) decoding.
  Tensor act(const Tensor& obs, Generator& gen, bool deterministic = false) const override;
  const HasLogProb* as_log_prob() const override { return this; }
  /// Log-probability of the actions' bins (a discrete distribution over bin centres): [B].
  Tensor log_prob(const Tensor& obs, const Tensor& actions) const override;

  /// Full (non-incremental) forward: logits[B, A, bins] of every dimension given the state and
  /// the previous tokens[B, A] (teacher forcing; the last token is not used).
  Tensor logits(const Tensor& obs, const Tensor& tokens, Generator* gen = nullptr) const;
  /// Incremental decoding of the given tokens[B, A] with the KV cache, returning the same
  /// logits as logits() — used to test the cache; sample() runs the same steps.
  Tensor logits_incremental(const Tensor& obs, const Tensor& tokens) const;
  /// Token sampling with the cache; returns tokens[B * n, A] (rows b*n .. b*n+n-1 belong to state b).
  /// greedy: arg-max instead of sampling. Optionally records the logits of each step [B*n, A, bins].
  Tensor sample_tokens(const Tensor& obs, std::int64_t n, Generator& gen, bool greedy, Tensor* step_logits = nullptr) const;
  const UniformTokenizer& tokenizer() const { return tok_; }
  const AutoregressiveConfig& config() const { return cfg_; }

 private:
  AutoregressiveConfig cfg_;
  UniformTokenizer tok_;
  std::shared_ptr<nn::Encoder> encoder_;
  std::int64_t feat_dim_;
  std::unique_ptr<nn::Linear> state_proj_;
  std::unique_ptr<nn::Embedding> tok_emb_;
  Tensor pos_emb_;  // [prefix + A - 1, D]
  std::vector<std::unique_ptr<nn::TransformerBlock>> blocks_;
  std::unique_ptr<nn::LayerNorm> ln_f_;
  std::unique_ptr<nn::Linear> head_;

  Tensor prefix(const Tensor& obs) const;                             // [B, P, D] with positions
  Tensor run(const Tensor& x, nn::KVCache* cache, Generator* gen) const;  // blocks + ln_f
};

}  // namespace anyrl::models
