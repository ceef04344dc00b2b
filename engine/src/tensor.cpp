#include "anyrl/engine/tensor.hpp"

#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/ops.hpp"
#include "cuda/backend.hpp"
#include "ops/common.hpp"
#include "pool.hpp"

namespace anyrl {

// ---- internal helpers used by every op family -------------------------------------------------
namespace detail {

void throw_dtype_access(const Tensor& t, DType requested) {
  throw DTypeError(std::string("Tensor::data<") + dtype_name(requested) + ">: tensor is " + t.desc());
}
void throw_not_cpu(const Tensor& t, const char* what) {
  throw DeviceError(std::string("Tensor::") + what + ": tensor is on " + t.device().str() +
                    ", move it with .to(Device::cpu()) first (" + t.desc() + ")");
}
void throw_dtype(const char* op, const Tensor& t, const char* expected) {
  throw DTypeError(std::string(op) + ": unsupported dtype " + dtype_name(t.dtype()) + " (needs " +
                   expected + "), got " + t.desc());
}
void check_defined(const char* op, const Tensor& t, const char* arg) {
  if (!t.defined()) throw ValueError(std::string(op) + ": argument '" + arg + "' is an undefined tensor");
}
void check_cpu(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) {
    if (t->defined() && !t->device().is_cpu())
      throw DeviceError(std::string(op) + ": no CUDA kernel is available for this op yet; got " + t->desc());
  }
}
void check_same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
    } else if (!(t->device() == first->device())) {
      throw DeviceError(std::string(op) + ": tensors on different devices, " + first->desc() + " and " +
                        t->desc() + " (move them with .to(device) first)");
    }
  }
}
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw DTypeError(std::string(op) + ": dtype mismatch, " + dtype_name(a.dtype()) + " vs " +
                     dtype_name(b.dtype()) + " (" + describe2(a, b) + ")");
  if (!(a.device() == b.device()))
    throw DeviceError(std::string(op) + ": device mismatch, " + a.device().str() + " vs " +
                      b.device().str() + " (" + describe2(a, b) + ")");
}
void check_floating(const char* op, const Tensor& t) {
  if (!is_floating(t.dtype())) throw_dtype(op, t, "float32 or float64");
}
void check_index_dtype(const char* op, const Tensor& t, const char* arg) {
  if (!is_integral(t.dtype()))
    throw DTypeError(std::string(op) + ": '" + arg + "' must be int32 or int64, got " + t.desc());
}
std::string describe2(const Tensor& a, const Tensor& b) { return "a: " + a.desc() + ", b: " + b.desc(); }

}  // namespace detail

// ---- creation ------------------------------------------------------------------------------
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (std::int64_t d : shape)
    if (d < 0) throw ShapeError("Tensor::empty: negative dimension in shape " + shape.str());
  auto impl = detail::make_pooled<detail::TensorImpl>();
  impl->storage = Storage::allocate(static_cast<std::size_t>(shape.numel()) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  if (!device.is_cpu()) return full(shape, value, dtype, Device::cpu()).to(device);
  Tensor t = empty(shape, dtype, device);
  NoGrad ng;
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full(Shape{}, value, dtype, device); }

Tensor Tensor::arange(std::int64_t n, DType dtype, Device device) {
  if (n < 0) throw ValueError("Tensor::arange: negative length " + std::to_string(n));
  Tensor t = empty(Shape{n}, dtype);
  ANYRL_DISPATCH_NUMERIC(dtype, "Tensor::arange", {
    scalar_t* p = t.data<scalar_t>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(i);
  });
  return device.is_cpu() ? t : t.to(device);
}

// ---- metadata ------------------------------------------------------------------------------
void detail::throw_undefined_tensor() {
  throw ValueError("use of an undefined Tensor (default-constructed or missing gradient)");
}

std::string Tensor::desc() const {
  if (!impl_) return "Tensor(undefined)";
  return "Tensor" + shape().str() + " " + dtype_name(dtype()) + " " + device().str();
}


double Tensor::item() const {
  if (numel() != 1)
    throw ShapeError("Tensor::item: needs exactly one element, got " + desc());
  Tensor c = device().is_cpu() ? *this : to(Device::cpu());
  double v = 0;
  ANYRL_DISPATCH_ALL(c.dtype(), "Tensor::item", v = static_cast<double>(static_cast<const scalar_t*>(c.raw_data())[0]));
  return v;
}

