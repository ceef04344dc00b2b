// Tensor shapes: rank 0..6, stored inline (no heap allocation).
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace anyrl {

inline constexpr int kMaxRank = 6;

/// A shape of rank 0..kMaxRank. Row-major; the last dimension is contiguous.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims)
      : Shape(std::span<const std::int64_t>(dims.data(), dims.size())) {}

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return d_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return d_[static_cast<std::size_t>(i)]; }
  /// Dimension i, negative i counts from the back; throws ShapeError when out of range.
  std::int64_t at(int i) const;
  std::int64_t numel() const;
  std::int64_t back() const { return d_[static_cast<std::size_t>(rank_ - 1)]; }
  const std::int64_t* begin() const { return d_.data(); }
  const std::int64_t* end() const { return d_.data() + rank_; }
  std::vector<std::int64_t> vec() const { return {begin(), end()}; }

  void push_back(std::int64_t v);
  /// Row-major strides in elements.
  std::array<std::int64_t, kMaxRank> strides() const;
  /// "[2,3,4]"
  std::string str() const;

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.d_[i] != b.d_[i]) return false;
    return true;
  }

 private:
  std::array<std::int64_t, kMaxRank> d_{};
  int rank_ = 0;
};

/// Normalises a possibly negative dimension index against `rank`; throws ShapeError naming `op`.
int normalize_dim(int dim, int rank, const char* op);

/// NumPy broadcast of two shapes; throws ShapeError naming `op` when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace anyrl
