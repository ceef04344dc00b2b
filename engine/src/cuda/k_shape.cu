// CUDA kernels for the shape op family (declared in cuda/k_shape.hpp).
#include "cuda/runtime.cuh"
