// Reductions. A reduction over a run of adjacent dims views the tensor as [outer, R, inner]
// and reduces the middle; several non-adjacent runs are reduced one after another (innermost
// first). Every output element is produced by one thread in a fixed order, so results do
// not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "anyrl/engine/ops.hpp"
#include "ops/common.hpp"

namespace anyrl {
using detail::check_cpu;
using detail::check_defined;

namespace {

enum class RedOp { Sum, Max, Min };

template <class T>
T red_init(RedOp op) {
  if (op == RedOp::Sum) return T(0);
  if (op == RedOp::Max) return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                                    : std::numeric_limits<T>::lowest();
  return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
}

template <class T>
inline T red_apply(RedOp op, T a, T b) {
  if (op == RedOp::Sum) return a + b;
  if (op == RedOp::Max) return (b > a || std::isnan(static_cast<double>(b))) ? b : a;
  return (b < a || std::isnan(static_cast<double>(b))) ? b : a;
}

// x viewed as [outer, R, inner] -> out [outer, inner].
template <class T>
void reduce3(const T* x, T* out, std::int64_t outer, std::int64_t R, std::int64_t inner, RedOp op) {
  if (inner == 1) {
    auto rows = [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t o = b; o < e; ++o) {
        const T* p = x + o * R;
        if (op == RedOp::Sum) {
          // Eight independent partial sums (vectorisable), combined in a fixed order.
          T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          std::int64_t r = 0;
          for (; r + 8 <= R; r += 8)
            for (int l = 0; l < 8; ++l) acc[l] += p[r + l];
          T s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
          for (; r < R; ++r) s += p[r];
          out[o] = s;
        } else {
          T s = red_init<T>(op);
          for (std::int64_t r = 0; r < R; ++r) s = red_apply(op, s, p[r]);
          out[o] = s;
        }
      }
    };
    std::int64_t grain = std::max<std::int64_t>(1, detail::kParallelGrain / std::max<std::int64_t>(R, 1));
    if (outer * R > detail::kParallelGrain) parallel_for(outer, grain, rows); else rows(0, outer);
    return;
  }
  // inner > 1: accumulate whole rows; parallel over (outer x inner-chunks).
  const std::int64_t chunk = 256;
  const std::int64_t nchunks = (inner + chunk - 1) / chunk;
  auto tiles = [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      std::int64_t o = t / nchunks, c0 = (t % nchunks) * chunk, c1 = std::min(inner, c0 + chunk);
      T* dst = out + o * inner;
      const T* src = x + o * R * inner;
      for (std::int64_t i = c0; i < c1; ++i) dst[i] = red_init<T>(op);
      for (std::int64_t r = 0; r < R; ++r) {
        const T* row = src + r * inner;
        if (op == RedOp::Sum)
          for (std::int64_t i = c0; i < c1; ++i) dst[i] += row[i];
        else
          for (std::int64_t i = c0; i < c1; ++i) dst[i] = red_apply(op, dst[i], row[i]);
      }
    }
  };
  std::int64_t ntiles = outer * nchunks;
  if (outer * R * inner > detail::kParallelGrain)
    parallel_for(ntiles, std::max<std::int64_t>(1, detail::kParallelGrain / std::max<std::int64_t>(R * chunk, 1)), tiles);
  else
    tiles(0, ntiles);
}

// Sorted unique dims; empty input list = all dims.
std::vector<int> norm_dims(const char* op, const std::vector<int>& dims, int rank) {
  std::vector<int> d;
  if (dims.empty()) {
    for (int i = 0; i < rank; ++i) d.push_back(i);
    return d;
  }
  for (int x : dims) d.push_back(normalize_dim(x, rank, op));
  std::sort(d.begin(), d.end());
  if (std::adjacent_find(d.begin(), d.end()) != d.end())
    throw ShapeError(std::string(op) + ": dim listed twice in the reduction dims");
  if (rank == 0) d.clear();  // reducing a scalar over dim 0 is the identity
  return d;
}

Shape keep_shape(const Shape& s, const std::vector<int>& d) {
  Shape k = s;
  for (int i : d) k[i] = 1;
  return k;
}

Shape final_shape(const Shape& s, const std::vector<int>& d, bool keepdim) {
  if (keepdim) return keep_shape(s, d);
  Shape f;
  for (int i = 0; i < s.rank(); ++i)
    if (!std::binary_search(d.begin(), d.end(), i)) f.push_back(s[i]);
  return f;
}

std::int64_t count_of(const Shape& s, const std::vector<int>& d) {
  std::int64_t c = 1;
  for (int i : d) c *= s[i];
  return c;
}

// Raw reduction (no autograd), result in keepdim shape.
Tensor reduce_raw(const char* op, const Tensor& a, const std::vector<int>& d, RedOp rop) {
  Tensor cur = a;
  Shape shape = a.shape();
  if (d.empty()) return a.clone().detach();
  // Runs of adjacent dims, innermost first.
  std::vector<std::pair<int, int>> runs;
  for (std::size_t i = 0; i < d.size();) {
    std::size_t j = i;
    while (j + 1 < d.size() && d[j + 1] == d[j] + 1) ++j;
    runs.emplace_back(d[i], d[j]);
    i = j + 1;
  }
  std::reverse(runs.begin(), runs.end());
  for (auto [lo, hi] : runs) {
    std::int64_t outer = 1, R = 1, inner = 1;
    for (int i = 0; i < lo; ++i) outer *= shape[i];
    for (int i = lo; i <= hi; ++i) R *= shape[i];
    for (int i = hi + 1; i < shape.rank(); ++i) inner *= shape[i];
    if (R == 0 && rop != RedOp::Sum)
      throw ShapeError(std::string(op) + ": cannot reduce over an empty dimension of " + a.desc());
    Shape next = shape;
    for (int i = lo; i <= hi; ++i) next[i] = 1;
    Tensor out = Tensor::empty(next, a.dtype());
    ANYRL_DISPATCH_NUMERIC(a.dtype(), op, reduce3(cur.data<scalar_t>(), out.data<scalar_t>(), outer, R, inner, rop));
    cur = out;
    shape = next;
  }
  return cur;
}

