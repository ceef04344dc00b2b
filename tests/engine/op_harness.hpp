// Shared helpers for the engine's op tests.
//
// * `Nd` — a tiny n-dimensional array (shape + std::vector<double>) with index helpers, and
//   naive reference implementations of every op written with plain loops. They share no
//   code with the engine, so the op harness compares two independent implementations.
// * Conversions Nd <-> anyrl::Tensor, random input generation with domains (positive, away
//   from kinks, distinct values, ...), and tolerance-checked comparisons that report the op,
//   the case and the first offending element.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "anyrl/engine/engine.hpp"

namespace harness {

using Dims = std::vector<std::int64_t>;

inline std::int64_t numel(const Dims& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

inline std::string dims_str(const Dims& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

inline Dims strides_of(const Dims& s) {
  Dims st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

inline Dims unravel(std::int64_t flat, const Dims& s) {
  Dims idx(s.size(), 0);
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    if (s[i] > 0) {
      idx[i] = flat % s[i];
      flat /= s[i];
    }
  }
  return idx;
}

inline std::int64_t ravel(const Dims& idx, const Dims& s) {
  std::int64_t f = 0;
  for (std::size_t i = 0; i < s.size(); ++i) f = f * s[i] + idx[i];
  return f;
}

inline int norm_dim(int d, int rank) { return d < 0 ? d + rank : d; }

/// A naive n-d array of doubles. `dtype`, when set on a reference output, is the dtype the
/// engine's output must have; unset means "the float dtype the case runs in".
struct Nd {
  Dims shape;
  std::vector<double> v;
  std::optional<anyrl::DType> dtype;

  Nd() = default;
  explicit Nd(Dims s, double fill = 0.0) : shape(std::move(s)), v(static_cast<std::size_t>(numel(shape)), fill) {}
  Nd(Dims s, std::vector<double> values) : shape(std::move(s)), v(std::move(values)) {
    if (static_cast<std::int64_t>(v.size()) != numel(shape)) throw std::logic_error("Nd: size mismatch");
  }
  int rank() const { return static_cast<int>(shape.size()); }
  std::int64_t size() const { return static_cast<std::int64_t>(v.size()); }
  double& at(const Dims& idx) { return v[static_cast<std::size_t>(ravel(idx, shape))]; }
  double at(const Dims& idx) const { return v[static_cast<std::size_t>(ravel(idx, shape))]; }
  Nd& as(anyrl::DType t) {
    dtype = t;
    return *this;
  }
};

// ---------------------------------------------------------------------------------------
// Tensor <-> Nd
// ---------------------------------------------------------------------------------------
inline anyrl::Shape to_shape(const Dims& d) { return anyrl::Shape(d); }
inline Dims to_dims(const anyrl::Shape& s) { return s.vec(); }

inline anyrl::Tensor to_tensor(const Nd& a, anyrl::DType dt) {
  using anyrl::DType;
  using anyrl::Tensor;
  anyrl::Shape s = to_shape(a.shape);
  switch (dt) {
    case DType::Float64: return Tensor::from_vector<double>(a.v, s);
    case DType::Float32: return Tensor::from_vector<float>(std::vector<float>(a.v.begin(), a.v.end()), s);
    case DType::Int64: {
      std::vector<std::int64_t> x(a.v.size());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::int64_t>(std::llround(a.v[i]));
      return Tensor::from_vector<std::int64_t>(x, s);
    }
    case DType::Int32: {
      std::vector<std::int32_t> x(a.v.size());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::int32_t>(std::llround(a.v[i]));
      return Tensor::from_vector<std::int32_t>(x, s);
    }
    case DType::Bool: {
      std::vector<std::uint8_t> x(a.v.size());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = a.v[i] != 0.0 ? 1 : 0;
      return Tensor::from_vector<std::uint8_t>(x, s);
    }
  }
  throw std::logic_error("to_tensor: bad dtype");
}

/// Reads any CPU tensor into an Nd (values converted to double), without using engine ops.
inline Nd from_tensor(const anyrl::Tensor& t) {
  using anyrl::DType;
  Nd r(to_dims(t.shape()));
  r.dtype = t.dtype();
  const std::size_t n = r.v.size();
  switch (t.dtype()) {
    case DType::Float64: {
      const double* p = t.data<double>();
      for (std::size_t i = 0; i < n; ++i) r.v[i] = p[i];
      break;
    }
    case DType::Float32: {
      const float* p = t.data<float>();
      for (std::size_t i = 0; i < n; ++i) r.v[i] = p[i];
      break;
    }
    case DType::Int64: {
      const std::int64_t* p = t.data<std::int64_t>();
      for (std::size_t i = 0; i < n; ++i) r.v[i] = static_cast<double>(p[i]);
      break;
    }
    case DType::Int32: {
      const std::int32_t* p = t.data<std::int32_t>();
      for (std::size_t i = 0; i < n; ++i) r.v[i] = p[i];
      break;
    }
    case DType::Bool: {
      const std::uint8_t* p = t.data<std::uint8_t>();
      for (std::size_t i = 0; i < n; ++i) r.v[i] = p[i] ? 1.0 : 0.0;
      break;
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------
// Comparisons
// ---------------------------------------------------------------------------------------
/// Empty string when `got` matches `want` elementwise (|g - w| <= atol + rtol |w|; NaN and
/// infinities must match exactly), else a description of the first mismatch.
inline std::string compare(const Nd& got, const Nd& want, double rtol, double atol) {
  std::ostringstream os;
  os.precision(17);
  if (got.shape != want.shape) {
    os << "shape " << dims_str(got.shape) << " != expected " << dims_str(want.shape);
    return os.str();
  }
  std::size_t bad = 0, first = 0;
  double worst = 0;
  for (std::size_t i = 0; i < got.v.size(); ++i) {
    const double g = got.v[i], w = want.v[i];
    bool ok;
    if (std::isnan(w) || std::isnan(g)) ok = std::isnan(w) && std::isnan(g);
    else if (std::isinf(w) || std::isinf(g)) ok = g == w;
    else ok = std::abs(g - w) <= atol + rtol * std::abs(w);
    if (!ok) {
      if (bad == 0) first = i;
      ++bad;
      if (std::isfinite(g) && std::isfinite(w)) worst = std::max(worst, std::abs(g - w));
    }
  }
  if (bad == 0) return {};
  os << bad << "/" << got.v.size() << " elements differ; first at " << dims_str(unravel(static_cast<std::int64_t>(first), got.shape))
     << ": got " << got.v[first] << ", expected " << want.v[first] << " (max abs err " << worst << ", rtol " << rtol
     << ", atol " << atol << ")";
  return os.str();
}

// ---------------------------------------------------------------------------------------
// Random inputs
// ---------------------------------------------------------------------------------------
using Rng = std::mt19937_64;

inline double unif(Rng& r, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(r); }

/// How a random input is drawn.
struct Domain {
  enum Kind { Uniform, Distinct, GridA, GridB, Ties, Special, Int, Bool } kind = Uniform;
  double lo = -2.0, hi = 2.0;
  std::vector<double> kinks;  // values must stay `margin` away from these (finite differences)
  double margin = 0.05;
  std::int64_t ilo = 0, ihi = 1;  // Int: [ilo, ihi)

  static Domain uniform(double lo = -2, double hi = 2) { return Domain{Uniform, lo, hi, {}, 0.05, 0, 1}; }
  static Domain positive(double lo = 0.5, double hi = 2.0) { return uniform(lo, hi); }
  static Domain away(std::vector<double> kinks, double lo = -2, double hi = 2, double margin = 0.1) {
    return Domain{Uniform, lo, hi, std::move(kinks), margin, 0, 1};
  }
  /// Distinct values (pairwise gaps >= ~0.08): no ties in max/min/sort/topk.
  static Domain distinct() { return Domain{Distinct, -2, 2, {}, 0, 0, 1}; }
  /// GridA and GridB never come closer than 0.01 to each other (minimum/maximum pairs).
  static Domain grid_a() { return Domain{GridA, -2, 2, {}, 0, 0, 1}; }
  static Domain grid_b() { return Domain{GridB, -2, 2, {}, 0, 0, 1}; }
  /// Small half-integers (many ties): comparisons, stable sort, first-index argmax.
  static Domain ties() { return Domain{Ties, -1, 1, {}, 0, 0, 1}; }
  /// Finite values mixed with +-inf and NaN.
  static Domain special() { return Domain{Special, -2, 2, {}, 0, 0, 1}; }
  static Domain integers(std::int64_t lo, std::int64_t hi) { return Domain{Int, 0, 0, {}, 0, lo, hi}; }
  static Domain boolean() { return Domain{Bool, 0, 1, {}, 0, 0, 2}; }
};

inline Nd random_nd(const Dims& shape, const Domain& d, Rng& r) {
  Nd a(shape);
  const std::size_t n = a.v.size();
  switch (d.kind) {
    case Domain::Uniform:
      for (auto& x : a.v) {
        for (int tries = 0;; ++tries) {
          x = unif(r, d.lo, d.hi);
          bool ok = true;
          for (double k : d.kinks)
            if (std::abs(x - k) < d.margin) ok = false;
          if (ok || tries > 1000) break;
        }
      }
      break;
    case Domain::Distinct: {
      std::vector<double> perm(n);
      std::iota(perm.begin(), perm.end(), 0.0);
      std::shuffle(perm.begin(), perm.end(), r);
      for (std::size_t i = 0; i < n; ++i) a.v[i] = (perm[i] - 0.5 * static_cast<double>(n)) * 0.1 + unif(r, -0.01, 0.01);
      break;
    }
    case Domain::GridA:
    case Domain::GridB:
      for (auto& x : a.v) {
        double k = std::floor(unif(r, -10, 10));
        x = (k + (d.kind == Domain::GridB ? 0.5 : 0.0)) * 0.2 + unif(r, -0.04, 0.04);
      }
      break;
    case Domain::Ties:
      for (auto& x : a.v) x = std::floor(unif(r, -2, 2)) * 0.5;
      break;
    case Domain::Special: {
      const double cands[] = {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                              std::numeric_limits<double>::quiet_NaN()};
      for (std::size_t i = 0; i < n; ++i) a.v[i] = (i % 3 == 1) ? cands[(i / 3) % 3] : unif(r, -2, 2);
      break;
    }
    case Domain::Int:
      for (auto& x : a.v) x = static_cast<double>(std::uniform_int_distribution<std::int64_t>(d.ilo, d.ihi - 1)(r));
      break;
    case Domain::Bool:
      for (auto& x : a.v) x = (r() & 1) ? 1.0 : 0.0;
      break;
  }
  return a;
}

// ---------------------------------------------------------------------------------------
// Naive references (plain loops, independent of the engine)
// ---------------------------------------------------------------------------------------
namespace ref {

inline Dims broadcast(const std::vector<Dims>& shapes) {
  std::size_t r = 0;
  for (auto& s : shapes) r = std::max(r, s.size());
  Dims out(r, 1);
  for (auto& s : shapes) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      std::size_t o = r - s.size() + i;
      if (s[i] == 1) continue;
      if (out[o] == 1) out[o] = s[i];
      else if (out[o] != s[i]) throw std::logic_error("ref::broadcast: incompatible");
    }
  }
  return out;
}

/// Flat index into an array of shape `s` for the broadcast index `oidx`.
inline std::int64_t bindex(const Dims& oidx, const Dims& s) {
  std::int64_t f = 0;
  const std::size_t off = oidx.size() - s.size();
  for (std::size_t i = 0; i < s.size(); ++i) f = f * s[i] + (s[i] == 1 ? 0 : oidx[off + i]);
  return f;
}

template <class F>
Nd map_n(const std::vector<const Nd*>& xs, F f) {
  std::vector<Dims> shapes;
  for (auto* x : xs) shapes.push_back(x->shape);
  Nd out(broadcast(shapes));
  std::vector<double> args(xs.size());
  for (std::int64_t i = 0; i < out.size(); ++i) {
    Dims idx = unravel(i, out.shape);
    for (std::size_t k = 0; k < xs.size(); ++k) args[k] = xs[k]->v[static_cast<std::size_t>(bindex(idx, xs[k]->shape))];
    out.v[static_cast<std::size_t>(i)] = f(args);
  }
  return out;
}

template <class F>
Nd map1(const Nd& a, F f) {
  Nd out(a.shape);
  for (std::size_t i = 0; i < a.v.size(); ++i) out.v[i] = f(a.v[i]);
  return out;
}

template <class F>
Nd map2(const Nd& a, const Nd& b, F f) {
  return map_n({&a, &b}, [&](const std::vector<double>& x) { return f(x[0], x[1]); });
}

/// Reduces over `dims` (empty = all) by applying g to each group's values (in row-major order).
template <class G>
Nd reduce(const Nd& a, std::vector<int> dims, bool keepdim, G g) {
  const int r = a.rank();
  std::vector<bool> red(static_cast<std::size_t>(r), dims.empty());
  for (int d : dims) red[static_cast<std::size_t>(norm_dim(d, r))] = true;
  Dims kshape = a.shape;
  for (int i = 0; i < r; ++i)
    if (red[i]) kshape[i] = 1;
  std::vector<std::vector<double>> groups(static_cast<std::size_t>(numel(kshape)));
  for (std::int64_t i = 0; i < a.size(); ++i) {
    Dims idx = unravel(i, a.shape);
    for (int k = 0; k < r; ++k)
      if (red[k]) idx[k] = 0;
    groups[static_cast<std::size_t>(ravel(idx, kshape))].push_back(a.v[static_cast<std::size_t>(i)]);
  }
  Dims oshape;
  for (int i = 0; i < r; ++i)
    if (keepdim || !red[i]) oshape.push_back(kshape[i]);
  Nd out(oshape);
  for (std::size_t i = 0; i < groups.size(); ++i) out.v[i] = g(groups[i]);
  return out;
}

inline double vsum(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return s;
}
inline double vmean(const std::vector<double>& x) { return vsum(x) / static_cast<double>(x.size()); }
inline double vmax(const std::vector<double>& x) { return *std::max_element(x.begin(), x.end()); }
inline double vmin(const std::vector<double>& x) { return *std::min_element(x.begin(), x.end()); }
inline double vlse(const std::vector<double>& x) {
  double m = vmax(x), s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}
inline double vvar(const std::vector<double>& x, int correction) {
  double m = vmean(x), s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return s / (static_cast<double>(x.size()) - correction);
}

/// Sums `a` down to `shape` (inverse of broadcasting).
inline Nd sum_to(const Nd& a, const Dims& shape) {
  Nd out(shape);
  for (std::int64_t i = 0; i < a.size(); ++i) {
    Dims idx = unravel(i, a.shape);
    out.v[static_cast<std::size_t>(bindex(idx, shape))] += a.v[static_cast<std::size_t>(i)];
  }
  return out;
}

inline Nd matmul(const Nd& a, const Nd& b) {
  const bool a1 = a.rank() == 1, b1 = b.rank() == 1;
  Dims as = a1 ? Dims{1, a.shape[0]} : a.shape;
  Dims bs = b1 ? Dims{b.shape[0], 1} : b.shape;
  const std::int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  if (bs[bs.size() - 2] != K) throw std::logic_error("ref::matmul: inner dims");
  Dims ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  Dims batch = broadcast({ab, bb});
  Dims os = batch;
  os.push_back(M);
  os.push_back(N);
  Nd out(os);
  for (std::int64_t bi = 0; bi < numel(batch); ++bi) {
    Dims bidx = unravel(bi, batch);
    std::int64_t ao = bindex(bidx, ab) * M * K, bo = bindex(bidx, bb) * K * N;
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (std::int64_t k = 0; k < K; ++k) s += a.v[ao + m * K + k] * b.v[bo + k * N + n];
        out.v[static_cast<std::size_t>(bi * M * N + m * N + n)] = s;
      }
  }
  Dims fs = batch;
  if (!a1) fs.push_back(M);
  if (!b1) fs.push_back(N);
  out.shape = fs;
  return out;
}

inline Nd permute(const Nd& a, const std::vector<int>& order) {
  const int r = a.rank();
  Dims os(static_cast<std::size_t>(r));
  for (int i = 0; i < r; ++i) os[i] = a.shape[norm_dim(order[i], r)];
  Nd out(os);
  for (std::int64_t i = 0; i < out.size(); ++i) {
    Dims oidx = unravel(i, os), aidx(static_cast<std::size_t>(r));
    for (int k = 0; k < r; ++k) aidx[norm_dim(order[k], r)] = oidx[k];
    out.v[i] = a.at(aidx);
  }
  return out;
}

inline Nd transpose(const Nd& a, int d0, int d1) {
  std::vector<int> order(static_cast<std::size_t>(a.rank()));
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[norm_dim(d0, a.rank())], order[norm_dim(d1, a.rank())]);
  return permute(a, order);
}

inline Nd reshape(const Nd& a, Dims s) {
  std::int64_t known = 1;
  int neg = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) neg = static_cast<int>(i);
    else known *= s[i];
  }
  if (neg >= 0) s[neg] = known == 0 ? 0 : a.size() / known;
  return Nd(s, a.v);
}

/// Applies f to every 1-D line along `dim` (f gets and returns the line's values).
template <class F>
Nd along(const Nd& a, int dim, F f) {
  dim = norm_dim(dim, a.rank());
  std::int64_t outer = 1, inner = 1, n = a.shape[dim];
  for (int i = 0; i < dim; ++i) outer *= a.shape[i];
  for (int i = dim + 1; i < a.rank(); ++i) inner *= a.shape[i];
  Nd out(a.shape);
  std::vector<double> line(static_cast<std::size_t>(n));
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t in = 0; in < inner; ++in) {
      for (std::int64_t k = 0; k < n; ++k) line[k] = a.v[(o * n + k) * inner + in];
      std::vector<double> res = f(line);
      for (std::int64_t k = 0; k < n; ++k) out.v[(o * n + k) * inner + in] = res[k];
    }
  return out;
}

