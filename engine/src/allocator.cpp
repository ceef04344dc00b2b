// CPU caching allocator: blocks are rounded up to a size class and kept on per-class free
// lists when released, so steady-state loops reuse memory instead of calling the OS.
#include "anyrl/engine/allocator.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "anyrl/engine/error.hpp"
#include "cuda/backend.hpp"
#include "pool.hpp"

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

// Index of a size class (dense, small): 1..64 for the 64-byte classes up to 4 KiB, then four
// per power of two.
std::size_t class_index(std::size_t cap) {
  if (cap <= 4096) return cap / kAlign;
  std::size_t p = 4096, e = 0;
  while (p * 2 < cap) {
    p *= 2;
    ++e;
  }
  return 65 + 4 * e + (cap / (p / 4) - 5);
}
constexpr std::size_t kClasses = 65 + 4 * 64;
// Inverse of class_index.
std::size_t class_capacity(std::size_t k) {
  if (k <= 64) return k * kAlign;
  const std::size_t e = (k - 65) / 4, q = (k - 65) % 4;
  const std::size_t p = std::size_t{4096} << e;
  return (q + 5) * (p / 4);
}

// A test-and-test-and-set spin lock: the cache is locked for a few instructions, and almost
// always by one thread (the pool's workers rarely allocate), where it costs one atomic exchange
// instead of a pthread mutex call pair.
class SpinLock {
 public:
  void lock() {
    while (flag_.exchange(true, std::memory_order_acquire))
      while (flag_.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

struct CpuCache {
  SpinLock mu;
  std::vector<void*> free_lists[kClasses];  // LIFO per class: the most recently freed block is reused first
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
    std::lock_guard<SpinLock> lock(c.mu);
    c.stats.requests++;
    std::vector<void*>& list = c.free_lists[class_index(cap)];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
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
  std::lock_guard<SpinLock> lock(c.mu);
  c.stats.os_allocs++;
  c.stats.bytes_in_use += cap;
  if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
  *capacity = cap;
  return p;
}

void cpu_cache_release(void* p, std::size_t capacity) {
  CpuCache& c = cache();
  std::lock_guard<SpinLock> lock(c.mu);
  c.free_lists[class_index(capacity)].push_back(p);
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
  return detail::make_pooled<Storage>(p, nbytes, cap, device);
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
  std::lock_guard<SpinLock> lock(c.mu);
  return c.stats;
}

void reset_allocator_stats(Device device) {
  if (!device.is_cpu()) return cuda_backend::reset_allocator_stats(device.index);
  CpuCache& c = cache();
  std::lock_guard<SpinLock> lock(c.mu);
  AllocatorStats s;
  s.bytes_in_use = c.stats.bytes_in_use;
  s.bytes_cached = c.stats.bytes_cached;
  s.peak_bytes_in_use = c.stats.bytes_in_use;
  c.stats = s;
}

void empty_cache(Device device) {
  if (!device.is_cpu()) return cuda_backend::empty_cache(device.index);
  CpuCache& c = cache();
  std::lock_guard<SpinLock> lock(c.mu);
  for (std::size_t k = 0; k < kClasses; ++k) {
    std::vector<void*>& list = c.free_lists[k];
    for (void* p : list) {
      std::free(p);
      c.stats.os_frees++;
      c.stats.bytes_cached -= class_capacity(k);
    }
    list.clear();
  }
}

}  // namespace anyrl
