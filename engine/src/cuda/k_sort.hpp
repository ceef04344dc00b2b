// Launchers of the CUDA kernels for the sort op family; see cuda/k_common.hpp for conventions.
#pragma once
#include "cuda/k_common.hpp"

namespace anyrl::cuda_k {}  // namespace anyrl::cuda_k
