// Ordering ops: argmax/argmin, topk, sort, cumsum.
#include <algorithm>
#include <numeric>
#include <type_traits>
#include <vector>

#include "anyrl/engine/ops.hpp"
#include "ops/common.hpp"

namespace anyrl {
using detail::check_cpu;
using detail::check_defined;

namespace {

template <class T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  return false;
}

// Strict orders with NaN as the largest value (torch: NaN sorts last ascending, first descending).
template <class T>
inline bool less_nan_last(T p, T q) {
  return is_nan(q) ? !is_nan(p) : p < q;
}

template <bool IsMax>
Tensor arg_extremum(const char* op, const Tensor& a, int dim, bool keepdim) {
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  if (a.dim() == 0) return Tensor::zeros(Shape{}, DType::Int64);
  int d = normalize_dim(dim, a.dim(), op);
  const Shape& s = a.shape();
  std::int64_t outer = 1, inner = 1, D = s[d];
  if (D == 0) throw ShapeError(std::string(op) + ": cannot reduce an empty dimension of " + a.desc());
  for (int i = 0; i < d; ++i) outer *= s[i];
  for (int i = d + 1; i < s.rank(); ++i) inner *= s[i];
  Shape out;
  for (int i = 0; i < s.rank(); ++i) {
    if (i == d) {
      if (keepdim) out.push_back(1);
    } else {
      out.push_back(s[i]);
    }
  }
  Tensor o = Tensor::empty(out, DType::Int64);
  std::int64_t* po = o.data<std::int64_t>();
  ANYRL_DISPATCH_NUMERIC(a.dtype(), op, {
    const scalar_t* x = a.data<scalar_t>();
    for (std::int64_t oo = 0; oo < outer; ++oo)
      for (std::int64_t i = 0; i < inner; ++i) {
        const scalar_t* line = x + oo * D * inner + i;
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < D; ++k) {
          const scalar_t v = line[k * inner], b = line[best * inner];
          if (is_nan(b)) break;  // like torch, the first NaN is both the max and the min
          if (is_nan(v) || (IsMax ? v > b : v < b)) best = k;
        }
        po[oo * inner + i] = best;
      }
  });
  return o;
}

}  // namespace

Tensor argmax(const Tensor& a, int dim, bool keepdim) { return arg_extremum<true>("argmax", a, dim, keepdim); }
Tensor argmin(const Tensor& a, int dim, bool keepdim) { return arg_extremum<false>("argmin", a, dim, keepdim); }

std::pair<Tensor, Tensor> sort(const Tensor& a, bool descending) {
  const char* op = "sort";
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  if (a.dim() == 0) return {a.clone(), Tensor::zeros(Shape{}, DType::Int64)};
  const std::int64_t D = a.shape().back(), rows = D ? a.numel() / D : 0;
  Tensor idx = Tensor::empty(a.shape(), DType::Int64);
  std::int64_t* pi = idx.data<std::int64_t>();
  ANYRL_DISPATCH_NUMERIC(a.dtype(), op, {
    const scalar_t* x = a.data<scalar_t>();
    for (std::int64_t r = 0; r < rows; ++r) {
      std::int64_t* row = pi + r * D;
      const scalar_t* v = x + r * D;
      std::iota(row, row + D, std::int64_t(0));
      if (descending)
        std::stable_sort(row, row + D, [v](std::int64_t p, std::int64_t q) { return less_nan_last(v[q], v[p]); });
      else
        std::stable_sort(row, row + D, [v](std::int64_t p, std::int64_t q) { return less_nan_last(v[p], v[q]); });
    }
  });
  return {gather(a, -1, idx), idx};
}

std::pair<Tensor, Tensor> topk(const Tensor& a, std::int64_t k, bool largest) {
  const char* op = "topk";
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  if (a.dim() == 0) throw ShapeError("topk: needs rank >= 1, got " + a.desc());
  const std::int64_t D = a.shape().back();
  if (k < 0 || k > D)
    throw ValueError("topk: k = " + std::to_string(k) + " out of range for last dim " + std::to_string(D) + " of " +
                     a.desc());
  const std::int64_t rows = D ? a.numel() / D : 0;
  Shape s = a.shape();
  s[s.rank() - 1] = k;
  Tensor idx = Tensor::empty(s, DType::Int64);
  std::int64_t* pi = idx.data<std::int64_t>();
  std::vector<std::int64_t> tmp(static_cast<std::size_t>(D));
  ANYRL_DISPATCH_NUMERIC(a.dtype(), op, {
    const scalar_t* x = a.data<scalar_t>();
    for (std::int64_t r = 0; r < rows; ++r) {
      const scalar_t* v = x + r * D;
      std::iota(tmp.begin(), tmp.end(), std::int64_t(0));
      // Ties keep the lower index first, so results are reproducible.
      auto cmp = [v, largest](std::int64_t p, std::int64_t q) {
        if (less_nan_last(v[p], v[q])) return !largest;
        if (less_nan_last(v[q], v[p])) return largest;
        return p < q;
      };
      std::partial_sort(tmp.begin(), tmp.begin() + k, tmp.end(), cmp);
      std::copy(tmp.begin(), tmp.begin() + k, pi + r * k);
    }
  });
  return {gather(a, -1, idx), idx};
}

Tensor cumsum(const Tensor& a, int dim) {
  const char* op = "cumsum";
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  if (a.dim() == 0) return a.clone();
  int d = normalize_dim(dim, a.dim(), op);
  const Shape& s = a.shape();
  std::int64_t outer = 1, inner = 1, D = s[d];
  for (int i = 0; i < d; ++i) outer *= s[i];
  for (int i = d + 1; i < s.rank(); ++i) inner *= s[i];
  Tensor o = Tensor::empty(s, a.dtype());
  ANYRL_DISPATCH_NUMERIC(a.dtype(), op, {
    const scalar_t* x = a.data<scalar_t>();
    scalar_t* y = o.data<scalar_t>();
    for (std::int64_t oo = 0; oo < outer; ++oo)
      for (std::int64_t i = 0; i < inner; ++i) {
        scalar_t acc = 0;
        for (std::int64_t k = 0; k < D; ++k) {
          std::int64_t p = (oo * D + k) * inner + i;
          acc += x[p];
          y[p] = acc;
        }
      }
  });
  if (!is_floating(a.dtype()) || !any_requires_grad({&a})) return o;
  // d/dx of an inclusive prefix sum is the reversed suffix sum of the upstream gradient.
  return record(o, op, {a}, [d, outer, inner, D](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    Tensor r = Tensor::empty(g.shape(), g.dtype());
    ANYRL_DISPATCH_FLOAT(g.dtype(), "cumsum backward", {
      const scalar_t* pg = g.data<scalar_t>();
      scalar_t* pr = r.data<scalar_t>();
      for (std::int64_t oo = 0; oo < outer; ++oo)
        for (std::int64_t i = 0; i < inner; ++i) {
          scalar_t acc = 0;
          for (std::int64_t k = D - 1; k >= 0; --k) {
            std::int64_t p = (oo * D + k) * inner + i;
            acc += pg[p];
            pr[p] = acc;
          }
        }
    });
    gi[0] = r;
  });
}

}  // namespace anyrl
