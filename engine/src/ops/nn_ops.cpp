// Neural-network ops: softmax / log_softmax, fused layer_norm, the losses. layer_norm and the
// cross-entropies have hand-written forward and backward kernels (they are on every hot path);
// mse / huber / expectile are compositions of primitive ops.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "anyrl/engine/ops.hpp"
#include "ops/common.hpp"

namespace anyrl {
using detail::check_cpu;
using detail::check_defined;

namespace {

struct Lines {
  std::int64_t outer, D, inner;
};
Lines lines_of(const Shape& s, int dim) {
  Lines l{1, s.rank() ? s[dim] : 1, 1};
  for (int i = 0; i < dim; ++i) l.outer *= s[i];
  for (int i = dim + 1; i < s.rank(); ++i) l.inner *= s[i];
  return l;
}

// Runs fn(base, stride) for every line of length D along the reduced dim.
template <class F>
void for_lines(const Lines& l, F fn) {
  const std::int64_t nlines = l.outer * l.inner;
  auto body = [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      std::int64_t o = t / l.inner, i = t % l.inner;
      fn(o * l.D * l.inner + i, l.inner);
    }
  };
  if (nlines * l.D > detail::kParallelGrain)
    parallel_for(nlines, std::max<std::int64_t>(1, detail::kParallelGrain / std::max<std::int64_t>(l.D, 1)), body);
  else
    body(0, nlines);
}

template <class T>
using VecMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using CVecMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Contiguous line: lane-parallel max and sums, Eigen's SIMD exp.
template <class T>
void softmax_line_contig(const T* x, T* y, std::int64_t D, bool log_form) {
  T m = detail::lane_max<T>(D, [x](std::int64_t d) { return x[d]; });
  if (!std::isfinite(m)) m = T(0);
  CVecMap<T> xv(x, D);
  VecMap<T> yv(y, D);
  yv = (xv - m).exp();
  T s = detail::lane_sum<T>(D, [y](std::int64_t d) { return y[d]; });
  if (log_form)
    yv = xv - (m + std::log(s));
  else
    yv *= T(1) / s;
}

template <class T>
void softmax_line(const T* x, T* y, std::int64_t D, std::int64_t st, bool log_form) {
  if (st == 1) return softmax_line_contig(x, y, D, log_form);
  T m = -std::numeric_limits<T>::infinity();
  for (std::int64_t d = 0; d < D; ++d) m = std::max(m, x[d * st]);
  if (!std::isfinite(m)) m = T(0);
  T s = 0;
  for (std::int64_t d = 0; d < D; ++d) s += std::exp(x[d * st] - m);
  if (log_form) {
    T lse = m + std::log(s);
    for (std::int64_t d = 0; d < D; ++d) y[d * st] = x[d * st] - lse;
  } else {
    T inv = T(1) / s;
    for (std::int64_t d = 0; d < D; ++d) y[d * st] = std::exp(x[d * st] - m) * inv;
  }
}

Tensor softmax_impl(const char* op, const Tensor& a, int dim_in, bool log_form) {
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  detail::check_floating(op, a);
  int dim = normalize_dim(dim_in, a.dim(), op);
  Lines l = lines_of(a.shape(), dim);
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  ANYRL_DISPATCH_FLOAT(a.dtype(), op, {
    const scalar_t* x = a.data<scalar_t>();
    scalar_t* y = out.data<scalar_t>();
    for_lines(l, [&](std::int64_t base, std::int64_t st) { softmax_line(x + base, y + base, l.D, st, log_form); });
  });
  if (!any_requires_grad({&a})) return out;
  Tensor ys = out.detach();
  return record(out, op, {a}, [ys, l, log_form, op](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    Tensor gx = Tensor::empty(ys.shape(), ys.dtype());
    ANYRL_DISPATCH_FLOAT(ys.dtype(), op, {
      const scalar_t* y = ys.data<scalar_t>();
      const scalar_t* pg = g.data<scalar_t>();
      scalar_t* px = gx.data<scalar_t>();
      for_lines(l, [&](std::int64_t base, std::int64_t st) {
        const scalar_t* yy = y + base;
        const scalar_t* gg = pg + base;
        scalar_t* xx = px + base;
        if (st == 1) {
          CVecMap<scalar_t> yv(yy, l.D), gv(gg, l.D);
          VecMap<scalar_t> xv(xx, l.D);
          if (log_form) {
            scalar_t s = detail::lane_sum<scalar_t>(l.D, [gg](std::int64_t d) { return gg[d]; });
            xv = gv - yv.exp() * s;
          } else {
            scalar_t s = detail::lane_sum<scalar_t>(l.D, [gg, yy](std::int64_t d) { return gg[d] * yy[d]; });
            xv = yv * (gv - s);
          }
          return;
        }
        scalar_t s = 0;
        if (log_form) {
          for (std::int64_t d = 0; d < l.D; ++d) s += gg[d * st];
          for (std::int64_t d = 0; d < l.D; ++d) xx[d * st] = gg[d * st] - std::exp(yy[d * st]) * s;
        } else {
          for (std::int64_t d = 0; d < l.D; ++d) s += gg[d * st] * yy[d * st];
          for (std::int64_t d = 0; d < l.D; ++d) xx[d * st] = yy[d * st] * (gg[d * st] - s);
        }
      });
    });
    gi[0] = gx;
  });
}

}  // namespace