std::string Tensor::str() const {
  if (!impl_) return "Tensor(undefined)";
  std::ostringstream os;
  os << desc() << "\n";
  if (!device().is_cpu()) return os.str();
  std::vector<double> v = to_vector<double>();
  const std::int64_t limit = 64;
  os << "[";
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(v.size()) && i < limit; ++i) {
    if (i) os << (dim() > 0 && i % shape().back() == 0 ? ",\n " : ", ");
    os << v[static_cast<std::size_t>(i)];
  }
  if (static_cast<std::int64_t>(v.size()) > limit) os << ", ... (" << v.size() << " values)";
  os << "]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && impl().storage == other.impl().storage;
}

// ---- conversion ----------------------------------------------------------------------------
Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor out = empty(shape(), dtype(), device);
  const Device src = this->device();
  if (src.is_cpu() && device.is_cuda())
    cuda_backend::copy_host_to_device(out.raw_data(), raw_data(), nbytes(), device.index);
  else if (src.is_cuda() && device.is_cpu())
    cuda_backend::copy_device_to_host(out.raw_data(), raw_data(), nbytes(), src.index);
  else
    throw DeviceError("Tensor::to: copies between CUDA devices are not supported (" + desc() + " -> " +
                      device.str() + ")");
  return record(out, "to_device", {*this}, [src](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = g.to(src);
  });
}

Tensor Tensor::to(DType dt) const {
  if (dtype() == dt) return *this;
  detail::check_cpu("Tensor::to(dtype)", {this});
  Tensor out = empty(shape(), dt);
  const std::int64_t n = numel();
  ANYRL_DISPATCH_ALL(dtype(), "Tensor::to", {
    const scalar_t* src = static_cast<const scalar_t*>(raw_data());
    using src_t = scalar_t;
    ANYRL_DISPATCH_ALL(dt, "Tensor::to", {
      scalar_t* dst = out.data<scalar_t>();
      for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<scalar_t, std::uint8_t>)
          dst[i] = src[i] != src_t(0) ? 1 : 0;
        else
          dst[i] = static_cast<scalar_t>(src[i]);
      }
    });
  });
  if (!is_floating(dtype()) || !is_floating(dt)) return out;
  DType src_dt = dtype();
  return record(out, "to_dtype", {*this}, [src_dt](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = g.to(src_dt);
  });
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  if (device().is_cpu())
    std::memcpy(out.raw_data(), raw_data(), nbytes());
  else
    cuda_backend::copy_device_to_device(out.raw_data(), raw_data(), nbytes(), device().index);
  return record(out, "clone", {*this}, [](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = g;
  });
}

// ---- views ---------------------------------------------------------------------------------
namespace {
Tensor make_view(const Tensor& base, const Shape& shape, std::size_t extra_offset) {
  auto impl = detail::make_pooled<detail::TensorImpl>();
  impl->storage = base.impl().storage;
  impl->offset = base.impl().offset + extra_offset;
  impl->shape = shape;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}
}  // namespace

