// Element types of tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace anyrl {

/// Element type of a tensor. Bool is stored as one byte (0 or 1).
enum class DType : std::uint8_t { Float32, Float64, Int32, Int64, Bool };

inline constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

inline constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

inline constexpr bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }
inline constexpr bool is_integral(DType t) { return t == DType::Int32 || t == DType::Int64; }

/// Maps a C++ type to its DType: dtype_of<float>() == DType::Float32.
template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<std::int32_t>() { return DType::Int32; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::Bool; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }

}  // namespace anyrl
