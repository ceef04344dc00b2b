// Every tensor op of the engine, as free functions in namespace anyrl.
//
// Where things live: each op is declared here, its forward kernel and its gradient rule
// sit next to each other in engine/src/ops/<family>.cpp (elementwise, reduce, matmul,
// nn_ops, shape_ops, index_ops, sort_ops, random). Gradients are written with these same
// ops, so every rule is itself checked by the float64 finite-difference harness
// (tests/engine/test_ops_harness.cpp).
//
// Conventions: binary ops broadcast like NumPy and require equal dtypes (no implicit
// promotion); `dim` arguments may be negative; reductions take a list of dims (empty =
// all) and `keepdim`. Errors throw ShapeError / DTypeError / DeviceError / ValueError with
// the op name, shapes and dtypes in the message.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "anyrl/engine/tensor.hpp"

namespace anyrl {

class Generator;

// ---- elementwise, binary (broadcasting) -----------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);  ///< a > 0 where b is not an integer
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
/// cond (bool) ? a : b, all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- elementwise with a scalar --------------------------------------------------------------
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor pow(const Tensor& a, double exponent);
/// s - a and s / a.
Tensor rsub(double s, const Tensor& a);
Tensor rdiv(double s, const Tensor& a);
Tensor clamp(const Tensor& a, double lo, double hi);

// ---- elementwise, unary ---------------------------------------------------------------------
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor square(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor gelu(const Tensor& a);  ///< exact (erf) form, as PyTorch's default
Tensor silu(const Tensor& a);  ///< x * sigmoid(x), a.k.a. swish
inline Tensor swish(const Tensor& a) { return silu(a); }
Tensor mish(const Tensor& a);  ///< x * tanh(softplus(x))
Tensor softplus(const Tensor& a);  ///< log(1 + e^x), linear above x = 20

// ---- comparisons (non-differentiable, bool result, broadcasting) ----------------------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, double s);
Tensor gt(const Tensor& a, double s);
Tensor logical_not(const Tensor& a);
/// Elementwise test for NaN or Inf (bool); `all_finite` reduces it to one answer.
Tensor isfinite(const Tensor& a);
bool all_finite(const Tensor& a);

// ---- reductions -----------------------------------------------------------------------------
/// `dims` empty = reduce everything.
Tensor sum(const Tensor& a, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const std::vector<int>& dims = {}, bool keepdim = false);
/// Gradient goes to the arg-max element(s), split evenly between ties.
Tensor max(const Tensor& a, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor min(const Tensor& a, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& a, const std::vector<int>& dims = {}, bool keepdim = false);
/// Variance with Bessel's `correction` (1 = unbiased, PyTorch's default; 0 = population).
Tensor var(const Tensor& a, const std::vector<int>& dims = {}, bool keepdim = false, int correction = 1);
/// Sums `a` down to `shape` (the inverse of broadcasting); used by gradient rules.
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- linear algebra -------------------------------------------------------------------------
/// [..., M, K] x [..., K, N] -> [..., M, N], leading dims broadcast (ensembles: [E,B,H] x [E,H,O]).
/// A 1-D operand is treated as a row (left) or column (right) vector and that dim is dropped.
Tensor matmul(const Tensor& a, const Tensor& b);
/// a x b + bias in one pass (torch.baddbmm): `bias` broadcasts to the product's shape (e.g. an
/// ensemble bias [E, 1, O]); the product accumulates onto it, so no separate add pass.
Tensor matmul(const Tensor& a, const Tensor& b, const Tensor& bias);
/// x[..., in] * W[out, in]^T + b[out] (b may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- neural-network ops ---------------------------------------------------------------------
Tensor softmax(const Tensor& a, int dim = -1);
Tensor log_softmax(const Tensor& a, int dim = -1);
/// Normalises over the last dimension; weight/bias of shape [D] (either may be undefined).
/// Fused forward and backward.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
/// Mean cross-entropy of logits[..., C] against integer class targets[...] (int32/int64).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
/// Mean over rows of -sum_c p_c log softmax(logits)_c, with soft targets p[..., C].
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target_probs);
/// mean((a - b)^2)
Tensor mse_loss(const Tensor& a, const Tensor& b);
/// mean of Huber(a - b) with threshold delta.
Tensor huber_loss(const Tensor& a, const Tensor& b, double delta = 1.0);
/// IQL's expectile loss: mean(|tau - 1[diff < 0]| * diff^2).
Tensor expectile_loss(const Tensor& diff, double tau);

// ---- shape ops ------------------------------------------------------------------------------
Tensor reshape(const Tensor& a, const Shape& shape);
Tensor transpose(const Tensor& a, int d0 = -2, int d1 = -1);
Tensor permute(const Tensor& a, const std::vector<int>& order);
/// Inserts / removes a size-1 dimension.
Tensor unsqueeze(const Tensor& a, int dim);
Tensor squeeze(const Tensor& a, int dim);
Tensor concat(const std::vector<Tensor>& ts, int dim = 0);
Tensor stack(const std::vector<Tensor>& ts, int dim = 0);
/// Splits along `dim` into pieces of the given sizes (which must sum to the dim's size).
std::vector<Tensor> split(const Tensor& a, const std::vector<std::int64_t>& sizes, int dim = 0);
/// Elements [start, end) along `dim` (negative start/end count from the back).
Tensor slice(const Tensor& a, int dim, std::int64_t start, std::int64_t end);
/// Materialised broadcast to `shape` (gradient sums back).
Tensor expand(const Tensor& a, const Shape& shape);
/// Tiles `a` reps[i] times along dim i (like torch.Tensor.repeat).
Tensor repeat(const Tensor& a, const std::vector<std::int64_t>& reps);

// ---- indexing -------------------------------------------------------------------------------
/// Rows of `a` along `dim` picked by a 1-D integer index.
Tensor index_select(const Tensor& a, int dim, const Tensor& index);
/// out[i][j] = a[i][index[i][j]] along `dim` (torch.gather semantics; index has a's rank).
Tensor gather(const Tensor& a, int dim, const Tensor& index);
/// Returns a copy of `a` with src added at `index` along `dim` (torch.scatter_add).
Tensor scatter_add(const Tensor& a, int dim, const Tensor& index, const Tensor& src);
/// weight[V, D] looked up by integer ids[...] -> [..., D].
Tensor embedding(const Tensor& weight, const Tensor& ids);
/// ids[...] -> float32 [..., num_classes].
Tensor one_hot(const Tensor& ids, std::int64_t num_classes, DType dtype = DType::Float32);

// ---- non-differentiable ---------------------------------------------------------------------
/// Index (int64) of the maximum along `dim`; the first one on ties.
Tensor argmax(const Tensor& a, int dim = -1, bool keepdim = false);
Tensor argmin(const Tensor& a, int dim = -1, bool keepdim = false);
/// The k largest (or smallest) values along the last dim, sorted, and their int64 indices.
/// The values are differentiable (gradient flows to the picked elements).
std::pair<Tensor, Tensor> topk(const Tensor& a, std::int64_t k, bool largest = true);
/// Stable sort along the last dim: values and int64 indices.
std::pair<Tensor, Tensor> sort(const Tensor& a, bool descending = false);
/// Inclusive cumulative sum along `dim`.
Tensor cumsum(const Tensor& a, int dim = -1);

// ---- random fills (Philox; see rng.hpp) -----------------------------------------------------
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::Float32);   ///< U[0,1)
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::Float32);  ///< N(0,1)
Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype = DType::Float32);
Tensor normal(const Shape& shape, double mean, double std, Generator& gen, DType dtype = DType::Float32);
/// Integers uniform in [lo, hi), int64.
Tensor randint(const Shape& shape, std::int64_t lo, std::int64_t hi, Generator& gen);
/// One draw per row of probs[..., C] (unnormalised non-negative weights), int64 [...].
Tensor multinomial(const Tensor& probs, Generator& gen);
/// A random permutation of 0..n-1 (int64).
Tensor randperm(std::int64_t n, Generator& gen);

// ---- operators ------------------------------------------------------------------------------
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }

}  // namespace anyrl
