// Built when anyrl is configured without CUDA: every CUDA request is a clear error.
#include <string>

#include "anyrl/engine/error.hpp"
#include "cuda/backend.hpp"

namespace anyrl::cuda_backend {
namespace {
[[noreturn]] void unavailable(const char* what) {
  throw DeviceError(std::string(what) +
                    ": anyrl was built without the CUDA backend (configure with -DANYRL_CUDA=ON "
                    "on a machine with the CUDA toolkit)");
}
}  // namespace

bool compiled() { return false; }
int device_count() { return 0; }
const char* device_name(int) { return "none"; }
void* device_allocate(std::size_t, int, std::size_t*) { unavailable("allocate on cuda"); }
void device_release(void*, std::size_t, int) {}
AllocatorStats allocator_stats(int) { return {}; }
void reset_allocator_stats(int) {}
void empty_cache(int) {}
void copy_host_to_device(void*, const void*, std::size_t, int) { unavailable("copy to cuda"); }
void copy_device_to_host(void*, const void*, std::size_t, int) { unavailable("copy from cuda"); }
void copy_device_to_device(void*, const void*, std::size_t, int) { unavailable("copy on cuda"); }

}  // namespace anyrl::cuda_backend
