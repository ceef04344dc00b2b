// Optimisers (SGD, Adam, AdamW), gradient clipping, Polyak averaging and LR schedules.
//
// Every update is one fused loop per parameter over raw data pointers (float32 or float64),
// element-wise and therefore bitwise identical for any thread count. Optimiser state is
// created on the first step with Tensor::zeros; afterwards a step allocates nothing.
//
// Semantics follow PyTorch (torch.optim.SGD / Adam / AdamW with default flags) operation by
// operation, in the parameter's own precision, so results agree to float rounding. One
// difference: PyTorch keeps a step count per parameter, anyrl one per optimiser; they only
// differ when some parameters have no gradient on some steps.
#include "anyrl/engine/optim.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <numbers>
#include <string>
#include <vector>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/parallel.hpp"

namespace anyrl {

namespace {

// Elements per parallel chunk; smaller parameters are updated inline on the calling thread.
constexpr std::int64_t kGrain = 1 << 15;

template <class Fn>
void for_range(std::int64_t n, Fn&& fn) {
  if (n <= kGrain) {
    fn(std::int64_t{0}, n);
  } else {
    parallel_for(n, kGrain, fn);
  }
}

void check_option(bool ok, const std::string& op, const std::string& what, double value) {
  if (!ok) throw ValueError(op + ": invalid " + what + " " + std::to_string(value));
}

// The gradient of parameter i, checked against the parameter; undefined if it has none.
Tensor checked_grad(const Tensor& p, std::size_t i, const char* op) {
  Tensor g = p.grad();
  if (!g.defined()) return g;
  if (!p.device().is_cpu() || !g.device().is_cpu())
    throw DeviceError(std::string(op) + ": parameter " + std::to_string(i) + " (" + p.desc() + ", grad " + g.desc() +
                      ") is not on the CPU; the CUDA optimiser kernels are not available");
  if (!(g.shape() == p.shape()) || g.dtype() != p.dtype())
    throw ValueError(std::string(op) + ": gradient of parameter " + std::to_string(i) + " is " + g.desc() +
                     " but the parameter is " + p.desc());
  return g;
}

}  // namespace

// ---- Optimizer base -----------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {
  check_option(std::isfinite(lr) && lr >= 0.0, "Optimizer", "learning rate", lr);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined()) throw ValueError("Optimizer: parameter " + std::to_string(i) + " is undefined");
    if (!is_floating(p.dtype()))
      throw DTypeError("Optimizer: parameter " + std::to_string(i) + " is " + p.desc() +
                       "; only float32 and float64 parameters can be optimised");
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (Tensor& p : params_) {
    if (!p.grad().defined()) continue;
    if (set_to_none)
      p.set_grad(Tensor());
    else
      p.zero_grad();
  }
}

void Optimizer::ensure_state() {
  if (state_.size() == params_.size()) return;
  state_.clear();
  state_.reserve(params_.size());
  for (const Tensor& p : params_) {
    std::vector<Tensor> s;
    s.reserve(state_names_.size());
    for (std::size_t k = 0; k < state_names_.size(); ++k) s.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    state_.push_back(std::move(s));
  }
}

TensorMap Optimizer::state_dict() const {
  NoGrad no_grad;
  TensorMap out;
  out.emplace("step", Tensor::scalar(static_cast<double>(step_), DType::Int64));
  // Copies, so that a saved dict is a snapshot and not a view of the live buffers.
  for (std::size_t i = 0; i < state_.size(); ++i)
    for (std::size_t k = 0; k < state_names_.size(); ++k)
      out.emplace(std::to_string(i) + "." + state_names_[k], state_[i][k].clone());
  return out;
}

