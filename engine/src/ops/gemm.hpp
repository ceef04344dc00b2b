// The CPU GEMM used by matmul/linear: Eigen's single-threaded kernel on fixed tiles, tiles
// spread over the engine's thread pool. Tile boundaries depend only on (M, N, K), so the
// result is bitwise identical for any thread count.
#pragma once
#include <cstdint>

namespace anyrl::detail {

/// One row-major GEMM: C[M,N] = op(A) * op(B) (+ C when accumulate), where op(A) is A[M,K]
/// (lda) or, with ta, A stored as [K,M]; likewise B.
struct GemmDesc {
  bool ta = false, tb = false;
  std::int64_t M = 0, N = 0, K = 0;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  bool accumulate = false;
  /// Optional row bias (not with accumulate): C[i, j] = bias[j] + (op(A) op(B))[i, j], the same
  /// value as copying the bias into every row of C and accumulating. `bias_stride` is the offset
  /// in elements between the bias rows of consecutive batch items (0: one shared row).
  const void* bias = nullptr;
  std::int64_t bias_stride = 0;
};

template <class T>
void gemm(const GemmDesc& d, const T* A, const T* B, T* C);

/// `count` GEMMs of the same description with per-item pointer offsets (in elements).
/// Offsets for item i are i*stride (stride 0 = shared operand). Parallel over items and tiles.
template <class T>
void gemm_batched(const GemmDesc& d, std::int64_t count, const T* A, std::int64_t stride_a, const T* B,
                  std::int64_t stride_b, T* C, std::int64_t stride_c);

}  // namespace anyrl::detail
