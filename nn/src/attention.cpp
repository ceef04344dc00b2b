#include "anyrl/nn/attention.hpp"

#include <cmath>

namespace anyrl::nn {

void KVCache::repeat_interleave(std::int64_t n) {
  if (n == 1 || layers.empty()) return;
  const std::int64_t N = layers[0].k.size(0);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(N * n));
  for (std::int64_t i = 0; i < N * n; ++i) idx[i] = i / n;
  Tensor index = Tensor::from_vector<std::int64_t>(idx);
  for (auto& l : layers) {
    l.k = index_select(l.k, 0, index);
    l.v = index_select(l.v, 0, index);
  }
}

Tensor causal_mask(std::int64_t T, std::int64_t past, DType dtype) {
  const std::int64_t S = past + T;
  std::vector<double> m(static_cast<std::size_t>(T * S), 0.0);
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t j = past + i + 1; j < S; ++j) m[i * S + j] = -1e9;
  return Tensor::from_vector<double>(m, Shape{T, S}).to(dtype);
}

CausalSelfAttention::CausalSelfAttention(std::int64_t dim, std::int64_t heads, Generator& gen)
    : qkv(dim, 3 * dim, gen), proj(dim, dim, gen), dim_(dim), heads_(heads) {
  if (heads <= 0 || dim % heads)
    throw ValueError("CausalSelfAttention: dim " + std::to_string(dim) + " is not divisible by heads " +
                     std::to_string(heads));
  register_module("qkv", qkv);
  register_module("proj", proj);
}

Tensor CausalSelfAttention::forward(const Tensor& x, KVCache::Layer* cache) const {
  if (x.dim() != 3 || x.size(2) != dim_)
    throw ShapeError("CausalSelfAttention: input must be [N, T, " + std::to_string(dim_) + "], got " + x.desc());
  const std::int64_t N = x.size(0), T = x.size(1), H = heads_, dh = dim_ / heads_;
  // [N, T, 3, H, dh] -> [3, N, H, T, dh]
  Tensor qkv5 = permute(qkv.forward(x).reshape(Shape{N, T, 3, H, dh}), {2, 0, 3, 1, 4});
  Tensor q = qkv5.select0(0), k = qkv5.select0(1), v = qkv5.select0(2);
  std::int64_t past = 0;
  if (cache) {
    if (cache->k.defined()) {
      past = cache->k.size(2);
      k = concat({cache->k, k}, 2);
      v = concat({cache->v, v}, 2);
    }
    cache->k = k.detach();
    cache->v = v.detach();
  }
  Tensor scores = matmul(mul(q, 1.0 / std::sqrt(static_cast<double>(dh))), transpose(k, -2, -1));  // [N,H,T,S]
  if (T > 1) scores = add(scores, causal_mask(T, past, x.dtype()));
  Tensor att = matmul(softmax(scores, -1), v);                                                    // [N,H,T,dh]
  return proj.forward(permute(att, {0, 2, 1, 3}).reshape(Shape{N, T, dim_}));
}

TransformerBlock::TransformerBlock(const TransformerConfig& cfg, Generator& gen)
    : ln1(cfg.dim),
      attn(cfg.dim, cfg.heads, gen),
      ln2(cfg.dim),
      fc1(cfg.dim, cfg.mlp_ratio * cfg.dim, gen),
      fc2(cfg.mlp_ratio * cfg.dim, cfg.dim, gen),
      drop(cfg.dropout),
      cfg_(cfg) {
  register_module("ln1", ln1);
  register_module("attn", attn);
  register_module("ln2", ln2);
  register_module("fc1", fc1);
  register_module("fc2", fc2);
  register_module("drop", drop);
}

Tensor TransformerBlock::forward(const Tensor& x, KVCache::Layer* cache, Generator* gen) const {
  Tensor h = add(x, drop.forward(attn.forward(ln1.forward(x), cache), gen));
  return add(h, drop.forward(fc2.forward(activate(fc1.forward(ln2.forward(h)), cfg_.activation)), gen));
}

}  // namespace anyrl::nn
