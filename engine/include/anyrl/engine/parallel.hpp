// The engine's thread pool. Work is split into chunks whose boundaries depend only on the
// problem size, never on the thread count, so results are bitwise identical with 1 or N threads.
#pragma once
#include <cstdint>
#include <functional>

namespace anyrl {

/// Number of worker threads used by CPU kernels (default: ANYRL_NUM_THREADS or the core count).
int num_threads();
/// Sets the number of threads (>= 1). Safe to call between ops, not during one.
void set_num_threads(int n);

/// Denormal floats flushed to zero (x86 MXCSR FTZ + DAZ), like torch.set_flush_denormal: sets
/// the mode of the calling thread and of the pool's workers (applied before their next chunk).
/// Off by default. Arithmetic on denormals (|x| < 1.2e-38 in float32, e.g. Adam moments of
/// parameters whose gradient has been zero for hundreds of steps) costs ~100 cycles per
/// operation on x86; with the flag such values become 0, so results can differ from the default
/// mode wherever denormals occur. Returns false (and does nothing) where unsupported.
bool set_flush_denormal(bool on);
/// Whether set_flush_denormal(true) is in effect.
bool flush_denormal();

/// Calls fn(begin, end) over [0, n) in chunks of at least `grain` items, in parallel.
/// Chunking depends on n and grain only. Runs inline when n <= grain or one thread.
void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& fn);

}  // namespace anyrl
