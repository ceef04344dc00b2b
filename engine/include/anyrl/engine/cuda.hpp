// CUDA availability. The CUDA backend (kernels, cuBLAS, cuDNN) is built when ANYRL_CUDA is ON
// or AUTO with nvcc found; without a GPU at run time every CUDA request is a clear DeviceError.
#pragma once
#include <string>

namespace anyrl::cuda {

/// True if anyrl was compiled with the CUDA backend.
bool compiled();
/// Number of usable CUDA devices (0 when not compiled or no driver/GPU).
int device_count();
/// True when compiled and at least one device is present.
inline bool available() { return device_count() > 0; }
/// Throws DeviceError with a clear reason when CUDA cannot be used (names `what`).
void require(const std::string& what);
/// One line describing the backend ("CUDA backend: compiled, 1 device: NVIDIA H100", ...).
std::string describe();

}  // namespace anyrl::cuda
