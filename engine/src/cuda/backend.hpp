// Internal interface between the engine and its CUDA backend. Two implementations:
// cuda_backend.cu (built when ANYRL_WITH_CUDA) and cuda_none.cpp (every call is a clear
// DeviceError). The CUDA issue grows this into the full backend (kernels, cuBLAS, cuDNN).
#pragma once
#include <cstddef>

#include "anyrl/engine/allocator.hpp"

namespace anyrl::cuda_backend {

bool compiled();
int device_count();
const char* device_name(int index);

void* device_allocate(std::size_t nbytes, int device, std::size_t* capacity);
void device_release(void* p, std::size_t capacity, int device);
AllocatorStats allocator_stats(int device);
void reset_allocator_stats(int device);
void empty_cache(int device);

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device);

}  // namespace anyrl::cuda_backend
