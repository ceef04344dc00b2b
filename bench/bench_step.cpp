// The side-by-side that matters: one training step (zero_grad, forward, MSE loss, backward,
// Adam step) of three RL critics, in anyrl and in libtorch (CPU), in the same binary, with
// the same thread count, batch 256, obs 29 + act 8 = 37 inputs, ReLU activations:
//   (a) a 10-member ensemble critic, 37 -> 4x256 (LayerNorm + ReLU) -> 1, batched over members:
//       weights [E, in, out], bias [E, 1, out]; anyrl::matmul(h, W, b) / torch::baddbmm; LayerNorm over
//       the last dim without affine parameters (per-member affine would not fit a [D] weight).
//   (b) one critic 37 -> 3x512 (LayerNorm with affine + ReLU) -> 1 (anyrl::linear / torch::linear).
//   (c) a SAC-sized MLP 37 -> 2x64 (ReLU) -> 1, no LayerNorm.
// Useful FLOPs per step = 6 * batch * sum(in*out) (forward 2x, backward 4x the weight MACs),
// reported as GFLOP/s and % of the OpenBLAS sgemm ceiling measured in the same run.
//
//   bench_step [--threads=N] [--breakdown] [google-benchmark flags]
// Defaults: --threads=2 (or $ANYRL_BENCH_THREADS), --benchmark_repetitions=5,
// --benchmark_report_aggregates_only=true, --benchmark_enable_random_interleaving=true
// (repetitions of the anyrl and libtorch runs alternate, so load from other processes hits
// both alike). --breakdown adds forward-only and forward+backward runs of each side.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "anyrl/engine/engine.hpp"
#include "bench_common.hpp"

#ifdef ANYRL_BENCH_HAVE_TORCH
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>
#endif

namespace {

namespace ab = anyrl_bench;

constexpr std::int64_t kBatch = 256;
constexpr std::int64_t kIn = 29 + 8;

struct Config {
  std::string key;   // short id used in benchmark names
  std::string desc;  // for the table
  std::int64_t E;    // ensemble members (0 = plain network)
  std::vector<std::int64_t> dims;  // layer widths, input first, output last
  bool layer_norm;
  double target_ratio;  // anyrl / libtorch step time must be <= this
  double target_ceiling_pct;  // useful FLOP/s >= this % of the sgemm ceiling (0 = none)

  double flops() const {
    double macs = 0;
    for (std::size_t l = 0; l + 1 < dims.size(); ++l) macs += double(dims[l]) * double(dims[l + 1]);
    return 6.0 * kBatch * std::max<std::int64_t>(E, 1) * macs;
  }
};

const std::vector<Config>& configs() {
  static const std::vector<Config> c = {
      {"a_ensemble10_4x256_ln", "(a) 10x ensemble 37-4x256(LN)-1", 10, {kIn, 256, 256, 256, 256, 1}, true, 0.4, 50},
      {"b_critic_3x512_ln", "(b) critic 37-3x512(LN)-1", 0, {kIn, 512, 512, 512, 1}, true, 0.9, 50},
      {"c_sac_2x64", "(c) SAC MLP 37-2x64-1", 0, {kIn, 64, 64, 1}, false, 0.33, 0},
  };
  return c;
}

enum Mode { kStep = 0, kForward = 1, kForwardBackward = 2 };
const char* mode_name(int m) { return m == kStep ? "step" : m == kForward ? "fwd" : "fwd_bwd"; }

// ---- anyrl --------------------------------------------------------------------------------------

class AnyrlNet {
 public:
  explicit AnyrlNet(const Config& c) : c_(c) {
    using anyrl::Shape;
    using anyrl::Tensor;
    anyrl::Generator gen(42);
    const std::size_t L = c.dims.size() - 1;
    std::vector<Tensor> params;
    for (std::size_t l = 0; l < L; ++l) {
      const std::int64_t in = c.dims[l], out = c.dims[l + 1];
      const double k = 1.0 / std::sqrt(double(in));
      Tensor w = c.E ? anyrl::uniform(Shape{c.E, in, out}, -k, k, gen) : anyrl::uniform(Shape{out, in}, -k, k, gen);
      Tensor b = c.E ? anyrl::uniform(Shape{c.E, 1, out}, -k, k, gen) : anyrl::uniform(Shape{out}, -k, k, gen);
      w.set_requires_grad(true);
      b.set_requires_grad(true);
      W_.push_back(w);
      B_.push_back(b);
      params.push_back(w);
      params.push_back(b);
      Tensor g, beta;
      if (c.layer_norm && l + 1 < L && !c.E) {
        g = Tensor::ones(Shape{out});
        beta = Tensor::zeros(Shape{out});
        g.set_requires_grad(true);
        beta.set_requires_grad(true);
        params.push_back(g);
        params.push_back(beta);
      }
      G_.push_back(g);
      Beta_.push_back(beta);
    }
    x_ = anyrl::randn(Shape{kBatch, kIn}, gen);
    y_ = c.E ? anyrl::randn(Shape{c.E, kBatch, 1}, gen) : anyrl::randn(Shape{kBatch, 1}, gen);
    anyrl::AdamOptions o;
    o.lr = 3e-4;
    opt_ = std::make_unique<anyrl::Adam>(params, o);
  }

