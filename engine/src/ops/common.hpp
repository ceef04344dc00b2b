// Internal helpers shared by the op families: dtype dispatch, argument checks that produce
// the engine's standard error messages, and output allocation.
#pragma once
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
