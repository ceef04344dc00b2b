// CUDA kernels for the blas op family (declared in cuda/k_blas.hpp).
#include "cuda/runtime.cuh"
