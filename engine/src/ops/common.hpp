// Internal helpers shared by the op families: dtype dispatch, argument checks that produce
// the engine's standard error messages, and output allocation.
#pragma once
#include <limits>
#include <string>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/error.hpp"
#include "anyrl/engine/parallel.hpp"
#include "anyrl/engine/tensor.hpp"

namespace anyrl::detail {

// Work below this many elements runs on the calling thread (thread hand-off costs ~µs).
inline constexpr std::int64_t kParallelGrain = 16384;

[[noreturn]] void throw_dtype(const char* op, const Tensor& t, const char* expected);

/// Throws unless `t` is defined.
void check_defined(const char* op, const Tensor& t, const char* arg);
/// Throws DeviceError unless every tensor is on the CPU (the CUDA kernels live in the CUDA backend).
void check_cpu(const char* op, std::initializer_list<const Tensor*> ts);
/// True when `t` lives on a CUDA device: the op takes its CUDA path (engine/src/cuda/k_*.hpp).
inline bool on_cuda(const Tensor& t) { return t.defined() && t.device().is_cuda(); }
/// Throws DeviceError unless every defined tensor is on the same device as the first.
void check_same_device(const char* op, std::initializer_list<const Tensor*> ts);
/// Runs a CUDA launch `f`; a DeviceError it throws is re-thrown with the op and its tensors
/// appended, so a failed kernel names the op, shapes and dtypes.
template <class F>
decltype(auto) cuda_guard(const char* op, std::initializer_list<const Tensor*> ts, F&& f) {
  try {
    return f();
  } catch (const DeviceError& e) {
    std::string m = std::string(e.what()) + " [op " + op;
    for (const Tensor* t : ts)
      if (t->defined()) m += ", " + t->desc();
    throw DeviceError(m + "]");
  }
}
/// Throws DTypeError unless a and b have the same dtype.
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_floating(const char* op, const Tensor& t);
void check_index_dtype(const char* op, const Tensor& t, const char* arg);

/// "a: Tensor[2,3] float32 cpu, b: Tensor[4] float32 cpu"
std::string describe2(const Tensor& a, const Tensor& b);

/// Reads element i of an int32/int64 index tensor.
inline std::int64_t index_at(const Tensor& idx, std::int64_t i) {
  return idx.dtype() == DType::Int64 ? idx.data<std::int64_t>()[i]
                                     : static_cast<std::int64_t>(idx.data<std::int32_t>()[i]);
}

inline constexpr int kLanes = 16;  // independent partial sums: vectorisable, fixed order

/// sum_d f(d) over [0, n) with kLanes interleaved accumulators combined pairwise: the compiler
/// vectorises it, and the summation order depends only on n (deterministic).
template <class T, class F>
inline T lane_sum(std::int64_t n, F f) {
  T acc[kLanes] = {};
  std::int64_t d = 0;
  for (; d + kLanes <= n; d += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += f(d + l);
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  T s = acc[0];
  for (; d < n; ++d) s += f(d);
  return s;
}

/// max over [0, n) the same way; NaN propagates.
template <class T, class F>
inline T lane_max(std::int64_t n, F f) {
  T acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = -std::numeric_limits<T>::infinity();
  std::int64_t d = 0;
  bool nan = false;
  for (; d + kLanes <= n; d += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      T v = f(d + l);
      nan |= v != v;
      acc[l] = v > acc[l] ? v : acc[l];
    }
  T m = -std::numeric_limits<T>::infinity();
  for (int l = 0; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  for (; d < n; ++d) {
    T v = f(d);
    nan |= v != v;
    m = v > m ? v : m;
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

}  // namespace anyrl::detail

#define ANYRL_DISPATCH_FLOAT(DT, OP, ...)                                   \
  switch (DT) {                                                             \
    case ::anyrl::DType::Float32: {                                         \
      using scalar_t = float;                                               \
      __VA_ARGS__;                                                          \
      break;                                                                \
    }                                                                       \
    case ::anyrl::DType::Float64: {                                         \
      using scalar_t = double;                                              \
      __VA_ARGS__;                                                          \
      break;                                                                \
    }                                                                       \
    default:                                                                \
      throw ::anyrl::DTypeError(std::string(OP) + ": unsupported dtype " +  \
                                ::anyrl::dtype_name(DT) + " (needs float32 or float64)"); \
  }

#define ANYRL_DISPATCH_NUMERIC(DT, OP, ...)                                 \
  switch (DT) {                                                             \
    case ::anyrl::DType::Float32: { using scalar_t = float; __VA_ARGS__; break; }          \
    case ::anyrl::DType::Float64: { using scalar_t = double; __VA_ARGS__; break; }         \
    case ::anyrl::DType::Int32: { using scalar_t = std::int32_t; __VA_ARGS__; break; }     \
    case ::anyrl::DType::Int64: { using scalar_t = std::int64_t; __VA_ARGS__; break; }     \
    default:                                                                \
      throw ::anyrl::DTypeError(std::string(OP) + ": unsupported dtype " +  \
                                ::anyrl::dtype_name(DT) + " (needs a numeric dtype)"); \
  }

#define ANYRL_DISPATCH_ALL(DT, OP, ...)                                     \
  switch (DT) {                                                             \
    case ::anyrl::DType::Float32: { using scalar_t = float; __VA_ARGS__; break; }          \
    case ::anyrl::DType::Float64: { using scalar_t = double; __VA_ARGS__; break; }         \
    case ::anyrl::DType::Int32: { using scalar_t = std::int32_t; __VA_ARGS__; break; }     \
    case ::anyrl::DType::Int64: { using scalar_t = std::int64_t; __VA_ARGS__; break; }     \
    case ::anyrl::DType::Bool: { using scalar_t = std::uint8_t; __VA_ARGS__; break; }      \
  }
