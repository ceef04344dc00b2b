// Module gradient check, in the spirit of the engine's op harness (tests/engine/): the
// gradient of sum(u * f()) for a random upstream u, w.r.t. chosen tensors (parameters and
// inputs), computed by anyrl::grad(), against float64 central finite differences taken by
// perturbing the tensors in place. Everything must be float64 and f() deterministic (re-create
// any Generator inside f so each call draws the same numbers).
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "anyrl/nn/nn.hpp"
#include "engine/op_harness.hpp"

namespace gradcheck {

using Named = std::vector<std::pair<std::string, anyrl::Tensor>>;

struct Options {
  int max_elems = 16;      // finite differences on at most this many elements per tensor
  double eps = 1e-6;
  double rtol = 1e-5, atol = 1e-7;
  std::uint64_t seed = 7;
};

/// Empty string when every gradient matches; else one line per mismatching tensor.
inline std::string check(const std::function<anyrl::Tensor()>& f, const Named& wrt, Options opt = {}) {
  using anyrl::Tensor;
  harness::Rng rng(opt.seed);
  std::string errors;
  Tensor out = f();
  if (out.dtype() != anyrl::DType::Float64) return "gradcheck: f() must return float64, got " + out.desc();
  if (!out.requires_grad()) return "gradcheck: f() output does not require grad";
  harness::Nd u = harness::random_nd(out.shape().vec(), harness::Domain::uniform(-1, 1), rng);
  std::vector<Tensor> ts;
  for (auto& [n, t] : wrt) {
    if (t.dtype() != anyrl::DType::Float64) return "gradcheck: '" + n + "' is not float64: " + t.desc();
    ts.push_back(t);
  }
  std::vector<Tensor> gs = anyrl::grad(out, ts, harness::to_tensor(u, anyrl::DType::Float64));
  auto objective = [&]() {
    anyrl::NoGrad ng;
    Tensor o = f();
    const double* p = o.data<double>();
    double s = 0;
    for (std::size_t i = 0; i < u.v.size(); ++i) s += u.v[i] * p[i];
    return s;
  };
  for (std::size_t j = 0; j < ts.size(); ++j) {
    Tensor t = ts[j];
    double* p = static_cast<double*>(t.raw_data());
    const std::int64_t n = t.numel();
    std::vector<std::int64_t> elems;
    for (std::int64_t e = 0; e < n; ++e) elems.push_back(e);
    std::shuffle(elems.begin(), elems.end(), rng);
    if (static_cast<std::int64_t>(elems.size()) > opt.max_elems) elems.resize(static_cast<std::size_t>(opt.max_elems));
    harness::Nd ana({static_cast<std::int64_t>(elems.size())}), fd({static_cast<std::int64_t>(elems.size())});
    const double* g = gs[j].data<double>();
    for (std::size_t q = 0; q < elems.size(); ++q) {
      const std::int64_t e = elems[q];
      ana.v[q] = g[e];
      const double x0 = p[e];
      p[e] = x0 + opt.eps;
      const double sp = objective();
      p[e] = x0 - opt.eps;
      const double sm = objective();
      p[e] = x0;
      fd.v[q] = (sp - sm) / (2 * opt.eps);
    }
    std::string err = harness::compare(ana, fd, opt.rtol, opt.atol);
    if (!err.empty()) errors += wrt[j].first + " " + t.shape().str() + ": " + err + "\n";
  }
  return errors;
}

/// All parameters of a module (named), plus extra tensors.
inline Named params_of(const anyrl::nn::Module& m, Named extra = {}) {
  Named r = m.named_parameters();
  for (auto& e : extra) r.push_back(e);
  return r;
}

/// A float64 leaf requiring grad, uniform in [lo, hi).
inline anyrl::Tensor input64(const anyrl::Shape& s, anyrl::Generator& gen, double lo = -1, double hi = 1) {
  return anyrl::uniform(s, lo, hi, gen, anyrl::DType::Float64).set_requires_grad(true);
}

}  // namespace gradcheck
