// Elementwise ops: forward kernels over the broadcast machinery, and their gradient rules.
// Unary ops are described by (f(x), f'(x, y)) pairs so forward and fused backward come from
// one definition; binary ops reduce their gradient back to each input's shape with sum_to.
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <cmath>

#include "anyrl/engine/ops.hpp"
#include "ops/broadcast.hpp"

namespace anyrl {
using detail::check_cpu;
using detail::check_defined;
using detail::check_same_dtype;

namespace {

// ---- kernels -----------------------------------------------------------------------------

// out = f(a) over a same-shape flat range; F is a generic lambda.
template <class T, class F>
void map1(const T* a, T* out, std::int64_t n, F f) {
  auto body = [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) out[i] = f(a[i]);
  };
  if (n > detail::kParallelGrain) parallel_for(n, detail::kParallelGrain, body); else body(0, n);
}

template <class F>
Tensor unary_map(const char* op, const Tensor& a, F f, bool float_only = true) {
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  const std::int64_t n = a.numel();
  if (float_only) {
    ANYRL_DISPATCH_FLOAT(a.dtype(), op, map1(a.data<scalar_t>(), out.data<scalar_t>(), n, [&](scalar_t x) {
      return static_cast<scalar_t>(f(x));
    }));
  } else {
    ANYRL_DISPATCH_NUMERIC(a.dtype(), op, map1(a.data<scalar_t>(), out.data<scalar_t>(), n, [&](scalar_t x) {
      return static_cast<scalar_t>(f(x));
    }));
  }
  return out;
}

template <class T>
using ArrMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ArrOut = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

// Runs body(begin, end) over [0, n), in parallel for large n (chunks fixed by n).
template <class Body>
void chunked(std::int64_t n, Body body) {
  if (n > detail::kParallelGrain) parallel_for(n, detail::kParallelGrain, body); else body(0, n);
}

// A differentiable float unary op. F maps an Eigen array expression x to f(x); D maps (x, y)
// with y = f(x) to f'(x). Both are generic lambdas over Eigen arrays, so forward and fused
// backward are SIMD-vectorised (Eigen's packet exp/tanh/log...) and defined side by side.
// out = f(a) elementwise over Eigen array chunks (float dtypes).
template <class F>
Tensor unary_forward(const char* op, const Tensor& a, F f) {
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  const std::int64_t n = a.numel();
  ANYRL_DISPATCH_FLOAT(a.dtype(), op, {
    const scalar_t* px = a.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    chunked(n, [&](std::int64_t b, std::int64_t e) {
      ArrMap<scalar_t> x(px + b, e - b);
      ArrOut<scalar_t>(po + b, e - b) = f(x);
    });
  });
  return out;
}

template <class F, class D>
Tensor unary_op(const char* op, const Tensor& a, F f, D d, bool save_output = true) {
  Tensor out = unary_forward(op, a, f);
  if (!any_requires_grad({&a})) return out;
  Tensor xs = a.detach();
  Tensor ys = save_output ? out.detach() : Tensor();
  return record(out, op, {a}, [op, xs, ys, d](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    Tensor r = Tensor::empty(xs.shape(), xs.dtype());
    const std::int64_t n = xs.numel();
    ANYRL_DISPATCH_FLOAT(xs.dtype(), op, {
      const scalar_t* pg = g.data<scalar_t>();
      const scalar_t* px = xs.data<scalar_t>();
      const scalar_t* py = ys.defined() ? ys.data<scalar_t>() : px;
      scalar_t* pr = r.data<scalar_t>();
      chunked(n, [&](std::int64_t b, std::int64_t e) {
        ArrMap<scalar_t> x(px + b, e - b), y(py + b, e - b), gg(pg + b, e - b);
        ArrOut<scalar_t>(pr + b, e - b) = gg * d(x, y);
      });
    });
    gi[0] = r;
  });
}

// A unary op whose derivative is 1 where keep(x) and 0 elsewhere (relu, clamp). The backward is
// a plain compare-and-blend loop: GCC vectorises it, while Eigen 3.4's `select` and bool casts
// are evaluated one coefficient at a time.
template <class F, class Keep>
Tensor unary_op_masked(const char* op, const Tensor& a, F f, Keep keep) {
  Tensor out = unary_forward(op, a, f);
  if (!any_requires_grad({&a})) return out;
  Tensor xs = a.detach();
  return record(out, op, {a}, [op, xs, keep](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    Tensor r = Tensor::empty(xs.shape(), xs.dtype());
    const std::int64_t n = xs.numel();
    ANYRL_DISPATCH_FLOAT(xs.dtype(), op, {
      const scalar_t* __restrict pg = g.data<scalar_t>();
      const scalar_t* __restrict px = xs.data<scalar_t>();
      scalar_t* __restrict pr = r.data<scalar_t>();
      chunked(n, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) pr[i] = keep(px[i]) ? pg[i] : scalar_t(0);
      });
    });
    gi[0] = r;
  });
}