void Optimizer::load_state_dict(const TensorMap& state) {
  const std::string op = "load_state_dict";
  const auto step_it = state.find("step");
  if (step_it == state.end()) throw ValueError(op + ": missing entry 'step'");
  const Tensor& st = step_it->second;
  if (!st.defined() || !is_integral(st.dtype()) || st.numel() != 1)
    throw ValueError(op + ": entry 'step' must be a one-element integer tensor, got " +
                     (st.defined() ? st.desc() : std::string("an undefined tensor")));
  const auto step = static_cast<std::int64_t>(st.item());
  if (step < 0) throw ValueError(op + ": entry 'step' is negative (" + std::to_string(step) + ")");

  // Every other key must be "<param index>.<state name>" for a known index and name.
  std::size_t per_param = 0;
  for (const auto& [key, t] : state) {
    if (key == "step") continue;
    const auto dot = key.find('.');
    bool known = false;
    if (dot != std::string::npos && dot > 0 && key.find_first_not_of("0123456789") == dot) {
      const std::string name = key.substr(dot + 1);
      const std::string idx = key.substr(0, dot);
      const bool canonical = idx.size() == 1 || idx[0] != '0';  // "00.exp_avg" is not "0.exp_avg"
      if (canonical && idx.size() < 10 && std::stoul(idx) < params_.size())
        for (const std::string& n : state_names_) known = known || n == name;
    }
    if (!known)
      throw ValueError(op + ": unexpected entry '" + key + "' (this optimiser has " + std::to_string(params_.size()) +
                       " parameters" + (state_names_.empty() ? std::string(" and no per-parameter state") : "") + ")");
    ++per_param;
  }
  // Without per-parameter entries the dict describes a fresh optimiser (nothing stepped yet).
  const bool has_state = per_param > 0 || (step > 0 && !state_names_.empty());
  if (has_state) {
    for (std::size_t i = 0; i < params_.size(); ++i)
      for (const std::string& n : state_names_) {
        const std::string key = std::to_string(i) + "." + n;
        const auto it = state.find(key);
        if (it == state.end()) throw ValueError(op + ": missing entry '" + key + "'");
        const Tensor& t = it->second;
        const Tensor& p = params_[i];
        if (!t.defined() || !(t.shape() == p.shape()) || t.dtype() != p.dtype())
          throw ValueError(op + ": entry '" + key + "' is " + (t.defined() ? t.desc() : std::string("undefined")) +
                           " but parameter " + std::to_string(i) + " is " + p.desc());
      }
  }
  // Validated: now copy into the existing buffers (no reallocation when the state exists).
  NoGrad no_grad;
  if (has_state) {
    ensure_state();
    for (std::size_t i = 0; i < params_.size(); ++i)
      for (std::size_t k = 0; k < state_names_.size(); ++k)
        state_[i][k].copy_(state.at(std::to_string(i) + "." + state_names_[k]));
  } else {
    for (auto& s : state_)
      for (Tensor& t : s) t.zero_();
  }
  step_ = step;
}

void Optimizer::reset_state() {
  NoGrad no_grad;
  step_ = 0;
  for (auto& s : state_)
    for (Tensor& t : s) t.zero_();  // in place: keeps the buffers, so no new allocation later
}

// ---- SGD ----------------------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, SGDOptions opt) : Optimizer(std::move(params), opt.lr), opt_(opt) {
  check_option(std::isfinite(opt.momentum) && opt.momentum >= 0.0, "SGD", "momentum", opt.momentum);
  check_option(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0, "SGD", "weight_decay", opt.weight_decay);
  if (opt.nesterov && opt.momentum <= 0.0) throw ValueError("SGD: nesterov needs momentum > 0");
  if (opt.momentum > 0.0) state_names_ = {"momentum_buffer"};
}

namespace {
template <class T>
void sgd_update(T* p, const T* g, T* buf, std::int64_t n, double lr_d, double mom_d, double wd_d, bool nesterov) {
  const T lr = static_cast<T>(lr_d), mom = static_cast<T>(mom_d), wd = static_cast<T>(wd_d);
  for_range(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      T d = g[i];
      if (wd_d != 0.0) d = d + wd * p[i];
      if (buf) {
        // torch: buf = buf * momentum + grad (buf starts as the first grad: 0 * m + g == g)
        buf[i] = buf[i] * mom + d;
        d = nesterov ? d + mom * buf[i] : buf[i];
      }
      p[i] = p[i] - lr * d;
    }
  });
}
}  // namespace

