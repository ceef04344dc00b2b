#include "ops/gemm.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "anyrl/engine/parallel.hpp"

namespace anyrl::detail {
namespace {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MutMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// C rows [m0, m1) x cols [n0, n1) of the product, on the calling thread.
template <class T>
void gemm_tile(const GemmDesc& d, const T* A, const T* B, T* C, std::int64_t m0, std::int64_t m1,
               std::int64_t n0, std::int64_t n1) {
  const std::int64_t m = m1 - m0, n = n1 - n0, K = d.K;
  MutMap<T> c(C + m0 * d.ldc + n0, m, n, Eigen::OuterStride<>(d.ldc));
  if (K == 0) {
    if (!d.accumulate) c.setZero();
    return;
  }
  auto run = [&](const auto& a, const auto& b) {
    if (d.accumulate)
      c.noalias() += a * b;
    else
      c.noalias() = a * b;
  };
  // op(A) rows m0..m1
  if (!d.ta) {
    ConstMap<T> a(A + m0 * d.lda, m, K, Eigen::OuterStride<>(d.lda));
    if (!d.tb) {
      ConstMap<T> b(B + n0, K, n, Eigen::OuterStride<>(d.ldb));
      run(a, b);
    } else {
      ConstMap<T> bt(B + n0 * d.ldb, n, K, Eigen::OuterStride<>(d.ldb));
      run(a, bt.transpose());
    }
  } else {
    ConstMap<T> at(A + m0, K, m, Eigen::OuterStride<>(d.lda));
    if (!d.tb) {
      ConstMap<T> b(B + n0, K, n, Eigen::OuterStride<>(d.ldb));
      run(at.transpose(), b);
    } else {
      ConstMap<T> bt(B + n0 * d.ldb, n, K, Eigen::OuterStride<>(d.ldb));
      run(at.transpose(), bt.transpose());
    }
  }
}

// ---- small-product kernel -------------------------------------------------------------------
//
// At RL sizes (batch ~100, width ~64) Eigen's general product spends as much time packing both
// operands, zero-filling C and dispatching as multiplying. Products up to kSmallMacs
// multiply-adds take this path instead: op(B) is packed (only when it is transposed or its width
// is not a whole number of vectors) into a per-thread scratch buffer, and a register-blocked
// kernel written with GCC vector types (the target's widest: 16 floats with AVX-512) computes
// MR rows x NV vectors of C at a time, each element accumulated over k = 0..K-1 in order with
// fused multiply-adds, then added to C (accumulate) or stored. Narrow products (N of a few
// columns, e.g. a Q head) use dot products along K instead. Which kernel runs depends only on
// (M, N, K, ta, tb), and each product runs on one thread, so results stay independent of the
// thread count.
constexpr std::int64_t kSmallMacs = std::int64_t{1} << 20;

// The widest vector the target has (64 bytes with AVX-512, 32 with AVX, else 16): wider GCC
// vectors than the hardware's are emulated through memory and are many times slower.
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kMaxNV = 4;  // 4 rows x 4 vectors = 16 of the 32 vector registers
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kMaxNV = 2;  // 4 x 2 accumulators of the 16 vector registers
#else
constexpr int kVecBytes = 16;
constexpr int kMaxNV = 2;
#endif

template <class T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(kVecBytes)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(kVecBytes)));
};
template <class T>
using Vec = typename VecOf<T>::type;
template <class T>
constexpr int kLanesOf = static_cast<int>(kVecBytes / sizeof(T));

constexpr int kMR = 4;

