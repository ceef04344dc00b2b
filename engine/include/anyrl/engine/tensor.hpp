// anyrl::Tensor — an n-dimensional array (rank 0..6) with a dtype, a device and, when it
// takes part in autodiff, a gradient and the node that produced it.
//
// Storage is always contiguous and row-major. reshape() and leading-dimension slicing
// (slice0/select0) are cheap views sharing storage; every other shape op copies.
// Ops are free functions declared in anyrl/engine/ops.hpp; the members here are the
// handful of conveniences a user expects on the object itself.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "anyrl/engine/allocator.hpp"
#include "anyrl/engine/device.hpp"
#include "anyrl/engine/dtype.hpp"
#include "anyrl/engine/error.hpp"
#include "anyrl/engine/shape.hpp"

namespace anyrl {

class Node;
class Tensor;

namespace detail {
[[noreturn]] void throw_undefined_tensor();
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::size_t offset = 0;  // bytes from storage->data()
  Shape shape;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;     // the node that produced this tensor (non-leaf)
};
}  // namespace detail

class Tensor {
 public:
  /// An undefined tensor (`defined() == false`), used for "no gradient" / "not given".
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -------------------------------------------------------------------------
  /// Uninitialised memory from the caching allocator.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  /// A rank-0 tensor holding `value`.
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = Device::cpu());
  /// 0, 1, ..., n-1.
  static Tensor arange(std::int64_t n, DType dtype = DType::Int64, Device device = Device::cpu());
  /// Copies `values` (whose length must equal shape.numel()) into a new CPU tensor of dtype_of<T>.
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  template <class T>
  static Tensor from_vector(const std::vector<T>& values) {
    return from_vector(values, Shape{static_cast<std::int64_t>(values.size())});
  }

  // ---- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int dim() const { return impl().shape.rank(); }
  /// Size of dimension d (negative d counts from the back).
  std::int64_t size(int d) const { return impl().shape.at(d); }
  std::int64_t numel() const { return impl().shape.numel(); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }
  /// "Tensor[2,3] float32 cpu" — used in error messages.
  std::string desc() const;
  /// Human-readable dump of the values (CPU only; truncated for large tensors).
  std::string str() const;

  // ---- data access (CPU) ----------------------------------------------------------------
  /// Typed pointer to the first element; throws DTypeError if T does not match dtype().
  template <class T>
  T* data();
  template <class T>
  const T* data() const;
  void* raw_data() const { return static_cast<char*>(impl().storage->data()) + impl_->offset; }
  /// The single value of a one-element tensor, converted to double.
  double item() const;
  template <class T>
  T item() const { return static_cast<T>(item()); }
  /// All values converted to T (any source dtype).
  template <class T>
  std::vector<T> to_vector() const;

  // ---- conversion -----------------------------------------------------------------------
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;  ///< differentiable between float dtypes
  /// Always contiguous in anyrl; returns *this. Kept for PyTorch-like code.
  Tensor contiguous() const { return *this; }
  /// A copy with its own storage (differentiable).
  Tensor clone() const;

  // ---- views ----------------------------------------------------------------------------
  /// Same data, new shape; one dimension may be -1. Differentiable.
  Tensor reshape(const Shape& shape) const;
  Tensor flatten() const { return reshape(Shape{numel()}); }
  /// Rows [begin, end) of the leading dimension, as a view. Differentiable.
  Tensor slice0(std::int64_t begin, std::int64_t end) const;
  /// Row i of the leading dimension (rank drops by one), as a view. Differentiable.
  Tensor select0(std::int64_t i) const;
  /// True when both tensors view the same storage.
  bool shares_storage(const Tensor& other) const;

  // ---- autograd -------------------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  /// Marks a leaf as requiring grad (parameters, or inputs such as PA-RL's actions).
  Tensor& set_requires_grad(bool on = true);
  /// Accumulated gradient of a leaf (undefined until a backward pass reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  /// Zeroes the accumulated gradient in place (keeps the buffer: no allocation next step).
  void zero_grad();
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  /// Same storage, cut from the graph.
  Tensor detach() const;
  /// Reverse-mode backward from this tensor. A non-scalar needs `grad_output` of its shape.
  /// The graph is freed afterwards unless `retain_graph`.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;

  // ---- in-place (not recorded by autograd; refused on tensors that require grad
  //      while grad mode is on) ------------------------------------------------------------
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  /// Copies src (same shape; dtype converted) into this tensor's memory.
  Tensor& copy_(const Tensor& src);
  /// this += alpha * other (same shape and dtype).
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(double value);

  // ---- internals ------------------------------------------------------------------------
  detail::TensorImpl& impl() const {
    if (!impl_) [[unlikely]]
      detail::throw_undefined_tensor();
    return *impl_;
  }
  const std::shared_ptr<detail::TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<detail::TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- template definitions ---------------------------------------------------------------
namespace detail {
[[noreturn]] void throw_dtype_access(const Tensor& t, DType requested);
[[noreturn]] void throw_not_cpu(const Tensor& t, const char* what);
}  // namespace detail

template <class T>
T* Tensor::data() {
  if (dtype_of<T>() != dtype()) detail::throw_dtype_access(*this, dtype_of<T>());
  if (!device().is_cpu()) detail::throw_not_cpu(*this, "data()");
  return static_cast<T*>(raw_data());
}
template <class T>
const T* Tensor::data() const {
  if (dtype_of<T>() != dtype()) detail::throw_dtype_access(*this, dtype_of<T>());
  if (!device().is_cpu()) detail::throw_not_cpu(*this, "data()");
  return static_cast<const T*>(raw_data());
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw ShapeError("Tensor::from_vector: " + std::to_string(values.size()) +
                     " values do not fill shape " + shape.str());
  Tensor t = empty(shape, dtype_of<T>());
  T* p = t.data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = device().is_cpu() ? *this : to(Device::cpu());
  Tensor conv = c.dtype() == dtype_of<T>() ? c : c.detach().to(dtype_of<T>());
  const T* p = conv.data<T>();
  return std::vector<T>(p, p + conv.numel());
}

}  // namespace anyrl
