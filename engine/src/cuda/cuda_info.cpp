// anyrl::cuda:: public queries, shared by the CUDA and the no-CUDA builds.
#include "anyrl/engine/cuda.hpp"

#include "anyrl/engine/error.hpp"
#include "cuda/backend.hpp"

namespace anyrl::cuda {

bool compiled() { return cuda_backend::compiled(); }
int device_count() { return cuda_backend::device_count(); }

void require(const std::string& what) {
  if (!compiled())
    throw DeviceError(what + ": anyrl was built without the CUDA backend (ANYRL_CUDA=OFF or no nvcc)");
  if (device_count() == 0) throw DeviceError(what + ": no CUDA device is available on this machine");
}

std::string describe() {
  if (!compiled()) return "CUDA backend: not built";
  int n = device_count();
  if (n == 0) return "CUDA backend: built, no CUDA device present";
  return "CUDA backend: built, " + std::to_string(n) + " device(s), cuda:0 = " + cuda_backend::device_name(0);
}

}  // namespace anyrl::cuda
