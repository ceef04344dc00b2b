#include "anyrl/engine/shape.hpp"

#include "anyrl/engine/error.hpp"

namespace anyrl {

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > static_cast<std::size_t>(kMaxRank))
    throw ShapeError("Shape: rank " + std::to_string(dims.size()) + " exceeds the maximum of " +
                     std::to_string(kMaxRank));
  for (std::int64_t v : dims) push_back(v);
}

void Shape::push_back(std::int64_t v) {
  if (rank_ >= kMaxRank)
    throw ShapeError("Shape: rank exceeds the maximum of " + std::to_string(kMaxRank) + " in " + str());
  // A -1 is allowed here for reshape ("infer this dimension"); Tensor::empty rejects negatives.
  d_[static_cast<std::size_t>(rank_++)] = v;
}

std::int64_t Shape::at(int i) const {
  return d_[static_cast<std::size_t>(normalize_dim(i, rank_, "Shape::at"))];
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= d_[i];
  return n;
}

std::array<std::int64_t, kMaxRank> Shape::strides() const {
  std::array<std::int64_t, kMaxRank> s{};
  std::int64_t acc = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= d_[i];
  }
  return s;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ",";
    s += std::to_string(d_[i]);
  }
  return s + "]";
}

int normalize_dim(int dim, int rank, const char* op) {
  int r = rank == 0 ? 1 : rank;  // a scalar accepts dim 0 / -1 like PyTorch
  if (dim < -r || dim >= r)
    throw ShapeError(std::string(op) + ": dim " + std::to_string(dim) + " out of range for rank " +
                     std::to_string(rank));
  return dim < 0 ? dim + r : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int r = std::max(a.rank(), b.rank());
  std::int64_t out[kMaxRank];
  for (int i = 0; i < r; ++i) {
    int ia = a.rank() - r + i, ib = b.rank() - r + i;
    std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(std::string(op) + ": shapes " + a.str() + " and " + b.str() +
                       " cannot be broadcast (dim " + std::to_string(i) + ": " + std::to_string(da) +
                       " vs " + std::to_string(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return Shape(std::span<const std::int64_t>(out, static_cast<std::size_t>(r)));
}

}  // namespace anyrl
