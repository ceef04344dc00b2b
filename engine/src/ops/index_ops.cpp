// Indexing ops: index_select, gather, scatter_add, embedding, one_hot. Every index is
// bounds-checked with an error naming the value, its position and the valid range.
#include <algorithm>
#include <cstring>

#include "anyrl/engine/ops.hpp"
#include "ops/common.hpp"

namespace anyrl {
using detail::check_cpu;
using detail::check_defined;
using detail::index_at;

namespace {

void outer_inner(const Shape& s, int dim, std::int64_t& outer, std::int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int i = 0; i < dim; ++i) outer *= s[i];
  for (int i = dim + 1; i < s.rank(); ++i) inner *= s[i];
}

void check_range(const char* op, std::int64_t v, std::int64_t pos, std::int64_t size) {
  if (v < 0 || v >= size)
    throw ValueError(std::string(op) + ": index " + std::to_string(v) + " at position " + std::to_string(pos) +
                     " is out of range for size " + std::to_string(size));
}

// For every position of `index` (any shape no larger than `a` outside `dim`, like torch),
// calls fn(flat position in index, flat offset in a) with a's coordinate along dim replaced by
// the index value.
template <class F>
void for_gather(const Shape& ishape, const Shape& ashape, int dim, const Tensor& index, const char* op, F fn) {
  const auto ast = ashape.strides();
  const std::int64_t n = ishape.numel(), D = ashape[dim];
  const int r = ishape.rank();
  for (std::int64_t pos = 0; pos < n; ++pos) {
    std::int64_t rem = pos, off = 0;
    for (int d = r - 1; d >= 0; --d) {
      std::int64_t c = rem % ishape[d];
      rem /= ishape[d];
      if (d != dim) off += c * ast[d];
    }
    std::int64_t v = index_at(index, pos);
    check_range(op, v, pos, D);
    fn(pos, off + v * ast[dim]);
  }
}

// torch rule: index.size(d) <= a.size(d) for every d != dim.
void check_gather_shape(const char* op, const Tensor& a, const Tensor& index, int d, int dim_arg) {
  for (int i = 0; i < a.dim(); ++i)
    if (i != d && index.shape()[i] > a.shape()[i])
      throw ShapeError(std::string(op) + ": index " + index.desc() + " is larger than input " + a.desc() +
                       " in dim " + std::to_string(i) + " (only dim " + std::to_string(dim_arg) + " may differ)");
}

// out[.., k, ..] += src[.., j, ..] where k = index[j] (1-D index along dim); deterministic order.
Tensor index_add_rows(const Shape& out_shape, int dim, const Tensor& index, const Tensor& src) {
  Tensor out = Tensor::zeros(out_shape, src.dtype());
  std::int64_t outer, inner;
  outer_inner(out_shape, dim, outer, inner);
  const std::int64_t D = out_shape[dim], J = index.numel();
  ANYRL_DISPATCH_FLOAT(src.dtype(), "index_select backward", {
    const scalar_t* s = src.data<scalar_t>();
    scalar_t* d = out.data<scalar_t>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t j = 0; j < J; ++j) {
        std::int64_t k = index_at(index, j);
        const scalar_t* row = s + (o * J + j) * inner;
        scalar_t* dst = d + (o * D + k) * inner;
        for (std::int64_t i = 0; i < inner; ++i) dst[i] += row[i];
      }
  });
  return out;
}

}  // namespace

Tensor index_select(const Tensor& a, int dim, const Tensor& index) {
  const char* op = "index_select";
  check_defined(op, a, "input");
  check_defined(op, index, "index");
  check_cpu(op, {&a, &index});
  detail::check_index_dtype(op, index, "index");
  if (index.dim() != 1) throw ShapeError("index_select: index must be 1-D, got " + index.desc());
  if (a.dim() == 0) throw ShapeError("index_select: input must have rank >= 1, got " + a.desc());
  int d = normalize_dim(dim, a.dim(), op);
  const std::int64_t D = a.shape()[d], J = index.numel();
  for (std::int64_t j = 0; j < J; ++j) check_range(op, index_at(index, j), j, D);
  Shape out_shape = a.shape();
  out_shape[d] = J;
  Tensor out = Tensor::empty(out_shape, a.dtype());
  std::int64_t outer, inner;
  outer_inner(a.shape(), d, outer, inner);
  const std::size_t es = dtype_size(a.dtype()), run = static_cast<std::size_t>(inner) * es;
  const char* s = static_cast<const char*>(a.raw_data());
  char* o = static_cast<char*>(out.raw_data());
  auto body = [&](std::int64_t b, std::int64_t e) {
    if (a.dtype() == DType::Float32 && inner <= 16) {
      // Short rows (replay-buffer gathers: a few floats per row): element copies, not memcpy calls.
      const float* s4 = a.data<float>();
      float* o4 = out.data<float>();
      for (std::int64_t t = b; t < e; ++t) {
        std::int64_t oo = t / J, j = t % J;
        const float* src = s4 + (oo * D + index_at(index, j)) * inner;
        float* dst = o4 + (oo * J + j) * inner;
        switch (inner) {  // fixed lengths: plain moves (a variable-length loop becomes a memcpy call)
          case 1: dst[0] = src[0]; break;
          case 2: dst[0] = src[0]; dst[1] = src[1]; break;
          case 3: dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]; break;
          case 4: dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]; dst[3] = src[3]; break;
          default: std::memcpy(dst, src, static_cast<std::size_t>(inner) * sizeof(float)); break;
        }
      }
      return;
    }
    for (std::int64_t t = b; t < e; ++t) {
      std::int64_t oo = t / J, j = t % J;
      std::memcpy(o + static_cast<std::size_t>(oo * J + j) * run,
                  s + static_cast<std::size_t>(oo * D + index_at(index, j)) * run, run);
    }
  };
  if (out.numel() > detail::kParallelGrain)
    parallel_for(outer * J, std::max<std::int64_t>(1, detail::kParallelGrain / std::max<std::int64_t>(inner, 1)), body);
  else
    body(0, outer * J);
  if (!any_requires_grad({&a})) return out;
  Tensor idx = index.detach();
  Shape in = a.shape();
  return record(out, op, {a}, [in, d, idx](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = index_add_rows(in, d, idx, g);
  });
}