// Scalar type of an Eigen array expression, for constants inside generic lambdas.
template <class E>
using S = typename std::decay_t<E>::Scalar;

// out[i] = f(a[i'], b[i'']) with broadcasting; OutT chosen by the caller.
template <class T, class OutT, class F>
void map2(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  auto plan = detail::make_plan<2>(out.shape(), {a.shape(), b.shape()});
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  OutT* po = static_cast<OutT*>(out.raw_data());
  detail::run_plan<2>(plan, [&](std::int64_t o, const std::array<std::int64_t, 2>& off, std::int64_t n,
                                const std::array<std::int64_t, 2>& s) {
    const T* x = pa + off[0];
    const T* y = pb + off[1];
    OutT* z = po + o;
    if (s[0] == 1 && s[1] == 1) {
      for (std::int64_t i = 0; i < n; ++i) z[i] = static_cast<OutT>(f(x[i], y[i]));
    } else if (s[0] == 1 && s[1] == 0) {
      const T yv = y[0];
      for (std::int64_t i = 0; i < n; ++i) z[i] = static_cast<OutT>(f(x[i], yv));
    } else if (s[0] == 0 && s[1] == 1) {
      const T xv = x[0];
      for (std::int64_t i = 0; i < n; ++i) z[i] = static_cast<OutT>(f(xv, y[i]));
    } else {
      for (std::int64_t i = 0; i < n; ++i) z[i] = static_cast<OutT>(f(x[i * s[0]], y[i * s[1]]));
    }
  });
}

Shape binary_shape(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a, "a");
  check_defined(op, b, "b");
  check_cpu(op, {&a, &b});
  check_same_dtype(op, a, b);
  try {
    return broadcast_shapes(a.shape(), b.shape(), op);
  } catch (const ShapeError&) {
    throw ShapeError(std::string(op) + ": shapes " + a.shape().str() + " and " + b.shape().str() +
                     " cannot be broadcast (" + detail::describe2(a, b) + ")");
  }
}

template <class F>
Tensor binary_map(const char* op, const Tensor& a, const Tensor& b, F f, bool float_only) {
  Shape s = binary_shape(op, a, b);
  Tensor out = Tensor::empty(s, a.dtype());
  if (float_only) {
    ANYRL_DISPATCH_FLOAT(a.dtype(), op, (map2<scalar_t, scalar_t>(a, b, out, [&](scalar_t x, scalar_t y) {
                           return f(x, y);
                         })));
  } else {
    ANYRL_DISPATCH_NUMERIC(a.dtype(), op, (map2<scalar_t, scalar_t>(a, b, out, [&](scalar_t x, scalar_t y) {
                             return f(x, y);
                           })));
  }
  return out;
}

template <class F>
Tensor compare_map(const char* op, const Tensor& a, const Tensor& b, F f) {
  Shape s = binary_shape(op, a, b);
  Tensor out = Tensor::empty(s, DType::Bool);
  ANYRL_DISPATCH_ALL(a.dtype(), op, (map2<scalar_t, std::uint8_t>(a, b, out, [&](scalar_t x, scalar_t y) {
                       return f(x, y) ? 1 : 0;
                     })));
  return out;
}