Tensor softmax(const Tensor& a, int dim) { return softmax_impl("softmax", a, dim, false); }
Tensor log_softmax(const Tensor& a, int dim) { return softmax_impl("log_softmax", a, dim, true); }

// ---- layer_norm ----------------------------------------------------------------------------
namespace {
constexpr std::int64_t kLnBlock = 64;  // rows per partial-sum block of the weight gradient
template <class T>
void ln_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, std::int64_t R, std::int64_t D,
                double eps) {
  auto body = [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * D;
      T* yr = y + r * D;
      T s = detail::lane_sum<T>(D, [xr](std::int64_t d) { return xr[d]; });
      T mu = D ? s / T(D) : T(0);
      T v = detail::lane_sum<T>(D, [xr, mu](std::int64_t d) { return (xr[d] - mu) * (xr[d] - mu); });
      T rs = T(1) / std::sqrt((D ? v / T(D) : T(0)) + T(eps));
      mean[r] = mu;
      rstd[r] = rs;
      if (w && b)
        for (std::int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - mu) * rs * w[d] + b[d];
      else if (w)
        for (std::int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - mu) * rs * w[d];
      else if (b)
        for (std::int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - mu) * rs + b[d];
      else
        for (std::int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - mu) * rs;
    }
  };
  if (R * D > detail::kParallelGrain)
    parallel_for(R, std::max<std::int64_t>(1, detail::kParallelGrain / std::max<std::int64_t>(D, 1)), body);
  else
    body(0, R);
}