template <class T>
inline Vec<T> vload(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <class T>
inline void vstore(T* p, const Vec<T>& v) {
  std::memcpy(p, &v, sizeof(v));
}

// Per-thread scratch for packed operands (grows, never shrinks: no allocation in steady state).
template <class T>
T* scratch(std::size_t n, int slot) {
  thread_local std::vector<Vec<T>> buf[2];
  std::vector<Vec<T>>& b = buf[slot];
  const std::size_t nv = (n + kLanesOf<T> - 1) / kLanesOf<T>;
  if (b.size() < nv) b.resize(nv);
  return reinterpret_cast<T*>(b.data());
}

// Fused multiply-add contraction is enabled for the kernels below only (the rest of the file,
// Eigen included, keeps the target's default), so acc += a * b is one rounding.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

// C[i0..i0+MR) x [j0, j0 + NV*L) (clipped at N) over all K. A(i, k) = A[i*ars + k*aks];
// Bp is op(B) row-major with row stride ldbp and at least j0 + NV*L readable columns.
template <class T, int MR, int NV>
inline void micro(const GemmDesc& d, const T* A, std::int64_t ars, std::int64_t aks, const T* Bp,
                  std::int64_t ldbp, T* C, const T* bias, std::int64_t i0, std::int64_t j0) {
  constexpr int L = kLanesOf<T>;
  Vec<T> acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = Vec<T>{};
  const T* a0 = A + i0 * ars;
  const T* b0 = Bp + j0;
  for (std::int64_t k = 0; k < d.K; ++k) {
    Vec<T> b[NV];
    for (int v = 0; v < NV; ++v) b[v] = vload(b0 + k * ldbp + v * L);
    for (int r = 0; r < MR; ++r) {
      const T a = a0[r * ars + k * aks];
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < MR; ++r) {
    T* c = C + (i0 + r) * d.ldc + j0;
    for (int v = 0; v < NV; ++v) {
      const std::int64_t valid = std::min<std::int64_t>(L, d.N - (j0 + v * L));
      if (valid == L) {
        if (bias)
          vstore(c + v * L, vload(bias + j0 + v * L) + acc[r][v]);
        else
          vstore(c + v * L, d.accumulate ? vload(c + v * L) + acc[r][v] : acc[r][v]);
      } else {
        alignas(64) T tmp[L];
        vstore(tmp, acc[r][v]);
        const T* bb = bias ? bias + j0 + v * L : nullptr;
        for (std::int64_t l = 0; l < valid; ++l)
          c[v * L + l] = bb ? bb[l] + tmp[l] : (d.accumulate ? c[v * L + l] + tmp[l] : tmp[l]);
      }
    }
  }
}

template <class T, int MR>
inline void micro_nv(int nv, const GemmDesc& d, const T* A, std::int64_t ars, std::int64_t aks, const T* Bp,
                     std::int64_t ldbp, T* C, const T* bias, std::int64_t i0, std::int64_t j0) {
  switch (nv) {
    case 1: micro<T, MR, 1>(d, A, ars, aks, Bp, ldbp, C, bias, i0, j0); break;
    case 2: micro<T, MR, 2>(d, A, ars, aks, Bp, ldbp, C, bias, i0, j0); break;
#if defined(__AVX512F__)
    case 3: micro<T, MR, 3>(d, A, ars, aks, Bp, ldbp, C, bias, i0, j0); break;
    case 4: micro<T, MR, 4>(d, A, ars, aks, Bp, ldbp, C, bias, i0, j0); break;
#endif
    default: break;
  }
}

// Lane-index vector of the same width as Vec<T>, for __builtin_shuffle masks.
template <class T>
struct MaskOf;
template <>
struct MaskOf<float> {
  typedef std::int32_t type __attribute__((vector_size(kVecBytes)));
};
template <>
struct MaskOf<double> {
  typedef std::int64_t type __attribute__((vector_size(kVecBytes)));
};

// Constant permute masks of one transpose stage (see transpose_block).
template <class T, int H, std::size_t... I>
constexpr typename MaskOf<T>::type stage_mask_lo(std::index_sequence<I...>) {
  using E = typename std::remove_reference_t<decltype(std::declval<typename MaskOf<T>::type>()[0])>;
  return typename MaskOf<T>::type{static_cast<E>((static_cast<int>(I) & H) ? kLanesOf<T> + (static_cast<int>(I) - H)
                                                                          : static_cast<int>(I))...};
}
template <class T, int H, std::size_t... I>
constexpr typename MaskOf<T>::type stage_mask_hi(std::index_sequence<I...>) {
  using E = typename std::remove_reference_t<decltype(std::declval<typename MaskOf<T>::type>()[0])>;
  return typename MaskOf<T>::type{static_cast<E>((static_cast<int>(I) & H) ? kLanesOf<T> + static_cast<int>(I)
                                                                          : static_cast<int>(I) + H)...};
}

// r[0..L) <- its transpose (r[i][l] becomes r[l][i]), in log2(L) stages: stage H swaps bit H of
// the row index with bit H of the lane index (one two-source permute per row).
template <class T, int H>
inline void transpose_stages(Vec<T>* r) {
  if constexpr (H >= 1) {
    constexpr auto lo = stage_mask_lo<T, H>(std::make_index_sequence<kLanesOf<T>>{});
    constexpr auto hi = stage_mask_hi<T, H>(std::make_index_sequence<kLanesOf<T>>{});
#pragma GCC unroll 16
    for (int i = 0; i < kLanesOf<T>; ++i) {
      if (i & H) continue;
      const Vec<T> a = r[i], b = r[i + H];
      r[i] = __builtin_shuffle(a, b, lo);
      r[i + H] = __builtin_shuffle(a, b, hi);
    }
    transpose_stages<T, H / 2>(r);
  }
}
template <class T>
inline void transpose_block(Vec<T>* r) {
  transpose_stages<T, kLanesOf<T> / 2>(r);
}

// dst[k * ldd + j] = src[j * lds + k] for j < N, k < K: whole LxL blocks through registers, the
// edges element by element.
template <class T>
void transpose_into(const T* src, std::int64_t lds, std::int64_t N, std::int64_t K, T* dst, std::int64_t ldd) {
  constexpr int L = kLanesOf<T>;
  const std::int64_t Nb = N / L * L, Kb = K / L * L;
  for (std::int64_t j0 = 0; j0 < Nb; j0 += L)
    for (std::int64_t k0 = 0; k0 < Kb; k0 += L) {
      Vec<T> r[L];
      for (int i = 0; i < L; ++i) r[i] = vload(src + (j0 + i) * lds + k0);
      transpose_block<T>(r);
      for (int i = 0; i < L; ++i) vstore(dst + (k0 + i) * ldd + j0, r[i]);
    }
  for (std::int64_t k = 0; k < K; ++k) {
    T* row = dst + k * ldd;
    const std::int64_t jstart = k < Kb ? Nb : 0;
    for (std::int64_t j = jstart; j < N; ++j) row[j] = src[j * lds + k];
  }
}

// Wide products: vectors along N.
template <class T>
void small_gemm_wide(const GemmDesc& d, const T* A, const T* B, T* C, const T* bias) {
  constexpr int L = kLanesOf<T>;
  const std::int64_t M = d.M, N = d.N, K = d.K;
  const std::int64_t Np = (N + L - 1) / L * L;
  const T* Bp;
  std::int64_t ldbp;
  if (!d.tb && N % L == 0) {
    Bp = B;  // already row-major [K, N] with whole vectors
    ldbp = d.ldb;
  } else {
    T* p = scratch<T>(static_cast<std::size_t>(K * Np), 0);
    if (d.tb) transpose_into<T>(B, d.ldb, N, K, p, Np);
    for (std::int64_t k = 0; k < K; ++k) {
      T* row = p + k * Np;
      if (!d.tb) std::memcpy(row, B + k * d.ldb, static_cast<std::size_t>(N) * sizeof(T));
      for (std::int64_t j = N; j < Np; ++j) row[j] = T(0);
    }
    Bp = p;
    ldbp = Np;
  }
  const std::int64_t ars = d.ta ? 1 : d.lda, aks = d.ta ? d.lda : 1;
  const std::int64_t block = static_cast<std::int64_t>(kMaxNV) * L;
  for (std::int64_t j0 = 0; j0 < N; j0 += block) {
    const int nv = static_cast<int>((std::min(block, N - j0) + L - 1) / L);
    std::int64_t i0 = 0;
    for (; i0 + kMR <= M; i0 += kMR) micro_nv<T, kMR>(nv, d, A, ars, aks, Bp, ldbp, C, bias, i0, j0);
    switch (M - i0) {
      case 3: micro_nv<T, 3>(nv, d, A, ars, aks, Bp, ldbp, C, bias, i0, j0); break;
      case 2: micro_nv<T, 2>(nv, d, A, ars, aks, Bp, ldbp, C, bias, i0, j0); break;
      case 1: micro_nv<T, 1>(nv, d, A, ars, aks, Bp, ldbp, C, bias, i0, j0); break;
      default: break;
    }
  }
}

// Sum of the lanes in a fixed pairwise order: lane l + lane l + L/2, then halves again (the
// halves are narrower vectors, so each level is one vector add).
template <class T, int Bytes>
struct HalfVec {
  typedef T type __attribute__((vector_size(Bytes)));
};
template <class T, int Bytes>
inline T hsum_bytes(const typename HalfVec<T, Bytes>::type& v) {
  if constexpr (Bytes == static_cast<int>(sizeof(T))) {
    return v[0];
  } else {
    typedef typename HalfVec<T, Bytes / 2>::type H;
    H lo, hi;
    std::memcpy(&lo, &v, sizeof(H));
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof(H), sizeof(H));
    return hsum_bytes<T, Bytes / 2>(lo + hi);
  }
}
template <class T>
inline T hsum(const Vec<T>& v) {
  typename HalfVec<T, kVecBytes>::type w;
  std::memcpy(&w, &v, sizeof(w));
  return hsum_bytes<T, kVecBytes>(w);
}

// C rows of a narrow product with N (compile-time) columns; Ar rows and Bc columns contiguous.
// R rows at a time (independent accumulator chains).
template <class T, int N, int R>
inline void narrow_block(const GemmDesc& d, const T* Ar, std::int64_t lda, const T* Bc, std::int64_t ldb, T* C,
                         const T* bias, std::int64_t i0) {
  constexpr int L = kLanesOf<T>;
  const std::int64_t K = d.K, Kv = K / L * L;
  Vec<T> acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < N; ++j) acc[r][j] = Vec<T>{};
  for (std::int64_t k = 0; k < Kv; k += L) {
    Vec<T> bv[N];
    for (int j = 0; j < N; ++j) bv[j] = vload(Bc + j * ldb + k);
    for (int r = 0; r < R; ++r) {
      const Vec<T> av = vload(Ar + (i0 + r) * lda + k);
      for (int j = 0; j < N; ++j) acc[r][j] += av * bv[j];
    }
  }
  for (int r = 0; r < R; ++r) {
    const T* a = Ar + (i0 + r) * lda;
    T* c = C + (i0 + r) * d.ldc;
    for (int j = 0; j < N; ++j) {
      const T* b = Bc + j * ldb;
      T s = Kv > 0 ? hsum<T>(acc[r][j]) : T(0);
      for (std::int64_t k = Kv; k < K; ++k) s += a[k] * b[k];
      c[j] = bias ? bias[j] + s : (d.accumulate ? c[j] + s : s);
    }
  }
}

