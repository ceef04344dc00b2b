// Bad input: every error path throws the documented exception type, and its message names the
// culprit — the op (or function) and the offending shapes / dtypes / values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "anyrl/engine/engine.hpp"

using anyrl::DType;
using anyrl::Shape;
using anyrl::Tensor;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// Runs f, which must throw E; CHECKs that e.what() contains every needle (case-insensitive).
/// Returns the message ("" if nothing / the wrong type was thrown).
template <class E, class F>
std::string expect_message(F&& f, const std::vector<std::string>& needles, const std::string& expr) {
  try {
    f();
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& n : needles)
      CHECK_MESSAGE(lower(msg).find(lower(n)) != std::string::npos,
                    expr << ": message \"" << msg << "\" does not name \"" << n << "\"");
    return msg;
  } catch (const std::exception& e) {
    FAIL_CHECK(expr << ": threw the wrong exception type; message: \"" << e.what() << "\"");
    return "";
  }
  FAIL_CHECK(expr << ": did not throw");
  return "";
}

}  // namespace

/// CHECK_THROWS_AS plus a check that the message names every given substring.
#define EXPECT_ERROR(Type, expr, ...)                                                   \
  do {                                                                                  \
    CHECK_THROWS_AS((void)(expr), Type);                                                \
    expect_message<Type>([&] { (void)(expr); }, std::vector<std::string>{__VA_ARGS__}, #expr); \
  } while (0)

namespace {
Tensor f32(const Shape& s) { return Tensor::zeros(s, DType::Float32); }
Tensor f64(const Shape& s) { return Tensor::zeros(s, DType::Float64); }
Tensor i64(const std::vector<std::int64_t>& v) { return Tensor::from_vector<std::int64_t>(v); }
}  // namespace

TEST_CASE("errors: broadcasting shape mismatch names the op and both shapes") {
  EXPECT_ERROR(anyrl::ShapeError, anyrl::add(f32({2, 3}), f32({4})), "add", "[2,3]", "[4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::sub(f32({2, 3}), f32({3, 2})), "sub", "[2,3]", "[3,2]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::mul(f32({5}), f32({2, 4})), "mul", "[5]", "[2,4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::div(f32({2, 3, 4}), f32({3, 3})), "div", "[2,3,4]", "[3,3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::maximum(f32({2}), f32({3})), "maximum", "[2]", "[3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::pow(f32({2}), f32({3})), "pow", "[2]", "[3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::lt(f32({2}), f32({3})), "lt", "[2]", "[3]");
  EXPECT_ERROR(anyrl::ShapeError,
               anyrl::where(Tensor::zeros({2}, DType::Bool), f32({3}), f32({3})), "where", "[2]", "[3]");
  EXPECT_ERROR(anyrl::ShapeError, f32({2, 3}) + f32({4}), "add", "[2,3]", "[4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::mse_loss(f32({3}), f32({4})), "mse_loss", "[3]", "[4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::huber_loss(f32({3}), f32({2, 4})), "huber_loss", "[3]", "[2,4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::broadcast_shapes(Shape{2, 3}, Shape{4}, "myop"), "myop", "[2,3]", "[4]");
}

TEST_CASE("errors: matmul / linear inner-dimension mismatch") {
  EXPECT_ERROR(anyrl::ShapeError, anyrl::matmul(f32({4, 3}), f32({5, 2})), "matmul", "[4,3]", "[5,2]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::matmul(f32({2, 3, 4}), f32({3, 4, 5})), "matmul", "[2,3,4]", "[3,4,5]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::matmul(f32({3}), f32({4})), "matmul", "[3]", "[4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::matmul(f32({2, 3}), f32({4})), "matmul", "[2,3]", "[4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::matmul(Tensor::scalar(1.0), f32({4})), "matmul", "[]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::linear(f32({3, 4}), f32({5, 3})), "linear", "[3,4]", "[5,3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::linear(f32({3, 4}), f32({5, 4}), f32({4})), "linear", "[4]");
}

TEST_CASE("errors: dtype mismatch in binary ops names both dtypes") {
  EXPECT_ERROR(anyrl::DTypeError, anyrl::add(f32({2}), f64({2})), "add", "float32", "float64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::mul(f64({2, 2}), f32({2})), "mul", "float64", "float32");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::matmul(f32({2, 2}), f64({2, 2})), "matmul", "float32", "float64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::where(Tensor::zeros({2}, DType::Bool), f32({2}), f64({2})), "where", "float32",
               "float64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::where(f32({2}), f32({2}), f32({2})), "where", "float32");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::linear(f32({2, 3}), f64({4, 3})), "linear", "float32", "float64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::concat({f32({2}), f64({2})}), "concat", "float32", "float64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::mse_loss(f32({2}), f64({2})), "mse_loss", "float32", "float64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::scatter_add(f32({3}), 0, i64({0}), f64({1})), "scatter_add", "float32",
               "float64");
}

TEST_CASE("errors: unsupported dtypes") {
  Tensor i = i64({1, 2, 3});
  Tensor b = Tensor::zeros({3}, DType::Bool);
  EXPECT_ERROR(anyrl::DTypeError, anyrl::exp(i), "exp", "int64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::log(b), "log", "bool");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::tanh(Tensor::zeros({2}, DType::Int32)), "tanh", "int32");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::softmax(i), "softmax", "int64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::matmul(Tensor::zeros({2, 2}, DType::Int64), Tensor::zeros({2, 2}, DType::Int64)),
               "matmul", "int64");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::cross_entropy(f32({2, 3}), f32({2})), "cross_entropy", "float32");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::index_select(f32({3}), 0, f32({1})), "index_select", "float32");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::embedding(f32({3, 2}), f32({1})), "embedding", "float32");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::one_hot(f32({2}), 3), "one_hot", "float32");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::layer_norm(i, Tensor(), Tensor()), "layer_norm", "int64");
  // Gradients exist only for float tensors.
  EXPECT_ERROR(anyrl::DTypeError, Tensor::zeros({2}, DType::Int64).set_requires_grad(true), "int64");
}

TEST_CASE("errors: devices (no GPU on this machine: CUDA requests are a clear DeviceError)") {
  EXPECT_ERROR(anyrl::ValueError, anyrl::Device::parse("tpu"), "tpu");
  CHECK(anyrl::Device::parse("cpu") == anyrl::Device::cpu());
  CHECK(anyrl::Device::parse("cuda:1") == anyrl::Device::cuda(1));
  if (!anyrl::cuda::available()) {
    EXPECT_ERROR(anyrl::DeviceError, Tensor::zeros({2, 3}, DType::Float32, anyrl::Device::cuda()), "cuda");
    EXPECT_ERROR(anyrl::DeviceError, Tensor::ones({2}, DType::Float32, anyrl::Device::cuda(0)), "cuda");
    EXPECT_ERROR(anyrl::DeviceError, f32({2}).to(anyrl::Device::cuda()), "cuda");
    EXPECT_ERROR(anyrl::DeviceError, anyrl::cuda::require("my_kernel"), "my_kernel");
    CHECK(anyrl::cuda::device_count() == 0);
  } else {
    Tensor g = f32({2}).to(anyrl::Device::cuda());
    EXPECT_ERROR(anyrl::DeviceError, anyrl::add(f32({2}), g), "add", "cpu", "cuda");
    EXPECT_ERROR(anyrl::DeviceError, g.data<float>(), "cuda");
  }
}

TEST_CASE("errors: reshape / view / expand") {
  EXPECT_ERROR(anyrl::ShapeError, anyrl::reshape(f32({2, 3}), {4}), "reshape", "[2,3]", "[4]");
  EXPECT_ERROR(anyrl::ShapeError, f32({2, 3}).reshape({5, -1}), "reshape", "[2,3]", "[5,-1]");
  EXPECT_ERROR(anyrl::ShapeError, f32({2, 3}).reshape({-1, -1}), "reshape", "[-1,-1]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::expand(f32({3, 2}), {3, 4}), "expand", "[3,2]", "[3,4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::sum_to(f32({3, 4}), {5}), "sum_to", "[3,4]", "[5]");
  EXPECT_ERROR(anyrl::ShapeError, (Shape{1, 1, 1, 1, 1, 1, 1}), "7");
  EXPECT_ERROR(anyrl::ValueError, f32({5, 2}).slice0(2, 7), "slice0", "7", "5");
  EXPECT_ERROR(anyrl::ValueError, f32({5, 2}).select0(5), "select0", "5");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::repeat(f32({2, 3}), {2}), "repeat", "[2,3]");
}

TEST_CASE("errors: dims out of range name the op and the dim") {
  EXPECT_ERROR(anyrl::ShapeError, anyrl::sum(f32({2, 3}), {5}), "sum", "5");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::mean(f32({2, 3}), {-3}), "mean", "-3");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::max(f32({2, 3}), {2}), "max");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::softmax(f32({2, 3}), -3), "softmax", "-3");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::log_softmax(f32({2, 3}), 2), "log_softmax");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::transpose(f32({2, 3}), 0, 7), "transpose", "7");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::permute(f32({2, 3}), {0}), "permute", "[2,3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::unsqueeze(f32({2, 3}), 4), "unsqueeze", "4");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::squeeze(f32({2, 3}), 9), "squeeze", "9");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::slice(f32({2, 3}), 6, 0, 1), "slice", "6");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::argmax(f32({2, 3}), 4), "argmax", "4");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::cumsum(f32({2, 3}), -5), "cumsum", "-5");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::concat({f32({2}), f32({2})}, 3), "concat", "3");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::normalize_dim(8, 2, "someop"), "someop", "8");
  EXPECT_ERROR(anyrl::ShapeError, f32({2, 3}).size(2), "2");
}