  anyrl::Tensor forward() {
    anyrl::Tensor h = x_;
    const std::size_t L = W_.size();
    for (std::size_t l = 0; l < L; ++l) {
      // matmul(a, b, bias) is anyrl's baddbmm: the product accumulates onto the broadcast bias.
      h = c_.E ? anyrl::matmul(h, W_[l], B_[l]) : anyrl::linear(h, W_[l], B_[l]);
      if (l + 1 < L) {
        if (c_.layer_norm) h = anyrl::layer_norm(h, G_[l], Beta_[l]);
        h = anyrl::relu(h);
      }
    }
    return anyrl::mse_loss(h, y_);
  }

  void run(int mode) {
    if (mode == kForward) {
      anyrl::Tensor loss = forward();
      benchmark::DoNotOptimize(loss.raw_data());
      return;
    }
    opt_->zero_grad();
    anyrl::Tensor loss = forward();
    loss.backward();
    if (mode == kStep) opt_->step();
  }

 private:
  Config c_;
  std::vector<anyrl::Tensor> W_, B_, G_, Beta_;
  anyrl::Tensor x_, y_;
  std::unique_ptr<anyrl::Adam> opt_;
};

// ---- libtorch -----------------------------------------------------------------------------------

#ifdef ANYRL_BENCH_HAVE_TORCH
class TorchNet {
 public:
  explicit TorchNet(const Config& c) : c_(c) {
    torch::manual_seed(42);
    const std::size_t L = c.dims.size() - 1;
    std::vector<torch::Tensor> params;
    for (std::size_t l = 0; l < L; ++l) {
      const std::int64_t in = c.dims[l], out = c.dims[l + 1];
      const double k = 1.0 / std::sqrt(double(in));
      torch::Tensor w = c.E ? torch::empty({c.E, in, out}) : torch::empty({out, in});
      torch::Tensor b = c.E ? torch::empty({c.E, 1, out}) : torch::empty({out});
      w.uniform_(-k, k).requires_grad_(true);
      b.uniform_(-k, k).requires_grad_(true);
      W_.push_back(w);
      B_.push_back(b);
      params.push_back(w);
      params.push_back(b);
      torch::Tensor g, beta;
      if (c.layer_norm && l + 1 < L && !c.E) {
        g = torch::ones({out}).requires_grad_(true);
        beta = torch::zeros({out}).requires_grad_(true);
        params.push_back(g);
        params.push_back(beta);
      }
      G_.push_back(g);
      Beta_.push_back(beta);
    }
    x_ = torch::randn({kBatch, kIn});
    y_ = c.E ? torch::randn({c.E, kBatch, 1}) : torch::randn({kBatch, 1});
    if (c.E) xe_ = x_.unsqueeze(0).expand({c.E, kBatch, kIn});
    opt_ = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(3e-4));
  }

  torch::Tensor forward() {
    torch::Tensor h = c_.E ? xe_ : x_;
    const std::size_t L = W_.size();
    for (std::size_t l = 0; l < L; ++l) {
      h = c_.E ? torch::baddbmm(B_[l], h, W_[l]) : torch::linear(h, W_[l], B_[l]);
      if (l + 1 < L) {
        if (c_.layer_norm) h = torch::layer_norm(h, {c_.dims[l + 1]}, G_[l], Beta_[l]);
        h = torch::relu(h);
      }
    }
    return torch::mse_loss(h, y_);
  }

  void run(int mode) {
    if (mode == kForward) {
      torch::Tensor loss = forward();
      benchmark::DoNotOptimize(loss.data_ptr());
      return;
    }
    opt_->zero_grad();
    torch::Tensor loss = forward();
    loss.backward();
    if (mode == kStep) opt_->step();
  }

 private:
  Config c_;
  std::vector<torch::Tensor> W_, B_, G_, Beta_;
  torch::Tensor x_, xe_, y_;
  std::unique_ptr<torch::optim::Adam> opt_;
};