template <class T, int N>
inline void narrow_rows(const GemmDesc& d, const T* Ar, std::int64_t lda, const T* Bc, std::int64_t ldb, T* C,
                        const T* bias) {
  std::int64_t i = 0;
  for (; i + 4 <= d.M; i += 4) narrow_block<T, N, 4>(d, Ar, lda, Bc, ldb, C, bias, i);
  for (; i < d.M; ++i) narrow_block<T, N, 1>(d, Ar, lda, Bc, ldb, C, bias, i);
}

// Narrow products (N <= 4, or few rows with a transposed B): C(i, j) = dot(op(A) row i,
// op(B) column j) along K, vectorised over whole vectors of K (lanes summed pairwise), the K
// tail added in order.
template <class T>
void small_gemm_narrow(const GemmDesc& d, const T* A, const T* B, T* C, const T* bias) {
  const std::int64_t M = d.M, N = d.N, K = d.K;
  // Rows of op(A) and columns of op(B), contiguous along K.
  const T* Ar = A;
  std::int64_t lda = d.lda;
  if (d.ta) {
    T* p = scratch<T>(static_cast<std::size_t>(M * K), 0);
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t i = 0; i < M; ++i) p[i * K + k] = A[k * d.lda + i];
    Ar = p;
    lda = K;
  }
  const T* Bc = B;
  std::int64_t ldb = d.ldb;
  if (!d.tb) {
    T* p = scratch<T>(static_cast<std::size_t>(N * K), 1);
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t j = 0; j < N; ++j) p[j * K + k] = B[k * d.ldb + j];
    Bc = p;
    ldb = K;
  }
  // Blocks of four columns, then the remaining one to three.
  std::int64_t j0 = 0;
  for (; j0 + 4 <= N; j0 += 4)
    narrow_rows<T, 4>(d, Ar, lda, Bc + j0 * ldb, ldb, C + j0, bias ? bias + j0 : nullptr);
  switch (N - j0) {
    case 1: narrow_rows<T, 1>(d, Ar, lda, Bc + j0 * ldb, ldb, C + j0, bias ? bias + j0 : nullptr); break;
    case 2: narrow_rows<T, 2>(d, Ar, lda, Bc + j0 * ldb, ldb, C + j0, bias ? bias + j0 : nullptr); break;
    case 3: narrow_rows<T, 3>(d, Ar, lda, Bc + j0 * ldb, ldb, C + j0, bias ? bias + j0 : nullptr); break;
    default: break;
  }
}

