// CUDA kernels for the nn op family (declared in cuda/k_nn.hpp).
#include "cuda/runtime.cuh"