// Which BLAS libtorch runs on: what it was built against, what the loader mapped, and where
// Debian's libblas.so.3 alternative points.
void report_torch_blas(int threads) {
  std::printf("libtorch %s  (at::get_num_threads() = %d)\n", TORCH_VERSION, at::get_num_threads());
  {
    std::string cfg = at::show_config();
    std::size_t pos = 0;
    while (pos < cfg.size()) {
      std::size_t e = cfg.find('\n', pos);
      if (e == std::string::npos) e = cfg.size();
      std::string line = cfg.substr(pos, e - pos);
      if (line.find("BLAS") != std::string::npos || line.find("LAPACK") != std::string::npos)
        std::printf("  libtorch build config:%s\n", line.c_str());
      pos = e + 1;
    }
  }
  // Make libtorch run a GEMM so that whatever BLAS it uses is certainly mapped.
  torch::Tensor a = torch::randn({256, 256}), b = torch::randn({256, 256});
  torch::Tensor c = torch::mm(a, b);
  benchmark::DoNotOptimize(c.data_ptr());
  bool reference = false;
  for (const auto& p : ab::loaded_blas_libraries()) {
    std::printf("  mapped after a torch::mm: %s\n", p.c_str());
    if (p.find("/blas/libblas") != std::string::npos) reference = true;
  }
  char buf[4096];
  if (realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3", buf))
    std::printf("  Debian alternative libblas.so.3 -> %s\n", buf);
  if (reference)
    std::printf("  WARNING: libtorch is on the reference BLAS; install libopenblas0-pthread "
                "(the comparison is meaningless otherwise)\n");
  // libtorch's OpenBLAS (libblas.so.3 -> libopenblas.so.0) has its own pthread pool.
  if (auto f = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    f(threads);
    std::printf("  openblas_set_num_threads(%d) applied to the OpenBLAS libtorch uses\n", threads);
  }
}
#endif

// libtorch's CPU work runs on two thread pools here: OpenMP (intra-op: elementwise, layer_norm,
// Adam) and OpenBLAS's own pthreads (GEMM; Debian's libtorch calls libblas.so.3). With N threads
// each, up to 2N busy threads share the cores, so a second variant with one OpenMP thread
// (GEMMs still on N OpenBLAS threads) is measured too; ratios are taken against the faster of
// the two (the conservative comparison for anyrl).
struct TorchVariant {
  std::string name;
  int intra_op, blas;
};
std::vector<TorchVariant>& torch_variants() {
  static std::vector<TorchVariant> v;
  return v;
}
#ifdef ANYRL_BENCH_HAVE_TORCH
void set_torch_blas_threads(int n) {
  static auto f = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (f) f(n);
}
#endif

std::string bench_name(const Config& c, const std::string& impl, int mode) {
  return std::string(mode_name(mode)) + "/" + c.key + "/" + impl;
}

void register_all(bool breakdown) {
  for (int mode : {kStep, kForward, kForwardBackward}) {
    if (mode != kStep && !breakdown) continue;
    for (const Config& c : configs()) {
      const double flops = mode == kStep || mode == kForwardBackward ? c.flops() : c.flops() / 3;
      auto* ba = benchmark::RegisterBenchmark(bench_name(c, "anyrl", mode).c_str(), [c, mode, flops](benchmark::State& st) {
        AnyrlNet net(c);
        for (int i = 0; i < 3; ++i) net.run(mode);  // optimiser state, allocator cache
        for (auto _ : st) net.run(mode);
        st.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
      });
      ab::with_min(ba)->UseRealTime()->Unit(benchmark::kMillisecond);
#ifdef ANYRL_BENCH_HAVE_TORCH
      for (const TorchVariant& v : torch_variants()) {
        auto* bt = benchmark::RegisterBenchmark(bench_name(c, v.name, mode).c_str(), [c, mode, flops, v](benchmark::State& st) {
          torch::set_num_threads(v.intra_op);
          set_torch_blas_threads(v.blas);
          TorchNet net(c);
          for (int i = 0; i < 3; ++i) net.run(mode);
          for (auto _ : st) net.run(mode);
          st.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
        });
        ab::with_min(bt)->UseRealTime()->Unit(benchmark::kMillisecond);
      }
#endif
    }
  }
}

void print_summary(const ab::KeepingReporter& rep, int threads, bool breakdown) {
  const double ceil = rep.ceiling_gflops();
  std::printf("\n=== bench_step summary (medians; %d threads; load %s) ===\n", threads, ab::load_average().c_str());
  if (ceil > 0)
    std::printf("sgemm ceiling (OpenBLAS, best of 1024^3 / 2048^3): %.1f GFLOP/s\n", ceil);
  else
    std::printf("sgemm ceiling: not measured\n");
  std::printf("libtorch variants:");
  for (const auto& v : torch_variants())
    std::printf("  %s = %d OpenMP intra-op / %d OpenBLAS threads;", v.name.c_str(), v.intra_op, v.blas);
  std::printf("\nratio = anyrl median / fastest libtorch variant's median; ratio min = the same with each side's\n"
              "fastest repetition (less sensitive to load from other processes)\n");
  std::printf("%-8s %-33s %9s", "phase", "config", "anyrl ms");
  for (const auto& v : torch_variants()) std::printf(" %14s", (v.name + " ms").c_str());
  std::printf(" %7s %7s %4s %10s %7s %10s %10s\n", "ratio", "target", "met", "anyrl GF/s", "% ceil", "torch GF/s",
              "ratio min");
  auto ms = [](const ab::Result* r) { return r && !r->error && r->seconds > 0 ? r->seconds * 1e3 : -1.0; };
  for (int mode : {kStep, kForward, kForwardBackward}) {
    if (mode != kStep && !breakdown) continue;
    for (const Config& c : configs()) {
      const double a = ms(rep.find(bench_name(c, "anyrl", mode)));
      const double flops = mode == kForward ? c.flops() / 3 : c.flops();
      std::printf("%-8s %-33s", mode_name(mode), c.desc.c_str());
      if (a > 0)
        std::printf(" %9.3f", a);
      else
        std::printf(" %9s", "-");
      double best = -1, best_min = -1;
      for (const auto& v : torch_variants()) {
        const ab::Result* r = rep.find(bench_name(c, v.name, mode));
        if (r && !r->error && r->best > 0 && (best_min < 0 || r->best * 1e3 < best_min)) best_min = r->best * 1e3;
        const double t = ms(r);
        if (t > 0) {
          std::printf(" %14.3f", t);
          if (best < 0 || t < best) best = t;
        } else {
          std::printf(" %14s", "-");
        }
      }
      char sr[32] = "-", starget[32] = "", smet[8] = "", sg[32] = "-", sp[32] = "-", stg[32] = "-";
      if (a > 0 && best > 0) std::snprintf(sr, sizeof sr, "%.2fx", a / best);
      if (mode == kStep) {
        std::snprintf(starget, sizeof starget, "<=%.2fx", c.target_ratio);
        if (a > 0 && best > 0) std::snprintf(smet, sizeof smet, "%s", a / best <= c.target_ratio ? "yes" : "NO");
      }
      if (a > 0) {
        std::snprintf(sg, sizeof sg, "%.1f", flops / (a * 1e-3) * 1e-9);
        if (ceil > 0) std::snprintf(sp, sizeof sp, "%.0f%%", 100.0 * flops / (a * 1e-3) * 1e-9 / ceil);
      }
      if (best > 0) std::snprintf(stg, sizeof stg, "%.1f", flops / (best * 1e-3) * 1e-9);
      char srm[32] = "-";
      const ab::Result* ra = rep.find(bench_name(c, "anyrl", mode));
      if (ra && !ra->error && ra->best > 0 && best_min > 0)
        std::snprintf(srm, sizeof srm, "%.2fx", ra->best * 1e3 / best_min);
      std::printf(" %7s %7s %4s %10s %7s %10s %10s\n", sr, starget, smet, sg, sp, stg, srm);
    }
  }
  std::printf("targets: step ratio as listed; (a) and (b) also >= 50%% of the sgemm ceiling in useful FLOP/s.\n");
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = ab::take_threads_flag(argc, argv);
  const bool breakdown = ab::take_flag(argc, argv, "--breakdown");
  anyrl::set_num_threads(threads);
#ifdef ANYRL_BENCH_HAVE_TORCH
  torch::set_num_threads(threads);  // intra-op pool only; inter-op is left alone
#endif
  auto args = ab::with_default_flags(argc, argv,
                                     {"--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                                      "--benchmark_enable_random_interleaving=true"});
  int n = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  std::printf("cpu: %s   load: %s\n", ab::cpu_model().c_str(), ab::load_average().c_str());
  std::printf("threads: anyrl %d", anyrl::num_threads());
#ifdef ANYRL_BENCH_HAVE_TORCH
  std::printf(", libtorch intra-op %d\n", at::get_num_threads());
  report_torch_blas(threads);  // before our own dlopen of OpenBLAS, so the maps show libtorch's
#else
  std::printf("\nlibtorch: not found at configure time; only the anyrl side runs\n");
#endif
  ab::OpenBlas& ob = ab::OpenBlas::get();
  std::printf("ceiling library: %s\n",
              ob.ok() ? (ob.path + " [" + ob.config + "]").c_str() : "libopenblas.so.0 NOT FOUND (ceiling skipped)");
  benchmark::AddCustomContext("threads", std::to_string(threads));

#ifdef ANYRL_BENCH_HAVE_TORCH
  torch_variants().push_back({"libtorch", threads, threads});
  if (threads > 1) torch_variants().push_back({"libtorch_omp1", 1, threads});
#endif
  ab::register_ceiling(threads);
  register_all(breakdown);

  ab::KeepingReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  print_summary(rep, threads, breakdown);
  benchmark::Shutdown();
  return 0;
}
