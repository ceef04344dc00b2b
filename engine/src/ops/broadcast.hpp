// Broadcasting loop machinery shared by the elementwise ops: operands are viewed in the
// output's frame with stride 0 along broadcast dimensions, adjacent dimensions that are
// contiguous for every operand are merged, and the innermost run is handed to a callback
// with per-operand strides of 0 or 1 (so it vectorises).
#pragma once
#include <array>

#include "cuda/k_common.hpp"
#include "ops/common.hpp"

namespace anyrl::detail {

template <int N>
struct BroadcastPlan {
  int rank = 0;                                        // collapsed rank (>= 1)
  std::array<std::int64_t, kMaxRank> size{};           // collapsed sizes
  std::array<std::array<std::int64_t, kMaxRank>, N> stride{};  // element strides per operand
  std::int64_t numel = 0;
};

/// Builds the plan for operands `in` broadcast to `out` (all shapes must be compatible).
template <int N>
BroadcastPlan<N> make_plan(const Shape& out, const std::array<Shape, N>& in) {
  BroadcastPlan<N> p;
  const int r = out.rank();
  std::array<std::int64_t, kMaxRank> sz{};
  std::array<std::array<std::int64_t, kMaxRank>, N> st{};
  for (int k = 0; k < N; ++k) {
    auto s = in[k].strides();
    for (int i = 0; i < r; ++i) {
      int j = in[k].rank() - r + i;
      st[k][i] = (j < 0 || in[k][j] == 1) ? 0 : s[j];
    }
  }
  for (int i = 0; i < r; ++i) sz[i] = out[i];
  // Merge dim i into the one after it when every operand is contiguous across the pair.
  int m = 0;
  for (int i = 0; i < r; ++i) {
    if (sz[i] == 1) continue;  // size-1 dims never matter
    if (m > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if (p.stride[k][m - 1] != st[k][i] * sz[i]) merge = false;
      if (merge) {
        p.size[m - 1] *= sz[i];
        for (int k = 0; k < N; ++k) p.stride[k][m - 1] = st[k][i];
        continue;
      }
    }
    p.size[m] = sz[i];
    for (int k = 0; k < N; ++k) p.stride[k][m] = st[k][i];
    ++m;
  }
  if (m == 0) {
    m = 1;
    p.size[0] = 1;
    for (int k = 0; k < N; ++k) p.stride[k][0] = 0;
  }
  p.rank = m;
  p.numel = out.numel();
  return p;
}

/// Calls inner(out_offset, in_offsets, n, inner_strides) for every innermost run, rows in
/// parallel when the tensor is large. Deterministic: every output element is written once.
template <int N, class Inner>
void run_plan(const BroadcastPlan<N>& p, Inner inner) {
  if (p.numel == 0) return;
  const int r = p.rank;
  const std::int64_t n_inner = p.size[r - 1];
  const std::int64_t rows = p.numel / n_inner;
  std::array<std::int64_t, N> inner_stride;
  for (int k = 0; k < N; ++k) inner_stride[k] = p.stride[k][r - 1];
  auto do_rows = [&](std::int64_t rb, std::int64_t re) {
    for (std::int64_t row = rb; row < re; ++row) {
      std::array<std::int64_t, N> off{};
      std::int64_t rem = row;
      for (int d = r - 2; d >= 0; --d) {
        std::int64_t idx = rem % p.size[d];
        rem /= p.size[d];
        for (int k = 0; k < N; ++k) off[k] += idx * p.stride[k][d];
      }
      inner(row * n_inner, off, n_inner, inner_stride);
    }
  };
  if (rows == 1) {
    // One long run: split it instead of rows.
    if (n_inner > kParallelGrain) {
      parallel_for(n_inner, kParallelGrain, [&](std::int64_t b, std::int64_t e) {
        std::array<std::int64_t, N> off{};
        for (int k = 0; k < N; ++k) off[k] = b * inner_stride[k];
        inner(b, off, e - b, inner_stride);
      });
    } else {
      do_rows(0, 1);
    }
  } else if (p.numel > kParallelGrain) {
    std::int64_t grain = std::max<std::int64_t>(1, kParallelGrain / n_inner);
    parallel_for(rows, grain, do_rows);
  } else {
    do_rows(0, rows);
  }
}

/// The same plan as a plain descriptor for the CUDA kernels (cuda/k_common.hpp).
template <int N>
cuda_k::Plan<N> to_kernel_plan(const BroadcastPlan<N>& p) {
  static_assert(cuda_k::kMaxRank == kMaxRank);
  cuda_k::Plan<N> k;
  k.rank = p.rank;
  k.numel = p.numel;
  for (int d = 0; d < kMaxRank; ++d) {
    k.size[d] = p.size[d];
    for (int j = 0; j < N; ++j) k.stride[j][d] = p.stride[j][d];
  }
  return k;
}

}  // namespace anyrl::detail