TEST_CASE("errors: indices out of range name the index value and the size") {
  EXPECT_ERROR(anyrl::ValueError, anyrl::index_select(f32({5, 3}), 0, i64({1, 7})), "index_select", "7", "5");
  EXPECT_ERROR(anyrl::ValueError, anyrl::index_select(f32({5, 3}), 1, i64({-1})), "index_select", "-1", "3");
  EXPECT_ERROR(anyrl::ValueError,
               anyrl::gather(f32({3, 4}), 1, Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 9, 0}, {3, 2})), "gather", "9",
               "4");
  EXPECT_ERROR(anyrl::ValueError, anyrl::embedding(f32({5, 3}), i64({0, 10})), "embedding", "10", "5");
  EXPECT_ERROR(anyrl::ValueError, anyrl::embedding(f32({5, 3}), i64({-1})), "embedding", "-1", "5");
  EXPECT_ERROR(anyrl::ValueError, anyrl::scatter_add(f32({3}), 0, i64({3}), f32({1})), "scatter_add", "3");
  EXPECT_ERROR(anyrl::ValueError, anyrl::one_hot(i64({0, 4}), 4), "one_hot", "4");
  EXPECT_ERROR(anyrl::ValueError, anyrl::cross_entropy(f32({2, 5}), i64({0, 5})), "cross_entropy", "5");
  EXPECT_ERROR(anyrl::ValueError, anyrl::cross_entropy(f32({2, 5}), Tensor::from_vector<std::int32_t>({-2, 0})),
               "cross_entropy", "-2");
  EXPECT_ERROR(anyrl::ValueError, anyrl::topk(f32({2, 3}), 4), "topk", "4", "3");
}