Tensor Tensor::reshape(const Shape& new_shape) const {
  Shape s = new_shape;
  int infer = -1;
  std::int64_t known = 1;
  for (int i = 0; i < s.rank(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw ShapeError("reshape: more than one -1 in " + new_shape.str() + " for " + desc());
      infer = i;
    } else if (s[i] < 0) {
      throw ShapeError("reshape: invalid dimension " + std::to_string(s[i]) + " in target shape for " + desc());
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw ShapeError("reshape: cannot infer -1 when reshaping " + desc() + " to " + new_shape.str());
    s[infer] = numel() / known;
  }
  if (s.numel() != numel())
    throw ShapeError("reshape: " + std::to_string(numel()) + " elements of " + desc() + " do not fit shape " +
                     s.str());
  Tensor out = make_view(*this, s, 0);
  Shape old = shape();
  return record(out, "reshape", {*this}, [old](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
    gi[0] = g.reshape(old);
  });
}

Tensor Tensor::slice0(std::int64_t begin, std::int64_t end) const {
  if (dim() == 0) throw ShapeError("slice0: cannot slice a rank-0 tensor " + desc());
  std::int64_t n = shape()[0];
  if (begin < 0 || end > n || begin > end)
    throw ValueError("slice0: range [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") out of bounds for leading dimension " + std::to_string(n) + " of " + desc());
  Shape s = shape();
  s[0] = end - begin;
  std::int64_t row = n == 0 ? 0 : numel() / n;
  Tensor out = make_view(*this, s, static_cast<std::size_t>(begin * row) * dtype_size(dtype()));
  Shape full_shape = shape();
  return record(out, "slice0", {*this},
                [full_shape, begin](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
                  Tensor z = Tensor::zeros(full_shape, g.dtype(), g.device());
                  z.slice0(begin, begin + g.shape()[0]).copy_(g);
                  gi[0] = z;
                });
}

Tensor Tensor::select0(std::int64_t i) const {
  if (dim() == 0) throw ShapeError("select0: cannot index a rank-0 tensor " + desc());
  if (i < 0 || i >= shape()[0])
    throw ValueError("select0: index " + std::to_string(i) + " out of range for leading dimension " +
                     std::to_string(shape()[0]) + " of " + desc());
  Tensor row = slice0(i, i + 1);
  std::vector<std::int64_t> dims(shape().begin() + 1, shape().end());
  return row.reshape(Shape(dims));
}

// ---- autograd members ----------------------------------------------------------------------
Tensor& Tensor::set_requires_grad(bool on) {
  if (on && !is_floating(dtype()))
    throw DTypeError("set_requires_grad: only floating tensors can require grad, got " + desc());
  if (!is_leaf())
    throw AutogradError("set_requires_grad: only leaves can be marked; this tensor was produced by '" +
                        std::string(impl().grad_fn->name()) + "' (use detach() first)");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined() && !(g.shape() == shape()))
    throw ShapeError("set_grad: gradient " + g.desc() + " does not match " + desc());
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::zero_grad() {
  if (impl().grad) {
    NoGrad ng;
    Tensor(impl().grad).fill_(0.0);
  }
}

Tensor Tensor::detach() const { return make_view(*this, shape(), 0); }

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  anyrl::backward(*this, grad_output, retain_graph);
}

// ---- in-place ------------------------------------------------------------------------------
namespace {
void check_inplace(const Tensor& t, const char* op) {
  if (grad_enabled() && t.requires_grad())
    throw AutogradError(std::string(op) + ": in-place update of a tensor that requires grad (" + t.desc() +
                        "); wrap the update in NoGrad (as optimisers do)");
  detail::check_cpu(op, {&t});
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  const std::int64_t n = numel();
  ANYRL_DISPATCH_ALL(dtype(), "fill_", {
    scalar_t* p = static_cast<scalar_t*>(raw_data());
    const scalar_t v = static_cast<scalar_t>(value);
    if (n > 4 * detail::kParallelGrain)
      parallel_for(n, 4 * detail::kParallelGrain, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) p[i] = v;
      });
    else
      for (std::int64_t i = 0; i < n; ++i) p[i] = v;
  });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  if (!(src.shape() == shape()))
    throw ShapeError("copy_: source " + src.desc() + " does not match destination " + desc());
  if (!src.device().is_cpu()) {
    Tensor host = src.to(Device::cpu());
    return copy_(host);
  }
  if (src.dtype() == dtype()) {
    if (raw_data() != src.raw_data()) std::memmove(raw_data(), src.raw_data(), nbytes());
  } else {
    Tensor conv = src.detach().to(dtype());
    std::memcpy(raw_data(), conv.raw_data(), nbytes());
  }
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  detail::check_same_dtype("add_", *this, other);
  if (!(other.shape() == shape()))
    throw ShapeError("add_: " + other.desc() + " does not match destination " + desc());
  const std::int64_t n = numel();
  ANYRL_DISPATCH_NUMERIC(dtype(), "add_", {
    scalar_t* p = static_cast<scalar_t*>(raw_data());
    const scalar_t* q = static_cast<const scalar_t*>(other.raw_data());
    const scalar_t a = static_cast<scalar_t>(alpha);
    auto body = [&](std::int64_t b, std::int64_t e) {
      if (alpha == 1.0)
        for (std::int64_t i = b; i < e; ++i) p[i] += q[i];
      else
        for (std::int64_t i = b; i < e; ++i) p[i] += a * q[i];
    };
    if (n > 4 * detail::kParallelGrain) parallel_for(n, 4 * detail::kParallelGrain, body); else body(0, n);
  });
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace(*this, "mul_");
  const std::int64_t n = numel();
  ANYRL_DISPATCH_NUMERIC(dtype(), "mul_", {
    scalar_t* p = static_cast<scalar_t*>(raw_data());
    const scalar_t v = static_cast<scalar_t>(value);
    for (std::int64_t i = 0; i < n; ++i) p[i] *= v;
  });
  return *this;
}

}  // namespace anyrl
