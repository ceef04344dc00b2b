// Shape ops. reshape / unsqueeze / squeeze / slice along dim 0 are views; everything else
// copies into a fresh contiguous tensor (anyrl keeps storage contiguous so kernels stay simple).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "anyrl/engine/ops.hpp"
#include "ops/broadcast.hpp"

namespace anyrl {
using detail::check_cpu;
using detail::check_defined;

namespace {

// dst[out index] = src[sum idx_d * in_strides[d]] for an arbitrary strided source.
template <class T>
void strided_gather(const T* src, T* dst, const Shape& out, const std::array<std::int64_t, kMaxRank>& in_st) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const int r = out.rank();
  if (r == 0) {
    dst[0] = src[0];
    return;
  }
  const std::int64_t inner = out[r - 1], rows = n / inner, s_last = in_st[r - 1];
  auto body = [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t row = b; row < e; ++row) {
      std::int64_t rem = row, off = 0;
      for (int d = r - 2; d >= 0; --d) {
        off += (rem % out[d]) * in_st[d];
        rem /= out[d];
      }
      T* o = dst + row * inner;
      const T* s = src + off;
      if (s_last == 1)
        std::copy(s, s + inner, o);
      else
        for (std::int64_t i = 0; i < inner; ++i) o[i] = s[i * s_last];
    }
  };
  if (n > detail::kParallelGrain)
    parallel_for(rows, std::max<std::int64_t>(1, detail::kParallelGrain / inner), body);
  else
    body(0, rows);
}

Tensor gather_strided(const Tensor& a, const Shape& out, const std::array<std::int64_t, kMaxRank>& st) {
  Tensor o = Tensor::empty(out, a.dtype());
  switch (dtype_size(a.dtype())) {
    case 1: strided_gather(static_cast<const std::uint8_t*>(a.raw_data()), static_cast<std::uint8_t*>(o.raw_data()), out, st); break;
    case 4: strided_gather(static_cast<const std::uint32_t*>(a.raw_data()), static_cast<std::uint32_t*>(o.raw_data()), out, st); break;
    default: strided_gather(static_cast<const std::uint64_t*>(a.raw_data()), static_cast<std::uint64_t*>(o.raw_data()), out, st); break;
  }
  return o;
}

// Copies src viewed as [outer, Ds, inner] into dst viewed as [outer, Dd, inner] at offset `at`.
void copy_block(const Tensor& src, Tensor& dst, std::int64_t outer, std::int64_t Ds, std::int64_t Dd,
                std::int64_t inner, std::int64_t at) {
  const std::size_t es = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const std::size_t run = static_cast<std::size_t>(Ds * inner) * es;
  for (std::int64_t o = 0; o < outer; ++o)
    std::memcpy(d + static_cast<std::size_t>((o * Dd + at) * inner) * es, s + o * run, run);
}

// Reverse of copy_block: extracts [outer, len, inner] starting at `at` from [outer, D, inner].
void extract_block(const Tensor& src, Tensor& dst, std::int64_t outer, std::int64_t D, std::int64_t len,
                   std::int64_t inner, std::int64_t at) {
  const std::size_t es = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  const std::size_t run = static_cast<std::size_t>(len * inner) * es;
  for (std::int64_t o = 0; o < outer; ++o)
    std::memcpy(d + o * run, s + static_cast<std::size_t>((o * D + at) * inner) * es, run);
}

void outer_inner(const Shape& s, int dim, std::int64_t& outer, std::int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int i = 0; i < dim; ++i) outer *= s[i];
  for (int i = dim + 1; i < s.rank(); ++i) inner *= s[i];
}

}  // namespace

Tensor reshape(const Tensor& a, const Shape& shape) {
  check_defined("reshape", a, "input");
  return a.reshape(shape);
}

Tensor permute(const Tensor& a, const std::vector<int>& order) {
  check_defined("permute", a, "input");
  check_cpu("permute", {&a});
  const int r = a.dim();
  if (static_cast<int>(order.size()) != r)
    throw ShapeError("permute: order has " + std::to_string(order.size()) + " dims for " + a.desc());
  std::vector<int> ord(order.size());
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  for (int i = 0; i < r; ++i) {
    ord[i] = normalize_dim(order[i], r, "permute");
    if (seen[ord[i]]) throw ShapeError("permute: dim " + std::to_string(order[i]) + " repeated in the order");
    seen[ord[i]] = true;
  }
  Shape out;
  auto st = a.shape().strides();
  std::array<std::int64_t, kMaxRank> in_st{};
  for (int i = 0; i < r; ++i) {
    out.push_back(a.shape()[ord[i]]);
    in_st[i] = st[ord[i]];
  }
  Tensor o = gather_strided(a, out, in_st);
  if (!any_requires_grad({&a})) return o;
  std::vector<int> inv(static_cast<std::size_t>(r));
  for (int i = 0; i < r; ++i) inv[ord[i]] = i;
  return record(o, "permute", {a}, [inv](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = permute(g, inv);
  });
}

