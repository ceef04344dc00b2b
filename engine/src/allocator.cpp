// CPU caching allocator: blocks are rounded up to a size class and kept on per-class free
// lists when released, so steady-state loops reuse memory instead of calling the OS.
#include "anyrl/engine/allocator.hpp"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "anyrl/engine/error.hpp"
#include "cuda/backend.hpp"

namespace anyrl {
namespace {

constexpr std::size_t kAlign = 64;

// Size classes: multiples of 64 B up to 4 KiB, then 4 steps per power of two. Bounded waste
// (< 25%) while keeping the number of classes small.
std::size_t size_class(std::size_t n) {
  if (n <= 4096) return (n + kAlign - 1) / kAlign * kAlign;
  std::size_t p = 4096;
  while (p * 2 < n) p *= 2;
  std::size_t step = p / 4;
  return (n + step - 1) / step * step;
}

struct CpuCache {
  std::mutex mu;
  std::unordered_map<std::size_t, std::vector<void*>> free_lists;
  AllocatorStats stats;
};

CpuCache& cache() {
  static CpuCache* c = new CpuCache();  // leaked on purpose: outlives static tensors
  return *c;
}

}  // namespace

namespace detail {

void* cpu_cache_allocate(std::size_t nbytes, std::size_t* capacity) {
  std::size_t cap = size_class(nbytes == 0 ? 1 : nbytes);
  CpuCache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats.requests++;
    auto it = c.free_lists.find(cap);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cache_hits++;
      c.stats.bytes_cached -= cap;
      c.stats.bytes_in_use += cap;
      if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
      *capacity = cap;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, cap);
  if (!p) {
    empty_cache(Device::cpu());
    p = std::aligned_alloc(kAlign, cap);
    if (!p) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.os_allocs++;
  c.stats.bytes_in_use += cap;
  if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
  *capacity = cap;
  return p;
}

void cpu_cache_release(void* p, std::size_t capacity) {
  CpuCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.free_lists[capacity].push_back(p);
  c.stats.bytes_in_use -= capacity;
  c.stats.bytes_cached += capacity;
}

}  // namespace detail

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, Device device) {
  std::size_t cap = 0;
  void* p = nullptr;
  if (device.is_cpu()) {
    p = detail::cpu_cache_allocate(nbytes, &cap);
  } else {
    p = cuda_backend::device_allocate(nbytes, device.index, &cap);
  }
  return std::make_shared<Storage>(p, nbytes, cap, device);
}

Storage::~Storage() {
  if (device_.is_cpu())
    detail::cpu_cache_release(data_, capacity_);
  else
    cuda_backend::device_release(data_, capacity_, device_.index);
}

AllocatorStats allocator_stats(Device device) {
  if (!device.is_cpu()) return cuda_backend::allocator_stats(device.index);
  CpuCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void reset_allocator_stats(Device device) {
  if (!device.is_cpu()) return cuda_backend::reset_allocator_stats(device.index);
  CpuCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  AllocatorStats s;
  s.bytes_in_use = c.stats.bytes_in_use;
  s.bytes_cached = c.stats.bytes_cached;
  s.peak_bytes_in_use = c.stats.bytes_in_use;
  c.stats = s;
}

void empty_cache(Device device) {
  if (!device.is_cpu()) return cuda_backend::empty_cache(device.index);
  CpuCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [cap, list] : c.free_lists) {
    for (void* p : list) {
      std::free(p);
      c.stats.os_frees++;
      c.stats.bytes_cached -= cap;
    }
    list.clear();
  }
}

}  // namespace anyrl
