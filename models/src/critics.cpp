#include "anyrl/models/critics.hpp"

#include <cmath>

#include "anyrl/models/policy.hpp"

namespace anyrl::models {

// ---- HL-Gauss -------------------------------------------------------------------------------
Tensor HLGauss::centers(DType dtype) const {
  std::vector<double> c(static_cast<std::size_t>(bins));
  for (std::int64_t i = 0; i < bins; ++i) c[i] = v_min + (static_cast<double>(i) + 0.5) * bin_width();
  return Tensor::from_vector<double>(c).to(dtype);
}

Tensor HLGauss::target_probs(const Tensor& y) const {
  std::vector<double> yv = y.to_vector<double>();
  const std::int64_t M = bins;
  const double s = sigma(), w = bin_width(), r2 = 1.0 / (std::sqrt(2.0) * s);
  std::vector<double> out(yv.size() * static_cast<std::size_t>(M));
  std::vector<double> cdf(static_cast<std::size_t>(M + 1));
  for (std::size_t i = 0; i < yv.size(); ++i) {
    const double yi = yv[i];
    // Phi((e - y) / sigma) = 0.5 erfc(-(e - y) / (sqrt 2 sigma)), edges e_j = v_min + j w.
    for (std::int64_t j = 0; j <= M; ++j) cdf[j] = 0.5 * std::erfc(-(v_min + static_cast<double>(j) * w - yi) * r2);
    const double z = cdf[M] - cdf[0];
    double* o = out.data() + i * M;
    if (z > 1e-300) {
      for (std::int64_t j = 0; j < M; ++j) o[j] = (cdf[j + 1] - cdf[j]) / z;
    } else {  // y far outside the support: all mass on the nearest end bin
      for (std::int64_t j = 0; j < M; ++j) o[j] = 0.0;
      o[yi < v_min ? 0 : M - 1] = 1.0;
    }
  }
  Shape s_out = y.shape();
  s_out.push_back(M);
  return Tensor::from_vector<double>(out, s_out).to(is_floating(y.dtype()) ? y.dtype() : DType::Float32);
}

Tensor HLGauss::expectation(const Tensor& logits) const {
  return sum(mul(softmax(logits, -1), centers(logits.dtype())), {-1});
}

// ---- QEnsemble ------------------------------------------------------------------------------
QEnsemble::QEnsemble(const QEnsembleConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder)
    : cfg_(cfg), encoder_(std::move(encoder)) {
  feat_dim_ = encoder_ ? encoder_->out_dim() : cfg.obs_dim;
  if (feat_dim_ <= 0 || cfg.act_dim <= 0 || cfg.ensemble <= 0)
    throw ValueError("QEnsemble: obs_dim (or an encoder), act_dim and ensemble must be positive");
  if (cfg.head == QHead::HLGauss && (cfg.hl.bins < 2 || !(cfg.hl.v_max > cfg.hl.v_min)))
    throw ValueError("QEnsemble: HL-Gauss needs bins >= 2 and v_max > v_min");
  if (encoder_) register_module("encoder", encoder_);
  const std::int64_t A = cfg.act_dim, E = cfg.ensemble;
  std::int64_t prev = feat_dim_ + A;
  for (std::size_t i = 0; i < cfg.hidden.size(); ++i) {
    layers_.push_back(std::make_unique<nn::EnsembleLinear>(E, prev, cfg.hidden[i], gen));
    register_module("layers." + std::to_string(i), *layers_.back());
    if (cfg.layer_norm) {
      norms_.push_back(std::make_unique<nn::LayerNorm>(cfg.hidden[i]));
      register_module("norms." + std::to_string(i), *norms_.back());
    }
    prev = cfg.hidden[i] + (cfg.action_every_layer ? A : 0);
  }
  const std::int64_t out = cfg.head == QHead::Scalar ? 1 : cfg.hl.bins;
  layers_.push_back(std::make_unique<nn::EnsembleLinear>(E, prev, out, gen));
  register_module("layers." + std::to_string(cfg.hidden.size()), *layers_.back());
}

Tensor QEnsemble::head_output(const Tensor& obs, const Tensor& act) const {
  Tensor s = encode_obs(encoder_.get(), obs);  // [B, F]
  const std::int64_t B = s.size(0), A = cfg_.act_dim, E = cfg_.ensemble;
  Tensor a = act;
  std::int64_t Ncand = 0;
  if (act.dim() == 3) {  // [B, N, A]: broadcast the features over the candidates
    Ncand = act.size(1);
    if (act.size(0) != B || act.size(2) != A)
      throw ShapeError("QEnsemble: actions " + act.desc() + " do not match " + std::to_string(B) + " states x A=" +
                       std::to_string(A));
    s = expand(unsqueeze(s, 1), Shape{B, Ncand, s.size(1)}).reshape(Shape{B * Ncand, s.size(1)});
    a = act.reshape(Shape{B * Ncand, A});
  } else if (act.dim() != 2 || act.size(0) != B || act.size(1) != A) {
    throw ShapeError("QEnsemble: actions " + act.desc() + " must be [" + std::to_string(B) + ", " + std::to_string(A) +
                     "] or [B, N, A]");
  }
  const std::int64_t R = a.size(0);
  Tensor x = concat({s, a}, 1);  // [R, F + A], shared by every member (broadcast in the matmul)
  Tensor a_e;
  if (cfg_.action_every_layer) a_e = expand(unsqueeze(a, 0), Shape{E, R, A});
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    x = layers_[i]->forward(x);  // [E, R, H]
    if (i + 1 < layers_.size()) {
      if (cfg_.layer_norm) x = norms_[i]->forward(x);
      x = nn::activate(x, cfg_.activation);
      if (cfg_.action_every_layer) x = concat({x, a_e}, 2);
    }
  }
  if (Ncand) x = x.reshape(Shape{E, B, Ncand, x.size(2)});
  return x;
}

