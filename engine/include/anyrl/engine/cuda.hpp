// The CUDA backend's public controls. Ops need none of this: a tensor on Device::cuda() runs
// every op on the GPU. This header adds what a user tunes or embeds: availability queries,
// streams and events, matmul precision, synchronisation, and CUDA-graph capture of a whole
// training step.
//
// Built when ANYRL_CUDA is ON, or AUTO with nvcc found. Without a GPU at run time (or in a
// build without the backend) every CUDA request throws DeviceError with the reason; nothing
// here crashes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace anyrl::cuda {

/// True if anyrl was compiled with the CUDA backend.
bool compiled();
/// Number of usable CUDA devices (0 when not compiled or no driver/GPU).
int device_count();
/// True when compiled and at least one device is present.
inline bool available() { return device_count() > 0; }
/// Throws DeviceError with a clear reason when CUDA cannot be used (names `what`).
void require(const std::string& what);
/// One line describing the backend ("CUDA backend: built, 1 device(s), cuda:0 = NVIDIA H100", ...).
std::string describe();

/// Blocks the host until all work queued on the current stream has finished.
void synchronize();

// ---- streams and events ---------------------------------------------------------------------
/// A CUDA stream owned by anyrl (created non-blocking on `device`). Kernels and copies are
/// queued on the thread's *current* stream: the legacy default stream unless a StreamGuard
/// selects another.
class Stream {
 public:
  explicit Stream(int device = 0);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  void synchronize() const;
  /// The cudaStream_t, as an opaque pointer (cast it in CUDA code that embeds anyrl).
  void* handle() const { return handle_; }
  int device() const { return device_; }

 private:
  void* handle_ = nullptr;
  int device_ = 0;
};

/// Makes `stream` the calling thread's current stream for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  void* previous_ = nullptr;
};

/// A CUDA event: record() on the current stream, then wait on it from another stream or time
/// the interval between two events.
class Event {
 public:
  explicit Event(bool timing = false);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  /// Records the event on the current stream.
  void record();
  /// Makes the current stream wait for this event (no host block).
  void wait() const;
  /// Blocks the host until the event has completed.
  void synchronize() const;
  /// Milliseconds from `start` to this event (both recorded with timing = true).
  float elapsed_ms(const Event& start) const;

 private:
  void* handle_ = nullptr;
};

// ---- matmul precision -------------------------------------------------------------------------
/// Float32 GEMMs: exact float32 (default), TF32 tensor cores, or bf16 tensor cores — the last
/// two keep float32 inputs/outputs and float32 accumulation (cuBLAS COMPUTE_32F_FAST_*).
enum class MatmulPrecision { Float32, TF32, BF16 };
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();

// ---- CUDA graphs --------------------------------------------------------------------------------
/// Captures a fixed-shape piece of work (typically one training step: forward, backward,
/// optimiser) into a CUDA graph and replays it with one launch.
///
///   cuda::Graph g;
///   g.capture([&] { critic_update(batch); });   // runs `fn` once under capture (no execution)
///   for (...) { copy the next batch into the same input tensors; g.replay(); }
///
/// Rules: inputs are read from, and outputs written to, the same device tensors on every replay
/// (refill them with copy_()); `fn` must not synchronise with the host (no item(), no to(cpu),
/// no all_finite); shapes and hyper-parameters passed as kernel arguments are frozen at capture
/// (Adam's step count and bias correction live on the device, so they advance correctly).
/// Memory allocated during capture comes from a private pool owned by the graph, so replays
/// never overwrite memory handed to anyone else.
class Graph {
 public:
  explicit Graph(int device = 0);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  /// Records `fn` on a private stream. Throws DeviceError (naming the call) if anything in
  /// `fn` is not capturable; the graph is then left empty.
  void capture(const std::function<void()>& fn);
  /// Launches the captured work on the current stream.
  void replay();
  bool captured() const;
  /// Number of kernel/memcpy nodes in the captured graph.
  std::size_t num_nodes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// True while the calling thread is capturing a graph (host synchronisation is then an error).
bool is_capturing();

}  // namespace anyrl::cuda
