// CUDA kernels for the random op family (declared in cuda/k_random.hpp).
#include "cuda/runtime.cuh"
