// CUDA kernels for the elementwise op family (declared in cuda/k_elementwise.hpp).
#include "cuda/runtime.cuh"