void SGD::step() {
  NoGrad no_grad;
  ensure_state();
  ++step_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = checked_grad(p, i, "SGD::step");
    if (!g.defined()) continue;
    const bool mom = opt_.momentum > 0.0;
    if (p.dtype() == DType::Float32)
      sgd_update<float>(p.data<float>(), g.data<float>(), mom ? state_[i][0].data<float>() : nullptr, p.numel(), lr_,
                        opt_.momentum, opt_.weight_decay, opt_.nesterov);
    else
      sgd_update<double>(p.data<double>(), g.data<double>(), mom ? state_[i][0].data<double>() : nullptr, p.numel(), lr_,
                         opt_.momentum, opt_.weight_decay, opt_.nesterov);
  }
}

// ---- Adam / AdamW -------------------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, AdamOptions opt, bool decoupled_weight_decay)
    : Optimizer(std::move(params), opt.lr), opt_(opt), decoupled_(decoupled_weight_decay) {
  const char* name = decoupled_weight_decay ? "AdamW" : "Adam";
  check_option(opt.beta1 >= 0.0 && opt.beta1 < 1.0, name, "beta1", opt.beta1);
  check_option(opt.beta2 >= 0.0 && opt.beta2 < 1.0, name, "beta2", opt.beta2);
  check_option(std::isfinite(opt.eps) && opt.eps >= 0.0, name, "eps", opt.eps);
  check_option(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0, name, "weight_decay", opt.weight_decay);
  state_names_ = {"exp_avg", "exp_avg_sq"};
}

namespace {
struct AdamScalars {
  double beta1, beta2, eps, wd, lr, step_size, bc2_sqrt;
  bool decoupled;
};

// Scalars rounded to T once, as PyTorch passes Python floats into T-precision kernels.
template <class T>
struct AdamConsts {
  T w1, one_minus_w1, beta2, one_minus_beta2, eps, wd, decay, step_size, bc2_sqrt;
  bool small_weight, coupled_wd, decoupled_wd;
  explicit AdamConsts(const AdamScalars& s)
      : w1(static_cast<T>(1.0 - s.beta1)),  // exp_avg.lerp_(grad, 1 - beta1)
        one_minus_w1(T(1) - w1),
        beta2(static_cast<T>(s.beta2)),
        one_minus_beta2(static_cast<T>(1.0 - s.beta2)),
        eps(static_cast<T>(s.eps)),
        wd(static_cast<T>(s.wd)),
        decay(static_cast<T>(1.0 - s.lr * s.wd)),
        step_size(static_cast<T>(s.step_size)),
        bc2_sqrt(static_cast<T>(s.bc2_sqrt)),
        small_weight((1.0 - s.beta1) < 0.5),
        coupled_wd(!s.decoupled && s.wd != 0.0),
        decoupled_wd(s.decoupled && s.wd != 0.0) {}
};

// One parameter's slice of the fused update.
template <class T>
struct AdamSeg {
  T* p;
  const T* g;
  T* m;
  T* v;
  std::int64_t n;
};

// The multi-tensor update: the (weight-decay mode, lerp formula) branch is taken once per step,
// then one branch-free SIMD loop runs over every parameter in turn (restrict pointers, scalars in
// registers). Element-wise, so the result does not depend on how the parameters are grouped or
// on the thread count; parameters above kGrain elements are split into fixed chunks.
template <class T>
void adam_update_all(const std::vector<AdamSeg<T>>& segs, const AdamConsts<T>& c) {
  auto run = [&](auto coupled_c, auto decoupled_c, auto small_c) {
    constexpr bool kCoupled = decltype(coupled_c)::value;
    constexpr bool kDecoupled = decltype(decoupled_c)::value;
    constexpr bool kSmall = decltype(small_c)::value;
    const T w1 = c.w1, one_minus_w1 = c.one_minus_w1, beta2 = c.beta2, one_minus_beta2 = c.one_minus_beta2;
    const T eps = c.eps, wd = c.wd, decay = c.decay, step_size = c.step_size, bc2_sqrt = c.bc2_sqrt;
    for (const AdamSeg<T>& sg : segs) {
      for_range(sg.n, [=](std::int64_t b, std::int64_t e) {
        T* __restrict pp = sg.p;
        const T* __restrict gp = sg.g;
        T* __restrict mp = sg.m;
        T* __restrict vp = sg.v;
        for (std::int64_t i = b; i < e; ++i) {
          T pi = pp[i];
          T gi = gp[i];
          if constexpr (kDecoupled) pi = pi * decay;  // AdamW: param.mul_(1 - lr * wd)
          if constexpr (kCoupled) gi = gi + wd * pi;  // Adam: grad = grad + wd * param
          // torch.lerp picks its formula by the weight's size (for accuracy near weight = 1).
          const T mi = kSmall ? mp[i] + w1 * (gi - mp[i]) : gi - (gi - mp[i]) * one_minus_w1;
          // Same association as torch.addcmul_ / addcdiv_: self + value * t1 * t2 (left to right).
          const T vi = vp[i] * beta2 + one_minus_beta2 * gi * gi;
          const T denom = std::sqrt(vi) / bc2_sqrt + eps;
          mp[i] = mi;
          vp[i] = vi;
          pp[i] = pi - step_size * mi / denom;
        }
      });
    }
  };
  using T_ = std::true_type;
  using F_ = std::false_type;
  if (c.coupled_wd) {
    if (c.small_weight) run(T_{}, F_{}, T_{}); else run(T_{}, F_{}, F_{});
  } else if (c.decoupled_wd) {
    if (c.small_weight) run(F_{}, T_{}, T_{}); else run(F_{}, T_{}, F_{});
  } else {
    if (c.small_weight) run(F_{}, F_{}, T_{}); else run(F_{}, F_{}, F_{});
  }
}

// Raw pointer to a tensor impl's first element.
template <class T>
T* impl_data(const detail::TensorImpl& t) {
  return reinterpret_cast<T*>(static_cast<char*>(t.storage->data()) + t.offset);
}
}  // namespace

