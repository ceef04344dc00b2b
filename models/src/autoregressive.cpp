#include "anyrl/models/autoregressive.hpp"

#include <algorithm>
#include <cmath>

namespace anyrl::models {

Tensor UniformTokenizer::encode(const Tensor& actions) const {
  std::vector<double> a = actions.to_vector<double>();
  std::vector<std::int64_t> t(a.size());
  const double w = width();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double v = std::floor((a[i] - low) / w);
    t[i] = static_cast<std::int64_t>(std::clamp(v, 0.0, static_cast<double>(bins - 1)));
  }
  return Tensor::from_vector<std::int64_t>(t, actions.shape());
}

Tensor UniformTokenizer::decode(const Tensor& tokens, DType dtype) const {
  std::vector<std::int64_t> t = tokens.to_vector<std::int64_t>();
  std::vector<double> a(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) a[i] = low + (static_cast<double>(t[i]) + 0.5) * width();
  return Tensor::from_vector<double>(a, tokens.shape()).to(dtype);
}

AutoregressivePolicy::AutoregressivePolicy(const AutoregressiveConfig& cfg, Generator& gen,
                                           std::shared_ptr<nn::Encoder> encoder)
    : cfg_(cfg), tok_{cfg.bins, cfg.low, cfg.high}, encoder_(std::move(encoder)) {
  if (cfg.act_dim <= 0 || cfg.bins < 2 || cfg.prefix_tokens < 1 || cfg.layers < 1)
    throw ValueError("AutoregressivePolicy: act_dim, bins >= 2, prefix_tokens >= 1 and layers >= 1 are required");
  feat_dim_ = encoder_ ? encoder_->out_dim() : cfg.obs_dim;
  if (feat_dim_ <= 0) throw ValueError("AutoregressivePolicy: obs_dim must be positive (or give an encoder)");
  if (encoder_) register_module("encoder", encoder_);
  const std::int64_t D = cfg.width;
  state_proj_ = std::make_unique<nn::Linear>(feat_dim_, cfg.prefix_tokens * D, gen);
  register_module("state_proj", *state_proj_);
  tok_emb_ = std::make_unique<nn::Embedding>(cfg.bins, D, gen);
  register_module("tok_emb", *tok_emb_);
  pos_emb_ = normal(Shape{cfg.prefix_tokens + cfg.act_dim - 1, D}, 0.0, 0.02, gen);
  register_parameter("pos_emb", pos_emb_);
  nn::TransformerConfig tc{D, cfg.heads, cfg.mlp_ratio, cfg.dropout, nn::Activation::GELU};
  for (int i = 0; i < cfg.layers; ++i) {
    blocks_.push_back(std::make_unique<nn::TransformerBlock>(tc, gen));
    register_module("blocks." + std::to_string(i), *blocks_.back());
  }
  ln_f_ = std::make_unique<nn::LayerNorm>(D);
  register_module("ln_f", *ln_f_);
  head_ = std::make_unique<nn::Linear>(D, cfg.bins, gen);
  register_module("head", *head_);
}

Shape AutoregressivePolicy::obs_shape() const { return encoder_ ? encoder_->input_shape() : Shape{cfg_.obs_dim}; }

Tensor AutoregressivePolicy::prefix(const Tensor& obs) const {
  Tensor s = encode_obs(encoder_.get(), obs);
  const std::int64_t B = s.size(0), P = cfg_.prefix_tokens, D = cfg_.width;
  Tensor x = state_proj_->forward(s).reshape(Shape{B, P, D});
  return add(x, slice(pos_emb_, 0, 0, P));
}