TEST_CASE("errors: index / target shapes") {
  EXPECT_ERROR(anyrl::ShapeError, anyrl::cross_entropy(f32({4, 5}), i64({0, 1, 2})), "cross_entropy", "[4,5]", "[3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::cross_entropy_soft(f32({4, 5}), f32({4, 4})), "cross_entropy_soft", "[4,5]",
               "[4,4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::index_select(f32({5, 3}), 0, Tensor::zeros({2, 2}, DType::Int64)),
               "index_select", "[2,2]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::gather(f32({3, 4}), 1, i64({0, 1})), "gather", "[3,4]", "[2]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::layer_norm(f32({3, 4}), f32({5}), Tensor()), "layer_norm", "[3,4]", "[5]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::layer_norm(f32({3, 4}), Tensor(), f32({3})), "layer_norm", "[3,4]", "[3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::embedding(f32({5}), i64({0})), "embedding", "[5]");
}

TEST_CASE("errors: concat / stack / split") {
  EXPECT_ERROR(anyrl::ShapeError, anyrl::concat({f32({2, 3}), f32({2, 4})}, 0), "concat", "[2,3]", "[2,4]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::concat({f32({2, 3}), f32({2, 3, 1})}, 0), "concat", "[2,3]", "[2,3,1]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::stack({f32({2, 3}), f32({3, 2})}), "stack", "[2,3]", "[3,2]");
  EXPECT_ERROR(anyrl::ValueError, anyrl::concat({}, 0), "concat");
  EXPECT_ERROR(anyrl::ValueError, anyrl::stack({}, 0), "stack");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::split(f32({5, 3}), {2, 2}, 0), "split", "[5,3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::split(f32({5, 3}), {2, 2}, 1), "split", "[5,3]");
}

TEST_CASE("errors: autograd misuse") {
  // Non-scalar backward without grad_output.
  Tensor w = Tensor::ones({2, 3}, DType::Float64).set_requires_grad(true);
  Tensor y = anyrl::mul(w, 2.0);
  EXPECT_ERROR(anyrl::ShapeError, y.backward(), "backward", "[2,3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::backward(y), "backward", "[2,3]");
  EXPECT_ERROR(anyrl::ShapeError, anyrl::grad(y, {w}), "grad", "[2,3]");
  // grad_output of the wrong shape.
  EXPECT_ERROR(anyrl::ShapeError, anyrl::backward(y, Tensor::ones({3, 2}, DType::Float64), true), "backward", "[2,3]",
               "[3,2]");
  // Backward of a tensor that does not require grad.
  EXPECT_ERROR(anyrl::AutogradError, anyrl::backward(anyrl::sum(Tensor::ones({2}, DType::Float64))), "backward");
  // In-place ops on a leaf that requires grad.
  EXPECT_ERROR(anyrl::AutogradError, w.fill_(1.0), "fill_", "[2,3]");
  EXPECT_ERROR(anyrl::AutogradError, w.zero_(), "[2,3]");
  EXPECT_ERROR(anyrl::AutogradError, w.add_(Tensor::ones({2, 3}, DType::Float64)), "add_", "[2,3]");
  EXPECT_ERROR(anyrl::AutogradError, w.mul_(2.0), "mul_", "[2,3]");
  EXPECT_ERROR(anyrl::AutogradError, w.copy_(Tensor::ones({2, 3}, DType::Float64)), "copy_", "[2,3]");
  // ... which are fine under NoGrad (optimisers).
  {
    anyrl::NoGrad ng;
    CHECK_NOTHROW(w.mul_(2.0));
    CHECK_NOTHROW(w.add_(Tensor::ones({2, 3}, DType::Float64), -1.0));
  }
  CHECK(w.to_vector<double>() == std::vector<double>(6, 1.0));
  // A freed graph.
  Tensor l = anyrl::sum(anyrl::exp(w));
  l.backward();
  EXPECT_ERROR(anyrl::AutogradError, l.backward(), "backward");
}

TEST_CASE("errors: in-place shape / dtype mismatches") {
  Tensor a = f32({2, 3});
  EXPECT_ERROR(anyrl::ShapeError, a.copy_(f32({3, 2})), "copy_", "[2,3]", "[3,2]");
  EXPECT_ERROR(anyrl::ShapeError, a.add_(f32({3})), "add_", "[2,3]", "[3]");
  EXPECT_ERROR(anyrl::DTypeError, a.add_(f64({2, 3})), "add_", "float32", "float64");
}

TEST_CASE("errors: element access") {
  EXPECT_ERROR(anyrl::ShapeError, f32({2, 3}).item(), "item", "[2,3]");
  EXPECT_ERROR(anyrl::ShapeError, f32({0}).item(), "item", "[0]");
  CHECK(Tensor::full({1, 1}, 2.5).item() == 2.5);
  Tensor a = f32({2});
  EXPECT_ERROR(anyrl::DTypeError, a.data<double>(), "float32", "float64");
  EXPECT_ERROR(anyrl::DTypeError, i64({1}).data<std::int32_t>(), "int64", "int32");
  EXPECT_ERROR(anyrl::ShapeError, Tensor::from_vector<float>({1, 2, 3, 4, 5}, {2, 3}), "from_vector", "5", "[2,3]");
  EXPECT_ERROR(anyrl::ShapeError, Tensor::from_vector<double>({1, 2}, {3}), "from_vector", "2", "[3]");
  Tensor undefined;
  CHECK_FALSE(undefined.defined());
  CHECK_THROWS_AS(undefined.shape(), anyrl::Error);
}

TEST_CASE("errors: random fills and allocation arguments") {
  anyrl::Generator gen(1);
  EXPECT_ERROR(anyrl::ValueError, anyrl::randint({3}, 5, 5, gen), "randint", "5");
  EXPECT_ERROR(anyrl::DTypeError, anyrl::rand({3}, gen, DType::Int64), "rand", "int64");
  EXPECT_ERROR(anyrl::ValueError, anyrl::multinomial(Tensor::from_vector<float>({0.5f, -1.0f}), gen), "multinomial");
  EXPECT_ERROR(anyrl::ShapeError, Tensor::zeros({2, -3}), "-3");
  EXPECT_ERROR(anyrl::ValueError, anyrl::clamp(f32({2}), 1.0, -1.0), "clamp");
}
