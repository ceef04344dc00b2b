// Parameter initialisers. Each fills an existing tensor in place (no graph is recorded) from
// the Generator it is given, so initialisation is reproducible from a seed. `fan_in`/`fan_out`
// follow PyTorch: for a weight [out, in] (Linear) fan_in = in; for [E, in, out]
// (EnsembleLinear) fan_in = in per member; for [out, in, k, k] (Conv2d) fan_in = in*k*k.
#pragma once
#include <cstdint>
#include <string>

#include "anyrl/engine/engine.hpp"

namespace anyrl::nn {

/// How a weight is initialised (Linear, EnsembleLinear, Conv2d).
enum class Init {
  TorchDefault,  ///< U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (= kaiming_uniform(a=sqrt 5)), bias likewise
  KaimingUniform,  ///< U(-b, b), b = gain * sqrt(3 / fan_in), ReLU gain sqrt(2); bias 0
  XavierUniform,  ///< U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)); bias 0
  LecunNormal,    ///< N(0, 1/fan_in) (Flax's default Dense init); bias 0
  Orthogonal,     ///< orthogonal rows/columns scaled by gain (Saxe et al.); bias 0
  Zeros,          ///< weight and bias 0 (e.g. a residual's last layer)
  Small,          ///< U(-gain, gain) with a small gain (default 1e-3, final layers); bias 0
};

/// "torch", "kaiming_uniform", "xavier_uniform", "lecun_normal", "orthogonal", "zeros", "small".
Init parse_init(const std::string& name);
std::string init_name(Init init);

void uniform_(Tensor& t, double lo, double hi, Generator& gen);
void normal_(Tensor& t, double mean, double std, Generator& gen);
void zeros_(Tensor& t);
void constant_(Tensor& t, double value);
/// fan_in / fan_out of a weight laid out as described in the header comment.
/// `in_major` = true for [.., in, out] layouts (EnsembleLinear).
std::pair<std::int64_t, std::int64_t> fans(const Shape& s, bool in_major = false);
void kaiming_uniform_(Tensor& t, Generator& gen, double gain = 1.4142135623730951, bool in_major = false);
void xavier_uniform_(Tensor& t, Generator& gen, double gain = 1.0, bool in_major = false);
void lecun_normal_(Tensor& t, Generator& gen, bool in_major = false);
/// Orthogonal init of the trailing two dims viewed as a matrix (each leading index — ensemble
/// member — gets its own matrix). Householder QR of a Gaussian matrix, sign-corrected.
void orthogonal_(Tensor& t, Generator& gen, double gain = 1.0);

/// Initialises a (weight, bias) pair by `init` (bias may be undefined). `gain` is used by
/// KaimingUniform / XavierUniform / Orthogonal / Small (Small's default gain 1e-3 when gain <= 0).
void init_weight_bias(Tensor& weight, Tensor* bias, Init init, Generator& gen, double gain, bool in_major);

}  // namespace anyrl::nn
