// Kernel throughput of the anyrl engine (CPU, float32):
//  - GEMM through anyrl::matmul at the shapes RL uses, in GFLOP/s and % of the measured sgemm
//    ceiling (OpenBLAS cblas_sgemm at 1024^3 / 2048^3, same thread count, same binary);
//    OpenBLAS at the same small shapes for reference; matmul forward+backward.
//  - elementwise (broadcast add, silu), layer_norm forward+backward, softmax forward, in GB/s.
//
//   bench_kernels [--threads=N] [google-benchmark flags]
// Defaults: --threads=2 (or $ANYRL_BENCH_THREADS), --benchmark_repetitions=5,
// --benchmark_report_aggregates_only=true, --benchmark_enable_random_interleaving=true (the
// repetitions of all benchmarks are shuffled, so a burst of load from other processes does not
// land on one benchmark's repetitions only). A summary table of medians is printed at the end.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "anyrl/engine/engine.hpp"
#include "bench_common.hpp"

namespace {

using anyrl::Shape;
using anyrl::Tensor;
namespace ab = anyrl_bench;

struct Meta {
  double flops = 0;  // per iteration (useful FLOPs)
  double bytes = 0;  // per iteration (bytes a perfect kernel must move)
  bool gemm = false;
};
std::map<std::string, Meta>& metas() {
  static std::map<std::string, Meta> m;
  return m;
}
std::vector<std::string>& order() {
  static std::vector<std::string> o;
  return o;
}

anyrl::Generator& gen() {
  static anyrl::Generator g(1234);
  return g;
}
Tensor rnd(const Shape& s) { return anyrl::uniform(s, -1.0, 1.0, gen()); }

std::string shape_str(const Shape& s) {
  std::string out;
  for (int i = 0; i < s.rank(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

template <class F>
void reg(const std::string& name, Meta meta, F fn) {
  metas()[name] = meta;
  order().push_back(name);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn, meta](benchmark::State& st) {
    fn(st);
    if (meta.flops > 0)
      st.counters["FLOP/s"] = benchmark::Counter(meta.flops, benchmark::Counter::kIsIterationInvariantRate);
    if (meta.bytes > 0)
      st.counters["bytes/s"] = benchmark::Counter(meta.bytes, benchmark::Counter::kIsIterationInvariantRate);
  });
  ab::with_min(b)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

// ---- GEMM -------------------------------------------------------------------------------------

struct GemmShape {
  std::int64_t E, M, K, N;  // E = 0: plain [M,K] x [K,N]; else [E,M,K] x [E,K,N]
};
std::string gemm_name(const char* who, const GemmShape& g) {
  std::string s = std::string("gemm/") + who + "/";
  if (g.E) s += std::to_string(g.E) + "x";
  return s + std::to_string(g.M) + "x" + std::to_string(g.K) + "x" + std::to_string(g.N);
}
double gemm_flops(const GemmShape& g) { return 2.0 * std::max<std::int64_t>(g.E, 1) * g.M * g.K * g.N; }

void register_gemm() {
  const std::vector<GemmShape> shapes = {{0, 256, 256, 256},  {0, 256, 512, 512},    {0, 1024, 256, 256},
                                         {0, 512, 512, 512},  {10, 256, 256, 256},   {0, 1024, 1024, 1024},
                                         {0, 2048, 2048, 2048}};
  for (const auto& g : shapes) {
    Meta m{gemm_flops(g), 0, true};
    reg(gemm_name("anyrl", g), m, [g](benchmark::State& st) {
      anyrl::NoGrad ng;
      Tensor a = g.E ? rnd(Shape{g.E, g.M, g.K}) : rnd(Shape{g.M, g.K});
      Tensor b = g.E ? rnd(Shape{g.E, g.K, g.N}) : rnd(Shape{g.K, g.N});
      for (auto _ : st) {
        Tensor c = anyrl::matmul(a, b);
        benchmark::DoNotOptimize(c.raw_data());
      }
    });
  }
  // OpenBLAS at the same RL shapes (a loop over E for the ensemble), for reference.
  for (const auto& g : shapes) {
    if (g.M >= 1024 && g.M == g.N && g.N == g.K) continue;  // the ceiling benchmarks cover these
    Meta m{gemm_flops(g), 0, true};
    reg(gemm_name("openblas", g), m, [g](benchmark::State& st) {
      ab::OpenBlas& ob = ab::OpenBlas::get();
      if (!ob.ok()) {
        st.SkipWithError("libopenblas.so.0 not found");
        for (auto _ : st) {
        }
        return;
      }
      const std::int64_t E = std::max<std::int64_t>(g.E, 1);
      std::vector<float> A(E * g.M * g.K, 0.5f), B(E * g.K * g.N, 0.25f), C(E * g.M * g.N);
      for (auto _ : st) {
        for (std::int64_t e = 0; e < E; ++e)
          ob.sgemm(ab::kCblasRowMajor, ab::kCblasNoTrans, ab::kCblasNoTrans, int(g.M), int(g.N), int(g.K), 1.f,
                   A.data() + e * g.M * g.K, int(g.K), B.data() + e * g.K * g.N, int(g.N), 0.f,
                   C.data() + e * g.M * g.N, int(g.N));
        benchmark::DoNotOptimize(C.data());
      }
    });
  }
  // matmul forward + backward (both gradients): 3x the forward FLOPs.
  for (const auto& g : {GemmShape{0, 256, 512, 512}, GemmShape{10, 256, 256, 256}}) {
    Meta m{3 * gemm_flops(g), 0, true};
    reg("matmul_fwd_bwd/anyrl/" + gemm_name("", g).substr(6), m, [g](benchmark::State& st) {
      Tensor a = g.E ? rnd(Shape{g.E, g.M, g.K}) : rnd(Shape{g.M, g.K});
      Tensor b = g.E ? rnd(Shape{g.E, g.K, g.N}) : rnd(Shape{g.K, g.N});
      a.set_requires_grad(true);
      b.set_requires_grad(true);
      Tensor go = rnd(g.E ? Shape{g.E, g.M, g.N} : Shape{g.M, g.N});
      for (auto _ : st) {
        Tensor c = anyrl::matmul(a, b);
        auto gr = anyrl::grad(c, {a, b}, go);
        benchmark::DoNotOptimize(gr[0].raw_data());
      }
    });
  }
}

// ---- memory-bound ops ---------------------------------------------------------------------------

void register_memory_bound() {
  const std::vector<Shape> shapes = {Shape{256, 256}, Shape{4096, 256}, Shape{10, 256, 256}};
  for (const auto& s : shapes) {
    const double n = static_cast<double>(s.numel());
    const std::int64_t D = s.back();
    reg("add_bcast/anyrl/" + shape_str(s) + "+" + std::to_string(D), Meta{0, 4.0 * (2 * n + D)},
        [s, D](benchmark::State& st) {
          anyrl::NoGrad ng;
          Tensor a = rnd(s), b = rnd(Shape{D});
          for (auto _ : st) {
            Tensor c = anyrl::add(a, b);
            benchmark::DoNotOptimize(c.raw_data());
          }
        });
  }
  for (const auto& s : shapes) {
    const double n = static_cast<double>(s.numel());
    reg("silu_fwd/anyrl/" + shape_str(s), Meta{0, 4.0 * 2 * n}, [s](benchmark::State& st) {
      anyrl::NoGrad ng;
      Tensor a = rnd(s);
      for (auto _ : st) {
        Tensor c = anyrl::silu(a);
        benchmark::DoNotOptimize(c.raw_data());
      }
    });
  }
  for (const auto& s : shapes) {
    const double n = static_cast<double>(s.numel());
    const std::int64_t D = s.back();
    // forward reads x, writes y; backward reads dy and x, writes dx (+ small dgamma/dbeta).
    reg("layer_norm_fwd/anyrl/" + shape_str(s), Meta{0, 4.0 * 2 * n}, [s, D](benchmark::State& st) {
      anyrl::NoGrad ng;
      Tensor x = rnd(s), w = rnd(Shape{D}), b = rnd(Shape{D});
      for (auto _ : st) {
        Tensor y = anyrl::layer_norm(x, w, b);
        benchmark::DoNotOptimize(y.raw_data());
      }
    });
    reg("layer_norm_fwd_bwd/anyrl/" + shape_str(s), Meta{0, 4.0 * 5 * n}, [s, D](benchmark::State& st) {
      Tensor x = rnd(s), w = rnd(Shape{D}), b = rnd(Shape{D}), gy = rnd(s);
      x.set_requires_grad(true);
      w.set_requires_grad(true);
      b.set_requires_grad(true);
      for (auto _ : st) {
        Tensor y = anyrl::layer_norm(x, w, b);
        auto gr = anyrl::grad(y, {x, w, b}, gy);
        benchmark::DoNotOptimize(gr[0].raw_data());
      }
    });
  }
  for (const auto& s : shapes) {
    const double n = static_cast<double>(s.numel());
    reg("softmax_fwd/anyrl/" + shape_str(s), Meta{0, 4.0 * 2 * n}, [s](benchmark::State& st) {
      anyrl::NoGrad ng;
      Tensor a = rnd(s);
      for (auto _ : st) {
        Tensor c = anyrl::softmax(a, -1);
        benchmark::DoNotOptimize(c.raw_data());
      }
    });
  }
}

void print_summary(const ab::KeepingReporter& rep, int threads) {
  const double ceil = rep.ceiling_gflops();
  std::printf("\n=== bench_kernels summary (medians; %d threads; load %s) ===\n", threads, ab::load_average().c_str());
  if (ceil > 0)
    std::printf("sgemm ceiling (OpenBLAS, best of 1024^3 / 2048^3): %.1f GFLOP/s\n", ceil);
  else
    std::printf("sgemm ceiling: not measured (libopenblas.so.0 missing or ceiling benchmarks filtered out)\n");
  std::printf("GFLOP/s and GB/s from the median; best = fastest repetition (GFLOP/s or GB/s)\n");
  std::printf("%-44s %11s %11s %9s %9s %10s %9s\n", "benchmark", "median us", "GFLOP/s", "% ceiling", "GB/s",
              "best us", "best rate");
  for (const auto& name : order()) {
    const ab::Result* r = rep.find(name);
    if (!r) continue;
    if (r->error) {
      std::printf("%-44s %s\n", name.c_str(), r->error_message.c_str());
      continue;
    }
    const Meta& m = metas()[name];
    char gf[32] = "", pc[32] = "", gb[32] = "";
    if (m.flops > 0) {
      const double g = m.flops / r->seconds * 1e-9;
      std::snprintf(gf, sizeof gf, "%.1f", g);
      if (ceil > 0) std::snprintf(pc, sizeof pc, "%.0f%%", 100.0 * g / ceil);
    }
    if (m.bytes > 0) std::snprintf(gb, sizeof gb, "%.1f", m.bytes / r->seconds * 1e-9);
    char br[32] = "";
    if (r->best > 0) std::snprintf(br, sizeof br, "%.1f", (m.flops > 0 ? m.flops : m.bytes) / r->best * 1e-9);
    std::printf("%-44s %11.1f %11s %9s %9s %10.1f %9s\n", name.c_str(), r->seconds * 1e6, gf, pc, gb, r->best * 1e6, br);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = ab::take_threads_flag(argc, argv);
  anyrl::set_num_threads(threads);
  auto args = ab::with_default_flags(argc, argv,
                                     {"--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                                      "--benchmark_enable_random_interleaving=true"});
  int n = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  ab::OpenBlas& ob = ab::OpenBlas::get();
  benchmark::AddCustomContext("anyrl_threads", std::to_string(anyrl::num_threads()));
  benchmark::AddCustomContext("cpu", ab::cpu_model());
  benchmark::AddCustomContext("ceiling_blas", ob.ok() ? ob.path + " (" + ob.config + ")" : "libopenblas.so.0 not found");
  std::printf("anyrl threads: %d   OpenBLAS threads: %d   ceiling library: %s\n", anyrl::num_threads(), threads,
              ob.ok() ? (ob.path + " [" + ob.config + "]").c_str() : "libopenblas.so.0 NOT FOUND (ceiling skipped)");

  ab::register_ceiling(threads);
  register_gemm();
  register_memory_bound();

  ab::KeepingReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  print_summary(rep, threads);
  benchmark::Shutdown();
  return 0;
}