Tensor AutoregressivePolicy::run(const Tensor& x_in, nn::KVCache* cache, Generator* gen) const {
  Tensor x = x_in;
  if (cache && cache->layers.size() != blocks_.size()) cache->layers.resize(blocks_.size());
  for (std::size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward(x, cache ? &cache->layers[i] : nullptr, gen);
  return ln_f_->forward(x);
}

Tensor AutoregressivePolicy::logits(const Tensor& obs, const Tensor& tokens, Generator* gen) const {
  Tensor x = prefix(obs);
  const std::int64_t B = x.size(0), P = cfg_.prefix_tokens, A = cfg_.act_dim;
  if (tokens.dim() != 2 || tokens.size(0) != B || tokens.size(1) != A)
    throw ShapeError("AutoregressivePolicy: tokens " + tokens.desc() + " must be [" + std::to_string(B) + ", " +
                     std::to_string(A) + "]");
  if (A > 1) {
    Tensor prev = tok_emb_->forward(slice(tokens, 1, 0, A - 1));            // [B, A-1, D]
    x = concat({x, add(prev, slice(pos_emb_, 0, P, P + A - 1))}, 1);       // [B, P+A-1, D]
  }
  Tensor h = slice(run(x, nullptr, gen), 1, P - 1, P + A - 1);              // [B, A, D]
  return head_->forward(h);
}

Tensor AutoregressivePolicy::supervised_loss(const Tensor& obs, const Tensor& actions, Generator& gen) const {
  Tensor tokens = tok_.encode(actions);
  return cross_entropy(logits(obs, tokens, &gen), tokens);
}

Tensor AutoregressivePolicy::log_prob(const Tensor& obs, const Tensor& actions) const {
  Tensor tokens = tok_.encode(actions);
  Tensor lp = log_softmax(logits(obs, tokens), -1);                      // [B, A, bins]
  return sum(squeeze(gather(lp, 2, unsqueeze(tokens, 2)), 2), {1});      // [B]
}

Tensor AutoregressivePolicy::sample_tokens(const Tensor& obs, std::int64_t n, Generator& gen, bool greedy,
                                           Tensor* step_logits) const {
  NoGrad ng;
  const std::int64_t P = cfg_.prefix_tokens, A = cfg_.act_dim;
  nn::KVCache cache;
  // The prefix is encoded once per state, then the cache is shared by the state's n samples.
  Tensor h = run(prefix(obs), &cache, nullptr);                          // [B, P, D]
  const std::int64_t B = h.size(0), N = B * n, D = cfg_.width;
  Tensor last = slice(h, 1, P - 1, P).reshape(Shape{B, D});
  Tensor lg = head_->forward(last);                                      // [B, bins]
  if (n > 1) {
    cache.repeat_interleave(n);
    lg = expand(unsqueeze(lg, 1), Shape{B, n, cfg_.bins}).reshape(Shape{N, cfg_.bins});
  }
  std::vector<Tensor> toks, lgs;
  for (std::int64_t i = 0; i < A; ++i) {
    if (step_logits) lgs.push_back(lg);
    Tensor t = greedy ? argmax(lg, -1) : multinomial(softmax(mul(lg, 1.0 / cfg_.temperature), -1), gen);  // [N]
    toks.push_back(t);
    if (i + 1 == A) break;
    Tensor x = add(tok_emb_->forward(t), slice(pos_emb_, 0, P + i, P + i + 1)).reshape(Shape{N, 1, D});
    lg = head_->forward(run(x, &cache, nullptr).reshape(Shape{N, D}));
  }
  if (step_logits) *step_logits = stack(lgs, 1);
  return stack(toks, 1);                                                 // [N, A]
}

Tensor AutoregressivePolicy::logits_incremental(const Tensor& obs, const Tensor& tokens) const {
  NoGrad ng;
  const std::int64_t P = cfg_.prefix_tokens, A = cfg_.act_dim, D = cfg_.width;
  nn::KVCache cache;
  Tensor h = run(prefix(obs), &cache, nullptr);
  const std::int64_t B = h.size(0);
  std::vector<Tensor> lgs{head_->forward(slice(h, 1, P - 1, P).reshape(Shape{B, D}))};
  for (std::int64_t i = 0; i + 1 < A; ++i) {
    Tensor t = slice(tokens, 1, i, i + 1).reshape(Shape{B});
    Tensor x = add(tok_emb_->forward(t), slice(pos_emb_, 0, P + i, P + i + 1)).reshape(Shape{B, 1, D});
    lgs.push_back(head_->forward(run(x, &cache, nullptr).reshape(Shape{B, D})));
  }
  return stack(lgs, 1);
}

Tensor AutoregressivePolicy::sample(const Tensor& obs, std::int64_t n, Generator& gen) const {
  Tensor toks = sample_tokens(obs, n, gen, false);
  const std::int64_t B = toks.size(0) / n;
  return tok_.decode(toks, state_proj_->weight.dtype()).reshape(Shape{B, n, cfg_.act_dim});
}

Tensor AutoregressivePolicy::act(const Tensor& obs, Generator& gen, bool deterministic) const {
  bool single = false;
  Tensor o = batch_obs(obs, single);
  Tensor a = tok_.decode(sample_tokens(o, 1, gen, deterministic), state_proj_->weight.dtype());
  return single ? a.reshape(Shape{cfg_.act_dim}) : a;
}

}  // namespace anyrl::models