template <class T>
void ln_backward(const T* x, const T* w, const T* g, const T* mean, const T* rstd, T* gx, T* part_w, T* part_b,
                 std::int64_t R, std::int64_t D) {
  const std::int64_t nblocks = (R + kLnBlock - 1) / kLnBlock;
  auto body = [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      T* pw = part_w ? part_w + blk * D : nullptr;
      T* pb = part_b ? part_b + blk * D : nullptr;
      if (pw) std::fill(pw, pw + D, T(0));
      if (pb) std::fill(pb, pb + D, T(0));
      for (std::int64_t r = blk * kLnBlock; r < std::min(R, (blk + 1) * kLnBlock); ++r) {
        const T* xr = x + r * D;
        const T* gr = g + r * D;
        const T mu = mean[r], rs = rstd[r];
        // mean(gxhat) and mean(gxhat * xhat)
        T s1, s2;
        if (w) {
          s1 = detail::lane_sum<T>(D, [gr, w](std::int64_t d) { return gr[d] * w[d]; });
          s2 = detail::lane_sum<T>(D, [=](std::int64_t d) { return gr[d] * w[d] * (xr[d] - mu) * rs; });
        } else {
          s1 = detail::lane_sum<T>(D, [gr](std::int64_t d) { return gr[d]; });
          s2 = detail::lane_sum<T>(D, [=](std::int64_t d) { return gr[d] * (xr[d] - mu) * rs; });
        }
        if (pw)
          for (std::int64_t d = 0; d < D; ++d) pw[d] += gr[d] * ((xr[d] - mu) * rs);
        if (pb)
          for (std::int64_t d = 0; d < D; ++d) pb[d] += gr[d];
        if (gx) {
          T* out = gx + r * D;
          s1 /= T(D);
          s2 /= T(D);
          for (std::int64_t d = 0; d < D; ++d) {
            T xh = (xr[d] - mu) * rs;
            T gh = w ? gr[d] * w[d] : gr[d];
            out[d] = rs * (gh - s1 - xh * s2);
          }
        }
      }
    }
  };
  if (R * D > detail::kParallelGrain)
    parallel_for(nblocks, std::max<std::int64_t>(1, detail::kParallelGrain / std::max<std::int64_t>(D * kLnBlock, 1)), body);
  else
    body(0, nblocks);
}
}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  check_defined(op, x, "x");
  check_cpu(op, {&x, &weight, &bias});
  detail::check_floating(op, x);
  if (x.dim() < 1) throw ShapeError("layer_norm: needs rank >= 1, got " + x.desc());
  const std::int64_t D = x.shape().back();
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    detail::check_same_dtype(op, x, *p);
    if (p->dim() != 1 || p->shape()[0] != D)
      throw ShapeError("layer_norm: " + std::string(p == &weight ? "weight" : "bias") + " must be [" +
                       std::to_string(D) + "] to match x " + x.desc() + ", got " + p->desc());
  }
  const std::int64_t R = D ? x.numel() / D : 0;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty(Shape{R}, x.dtype()), rstd = Tensor::empty(Shape{R}, x.dtype());
  ANYRL_DISPATCH_FLOAT(x.dtype(), op,
                       ln_forward<scalar_t>(x.data<scalar_t>(), weight.defined() ? weight.data<scalar_t>() : nullptr,
                                            bias.defined() ? bias.data<scalar_t>() : nullptr, y.data<scalar_t>(),
                                            mean.data<scalar_t>(), rstd.data<scalar_t>(), R, D, eps));
  if (!any_requires_grad({&x, &weight, &bias})) return y;
  Tensor xs = x.detach(), ws = weight.defined() ? weight.detach() : Tensor();
  bool has_w = weight.defined(), has_b = bias.defined();
  return record(y, op, {x, weight, bias},
                [xs, ws, mean, rstd, R, D, has_w, has_b](const Tensor& g, const std::vector<bool>& need,
                                                         std::vector<Tensor>& gi) {
                  const std::int64_t nblocks = (R + kLnBlock - 1) / kLnBlock;
                  Tensor gx = need[0] ? Tensor::empty(xs.shape(), xs.dtype()) : Tensor();
                  Tensor pw = has_w && need[1] ? Tensor::empty(Shape{nblocks, D}, xs.dtype()) : Tensor();
                  Tensor pb = has_b && need[2] ? Tensor::empty(Shape{nblocks, D}, xs.dtype()) : Tensor();
                  ANYRL_DISPATCH_FLOAT(xs.dtype(), "layer_norm backward",
                                       ln_backward<scalar_t>(xs.data<scalar_t>(), has_w ? ws.data<scalar_t>() : nullptr,
                                                             g.data<scalar_t>(), mean.data<scalar_t>(),
                                                             rstd.data<scalar_t>(),
                                                             gx.defined() ? gx.data<scalar_t>() : nullptr,
                                                             pw.defined() ? pw.data<scalar_t>() : nullptr,
                                                             pb.defined() ? pb.data<scalar_t>() : nullptr, R, D));
                  if (need[0]) gi[0] = gx;
                  // Partial sums per fixed block, combined in block order: deterministic.
                  if (pw.defined()) gi[1] = sum(pw, {0});
                  if (pb.defined()) gi[2] = sum(pb, {0});
                });
}

