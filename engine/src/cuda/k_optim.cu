// CUDA kernels for the optim op family (declared in cuda/k_optim.hpp).
#include "cuda/runtime.cuh"