// Elementwise g * h(a, b) in the output frame (both broadcast), then summed to `target`.
template <class H>
Tensor binary_grad(const Tensor& g, const Tensor& a, const Tensor& b, const Shape& target, H h) {
  Tensor ga = Tensor::empty(g.shape(), g.dtype());
  auto plan = detail::make_plan<3>(g.shape(), {g.shape(), a.shape(), b.shape()});
  ANYRL_DISPATCH_FLOAT(g.dtype(), "binary backward", {
    const scalar_t* pg = g.data<scalar_t>();
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* po = ga.data<scalar_t>();
    detail::run_plan<3>(plan, [&](std::int64_t o, const std::array<std::int64_t, 3>& off, std::int64_t n,
                                  const std::array<std::int64_t, 3>& s) {
      for (std::int64_t i = 0; i < n; ++i)
        po[o + i] = pg[off[0] + i * s[0]] *
                    static_cast<scalar_t>(h(pa[off[1] + i * s[1]], pb[off[2] + i * s[2]]));
    });
  });
  return sum_to(ga, target);
}

}  // namespace

// ---- binary ------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("add", a, b, [](auto x, auto y) { return x + y; }, false);
  if (!any_requires_grad({&a, &b})) return out;
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    if (need[0]) gi[0] = sum_to(g, sa);
    if (need[1]) gi[1] = sum_to(g, sb);
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("sub", a, b, [](auto x, auto y) { return x - y; }, false);
  if (!any_requires_grad({&a, &b})) return out;
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    if (need[0]) gi[0] = sum_to(g, sa);
    if (need[1]) gi[1] = neg(sum_to(g, sb));
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("mul", a, b, [](auto x, auto y) { return x * y; }, false);
  if (!any_requires_grad({&a, &b})) return out;
  Tensor x = a.detach(), y = b.detach();
  return record(out, "mul", {a, b}, [x, y](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    if (need[0]) gi[0] = binary_grad(g, x, y, x.shape(), [](auto, auto q) { return q; });
    if (need[1]) gi[1] = binary_grad(g, x, y, y.shape(), [](auto p, auto) { return p; });
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("div", a, b, [](auto x, auto y) { return x / y; }, true);
  if (!any_requires_grad({&a, &b})) return out;
  Tensor x = a.detach(), y = b.detach();
  return record(out, "div", {a, b}, [x, y](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    if (need[0]) gi[0] = binary_grad(g, x, y, x.shape(), [](auto, auto q) { return decltype(q)(1) / q; });
    if (need[1]) gi[1] = binary_grad(g, x, y, y.shape(), [](auto p, auto q) { return -p / (q * q); });
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("pow", a, b, [](auto x, auto y) { return std::pow(x, y); }, true);
  if (!any_requires_grad({&a, &b})) return out;
  Tensor x = a.detach(), y = b.detach();
  return record(out, "pow", {a, b}, [x, y](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    if (need[0])
      gi[0] = binary_grad(g, x, y, x.shape(), [](auto p, auto q) {
        return q == decltype(q)(0) ? decltype(q)(0) : q * std::pow(p, q - decltype(q)(1));
      });
    if (need[1])
      gi[1] = binary_grad(g, x, y, y.shape(), [](auto p, auto q) {
        return p > decltype(p)(0) ? std::pow(p, q) * std::log(p) : decltype(p)(0);
      });
  });
}

namespace {
// Gradient share of x in max(x, y) / min(x, y): 1 where it wins, 1/2 on ties.
template <bool IsMax>
Tensor minmax(const char* op, const Tensor& a, const Tensor& b) {
  // NaN propagates (as in torch.maximum / torch.minimum).
  Tensor out = binary_map(op, a, b, [](auto x, auto y) {
    if (x != x || y != y) return x != x ? x : y;
    return IsMax ? (x > y ? x : y) : (x < y ? x : y);
  }, false);
  if (!any_requires_grad({&a, &b})) return out;
  Tensor x = a.detach(), y = b.detach();
  return record(out, op, {a, b}, [x, y](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    auto share = [](auto p, auto q) {
      using T = decltype(p);
      return p == q ? T(0.5) : ((IsMax ? p > q : p < q) ? T(1) : T(0));
    };
    if (need[0]) gi[0] = binary_grad(g, x, y, x.shape(), share);
    if (need[1]) gi[1] = binary_grad(g, x, y, y.shape(), [share](auto p, auto q) { return share(q, p); });
  });
}
}  // namespace

Tensor minimum(const Tensor& a, const Tensor& b) { return minmax<false>("minimum", a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return minmax<true>("maximum", a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const char* op = "where";
  check_defined(op, cond, "cond");
  if (cond.dtype() != DType::Bool) throw DTypeError(std::string("where: cond must be bool, got ") + cond.desc());
  Shape s = binary_shape(op, a, b);
  try {
    s = broadcast_shapes(cond.shape(), s, op);
  } catch (const ShapeError&) {
    throw ShapeError("where: cond " + cond.shape().str() + " does not broadcast with " + s.str() + " (" +
                     detail::describe2(a, b) + ")");
  }
  check_cpu(op, {&cond});
  Tensor out = Tensor::empty(s, a.dtype());
  auto plan = detail::make_plan<3>(s, {cond.shape(), a.shape(), b.shape()});
  ANYRL_DISPATCH_NUMERIC(a.dtype(), op, {
    const std::uint8_t* pc = cond.data<std::uint8_t>();
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    detail::run_plan<3>(plan, [&](std::int64_t o, const std::array<std::int64_t, 3>& off, std::int64_t n,
                                  const std::array<std::int64_t, 3>& st) {
      for (std::int64_t i = 0; i < n; ++i)
        po[o + i] = pc[off[0] + i * st[0]] ? pa[off[1] + i * st[1]] : pb[off[2] + i * st[2]];
    });
  });
  if (!any_requires_grad({&a, &b})) return out;
  Tensor c = cond.detach();
  Shape sa = a.shape(), sb = b.shape();
  return record(out, op, {a, b}, [c, sa, sb](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    Tensor zero = Tensor::zeros(Shape{}, g.dtype());
    if (need[0]) gi[0] = sum_to(where(c, g, zero), sa);
    if (need[1]) gi[1] = sum_to(where(c, zero, g), sb);
  });
}

// ---- with a scalar -------------------------------------------------------------------------
Tensor add(const Tensor& a, double s) {
  if (!is_floating(a.dtype())) {
    check_defined("add", a, "a");
    return unary_map("add", a, [s](auto x) { return x + static_cast<decltype(x)>(s); }, false);
  }
  return unary_op("add", a, [s](const auto& x) { return x + S<decltype(x)>(s); },
                  [](const auto& x, const auto&) { return x.Constant(x.size(), S<decltype(x)>(1)); }, false);
}
Tensor mul(const Tensor& a, double s) {
  if (!is_floating(a.dtype())) {
    check_defined("mul", a, "a");
    return unary_map("mul", a, [s](auto x) { return x * static_cast<decltype(x)>(s); }, false);
  }
  return unary_op("mul", a, [s](const auto& x) { return x * S<decltype(x)>(s); },
                  [s](const auto& x, const auto&) { return x.Constant(x.size(), S<decltype(x)>(s)); }, false);
}
Tensor pow(const Tensor& a, double e) {
  return unary_op("pow", a, [e](const auto& x) { return x.pow(S<decltype(x)>(e)); },
                  [e](const auto& x, const auto&) {
                    using T = S<decltype(x)>;
                    return e == 0.0 ? (x * T(0)).eval() : (T(e) * x.pow(T(e - 1.0))).eval();
                  },
                  false);
}
Tensor rsub(double s, const Tensor& a) {
  return unary_op("rsub", a, [s](const auto& x) { return S<decltype(x)>(s) - x; },
                  [](const auto& x, const auto&) { return x.Constant(x.size(), S<decltype(x)>(-1)); }, false);
}
Tensor rdiv(double s, const Tensor& a) {
  return unary_op("rdiv", a, [s](const auto& x) { return S<decltype(x)>(s) / x; },
                  [](const auto& x, const auto& y) { return -y / x; });
}
Tensor clamp(const Tensor& a, double lo, double hi) {
  if (lo > hi) throw ValueError("clamp: lo " + std::to_string(lo) + " > hi " + std::to_string(hi));
  return unary_op_masked("clamp", a, [lo, hi](const auto& x) { return x.max(S<decltype(x)>(lo)).min(S<decltype(x)>(hi)); },
                         [lo, hi](auto x) { return x >= decltype(x)(lo) && x <= decltype(x)(hi); });
}

// ---- unary ---------------------------------------------------------------------------------
Tensor neg(const Tensor& a) {
  if (!is_floating(a.dtype())) {
    check_defined("neg", a, "a");
    return unary_map("neg", a, [](auto x) { return -x; }, false);
  }
  return unary_op("neg", a, [](const auto& x) { return -x; },
                  [](const auto& x, const auto&) { return x.Constant(x.size(), S<decltype(x)>(-1)); }, false);
}
Tensor exp(const Tensor& a) {
  return unary_op("exp", a, [](const auto& x) { return x.exp(); }, [](const auto&, const auto& y) { return y; });
}
Tensor log(const Tensor& a) {
  return unary_op("log", a, [](const auto& x) { return x.log(); }, [](const auto& x, const auto&) { return x.inverse(); },
                  false);
}
Tensor sqrt(const Tensor& a) {
  return unary_op("sqrt", a, [](const auto& x) { return x.sqrt(); },
                  [](const auto&, const auto& y) { return S<decltype(y)>(0.5) / y; });
}
Tensor rsqrt(const Tensor& a) {
  return unary_op("rsqrt", a, [](const auto& x) { return x.rsqrt(); },
                  [](const auto& x, const auto& y) { return S<decltype(x)>(-0.5) * y / x; });
}
Tensor abs(const Tensor& a) {
  if (!is_floating(a.dtype())) {
    check_defined("abs", a, "a");
    return unary_map("abs", a, [](auto x) { return x < 0 ? -x : x; }, false);
  }
  return unary_op("abs", a, [](const auto& x) { return x.abs(); }, [](const auto& x, const auto&) { return x.sign(); },
                  false);
}
Tensor square(const Tensor& a) {
  return unary_op("square", a, [](const auto& x) { return x.square(); },
                  [](const auto& x, const auto&) { return S<decltype(x)>(2) * x; }, false);
}
Tensor sin(const Tensor& a) {
  return unary_op("sin", a, [](const auto& x) { return x.sin(); }, [](const auto& x, const auto&) { return x.cos(); },
                  false);
}
Tensor cos(const Tensor& a) {
  return unary_op("cos", a, [](const auto& x) { return x.cos(); }, [](const auto& x, const auto&) { return -x.sin(); },
                  false);
}
Tensor tanh(const Tensor& a) {
  return unary_op("tanh", a, [](const auto& x) { return x.tanh(); },
                  [](const auto&, const auto& y) { return S<decltype(y)>(1) - y.square(); });
}
Tensor sigmoid(const Tensor& a) {
  return unary_op("sigmoid", a, [](const auto& x) { return x.logistic(); },
                  [](const auto&, const auto& y) { return y * (S<decltype(y)>(1) - y); });
}
Tensor relu(const Tensor& a) {
  return unary_op_masked("relu", a, [](const auto& x) { return x.max(S<decltype(x)>(0)); },
                         [](auto x) { return x > decltype(x)(0); });
}
Tensor gelu(const Tensor& a) {
  return unary_op("gelu", a,
                  [](const auto& x) {
                    using T = S<decltype(x)>;
                    return T(0.5) * x * (T(1) + (x * T(M_SQRT1_2)).erf());
                  },
                  [](const auto& x, const auto&) {
                    using T = S<decltype(x)>;
                    return T(0.5) * (T(1) + (x * T(M_SQRT1_2)).erf()) +
                           x * (T(-0.5) * x.square()).exp() * T(0.3989422804014327);
                  },
                  false);
}
Tensor silu(const Tensor& a) {
  return unary_op("silu", a, [](const auto& x) { return x * x.logistic(); },
                  [](const auto& x, const auto&) {
                    using T = S<decltype(x)>;
                    auto s = x.logistic();  // an expression: recomputed, never allocated
                    return s * (T(1) + x * (T(1) - s));
                  },
                  false);
}
namespace {
// Eigen 3.4 evaluates `select` one coefficient at a time, so these avoid it: every expression
// below is exp/log/min/max and arithmetic only, which Eigen vectorises.
//
// log1p(y) = log(u) - (u - 1 - y) / u with u = 1 + y: the correction term restores the bits
// lost in forming u (exact for u == 1), without a scalar libm log1p call.
template <class Y>
auto log1p_expr(const Y& y) {
  using T = S<Y>;
  auto u = y + T(1);
  return u.log() - (u - T(1) - y) / u;
}
// softplus(x) = max(x, 0) + log1p(e^-|x|): overflow-free for any x. Above x = 20 PyTorch returns
// x exactly; `keep` (1 for x <= 20, 0 above, built from clamps instead of a branch) drops the
// log term there.
template <class X>
auto softplus_expr(const X& x) {
  using T = S<X>;
  auto keep = ((T(20) - x) * T(1e30) + T(1)).max(T(0)).min(T(1));
  return x.max(T(0)) + keep * log1p_expr((-x.abs()).exp());
}
}  // namespace
// mish(x) = x tanh(softplus(x)), and tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2).
// x is clamped at 20 inside the exponentials: beyond it n / (n + 2) == 1 to double precision
// and the derivative's second term vanishes, so no branch is needed.
Tensor mish(const Tensor& a) {
  return unary_op("mish", a,
                  [](const auto& x) {
                    using T = S<decltype(x)>;
                    auto e = x.min(T(20)).exp();
                    auto n = e * (e + T(2));
                    return x * n / (n + T(2));
                  },
                  [](const auto& x, const auto&) {
                    // d/dx = t + 4 x e^x (e^x + 1) / (n + 2)^2
                    using T = S<decltype(x)>;
                    auto xc = x.min(T(20));
                    auto e = xc.exp();
                    auto n = e * (e + T(2));
                    return n / (n + T(2)) + T(4) * xc * e * (e + T(1)) / (n + T(2)).square();
                  },
                  false);
}
Tensor softplus(const Tensor& a) {
  return unary_op("softplus", a, [](const auto& x) { return softplus_expr(x); },
                  [](const auto& x, const auto&) { return x.logistic(); }, false);
}

// ---- comparisons -----------------------------------------------------------------------------
Tensor eq(const Tensor& a, const Tensor& b) { return compare_map("eq", a, b, [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare_map("ne", a, b, [](auto x, auto y) { return x != y; }); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare_map("lt", a, b, [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, const Tensor& b) { return compare_map("le", a, b, [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare_map("gt", a, b, [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare_map("ge", a, b, [](auto x, auto y) { return x >= y; }); }
Tensor lt(const Tensor& a, double s) { return lt(a, Tensor::scalar(s, a.dtype())); }
Tensor gt(const Tensor& a, double s) { return gt(a, Tensor::scalar(s, a.dtype())); }

Tensor logical_not(const Tensor& a) {
  check_defined("logical_not", a, "a");
  check_cpu("logical_not", {&a});
  if (a.dtype() != DType::Bool) throw DTypeError("logical_not: needs a bool tensor, got " + a.desc());
  Tensor out = Tensor::empty(a.shape(), DType::Bool);
  const std::uint8_t* p = a.data<std::uint8_t>();
  std::uint8_t* q = out.data<std::uint8_t>();
  for (std::int64_t i = 0; i < a.numel(); ++i) q[i] = p[i] ? 0 : 1;
  return out;
}

Tensor isfinite(const Tensor& a) {
  check_defined("isfinite", a, "a");
  check_cpu("isfinite", {&a});
  Tensor out = Tensor::empty(a.shape(), DType::Bool);
  std::uint8_t* q = out.data<std::uint8_t>();
  if (!is_floating(a.dtype())) {
    out.fill_(1.0);
    return out;
  }
  ANYRL_DISPATCH_FLOAT(a.dtype(), "isfinite", {
    const scalar_t* p = a.data<scalar_t>();
    for (std::int64_t i = 0; i < a.numel(); ++i) q[i] = std::isfinite(p[i]) ? 1 : 0;
  });
  return out;
}

bool all_finite(const Tensor& a) {
  check_defined("all_finite", a, "a");
  if (!is_floating(a.dtype())) return true;
  Tensor c = a.device().is_cpu() ? a : a.to(Device::cpu());
  bool ok = true;
  ANYRL_DISPATCH_FLOAT(c.dtype(), "all_finite", {
    const scalar_t* p = c.data<scalar_t>();
    for (std::int64_t i = 0; i < c.numel(); ++i) ok = ok && std::isfinite(p[i]);
  });
  return ok;
}

}  // namespace anyrl
