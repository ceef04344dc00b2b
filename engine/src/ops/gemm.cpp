#include "ops/gemm.hpp"

#include <Eigen/Core>
#include <algorithm>

#include "anyrl/engine/parallel.hpp"

namespace anyrl::detail {
namespace {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MutMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// C rows [m0, m1) x cols [n0, n1) of the product, on the calling thread.
template <class T>
void gemm_tile(const GemmDesc& d, const T* A, const T* B, T* C, std::int64_t m0, std::int64_t m1,
               std::int64_t n0, std::int64_t n1) {
  const std::int64_t m = m1 - m0, n = n1 - n0, K = d.K;
  MutMap<T> c(C + m0 * d.ldc + n0, m, n, Eigen::OuterStride<>(d.ldc));
  if (K == 0) {
    if (!d.accumulate) c.setZero();
    return;
  }
  auto run = [&](const auto& a, const auto& b) {
    if (d.accumulate)
      c.noalias() += a * b;
    else
      c.noalias() = a * b;
  };
  // op(A) rows m0..m1
  if (!d.ta) {
    ConstMap<T> a(A + m0 * d.lda, m, K, Eigen::OuterStride<>(d.lda));
    if (!d.tb) {
      ConstMap<T> b(B + n0, K, n, Eigen::OuterStride<>(d.ldb));
      run(a, b);
    } else {
      ConstMap<T> bt(B + n0 * d.ldb, n, K, Eigen::OuterStride<>(d.ldb));
      run(a, bt.transpose());
    }
  } else {
    ConstMap<T> at(A + m0, K, m, Eigen::OuterStride<>(d.lda));
    if (!d.tb) {
      ConstMap<T> b(B + n0, K, n, Eigen::OuterStride<>(d.ldb));
      run(at.transpose(), b);
    } else {
      ConstMap<T> bt(B + n0 * d.ldb, n, K, Eigen::OuterStride<>(d.ldb));
      run(at.transpose(), bt.transpose());
    }
  }
}

struct Tiling {
  std::int64_t tm, tn, ntm, ntn;
};

// Fixed tiling from the problem alone (never the thread count): small products, and items of
// a batch with enough items to share out, are one tile (each tile re-packs its operands, so
// fewer tiles is cheaper); larger single products are cut into 128-row (or 128-column) panels
// along the longer side.
Tiling tiling(const GemmDesc& d, std::int64_t count) {
  const double flops = 2.0 * static_cast<double>(d.M) * d.N * d.K;
  Tiling t{std::max<std::int64_t>(d.M, 1), std::max<std::int64_t>(d.N, 1), 1, 1};
  if (flops < 4.0e6 || count >= 4) return t;
  constexpr std::int64_t panel = 128;
  if (d.M >= d.N) {
    if (d.M > panel) t.tm = panel;
  } else {
    if (d.N > panel) t.tn = panel;
  }
  t.ntm = (d.M + t.tm - 1) / t.tm;
  t.ntn = (d.N + t.tn - 1) / t.tn;
  return t;
}

}  // namespace

template <class T>
void gemm(const GemmDesc& d, const T* A, const T* B, T* C) {
  gemm_batched<T>(d, 1, A, 0, B, 0, C, 0);
}

template <class T>
void gemm_batched(const GemmDesc& d, std::int64_t count, const T* A, std::int64_t stride_a, const T* B,
                  std::int64_t stride_b, T* C, std::int64_t stride_c) {
  if (count <= 0 || d.M == 0 || d.N == 0) return;
  Tiling t = tiling(d, count);
  const std::int64_t per = t.ntm * t.ntn;
  const std::int64_t jobs = count * per;
  auto body = [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t j = b; j < e; ++j) {
      std::int64_t i = j / per, tile = j % per;
      std::int64_t im = tile / t.ntn, in = tile % t.ntn;
      std::int64_t m0 = im * t.tm, n0 = in * t.tn;
      gemm_tile<T>(d, A + i * stride_a, B + i * stride_b, C + i * stride_c, m0, std::min(d.M, m0 + t.tm), n0,
                   std::min(d.N, n0 + t.tn));
    }
  };
  const double flops_per_job = 2.0 * static_cast<double>(d.M) * d.N * d.K / static_cast<double>(per);
  // Hand small jobs out several at a time (thread hand-off costs ~µs).
  std::int64_t grain = std::max<std::int64_t>(1, static_cast<std::int64_t>(2.0e5 / std::max(flops_per_job, 1.0)));
  if (jobs == 1 || jobs * flops_per_job < 4.0e5)
    body(0, jobs);
  else
    parallel_for(jobs, grain, body);
}

template void gemm<float>(const GemmDesc&, const float*, const float*, float*);
template void gemm<double>(const GemmDesc&, const double*, const double*, double*);
template void gemm_batched<float>(const GemmDesc&, std::int64_t, const float*, std::int64_t, const float*,
                                  std::int64_t, float*, std::int64_t);
template void gemm_batched<double>(const GemmDesc&, std::int64_t, const double*, std::int64_t, const double*,
                                   std::int64_t, double*, std::int64_t);

}  // namespace anyrl::detail