void Adam::step() {
  NoGrad no_grad;
  ensure_state();
  ++step_;
  AdamScalars s{};
  s.beta1 = opt_.beta1;
  s.beta2 = opt_.beta2;
  s.eps = opt_.eps;
  s.wd = opt_.weight_decay;
  s.lr = lr_;
  s.decoupled = decoupled_;
  const double t = static_cast<double>(step_);
  s.step_size = lr_ / (1.0 - std::pow(opt_.beta1, t));
  s.bc2_sqrt = std::sqrt(1.0 - std::pow(opt_.beta2, t));
  const char* op = decoupled_ ? "AdamW::step" : "Adam::step";
  // Gather every parameter with a gradient (checked as before), then one fused pass per dtype.
  thread_local std::vector<AdamSeg<float>> segs32;
  thread_local std::vector<AdamSeg<double>> segs64;
  segs32.clear();
  segs64.clear();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const detail::TensorImpl& pi = params_[i].impl();
    if (!pi.grad) continue;
    const detail::TensorImpl& gi = *pi.grad;
    if (!pi.storage->device().is_cpu() || !gi.storage->device().is_cpu() || !(gi.shape == pi.shape) ||
        gi.dtype != pi.dtype)
      (void)checked_grad(params_[i], i, op);  // throws the standard message
    const std::int64_t n = pi.shape.numel();
    if (pi.dtype == DType::Float32)
      segs32.push_back({impl_data<float>(pi), impl_data<const float>(gi), impl_data<float>(state_[i][0].impl()),
                        impl_data<float>(state_[i][1].impl()), n});
    else
      segs64.push_back({impl_data<double>(pi), impl_data<const double>(gi), impl_data<double>(state_[i][0].impl()),
                        impl_data<double>(state_[i][1].impl()), n});
  }
  if (!segs32.empty()) adam_update_all<float>(segs32, AdamConsts<float>(s));
  if (!segs64.empty()) adam_update_all<double>(segs64, AdamConsts<double>(s));
}

// ---- utilities ----------------------------------------------------------------------------------

