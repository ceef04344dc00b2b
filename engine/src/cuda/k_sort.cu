// CUDA kernels for the sort op family (declared in cuda/k_sort.hpp).
#include "cuda/runtime.cuh"