Tensor reduce_checked(const char* op, const Tensor& a) {
  check_defined(op, a, "input");
  check_cpu(op, {&a});
  if (a.dtype() == DType::Bool) throw DTypeError(std::string(op) + ": unsupported dtype bool in " + a.desc());
  return a;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int>& dims, bool keepdim) {
  reduce_checked("sum", a);
  auto d = norm_dims("sum", dims, a.dim());
  Tensor out = reduce_raw("sum", a, d, RedOp::Sum).reshape(final_shape(a.shape(), d, keepdim));
  if (!any_requires_grad({&a})) return out;
  Shape in = a.shape(), k = keep_shape(a.shape(), d);
  return record(out, "sum", {a}, [in, k](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = expand(g.reshape(k), in);
  });
}

Tensor mean(const Tensor& a, const std::vector<int>& dims, bool keepdim) {
  reduce_checked("mean", a);
  detail::check_floating("mean", a);
  auto d = norm_dims("mean", dims, a.dim());
  double n = static_cast<double>(count_of(a.shape(), d));
  return mul(sum(a, dims, keepdim), 1.0 / n);
}

namespace {
Tensor extremum(const char* op, const Tensor& a, const std::vector<int>& dims, bool keepdim, RedOp rop) {
  reduce_checked(op, a);
  auto d = norm_dims(op, dims, a.dim());
  Tensor kept = reduce_raw(op, a, d, rop);
  Tensor out = kept.reshape(final_shape(a.shape(), d, keepdim));
  if (!any_requires_grad({&a})) return out;
  Tensor x = a.detach();
  Shape k = keep_shape(a.shape(), d);
  std::vector<int> dd = d;
  return record(out, op, {a}, [x, kept, k, dd](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    // Split the gradient evenly between tied extrema.
    Tensor mask = eq(x, kept).to(x.dtype());
    Tensor count = sum(mask, dd, true);
    gi[0] = mul(mask, div(g.reshape(k), count));
  });
}
}  // namespace

Tensor max(const Tensor& a, const std::vector<int>& dims, bool keepdim) {
  return extremum("max", a, dims, keepdim, RedOp::Max);
}
Tensor min(const Tensor& a, const std::vector<int>& dims, bool keepdim) {
  return extremum("min", a, dims, keepdim, RedOp::Min);
}

Tensor logsumexp(const Tensor& a, const std::vector<int>& dims, bool keepdim) {
  reduce_checked("logsumexp", a);
  detail::check_floating("logsumexp", a);
  auto d = norm_dims("logsumexp", dims, a.dim());
  Tensor m;
  {
    NoGrad ng;
    m = reduce_raw("logsumexp", a, d, RedOp::Max);
    // An all -inf row would give nan; shift by 0 there instead.
    m = where(isfinite(m), m, Tensor::zeros(Shape{}, a.dtype()));
  }
  // Composite: m + log(sum(exp(a - m))); the gradient softmax(a) falls out of the rules.
  Tensor s = sum(exp(sub(a, m)), d, true);
  Tensor out = add(log(s), m);
  return out.reshape(final_shape(a.shape(), d, keepdim));
}

Tensor var(const Tensor& a, const std::vector<int>& dims, bool keepdim, int correction) {
  reduce_checked("var", a);
  detail::check_floating("var", a);
  auto d = norm_dims("var", dims, a.dim());
  std::int64_t n = count_of(a.shape(), d);
  std::vector<int> dd(d.begin(), d.end());
  if (a.dim() == 0) dd = {};
  Tensor mu = mean(a, dd, true);
  Tensor sq = square(sub(a, mu));
  double denom = static_cast<double>(n - correction);
  Tensor out = mul(sum(sq, dd, true), denom > 0 ? 1.0 / denom : std::numeric_limits<double>::quiet_NaN());
  return out.reshape(final_shape(a.shape(), d, keepdim));
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  check_defined("sum_to", a, "input");
  if (a.shape() == shape) return a;
  const int r = a.dim(), lead = r - shape.rank();
  if (lead < 0)
    throw ShapeError("sum_to: cannot sum " + a.desc() + " to the larger rank shape " + shape.str());
  std::vector<int> dims;
  for (int i = 0; i < r; ++i) {
    if (i < lead) {
      dims.push_back(i);
    } else if (shape[i - lead] == 1 && a.shape()[i] != 1) {
      dims.push_back(i);
    } else if (shape[i - lead] != a.shape()[i]) {
      throw ShapeError("sum_to: " + a.desc() + " is not a broadcast of shape " + shape.str());
    }
  }
  if (dims.empty()) return a.reshape(shape);
  return sum(a, dims, true).reshape(shape);
}

}  // namespace anyrl