Tensor transpose(const Tensor& a, int d0, int d1) {
  check_defined("transpose", a, "input");
  const int r = a.dim();
  if (r < 2) {
    // Rank 0/1: only the identity transpose exists (dims must still be valid).
    normalize_dim(d0 == -2 ? -1 : d0, r, "transpose");
    normalize_dim(d1, r, "transpose");
    return a;
  }
  int x = normalize_dim(d0, r, "transpose"), y = normalize_dim(d1, r, "transpose");
  std::vector<int> ord(static_cast<std::size_t>(r));
  std::iota(ord.begin(), ord.end(), 0);
  std::swap(ord[x], ord[y]);
  return permute(a, ord);
}

Tensor unsqueeze(const Tensor& a, int dim) {
  check_defined("unsqueeze", a, "input");
  int d = normalize_dim(dim, a.dim() + 1, "unsqueeze");
  Shape s;
  for (int i = 0; i < a.dim() + 1; ++i) {
    if (i == d) s.push_back(1);
    if (i < a.dim()) s.push_back(a.shape()[i]);
  }
  return a.reshape(s);
}

Tensor squeeze(const Tensor& a, int dim) {
  check_defined("squeeze", a, "input");
  int d = normalize_dim(dim, a.dim(), "squeeze");
  if (a.dim() == 0) return a;
  if (a.shape()[d] != 1)
    throw ShapeError("squeeze: dim " + std::to_string(dim) + " has size " + std::to_string(a.shape()[d]) +
                     ", not 1, in " + a.desc());
  Shape s;
  for (int i = 0; i < a.dim(); ++i)
    if (i != d) s.push_back(a.shape()[i]);
  return a.reshape(s);
}

Tensor concat(const std::vector<Tensor>& ts, int dim) {
  if (ts.empty()) throw ValueError("concat: needs at least one tensor");
  for (std::size_t i = 0; i < ts.size(); ++i) check_defined("concat", ts[i], "tensors[i]");
  const Tensor& first = ts[0];
  if (first.dim() == 0) throw ShapeError("concat: cannot concatenate rank-0 tensors; use stack");
  int d = normalize_dim(dim, first.dim(), "concat");
  Shape out = first.shape();
  std::int64_t total = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    check_cpu("concat", {&t});
    detail::check_same_dtype("concat", first, t);
    bool ok = t.dim() == first.dim();
    for (int k = 0; ok && k < first.dim(); ++k)
      if (k != d && t.shape()[k] != first.shape()[k]) ok = false;
    if (!ok)
      throw ShapeError("concat: tensor " + std::to_string(i) + " " + t.desc() + " does not match tensor 0 " +
                       first.desc() + " outside dim " + std::to_string(d));
    total += t.shape()[d];
  }
  out[d] = total;
  Tensor o = Tensor::empty(out, first.dtype());
  std::int64_t outer, inner;
  outer_inner(out, d, outer, inner);
  std::int64_t at = 0;
  std::vector<std::int64_t> sizes;
  for (const Tensor& t : ts) {
    copy_block(t, o, outer, t.shape()[d], total, inner, at);
    at += t.shape()[d];
    sizes.push_back(t.shape()[d]);
  }
  bool any = false;
  for (const Tensor& t : ts) any = any || any_requires_grad({&t});
  if (!any) return o;
  return record(o, "concat", ts, [sizes, d](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    std::int64_t at = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      if (need[i]) gi[i] = slice(g, d, at, at + sizes[i]);
      at += sizes[i];
    }
  });
}

Tensor stack(const std::vector<Tensor>& ts, int dim) {
  if (ts.empty()) throw ValueError("stack: needs at least one tensor");
  check_defined("stack", ts[0], "tensors[0]");
  int d = normalize_dim(dim, ts[0].dim() + 1, "stack");
  std::vector<Tensor> us;
  us.reserve(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    check_defined("stack", ts[i], "tensors[i]");
    if (!(ts[i].shape() == ts[0].shape()))
      throw ShapeError("stack: tensor " + std::to_string(i) + " " + ts[i].desc() + " differs from tensor 0 " +
                       ts[0].desc());
    us.push_back(unsqueeze(ts[i], d));
  }
  return concat(us, d);
}

