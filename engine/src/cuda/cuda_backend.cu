// CUDA backend, first part: device discovery, a caching device allocator (size-class free
// lists over plain cudaMalloc) and host<->device copies. Kernels for the ops arrive with the
// CUDA issue; until then ops on CUDA tensors raise a DeviceError from the op dispatch.
#include <cuda_runtime.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "anyrl/engine/error.hpp"
#include "cuda/backend.hpp"
#include "cuda/runtime.cuh"

namespace anyrl::cuda_backend {

void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess)
    throw DeviceError(std::string("CUDA call ") + call + " failed: " + cudaGetErrorName(err) + " (" +
                      cudaGetErrorString(err) + ")");
}

void check_launch(const char* kernel) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw DeviceError(std::string("CUDA kernel ") + kernel + " failed to launch: " + cudaGetErrorName(err) +
                      " (" + cudaGetErrorString(err) + ")");
}

namespace {
// The legacy default stream until a StreamGuard (or a graph capture) selects another.
thread_local cudaStream_t t_stream = nullptr;
}  // namespace

cudaStream_t current_stream() { return t_stream; }

namespace {

std::size_t size_class(std::size_t n) {
  if (n <= (1u << 20)) return (n + 511) / 512 * 512;
  std::size_t step = 1u << 20;
  return (n + step - 1) / step * step;
}

struct DeviceCache {
  std::mutex mu;
  std::unordered_map<std::size_t, std::vector<void*>> free_lists;
  AllocatorStats stats;
};

DeviceCache& cache(int device) {
  static std::mutex mu;
  static std::unordered_map<int, DeviceCache*> caches;
  std::lock_guard<std::mutex> lock(mu);
  auto& c = caches[device];
  if (!c) c = new DeviceCache();
  return *c;
}

void require_device(int device, const char* what) {
  int n = device_count();
  if (n == 0)
    throw DeviceError(std::string(what) + ": no CUDA device is available on this machine");
  if (device < 0 || device >= n)
    throw DeviceError(std::string(what) + ": cuda:" + std::to_string(device) + " does not exist (" +
                      std::to_string(n) + " device(s))");
}

}  // namespace

bool compiled() { return true; }

int device_count() {
  static int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error
      return 0;
    }
    return c;
  }();
  return n;
}

const char* device_name(int index) {
  static thread_local cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) return "unknown";
  return prop.name;
}

void* device_allocate(std::size_t nbytes, int device, std::size_t* capacity) {
  require_device(device, "allocate on cuda");
  std::size_t cap = size_class(nbytes == 0 ? 1 : nbytes);
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.requests++;
  auto& list = c.free_lists[cap];
  void* p = nullptr;
  if (!list.empty()) {
    p = list.back();
    list.pop_back();
    c.stats.cache_hits++;
    c.stats.bytes_cached -= cap;
  } else {
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaMalloc(&p, cap), "cudaMalloc");
    c.stats.os_allocs++;
  }
  c.stats.bytes_in_use += cap;
  if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
  *capacity = cap;
  return p;
}

void device_release(void* p, std::size_t capacity, int device) {
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  c.free_lists[capacity].push_back(p);
  c.stats.bytes_in_use -= capacity;
  c.stats.bytes_cached += capacity;
}

AllocatorStats allocator_stats(int device) {
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void reset_allocator_stats(int device) {
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  AllocatorStats s;
  s.bytes_in_use = c.stats.bytes_in_use;
  s.bytes_cached = c.stats.bytes_cached;
  s.peak_bytes_in_use = c.stats.bytes_in_use;
  c.stats = s;
}

void empty_cache(int device) {
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [cap, list] : c.free_lists) {
    for (void* p : list) {
      cudaFree(p);
      c.stats.os_frees++;
      c.stats.bytes_cached -= cap;
    }
    list.clear();
  }
}

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy to cuda");
  check(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice), "cudaMemcpy(HostToDevice)");
}
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy from cuda");
  check(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost), "cudaMemcpy(DeviceToHost)");
}
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy on cuda");
  check(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice), "cudaMemcpy(DeviceToDevice)");
}

}  // namespace anyrl::cuda_backend