namespace {
// Sum of squares in double, in a fixed order: fixed-size chunks (independent of the thread
// count) summed left to right, their partial sums then added in chunk order.
template <class T>
double sum_squares(const T* x, std::int64_t n) {
  auto chunk_sum = [x](std::int64_t b, std::int64_t e) {
    double acc = 0.0;
    for (std::int64_t i = b; i < e; ++i) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    return acc;
  };
  if (n <= kGrain) return chunk_sum(0, n);
  const std::int64_t chunks = (n + kGrain - 1) / kGrain;
  std::vector<double> partial(static_cast<std::size_t>(chunks));
  parallel_for(chunks, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t c = b; c < e; ++c)
      partial[static_cast<std::size_t>(c)] = chunk_sum(c * kGrain, std::min(n, (c + 1) * kGrain));
  });
  double total = 0.0;
  for (double v : partial) total += v;
  return total;
}

template <class T>
void scale_in_place(T* x, std::int64_t n, double coef) {
  const T c = static_cast<T>(coef);
  for_range(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) x[i] = x[i] * c;
  });
}
}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm >= 0.0)) throw ValueError("clip_grad_norm: max_norm must be >= 0, got " + std::to_string(max_norm));
  NoGrad no_grad;
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  double sq = 0.0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined()) throw ValueError("clip_grad_norm: parameter " + std::to_string(i) + " is undefined");
    Tensor g = checked_grad(params[i], i, "clip_grad_norm");
    if (!g.defined()) continue;
    sq += g.dtype() == DType::Float32 ? sum_squares(g.data<float>(), g.numel()) : sum_squares(g.data<double>(), g.numel());
    grads.push_back(std::move(g));
  }
  const double norm = std::sqrt(sq);
  // Like torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when above the limit.
  if (norm > max_norm) {
    const double coef = max_norm / (norm + 1e-6);
    for (Tensor& g : grads) {
      if (g.dtype() == DType::Float32)
        scale_in_place(g.data<float>(), g.numel(), coef);
      else
        scale_in_place(g.data<double>(), g.numel(), coef);
    }
  }
  return norm;
}

namespace {
template <class T>
void polyak(T* t, const T* s, std::int64_t n, double tau) {
  const T a = static_cast<T>(1.0 - tau), b = static_cast<T>(tau);
  for_range(n, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) t[i] = a * t[i] + b * s[i];
  });
}
}  // namespace

void polyak_update(const std::vector<Tensor>& target, const std::vector<Tensor>& source, double tau) {
  if (!(tau >= 0.0 && tau <= 1.0)) throw ValueError("polyak_update: tau must be in [0, 1], got " + std::to_string(tau));
  if (target.size() != source.size())
    throw ValueError("polyak_update: " + std::to_string(target.size()) + " target tensors but " +
                     std::to_string(source.size()) + " source tensors");
  for (std::size_t i = 0; i < target.size(); ++i) {
    const Tensor& t = target[i];
    const Tensor& s = source[i];
    if (!t.defined() || !s.defined()) throw ValueError("polyak_update: tensor pair " + std::to_string(i) + " is undefined");
    if (!(t.shape() == s.shape()) || t.dtype() != s.dtype())
      throw ValueError("polyak_update: pair " + std::to_string(i) + ": target " + t.desc() + " vs source " + s.desc());
    if (!is_floating(t.dtype())) throw DTypeError("polyak_update: pair " + std::to_string(i) + " is " + t.desc() + ", not floating point");
    if (!t.device().is_cpu() || !s.device().is_cpu())
      throw DeviceError("polyak_update: pair " + std::to_string(i) + " (" + t.desc() + ", " + s.desc() +
                        ") is not on the CPU; the CUDA kernel is not available");
  }
  for (std::size_t i = 0; i < target.size(); ++i) {
    Tensor t = target[i];
    const Tensor& s = source[i];
    if (t.dtype() == DType::Float32)
      polyak(t.data<float>(), s.data<float>(), t.numel(), tau);
    else
      polyak(t.data<double>(), s.data<double>(), t.numel(), tau);
  }
}

double WarmupCosineLR::at(std::int64_t step) const {
  if (step < 0) step = 0;
  if (step < warmup_) return lr_ * static_cast<double>(step) / static_cast<double>(warmup_);
  if (total_ <= warmup_) return lr_;
  if (step >= total_) return final_;
  const double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
  return final_ + (lr_ - final_) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace anyrl
