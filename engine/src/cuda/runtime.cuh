// CUDA-side helpers shared by every .cu file of the backend: error checks that throw
// DeviceError, the current stream, launch-size helpers and plan indexing. Never included by
// the C++20 sources (nvcc compiles the backend as C++17).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/k_common.hpp"

namespace anyrl::cuda_backend {

/// Throws DeviceError "CUDA call <call> failed: <name> (<text>)" unless err == cudaSuccess.
void check(cudaError_t err, const char* call);
/// Checks the last kernel launch; throws DeviceError naming `kernel`.
void check_launch(const char* kernel);
/// The stream every kernel and copy of the calling thread is enqueued on.
cudaStream_t current_stream();

inline constexpr int kThreads = 256;
/// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
inline unsigned grid_for(std::int64_t n, int threads = kThreads) {
  std::int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 8) b = 65535LL * 8;
  return static_cast<unsigned>(b);
}

/// Offset of operand k for flat output index i under a broadcast plan.
template <int N>
__device__ __forceinline__ std::int64_t plan_offset(const cuda_k::Plan<N>& p, int k, std::int64_t i) {
  std::int64_t off = 0;
  for (int d = p.rank - 1; d >= 0; --d) {
    const std::int64_t s = p.size[d];
    const std::int64_t idx = i % s;
    i /= s;
    off += idx * p.stride[k][d];
  }
  return off;
}

}  // namespace anyrl::cuda_backend

/// Grid-stride loop over [0, n).
#define ANYRL_CUDA_KERNEL_LOOP(i, n)                                                         \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)
