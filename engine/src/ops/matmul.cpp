// matmul (batched, broadcasting) and linear, forward and backward, on top of detail::gemm.
#include <algorithm>

#include "anyrl/engine/ops.hpp"
#include "ops/common.hpp"
#include "ops/gemm.hpp"

namespace anyrl {
using detail::check_cpu;
using detail::check_defined;

namespace {

// op(a) * op(b) for a[..., *, *] and b[..., *, *] with broadcast batch dims (both rank >= 2).
// ta/tb transpose the last two dims of the operand. Result: [batch..., M, N].
Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb, const Tensor& init = Tensor()) {
  const int ra = a.dim(), rb = b.dim();
  const std::int64_t M = ta ? a.shape()[ra - 1] : a.shape()[ra - 2];
  const std::int64_t K = ta ? a.shape()[ra - 2] : a.shape()[ra - 1];
  const std::int64_t Kb = tb ? b.shape()[rb - 1] : b.shape()[rb - 2];
  const std::int64_t N = tb ? b.shape()[rb - 2] : b.shape()[rb - 1];
  if (K != Kb)
    throw ShapeError("matmul: inner dimensions differ (" + std::to_string(K) + " vs " + std::to_string(Kb) +
                     "): " + a.desc() + " x " + b.desc());
  Shape ba, bb;
  for (int i = 0; i < ra - 2; ++i) ba.push_back(a.shape()[i]);
  for (int i = 0; i < rb - 2; ++i) bb.push_back(b.shape()[i]);
  Shape batch;
  try {
    batch = broadcast_shapes(ba, bb, "matmul");
  } catch (const ShapeError&) {
    throw ShapeError("matmul: batch dimensions " + ba.str() + " and " + bb.str() + " cannot be broadcast: " +
                     a.desc() + " x " + b.desc());
  }
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out;
  // A bias that is one row per batch item ([..., 1, N] with the product's batch dims or none,
  // or [N]) is added by the GEMM as it stores C; any other bias is expanded into C first.
  const std::int64_t nbatch_all = batch.numel();
  std::int64_t row_bias_stride = -1;
  if (init.defined() && init.dim() >= 1 && init.shape().back() == N && (init.dim() < 2 || init.shape()[init.dim() - 2] == 1)) {
    std::int64_t ib = 1;
    for (int i = 0; i + 2 < init.dim(); ++i) ib *= init.shape()[i];
    Shape init_batch;
    for (int i = 0; i + 2 < init.dim(); ++i) init_batch.push_back(init.shape()[i]);
    if (ib == 1 && init.dim() - 2 <= batch.rank())
      row_bias_stride = 0;
    else if (init_batch == batch)
      row_bias_stride = N;
  }
  const bool general_broadcast = !(bb.rank() == 0 && !ta) && !(ba.numel() == nbatch_all && bb.numel() == nbatch_all) &&
                                 !(bb.rank() == 0 || bb.numel() == 1) && !(ba.rank() == 0 || ba.numel() == 1);
  if (general_broadcast || (row_bias_stride == N && bb.rank() == 0 && !ta)) row_bias_stride = -1;
  if (row_bias_stride >= 0) {
    out = Tensor::empty(out_shape, a.dtype());
  } else if (init.defined()) {
    // C starts as the broadcast bias and the GEMM accumulates onto it.
    try {
      out = expand(init.detach(), out_shape);
    } catch (const ShapeError&) {
      throw ShapeError("matmul: bias " + init.desc() + " does not broadcast to the product shape " + out_shape.str() +
                       " of " + a.desc() + " x " + b.desc());
    }
    if (out.shares_storage(init)) out = out.clone();
  } else {
    out = Tensor::empty(out_shape, a.dtype());
  }
  if (out.numel() == 0) return out;
  detail::GemmDesc d;
  d.accumulate = init.defined() && row_bias_stride < 0;
  if (row_bias_stride >= 0) {
    d.bias = init.raw_data();
    d.bias_stride = row_bias_stride;
  }
  d.ta = ta;
  d.tb = tb;
  d.M = M;
  d.N = N;
  d.K = K;
  d.lda = a.shape()[ra - 1];
  d.ldb = b.shape()[rb - 1];
  d.ldc = N;
  const std::int64_t nbatch = batch.numel();
  const std::int64_t sa = a.shape()[ra - 1] * a.shape()[ra - 2], sb = b.shape()[rb - 1] * b.shape()[rb - 2];
  ANYRL_DISPATCH_FLOAT(a.dtype(), "matmul", {
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* pc = out.data<scalar_t>();
    if (K == 0 && !d.bias) {
      if (!d.accumulate) out.fill_(0.0);
    } else if (bb.rank() == 0 && !ta) {
      // b shared by every batch item: fold the batch into M (one large GEMM).
      d.M = M * nbatch;
      detail::gemm<scalar_t>(d, pa, pb, pc);
    } else if (ba.numel() == nbatch && bb.numel() == nbatch) {
      detail::gemm_batched<scalar_t>(d, nbatch, pa, sa, pb, sb, pc, M * N);
    } else if (bb.rank() == 0 || bb.numel() == 1) {
      detail::gemm_batched<scalar_t>(d, nbatch, pa, sa, pb, 0, pc, M * N);
    } else if (ba.rank() == 0 || ba.numel() == 1) {
      detail::gemm_batched<scalar_t>(d, nbatch, pa, 0, pb, sb, pc, M * N);
    } else {
      // General broadcast: compute each item's operand offsets.
      auto strides_in = [&](const Shape& s) {
        std::array<std::int64_t, kMaxRank> st{};
        auto full = s.strides();
        for (int i = 0; i < batch.rank(); ++i) {
          int j = s.rank() - batch.rank() + i;
          st[i] = (j < 0 || s[j] == 1) ? 0 : full[j];
        }
        return st;
      };
      auto sta = strides_in(ba), stb = strides_in(bb);
      parallel_for(nbatch, 1, [&](std::int64_t b0, std::int64_t b1) {
        for (std::int64_t i = b0; i < b1; ++i) {
          std::int64_t rem = i, oa = 0, ob = 0;
          for (int dd = batch.rank() - 1; dd >= 0; --dd) {
            std::int64_t idx = rem % batch[dd];
            rem /= batch[dd];
            oa += idx * sta[dd];
            ob += idx * stb[dd];
          }
          detail::gemm_batched<scalar_t>(d, 1, pa + oa * sa, 0, pb + ob * sb, 0, pc + i * M * N, 0);
        }
      });
    }
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_defined("matmul", a_in, "a");
  check_defined("matmul", b_in, "b");
  check_cpu("matmul", {&a_in, &b_in});
  detail::check_same_dtype("matmul", a_in, b_in);
  detail::check_floating("matmul", a_in);
  if (a_in.dim() == 0 || b_in.dim() == 0)
    throw ShapeError("matmul: operands must have rank >= 1, got " + detail::describe2(a_in, b_in));
  {
    // Check here (not in bmm) so the message shows the shapes the caller passed.
    const std::int64_t ka = a_in.shape().back();
    const std::int64_t kb = b_in.dim() == 1 ? b_in.shape()[0] : b_in.shape()[b_in.dim() - 2];
    if (ka != kb)
      throw ShapeError("matmul: inner dimensions differ (" + std::to_string(ka) + " vs " + std::to_string(kb) +
                       "): " + a_in.desc() + " x " + b_in.desc());
  }
  // 1-D operands: promote, multiply, then drop the added dim.
  const bool va = a_in.dim() == 1, vb = b_in.dim() == 1;
  Tensor a = va ? a_in.reshape(Shape{1, a_in.shape()[0]}) : a_in;
  Tensor b = vb ? b_in.reshape(Shape{b_in.shape()[0], 1}) : b_in;
  Tensor out = bmm(a, b, false, false);
  if (any_requires_grad({&a, &b})) {
    Tensor x = a.detach(), y = b.detach();
    out = record(out, "matmul", {a, b}, [x, y](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
      if (need[0]) gi[0] = sum_to(bmm(g, y, false, true), x.shape());
      if (need[1]) {
        if (y.dim() == 2 && x.dim() > 2) {
          // Shared weight: fold the batch, one GEMM x^T g.
          Tensor xf = x.reshape(Shape{-1, x.shape().back()});
          Tensor gf = g.reshape(Shape{-1, g.shape().back()});
          gi[1] = bmm(xf, gf, true, false);
        } else {
          gi[1] = sum_to(bmm(x, g, true, false), y.shape());
        }
      }
    });
  }
  if (va || vb) {
    Shape s;
    const Shape& o = out.shape();
    for (int i = 0; i < o.rank(); ++i) {
      if (va && i == o.rank() - 2) continue;
      if (vb && i == o.rank() - 1) continue;
      s.push_back(o[i]);
    }
    out = out.reshape(s);
  }
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b, const Tensor& bias) {
  if (!bias.defined()) return matmul(a, b);
  check_defined("matmul", a, "a");
  check_defined("matmul", b, "b");
  check_cpu("matmul", {&a, &b, &bias});
  detail::check_same_dtype("matmul", a, b);
  detail::check_same_dtype("matmul", a, bias);
  detail::check_floating("matmul", a);
  if (a.dim() < 2 || b.dim() < 2)
    throw ShapeError("matmul with bias: operands must have rank >= 2, got " + detail::describe2(a, b));
  Tensor out = bmm(a, b, false, false, bias);
  if (!any_requires_grad({&a, &b, &bias})) return out;
  Tensor x = a.detach(), y = b.detach();
  Shape sc = bias.shape();
  return record(out, "matmul_bias", {a, b, bias},
                [x, y, sc](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
                  if (need[0]) gi[0] = sum_to(bmm(g, y, false, true), x.shape());
                  if (need[1]) {
                    if (y.dim() == 2 && x.dim() > 2)
                      gi[1] = bmm(x.reshape(Shape{-1, x.shape().back()}), g.reshape(Shape{-1, g.shape().back()}), true, false);
                    else
                      gi[1] = sum_to(bmm(x, g, true, false), y.shape());
                  }
                  if (need[2]) gi[2] = sum_to(g, sc);
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear";
  check_defined(op, x, "x");
  check_defined(op, weight, "weight");
  check_cpu(op, {&x, &weight, &bias});
  detail::check_same_dtype(op, x, weight);
  detail::check_floating(op, x);
  if (weight.dim() != 2) throw ShapeError("linear: weight must be [out, in], got " + weight.desc());
  if (x.dim() < 1 || x.shape().back() != weight.shape()[1])
    throw ShapeError("linear: input features " + (x.dim() ? std::to_string(x.shape().back()) : std::string("?")) +
                     " do not match weight [out, in] = " + weight.shape().str() + " (x: " + x.desc() + ")");
  const std::int64_t out_f = weight.shape()[0], in_f = weight.shape()[1];
  if (bias.defined()) {
    detail::check_same_dtype(op, x, bias);
    if (bias.dim() != 1 || bias.shape()[0] != out_f)
      throw ShapeError("linear: bias must be [" + std::to_string(out_f) + "], got " + bias.desc());
  }
  const std::int64_t rows = in_f == 0 ? x.numel() : x.numel() / in_f;
  Shape out_shape = x.shape();
  out_shape[out_shape.rank() - 1] = out_f;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  detail::GemmDesc d;
  d.tb = true;
  d.M = rows;
  d.N = out_f;
  d.K = in_f;
  d.lda = in_f;
  d.ldb = in_f;
  d.ldc = out_f;
  ANYRL_DISPATCH_FLOAT(x.dtype(), op, {
    scalar_t* pc = out.data<scalar_t>();
    if (bias.defined()) {
      // C = bias row + product: the GEMM adds the bias as it stores C (the same value as
      // copying the bias into every row and accumulating).
      d.bias = bias.data<scalar_t>();
    } else if (in_f == 0) {
      out.fill_(0.0);
    }
    if (in_f > 0 || bias.defined()) detail::gemm<scalar_t>(d, x.data<scalar_t>(), weight.data<scalar_t>(), pc);
  });
  if (!any_requires_grad({&x, &weight, &bias})) return out;
  Tensor xs = x.detach(), ws = weight.detach();
  return record(out, op, {x, weight, bias},
                [xs, ws, rows, in_f, out_f](const Tensor& g, const std::vector<bool>& need, std::vector<Tensor>& gi) {
                  Tensor g2 = g.reshape(Shape{rows, out_f});
                  if (need[0]) gi[0] = bmm(g2, ws, false, false).reshape(xs.shape());  // g W
                  if (need[1]) gi[1] = bmm(g2, xs.reshape(Shape{rows, in_f}), true, false);  // g^T x
                  if (need[2]) gi[2] = sum(g2, {0});
                });
}

}  // namespace anyrl