inline std::vector<double> softmax_line(const std::vector<double>& x) {
  double m = vmax(x), s = 0;
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) s += (y[i] = std::exp(x[i] - m));
  for (auto& v : y) v /= s;
  return y;
}
inline std::vector<double> log_softmax_line(const std::vector<double>& x) {
  double l = vlse(x);
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] - l;
  return y;
}

inline Nd concat(const std::vector<Nd>& xs, int dim) {
  const int r = xs[0].rank();
  dim = norm_dim(dim, r);
  Dims os = xs[0].shape;
  os[dim] = 0;
  for (auto& x : xs) os[dim] += x.shape[dim];
  Nd out(os);
  std::int64_t off = 0;
  for (auto& x : xs) {
    for (std::int64_t i = 0; i < x.size(); ++i) {
      Dims idx = unravel(i, x.shape);
      idx[dim] += off;
      out.at(idx) = x.v[i];
    }
    off += x.shape[dim];
  }
  return out;
}

inline Nd unsqueeze(const Nd& a, int dim) {
  dim = dim < 0 ? dim + a.rank() + 1 : dim;
  Dims s = a.shape;
  s.insert(s.begin() + dim, 1);
  return Nd(s, a.v);
}

inline Nd squeeze(const Nd& a, int dim) {
  dim = norm_dim(dim, a.rank());
  Dims s = a.shape;
  s.erase(s.begin() + dim);
  return Nd(s, a.v);
}