std::vector<Tensor> split(const Tensor& a, const std::vector<std::int64_t>& sizes, int dim) {
  check_defined("split", a, "input");
  int d = normalize_dim(dim, a.dim(), "split");
  std::int64_t total = 0;
  for (std::int64_t s : sizes) {
    if (s < 0) throw ValueError("split: negative size " + std::to_string(s));
    total += s;
  }
  if (total != a.shape()[d])
    throw ShapeError("split: sizes sum to " + std::to_string(total) + " but dim " + std::to_string(dim) + " of " +
                     a.desc() + " has " + std::to_string(a.shape()[d]));
  std::vector<Tensor> out;
  std::int64_t at = 0;
  for (std::int64_t s : sizes) {
    out.push_back(slice(a, d, at, at + s));
    at += s;
  }
  return out;
}

Tensor slice(const Tensor& a, int dim, std::int64_t start, std::int64_t end) {
  check_defined("slice", a, "input");
  check_cpu("slice", {&a});
  if (a.dim() == 0) throw ShapeError("slice: cannot slice a rank-0 tensor");
  int d = normalize_dim(dim, a.dim(), "slice");
  const std::int64_t D = a.shape()[d];
  if (start < 0) start += D;
  if (end < 0) end += D;
  if (start < 0 || end > D || start > end)
    throw ValueError("slice: range [" + std::to_string(start) + ", " + std::to_string(end) + ") out of bounds for dim " +
                     std::to_string(dim) + " of size " + std::to_string(D) + " in " + a.desc());
  if (d == 0) return a.slice0(start, end);
  Shape out = a.shape();
  out[d] = end - start;
  Tensor o = Tensor::empty(out, a.dtype());
  std::int64_t outer, inner;
  outer_inner(a.shape(), d, outer, inner);
  extract_block(a, o, outer, D, end - start, inner, start);
  if (!any_requires_grad({&a})) return o;
  Shape full = a.shape();
  return record(o, "slice", {a}, [full, d, start, outer, inner](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    Tensor z = Tensor::zeros(full, g.dtype());
    copy_block(g, z, outer, g.shape()[d], full[d], inner, start);
    gi[0] = z;
  });
}

Tensor expand(const Tensor& a, const Shape& shape) {
  check_defined("expand", a, "input");
  check_cpu("expand", {&a});
  Shape s = broadcast_shapes(a.shape(), shape, "expand");
  if (!(s == shape))
    throw ShapeError("expand: " + a.desc() + " cannot be expanded to " + shape.str());
  if (a.shape() == shape) return a;
  std::array<std::int64_t, kMaxRank> st{};
  auto full = a.shape().strides();
  for (int i = 0; i < shape.rank(); ++i) {
    int j = a.dim() - shape.rank() + i;
    st[i] = (j < 0 || a.shape()[j] == 1) ? 0 : full[j];
  }
  Tensor o = gather_strided(a, shape, st);
  if (!any_requires_grad({&a})) return o;
  Shape in = a.shape();
  return record(o, "expand", {a}, [in](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = sum_to(g, in);
  });
}

Tensor repeat(const Tensor& a, const std::vector<std::int64_t>& reps) {
  check_defined("repeat", a, "input");
  check_cpu("repeat", {&a});
  if (static_cast<int>(reps.size()) < a.dim())
    throw ShapeError("repeat: " + std::to_string(reps.size()) + " repeat counts for " + a.desc() +
                     " (need at least its rank)");
  const int r = static_cast<int>(reps.size());
  Shape src, out;
  for (int i = 0; i < r; ++i) {
    if (reps[i] < 0) throw ValueError("repeat: negative count " + std::to_string(reps[i]));
    int j = a.dim() - r + i;
    std::int64_t s = j < 0 ? 1 : a.shape()[j];
    src.push_back(s);
    out.push_back(s * reps[i]);
  }
  Tensor a2 = a.detach().reshape(src);
  const std::int64_t n = out.numel();
  auto sst = src.strides();
  auto index_of = [out, src, sst, r](std::int64_t flat) {
    std::int64_t off = 0;
    for (int d = r - 1; d >= 0; --d) {
      off += (flat % out[d]) % src[d] * sst[d];
      flat /= out[d];
    }
    return off;
  };
  Tensor o = Tensor::empty(out, a.dtype());
  ANYRL_DISPATCH_ALL(a.dtype(), "repeat", {
    const scalar_t* p = a2.data<scalar_t>();
    scalar_t* q = o.data<scalar_t>();
    for (std::int64_t i = 0; i < n; ++i) q[i] = p[index_of(i)];
  });
  if (!any_requires_grad({&a})) return o;
  Shape in = a.shape();
  return record(o, "repeat", {a}, [in, src, n, index_of](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    Tensor acc = Tensor::zeros(src, g.dtype());
    ANYRL_DISPATCH_FLOAT(g.dtype(), "repeat backward", {
      const scalar_t* pg = g.data<scalar_t>();
      scalar_t* pa = acc.data<scalar_t>();
      for (std::int64_t i = 0; i < n; ++i) pa[index_of(i)] += pg[i];
    });
    gi[0] = acc.reshape(in);
  });
}

}  // namespace anyrl
