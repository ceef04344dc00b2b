// Caching allocators. Tensor memory is taken from size-class free lists; the OS
// (aligned_alloc / cudaMalloc) is called only when no cached block fits, so a training
// loop with fixed shapes stops allocating from the OS after its first step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "anyrl/engine/device.hpp"

namespace anyrl {

/// Counters of one device's caching allocator.
struct AllocatorStats {
  std::uint64_t os_allocs = 0;      ///< blocks obtained from the OS
  std::uint64_t os_frees = 0;       ///< blocks given back to the OS (empty_cache)
  std::uint64_t requests = 0;       ///< allocate() calls
  std::uint64_t cache_hits = 0;     ///< requests served from the cache
  std::size_t bytes_in_use = 0;     ///< bytes handed out and not yet released
  std::size_t bytes_cached = 0;     ///< bytes held in free lists
  std::size_t peak_bytes_in_use = 0;
};

/// A block of device memory; returns itself to its allocator's cache when destroyed.
class Storage {
 public:
  /// Allocates `nbytes` on `device` through its caching allocator (64-byte aligned).
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device);
  Storage(void* data, std::size_t nbytes, std::size_t capacity, Device device)
      : data_(data), nbytes_(nbytes), capacity_(capacity), device_(device) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  std::size_t nbytes_;
  std::size_t capacity_;  // size class actually reserved
  Device device_;
};

/// Statistics of the caching allocator of `device`.
AllocatorStats allocator_stats(Device device = Device::cpu());
/// Zeroes the counters (not the cache itself).
void reset_allocator_stats(Device device = Device::cpu());
/// Returns every cached, unused block of `device` to the OS.
void empty_cache(Device device = Device::cpu());

namespace detail {
// Low-level CPU cache, used by Storage and by the CUDA backend's pinned buffers.
void* cpu_cache_allocate(std::size_t nbytes, std::size_t* capacity);
void cpu_cache_release(void* p, std::size_t capacity);
}  // namespace detail

}  // namespace anyrl
