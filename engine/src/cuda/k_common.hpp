// Plain-C++ descriptors shared by the op dispatch (.cpp, C++20) and the CUDA kernels (.cu,
// C++17): raw pointers, sizes and strides only — no Tensor, no CUDA types — so each op family
// declares its launchers in a k_<family>.hpp that both sides include.
//
// Conventions for every launcher declared in a k_*.hpp:
//   * pointers are device pointers (already offset to the tensor's first element);
//   * work is enqueued on the current stream (cuda_backend::current_stream()) and never
//     synchronises, so launchers are safe inside CUDA-graph capture;
//   * a failed launch throws DeviceError naming the kernel; the .cpp dispatch appends the
//     op's tensors (see detail::cuda_guard in ops/common.hpp).
#pragma once
#include <cstdint>

#include "anyrl/engine/dtype.hpp"

namespace anyrl::cuda_k {

inline constexpr int kMaxRank = 6;  // == anyrl::kMaxRank (static_assert in ops/common.hpp)

/// N operands viewed in an output frame of `rank` collapsed dims (element strides; 0 along a
/// broadcast dim). Built from detail::BroadcastPlan on the host; passed to kernels by value.
template <int N>
struct Plan {
  int rank = 1;
  std::int64_t numel = 0;
  std::int64_t size[kMaxRank] = {};
  std::int64_t stride[N][kMaxRank] = {};
};

}  // namespace anyrl::cuda_k