inline Nd stack(const std::vector<Nd>& xs, int dim) {
  dim = dim < 0 ? dim + xs[0].rank() + 1 : dim;
  std::vector<Nd> u;
  for (auto& x : xs) u.push_back(unsqueeze(x, dim));
  return concat(u, dim);
}

inline Nd slice(const Nd& a, int dim, std::int64_t start, std::int64_t end) {
  dim = norm_dim(dim, a.rank());
  const std::int64_t n = a.shape[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<std::int64_t>(start, 0, n);
  end = std::clamp<std::int64_t>(end, start, n);
  Dims os = a.shape;
  os[dim] = end - start;
  Nd out(os);
  for (std::int64_t i = 0; i < out.size(); ++i) {
    Dims idx = unravel(i, os);
    idx[dim] += start;
    out.v[i] = a.at(idx);
  }
  return out;
}

inline std::vector<Nd> split(const Nd& a, const Dims& sizes, int dim) {
  std::vector<Nd> r;
  std::int64_t off = 0;
  for (auto s : sizes) {
    r.push_back(slice(a, dim, off, off + s));
    off += s;
  }
  return r;
}

inline Nd expand(const Nd& a, const Dims& shape) {
  Nd out(shape);
  for (std::int64_t i = 0; i < out.size(); ++i) out.v[i] = a.v[bindex(unravel(i, shape), a.shape)];
  return out;
}

inline Nd repeat(const Nd& a, const Dims& reps) {
  Dims as = a.shape;
  while (as.size() < reps.size()) as.insert(as.begin(), 1);
  Dims os(as.size());
  for (std::size_t i = 0; i < as.size(); ++i) os[i] = as[i] * reps[i];
  Nd out(os);
  for (std::int64_t i = 0; i < out.size(); ++i) {
    Dims idx = unravel(i, os);
    for (std::size_t k = 0; k < idx.size(); ++k) idx[k] %= as[k];
    out.v[i] = a.v[ravel(idx, as)];
  }
  return out;
}

inline Nd index_select(const Nd& a, int dim, const Nd& index) {
  dim = norm_dim(dim, a.rank());
  Dims os = a.shape;
  os[dim] = index.size();
  Nd out(os);
  for (std::int64_t i = 0; i < out.size(); ++i) {
    Dims idx = unravel(i, os);
    idx[dim] = static_cast<std::int64_t>(index.v[idx[dim]]);
    out.v[i] = a.at(idx);
  }
  return out;
}

inline Nd gather(const Nd& a, int dim, const Nd& index) {
  dim = norm_dim(dim, a.rank());
  Nd out(index.shape);
  for (std::int64_t i = 0; i < out.size(); ++i) {
    Dims idx = unravel(i, index.shape);
    idx[dim] = static_cast<std::int64_t>(index.v[i]);
    out.v[i] = a.at(idx);
  }
  return out;
}

inline Nd scatter_add(const Nd& a, int dim, const Nd& index, const Nd& src) {
  dim = norm_dim(dim, a.rank());
  Nd out = a;
  out.dtype.reset();
  for (std::int64_t i = 0; i < index.size(); ++i) {
    Dims idx = unravel(i, index.shape);
    const double s = src.at(idx);
    idx[dim] = static_cast<std::int64_t>(index.v[i]);
    out.at(idx) += s;
  }
  return out;
}

inline Nd embedding(const Nd& w, const Nd& ids) {
  const std::int64_t D = w.shape[1];
  Dims os = ids.shape;
  os.push_back(D);
  Nd out(os);
  for (std::int64_t i = 0; i < ids.size(); ++i)
    for (std::int64_t d = 0; d < D; ++d) out.v[i * D + d] = w.v[static_cast<std::int64_t>(ids.v[i]) * D + d];
  return out;
}

inline Nd one_hot(const Nd& ids, std::int64_t C) {
  Dims os = ids.shape;
  os.push_back(C);
  Nd out(os);
  for (std::int64_t i = 0; i < ids.size(); ++i) out.v[i * C + static_cast<std::int64_t>(ids.v[i])] = 1.0;
  return out;
}

/// arg-max (or arg-min) along dim, first index on ties.
inline Nd argext(const Nd& a, int dim, bool keepdim, bool is_max) {
  dim = norm_dim(dim, a.rank());
  Nd idxs = along(a, dim, [&](const std::vector<double>& x) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < x.size(); ++i)
      if (is_max ? x[i] > x[best] : x[i] < x[best]) best = i;
    return std::vector<double>(x.size(), static_cast<double>(best));
  });
  Nd r = slice(idxs, dim, 0, 1);
  if (!keepdim) r = squeeze(r, dim);
  r.dtype = anyrl::DType::Int64;
  return r;
}

