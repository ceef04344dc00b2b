// CUDA kernels for the reduce op family (declared in cuda/k_reduce.hpp).
#include "cuda/runtime.cuh"
