// CUDA kernels for the index op family (declared in cuda/k_index.hpp).
#include "cuda/runtime.cuh"