/// Stable sort along the last dim: {values, indices}.
inline std::pair<Nd, Nd> sort(const Nd& a, bool descending) {
  Nd idx = along(a, -1, [&](const std::vector<double>& x) {
    std::vector<std::size_t> p(x.size());
    std::iota(p.begin(), p.end(), 0);
    std::stable_sort(p.begin(), p.end(), [&](std::size_t i, std::size_t j) { return descending ? x[i] > x[j] : x[i] < x[j]; });
    return std::vector<double>(p.begin(), p.end());
  });
  Nd val = along(a, -1, [&](const std::vector<double>& x) {
    std::vector<double> y = x;
    std::stable_sort(y.begin(), y.end(), [&](double u, double w) { return descending ? u > w : u < w; });
    return y;
  });
  idx.dtype = anyrl::DType::Int64;
  return {val, idx};
}

inline Nd cumsum(const Nd& a, int dim) {
  return along(a, dim, [](const std::vector<double>& x) {
    std::vector<double> y(x.size());
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = (s += x[i]);
    return y;
  });
}

inline double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }
inline double huber(double d, double delta) {
  return std::abs(d) <= delta ? 0.5 * d * d : delta * (std::abs(d) - 0.5 * delta);
}

inline Nd layer_norm(const Nd& x, const Nd* w, const Nd* b, double eps) {
  Nd out = along(x, -1, [&](const std::vector<double>& l) {
    double m = vmean(l), var = 0;
    for (double v : l) var += (v - m) * (v - m);
    var /= static_cast<double>(l.size());
    std::vector<double> y(l.size());
    for (std::size_t i = 0; i < l.size(); ++i) {
      y[i] = (l[i] - m) / std::sqrt(var + eps);
      if (w) y[i] *= w->v[i];
      if (b) y[i] += b->v[i];
    }
    return y;
  });
  return out;
}

/// Mean over rows of -log_softmax(logits)[target].
inline Nd cross_entropy(const Nd& logits, const Nd& targets) {
  const std::int64_t C = logits.shape.back(), rows = logits.size() / C;
  double s = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::vector<double> l(logits.v.begin() + r * C, logits.v.begin() + (r + 1) * C);
    s -= log_softmax_line(l)[static_cast<std::size_t>(targets.v[r])];
  }
  return Nd({}, {s / static_cast<double>(rows)});
}

inline Nd cross_entropy_soft(const Nd& logits, const Nd& p) {
  const std::int64_t C = logits.shape.back(), rows = logits.size() / C;
  double s = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::vector<double> l(logits.v.begin() + r * C, logits.v.begin() + (r + 1) * C);
    auto ls = log_softmax_line(l);
    for (std::int64_t c = 0; c < C; ++c) s -= p.v[r * C + c] * ls[c];
  }
  return Nd({}, {s / static_cast<double>(rows)});
}

}  // namespace ref

inline Nd scalar_nd(double v) { return Nd({}, {v}); }

}  // namespace harness