Tensor QEnsemble::q_from_head(const Tensor& head) const {
  if (cfg_.head == QHead::Scalar) return squeeze(head, -1);
  return cfg_.hl.expectation(head);
}

Tensor QEnsemble::q(const Tensor& obs, const Tensor& act) const { return q_from_head(head_output(obs, act)); }

Tensor QEnsemble::loss_from_head(const Tensor& head, const Tensor& target_in) const {
  const std::int64_t E = cfg_.ensemble;
  Shape qs = head.shape();
  Shape rows;  // [E, B(, N)]
  for (int i = 0; i + 1 < qs.rank(); ++i) rows.push_back(qs[i]);
  Tensor target = target_in.detach();
  if (target.dtype() != head.dtype()) target = target.to(head.dtype());
  if (target.dim() == rows.rank() - 1) target = expand(unsqueeze(target, 0), rows);
  if (!(target.shape() == rows))
    throw ShapeError("QEnsemble::loss: target " + target_in.desc() + " must be " + rows.str() + " or without the leading E");
  if (cfg_.head == QHead::Scalar) return mul(mse_loss(squeeze(head, -1), target), static_cast<double>(E));
  Tensor p = cfg_.hl.target_probs(target);  // [E, B, M]
  return mul(cross_entropy_soft(head, p), static_cast<double>(E));
}

Tensor QEnsemble::loss(const Tensor& obs, const Tensor& act, const Tensor& target) const {
  return loss_from_head(head_output(obs, act), target);
}

// ---- ValueNet -------------------------------------------------------------------------------
ValueNet::ValueNet(const ValueNetConfig& cfg, Generator& gen, std::shared_ptr<nn::Encoder> encoder)
    : cfg_(cfg), encoder_(std::move(encoder)) {
  const std::int64_t in = encoder_ ? encoder_->out_dim() : cfg.obs_dim;
  if (in <= 0) throw ValueError("ValueNet: obs_dim must be positive (or give an encoder)");
  if (encoder_) register_module("encoder", encoder_);
  nn::MLPConfig m;
  m.in = in;
  m.hidden = cfg.hidden;
  m.out = 1;
  m.activation = cfg.activation;
  m.layer_norm = cfg.layer_norm;
  net_ = std::make_unique<nn::MLP>(m, gen);
  register_module("net", *net_);
}

Tensor ValueNet::v(const Tensor& obs) const { return squeeze(net_->forward(encode_obs(encoder_.get(), obs)), -1); }

}  // namespace anyrl::models