#pragma GCC pop_options

// True when the whole product takes the small-product kernels (a function of the shape only).
// Only with AVX-512: with 16 (AVX2) vector registers this kernel measured no faster than Eigen's
// (and slower for transposed B), so other targets keep Eigen's products.
inline bool use_small(const GemmDesc& d) {
#if defined(__AVX512F__)
  return d.K > 0 && d.M * d.N * d.K <= kSmallMacs;
#else
  (void)d;
  (void)kSmallMacs;
  return false;
#endif
}

template <class T>
void small_gemm(const GemmDesc& d, const T* A, const T* B, T* C, const T* bias) {
  // Narrow products whose op(A) rows are contiguous: dot products. Transposed A would need a
  // packing pass as large as the product itself; the wide kernel (zero-padded columns) is cheaper.
  // Few rows times a transposed B (a policy acting on one state) is a matrix-vector product:
  // dot products too, without transposing B.
  if (!d.ta && (d.N <= 4 || (d.tb && d.M <= 4)))
    small_gemm_narrow<T>(d, A, B, C, bias);
  else
    small_gemm_wide<T>(d, A, B, C, bias);
}

struct Tiling {
  std::int64_t tm, tn, ntm, ntn;
};

// Fixed tiling from the problem alone (never the thread count): small products, and items of
// a batch with enough items to share out, are one tile (each tile re-packs its operands, so
// fewer tiles is cheaper); larger single products are cut into 128-row (or 128-column) panels
// along the longer side.
Tiling tiling(const GemmDesc& d, std::int64_t count) {
  const double flops = 2.0 * static_cast<double>(d.M) * d.N * d.K;
  Tiling t{std::max<std::int64_t>(d.M, 1), std::max<std::int64_t>(d.N, 1), 1, 1};
  if (flops < 4.0e6 || count >= 4) return t;
  constexpr std::int64_t panel = 128;
  if (d.M >= d.N) {
    if (d.M > panel) t.tm = panel;
  } else {
    if (d.N > panel) t.tn = panel;
  }
  t.ntm = (d.M + t.tm - 1) / t.tm;
  t.ntn = (d.N + t.tn - 1) / t.tn;
  return t;
}

}  // namespace

