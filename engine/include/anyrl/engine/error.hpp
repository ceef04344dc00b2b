// Exception types thrown by the engine. Every message names the op (or file), the
// shapes and dtypes involved, so a user can find the culprit without a debugger.
#pragma once
#include <stdexcept>
#include <string>

namespace anyrl {

/// Base class of every error anyrl throws on bad input.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Incompatible or invalid shapes (e.g. "matmul: inner dimensions differ: [4,3] x [5,2]").
struct ShapeError : Error {
  using Error::Error;
};
/// An op was given a dtype it does not support, or two dtypes that do not match.
struct DTypeError : Error {
  using Error::Error;
};
/// Tensors on different devices, or a device that is not available.
struct DeviceError : Error {
  using Error::Error;
};
/// An invalid argument value (negative size, out-of-range index, bad option).
struct ValueError : Error {
  using Error::Error;
};
/// Reading or writing a file failed, or a file is malformed (truncated, corrupt).
struct IOError : Error {
  using Error::Error;
};
/// Autograd misuse (backward through a freed graph, in-place on a leaf that requires grad).
struct AutogradError : Error {
  using Error::Error;
};

}  // namespace anyrl