// ---- cross-entropy ---------------------------------------------------------------------------
namespace {
template <class T>
T row_lse(const T* x, std::int64_t C) {
  T m = -std::numeric_limits<T>::infinity();
  for (std::int64_t c = 0; c < C; ++c) m = std::max(m, x[c]);
  if (!std::isfinite(m)) m = T(0);
  T s = 0;
  for (std::int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
  return m + std::log(s);
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  const char* op = "cross_entropy";
  check_defined(op, logits, "logits");
  check_defined(op, targets, "targets");
  check_cpu(op, {&logits, &targets});
  detail::check_floating(op, logits);
  detail::check_index_dtype(op, targets, "targets");
  if (logits.dim() < 1) throw ShapeError("cross_entropy: logits must be [..., C], got " + logits.desc());
  Shape expect;
  for (int i = 0; i < logits.dim() - 1; ++i) expect.push_back(logits.shape()[i]);
  if (!(targets.shape() == expect))
    throw ShapeError("cross_entropy: targets " + targets.desc() + " must have shape " + expect.str() +
                     " for logits " + logits.desc());
  const std::int64_t C = logits.shape().back(), N = expect.numel();
  for (std::int64_t i = 0; i < N; ++i) {
    std::int64_t t = detail::index_at(targets, i);
    if (t < 0 || t >= C)
      throw ValueError("cross_entropy: target " + std::to_string(t) + " at position " + std::to_string(i) +
                       " is out of range for " + std::to_string(C) + " classes");
  }
  Tensor lse = Tensor::empty(Shape{N}, logits.dtype());
  Tensor out = Tensor::empty(Shape{}, logits.dtype());
  ANYRL_DISPATCH_FLOAT(logits.dtype(), op, {
    const scalar_t* x = logits.data<scalar_t>();
    scalar_t* l = lse.data<scalar_t>();
    double total = 0;
    for (std::int64_t i = 0; i < N; ++i) {
      l[i] = row_lse(x + i * C, C);
      total += static_cast<double>(l[i] - x[i * C + detail::index_at(targets, i)]);
    }
    out.data<scalar_t>()[0] = static_cast<scalar_t>(N ? total / static_cast<double>(N) : 0.0);
  });
  if (!any_requires_grad({&logits})) return out;
  Tensor xs = logits.detach(), ts = targets.detach();
  return record(out, op, {logits}, [xs, ts, lse, N, C](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    Tensor gx = Tensor::empty(xs.shape(), xs.dtype());
    ANYRL_DISPATCH_FLOAT(xs.dtype(), "cross_entropy backward", {
      const scalar_t* x = xs.data<scalar_t>();
      const scalar_t* l = lse.data<scalar_t>();
      scalar_t* p = gx.data<scalar_t>();
      const scalar_t scale = g.data<scalar_t>()[0] / static_cast<scalar_t>(N);
      for (std::int64_t i = 0; i < N; ++i) {
        for (std::int64_t c = 0; c < C; ++c) p[i * C + c] = std::exp(x[i * C + c] - l[i]) * scale;
        p[i * C + detail::index_at(ts, i)] -= scale;
      }
    });
    gi[0] = gx;
  });
}

Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target_probs) {
  const char* op = "cross_entropy_soft";
  check_defined(op, logits, "logits");
  check_defined(op, target_probs, "target_probs");
  check_cpu(op, {&logits, &target_probs});
  detail::check_floating(op, logits);
  detail::check_same_dtype(op, logits, target_probs);
  if (logits.dim() < 1 || !(logits.shape() == target_probs.shape()))
    throw ShapeError("cross_entropy_soft: target_probs " + target_probs.desc() + " must match logits " + logits.desc());
  const std::int64_t C = logits.shape().back(), N = C ? logits.numel() / C : 0;
  Tensor logp = Tensor::empty(logits.shape(), logits.dtype());
  Tensor out = Tensor::empty(Shape{}, logits.dtype());
  ANYRL_DISPATCH_FLOAT(logits.dtype(), op, {
    const scalar_t* x = logits.data<scalar_t>();
    const scalar_t* p = target_probs.data<scalar_t>();
    scalar_t* lp = logp.data<scalar_t>();
    double total = 0;
    for (std::int64_t i = 0; i < N; ++i) {
      scalar_t l = row_lse(x + i * C, C);
      double row = 0;
      for (std::int64_t c = 0; c < C; ++c) {
        lp[i * C + c] = x[i * C + c] - l;
        row -= static_cast<double>(p[i * C + c] * lp[i * C + c]);
      }
      total += row;
    }
    out.data<scalar_t>()[0] = static_cast<scalar_t>(N ? total / static_cast<double>(N) : 0.0);
  });
  if (!any_requires_grad({&logits, &target_probs})) return out;
  Tensor ps = target_probs.detach();
  return record(out, op, {logits, target_probs},
                [ps, logp, N, C](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
                  ANYRL_DISPATCH_FLOAT(ps.dtype(), "cross_entropy_soft backward", {
                    const scalar_t scale = g.data<scalar_t>()[0] / static_cast<scalar_t>(N);
                    const scalar_t* p = ps.data<scalar_t>();
                    const scalar_t* lp = logp.data<scalar_t>();
                    if (need[0]) {
                      Tensor gx = Tensor::empty(ps.shape(), ps.dtype());
                      scalar_t* o = gx.data<scalar_t>();
                      for (std::int64_t i = 0; i < N; ++i) {
                        scalar_t mass = 0;
                        for (std::int64_t c = 0; c < C; ++c) mass += p[i * C + c];
                        for (std::int64_t c = 0; c < C; ++c)
                          o[i * C + c] = (std::exp(lp[i * C + c]) * mass - p[i * C + c]) * scale;
                      }
                      gi[0] = gx;
                    }
                    if (need[1]) gi[1] = mul(logp, -static_cast<double>(scale));
                  });
                });
}

// ---- regression losses (compositions) ------------------------------------------------------
Tensor mse_loss(const Tensor& a, const Tensor& b) {
  check_defined("mse_loss", a, "a");
  check_defined("mse_loss", b, "b");
  detail::check_same_dtype("mse_loss", a, b);
  if (a.defined() && b.defined() && !(a.shape() == b.shape()))
    throw ShapeError("mse_loss: shapes differ (" + detail::describe2(a, b) + "); broadcast explicitly if intended");
  return mean(square(sub(a, b)));
}

Tensor huber_loss(const Tensor& a, const Tensor& b, double delta) {
  check_defined("huber_loss", a, "a");
  check_defined("huber_loss", b, "b");
  detail::check_same_dtype("huber_loss", a, b);
  if (a.defined() && b.defined() && !(a.shape() == b.shape()))
    throw ShapeError("huber_loss: shapes differ (" + detail::describe2(a, b) + ")");
  if (!(delta > 0)) throw ValueError("huber_loss: delta must be > 0, got " + std::to_string(delta));
  // 0.5 q^2 + delta * (|d| - q) with q = min(|d|, delta): quadratic inside, linear outside.
  Tensor ad = abs(sub(a, b));
  Tensor q = clamp(ad, 0.0, delta);
  return mean(add(mul(square(q), 0.5), mul(sub(ad, q), delta)));
}

Tensor expectile_loss(const Tensor& diff, double tau) {
  if (!(tau > 0 && tau < 1)) throw ValueError("expectile_loss: tau must be in (0, 1), got " + std::to_string(tau));
  check_defined("expectile_loss", diff, "diff");
  Tensor w;
  {
    NoGrad ng;
    w = where(lt(diff, 0.0), Tensor::scalar(1.0 - tau, diff.dtype()), Tensor::scalar(tau, diff.dtype()));
  }
  return mean(mul(w, square(diff)));
}

}  // namespace anyrl