Tensor gather(const Tensor& a, int dim, const Tensor& index) {
  const char* op = "gather";
  check_defined(op, a, "input");
  check_defined(op, index, "index");
  check_cpu(op, {&a, &index});
  detail::check_index_dtype(op, index, "index");
  if (index.dim() != a.dim())
    throw ShapeError("gather: index " + index.desc() + " must have the rank of the input " + a.desc());
  int d = normalize_dim(dim, a.dim(), op);
  check_gather_shape(op, a, index, d, dim);
  Tensor out = Tensor::empty(index.shape(), a.dtype());
  ANYRL_DISPATCH_ALL(a.dtype(), op, {
    const scalar_t* s = a.data<scalar_t>();
    scalar_t* o = out.data<scalar_t>();
    for_gather(index.shape(), a.shape(), d, index, op, [&](std::int64_t pos, std::int64_t src) { o[pos] = s[src]; });
  });
  if (!any_requires_grad({&a})) return out;
  Tensor idx = index.detach();
  Shape in = a.shape();
  return record(out, op, {a}, [in, d, idx](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = scatter_add(Tensor::zeros(in, g.dtype()), d, idx, g);
  });
}

Tensor scatter_add(const Tensor& a, int dim, const Tensor& index, const Tensor& src) {
  const char* op = "scatter_add";
  check_defined(op, a, "input");
  check_defined(op, index, "index");
  check_defined(op, src, "src");
  check_cpu(op, {&a, &index, &src});
  detail::check_index_dtype(op, index, "index");
  detail::check_same_dtype(op, a, src);
  if (index.dim() != a.dim() || !(index.shape() == src.shape()))
    throw ShapeError("scatter_add: index " + index.desc() + " and src " + src.desc() +
                     " must have the same shape and the rank of the input " + a.desc());
  int d = normalize_dim(dim, a.dim(), op);
  check_gather_shape(op, a, index, d, dim);
  Tensor out = a.detach().clone();
  ANYRL_DISPATCH_NUMERIC(a.dtype(), op, {
    const scalar_t* s = src.data<scalar_t>();
    scalar_t* o = out.data<scalar_t>();
    for_gather(index.shape(), a.shape(), d, index, op, [&](std::int64_t pos, std::int64_t dst) { o[dst] += s[pos]; });
  });
  if (!any_requires_grad({&a, &src})) return out;
  Tensor idx = index.detach();
  return record(out, op, {a, src}, [d, idx](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
    if (need[0]) gi[0] = g;
    if (need[1]) gi[1] = gather(g, d, idx);
  });
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  const char* op = "embedding";
  check_defined(op, weight, "weight");
  check_defined(op, ids, "ids");
  detail::check_index_dtype(op, ids, "ids");
  if (weight.dim() != 2) throw ShapeError("embedding: weight must be [V, D], got " + weight.desc());
  const std::int64_t V = weight.shape()[0];
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    std::int64_t v = index_at(ids, i);
    if (v < 0 || v >= V)
      throw ValueError("embedding: id " + std::to_string(v) + " at position " + std::to_string(i) +
                       " is out of range for a vocabulary of " + std::to_string(V));
  }
  Shape out = ids.shape();
  out.push_back(weight.shape()[1]);
  return index_select(weight, 0, ids.reshape(Shape{ids.numel()})).reshape(out);
}

Tensor one_hot(const Tensor& ids, std::int64_t num_classes, DType dtype) {
  const char* op = "one_hot";
  check_defined(op, ids, "ids");
  check_cpu(op, {&ids});
  detail::check_index_dtype(op, ids, "ids");
  if (num_classes <= 0) throw ValueError("one_hot: num_classes must be > 0, got " + std::to_string(num_classes));
  Shape s = ids.shape();
  s.push_back(num_classes);
  Tensor out = Tensor::zeros(s, dtype);
  ANYRL_DISPATCH_ALL(dtype, op, {
    scalar_t* o = out.data<scalar_t>();
    for (std::int64_t i = 0; i < ids.numel(); ++i) {
      std::int64_t v = index_at(ids, i);
      check_range(op, v, i, num_classes);
      o[i * num_classes + v] = scalar_t(1);
    }
  });
  return out;
}

}  // namespace anyrl