template <class T>
void gemm(const GemmDesc& d, const T* A, const T* B, T* C) {
  gemm_batched<T>(d, 1, A, 0, B, 0, C, 0);
}

template <class T>
void gemm_batched(const GemmDesc& d, std::int64_t count, const T* A, std::int64_t stride_a, const T* B,
                  std::int64_t stride_b, T* C, std::int64_t stride_c) {
  if (count <= 0 || d.M == 0 || d.N == 0) return;
  const T* bias = static_cast<const T*>(d.bias);
  if (bias && !use_small(d)) {
    // General path: C starts as the bias rows and the product is accumulated onto them.
    for (std::int64_t i = 0; i < count; ++i)
      for (std::int64_t r = 0; r < d.M; ++r)
        std::memcpy(C + i * stride_c + r * d.ldc, bias + i * d.bias_stride, static_cast<std::size_t>(d.N) * sizeof(T));
    GemmDesc acc = d;
    acc.bias = nullptr;
    acc.accumulate = true;
    gemm_batched<T>(acc, count, A, stride_a, B, stride_b, C, stride_c);
    return;
  }
  Tiling t = tiling(d, count);
  const std::int64_t per = t.ntm * t.ntn;
  const std::int64_t jobs = count * per;
  if (per == 1 && use_small(d)) {
    // Small products: each item whole on one thread; the items of a large batch in parallel.
    auto items = [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i)
        small_gemm<T>(d, A + i * stride_a, B + i * stride_b, C + i * stride_c,
                      bias ? bias + i * d.bias_stride : nullptr);
    };
    const double flops = 2.0 * static_cast<double>(d.M) * d.N * d.K;
    if (count == 1 || count * flops < 4.0e5)
      items(0, count);
    else
      parallel_for(count, std::max<std::int64_t>(1, static_cast<std::int64_t>(2.0e5 / std::max(flops, 1.0))), items);
    return;
  }
  auto body = [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t j = b; j < e; ++j) {
      std::int64_t i = j / per, tile = j % per;
      std::int64_t im = tile / t.ntn, in = tile % t.ntn;
      std::int64_t m0 = im * t.tm, n0 = in * t.tn;
      gemm_tile<T>(d, A + i * stride_a, B + i * stride_b, C + i * stride_c, m0, std::min(d.M, m0 + t.tm), n0,
                   std::min(d.N, n0 + t.tn));
    }
  };
  const double flops_per_job = 2.0 * static_cast<double>(d.M) * d.N * d.K / static_cast<double>(per);
  // Hand small jobs out several at a time (thread hand-off costs ~µs).
  std::int64_t grain = std::max<std::int64_t>(1, static_cast<std::int64_t>(2.0e5 / std::max(flops_per_job, 1.0)));
  if (jobs == 1 || jobs * flops_per_job < 4.0e5)
    body(0, jobs);
  else
    parallel_for(jobs, grain, body);
}

template void gemm<float>(const GemmDesc&, const float*, const float*, float*);
template void gemm<double>(const GemmDesc&, const double*, const double*, double*);
template void gemm_batched<float>(const GemmDesc&, std::int64_t, const float*, std::int64_t, const float*,
                                  std::int64_t, float*, std::int64_t);
template void gemm_batched<double>(const GemmDesc&, std::int64_t, const double*, std::int64_t, const double*,
                                   std::int64_t, double*, std::int64_t);

}  // namespace anyrl::detail
