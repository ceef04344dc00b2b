#include "anyrl/nn/init.hpp"

#include <cmath>
#include <vector>

namespace anyrl::nn {

Init parse_init(const std::string& n) {
  if (n == "torch" || n == "default") return Init::TorchDefault;
  if (n == "kaiming_uniform" || n == "kaiming") return Init::KaimingUniform;
  if (n == "xavier_uniform" || n == "xavier") return Init::XavierUniform;
  if (n == "lecun_normal" || n == "lecun") return Init::LecunNormal;
  if (n == "orthogonal") return Init::Orthogonal;
  if (n == "zeros" || n == "zero") return Init::Zeros;
  if (n == "small") return Init::Small;
  throw ValueError("parse_init: unknown initialiser '" + n +
                   "' (torch, kaiming_uniform, xavier_uniform, lecun_normal, orthogonal, zeros, small)");
}

std::string init_name(Init i) {
  switch (i) {
    case Init::TorchDefault: return "torch";
    case Init::KaimingUniform: return "kaiming_uniform";
    case Init::XavierUniform: return "xavier_uniform";
    case Init::LecunNormal: return "lecun_normal";
    case Init::Orthogonal: return "orthogonal";
    case Init::Zeros: return "zeros";
    case Init::Small: return "small";
  }
  return "?";
}

namespace {
void assign(Tensor& t, const Tensor& src) {
  NoGrad ng;
  t.copy_(src);
}
}  // namespace

void uniform_(Tensor& t, double lo, double hi, Generator& gen) { assign(t, uniform(t.shape(), lo, hi, gen, t.dtype())); }
void normal_(Tensor& t, double mean, double std, Generator& gen) { assign(t, normal(t.shape(), mean, std, gen, t.dtype())); }
void zeros_(Tensor& t) {
  NoGrad ng;
  t.fill_(0.0);
}
void constant_(Tensor& t, double v) {
  NoGrad ng;
  t.fill_(v);
}

std::pair<std::int64_t, std::int64_t> fans(const Shape& s, bool in_major) {
  if (s.rank() < 2) return {s.rank() ? s[0] : 1, s.rank() ? s[0] : 1};
  if (in_major) return {s[s.rank() - 2], s[s.rank() - 1]};
  // [out, in, k...]
  std::int64_t rf = 1;
  for (int i = 2; i < s.rank(); ++i) rf *= s[i];
  return {s[1] * rf, s[0] * rf};
}

void kaiming_uniform_(Tensor& t, Generator& gen, double gain, bool in_major) {
  const double b = gain * std::sqrt(3.0 / static_cast<double>(fans(t.shape(), in_major).first));
  uniform_(t, -b, b, gen);
}

void xavier_uniform_(Tensor& t, Generator& gen, double gain, bool in_major) {
  auto [fi, fo] = fans(t.shape(), in_major);
  const double b = gain * std::sqrt(6.0 / static_cast<double>(fi + fo));
  uniform_(t, -b, b, gen);
}

void lecun_normal_(Tensor& t, Generator& gen, bool in_major) {
  normal_(t, 0.0, 1.0 / std::sqrt(static_cast<double>(fans(t.shape(), in_major).first)), gen);
}

void orthogonal_(Tensor& t, Generator& gen, double gain) {
  if (t.dim() < 2) throw ShapeError("orthogonal_: needs rank >= 2, got " + t.desc());
  const std::int64_t R = t.size(-2), C = t.size(-1), M = t.numel() / (R * C);
  // Orthonormalise the longer side: Q of the QR of a [max, min] Gaussian matrix.
  const std::int64_t rows = std::max(R, C), cols = std::min(R, C);
  std::vector<double> out(static_cast<std::size_t>(t.numel()));
  for (std::int64_t m = 0; m < M; ++m) {
    Tensor g = randn(Shape{rows, cols}, gen, DType::Float64);
    // Modified Gram-Schmidt with re-orthogonalisation (numerically orthonormal for these sizes).
    // Gram-Schmidt gives R a positive diagonal, so Q is Haar-distributed (no sign fix needed).
    std::vector<double> q = g.to_vector<double>();
    for (std::int64_t j = 0; j < cols; ++j) {
      for (int pass = 0; pass < 2; ++pass) {
        for (std::int64_t k = 0; k < j; ++k) {
          double d = 0;
          for (std::int64_t i = 0; i < rows; ++i) d += q[i * cols + k] * q[i * cols + j];
          for (std::int64_t i = 0; i < rows; ++i) q[i * cols + j] -= d * q[i * cols + k];
        }
      }
      double nrm = 0;
      for (std::int64_t i = 0; i < rows; ++i) nrm += q[i * cols + j] * q[i * cols + j];
      nrm = std::sqrt(nrm);
      for (std::int64_t i = 0; i < rows; ++i) q[i * cols + j] /= nrm;
    }
    double* o = out.data() + m * R * C;
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t c = 0; c < C; ++c) o[r * C + c] = gain * (R >= C ? q[r * cols + c] : q[c * cols + r]);
  }
  assign(t, Tensor::from_vector<double>(out, t.shape()));
}

void init_weight_bias(Tensor& w, Tensor* bias, Init init, Generator& gen, double gain, bool in_major) {
  const double fan_in = static_cast<double>(fans(w.shape(), in_major).first);
  const bool has_b = bias && bias->defined();
  switch (init) {
    case Init::TorchDefault: {
      const double b = 1.0 / std::sqrt(fan_in);
      uniform_(w, -b, b, gen);
      if (has_b) uniform_(*bias, -b, b, gen);
      return;
    }
    case Init::KaimingUniform: kaiming_uniform_(w, gen, gain > 0 ? gain : std::sqrt(2.0), in_major); break;
    case Init::XavierUniform: xavier_uniform_(w, gen, gain > 0 ? gain : 1.0, in_major); break;
    case Init::LecunNormal: lecun_normal_(w, gen, in_major); break;
    case Init::Orthogonal: orthogonal_(w, gen, gain > 0 ? gain : 1.0); break;
    case Init::Zeros: zeros_(w); break;
    case Init::Small: {
      const double g = gain > 0 ? gain : 1e-3;
      uniform_(w, -g, g, gen);
      break;
    }
  }
  if (has_b) zeros_(*bias);
}

}  // namespace anyrl::nn
