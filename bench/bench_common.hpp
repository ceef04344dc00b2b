// Shared pieces of the anyrl benchmark programs (bench_kernels, bench_step):
//  - the thread count (--threads=N, else ANYRL_BENCH_THREADS, else 2),
//  - default Google Benchmark flags (5 repetitions, aggregates only) unless given,
//  - the OpenBLAS sgemm ceiling, loaded at run time with dlopen (no header, no link dep),
//  - a console reporter that also keeps each benchmark's median for the summary tables.
#pragma once
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace anyrl_bench {

// ---- command line ---------------------------------------------------------------------------

/// Reads and removes `--threads=N` from argv; falls back to $ANYRL_BENCH_THREADS, then 2.
inline int take_threads_flag(int& argc, char** argv) {
  int n = 0;
  int w = 1;
  for (int r = 1; r < argc; ++r) {
    if (std::strncmp(argv[r], "--threads=", 10) == 0) {
      n = std::atoi(argv[r] + 10);
    } else {
      argv[w++] = argv[r];
    }
  }
  argc = w;
  argv[argc] = nullptr;
  if (n < 1) {
    if (const char* e = std::getenv("ANYRL_BENCH_THREADS")) n = std::atoi(e);
  }
  return n >= 1 ? n : 2;
}

/// Reads and removes a boolean flag (e.g. `--breakdown`) from argv; true if it was given.
inline bool take_flag(int& argc, char** argv, const char* flag) {
  bool found = false;
  int w = 1;
  for (int r = 1; r < argc; ++r) {
    if (std::strcmp(argv[r], flag) == 0)
      found = true;
    else
      argv[w++] = argv[r];
  }
  argc = w;
  argv[argc] = nullptr;
  return found;
}

/// argv plus the given defaults for every `--benchmark_x=` flag the user did not pass.
inline std::vector<char*> with_default_flags(int argc, char** argv, const std::vector<std::string>& defaults) {
  static std::vector<std::string> keep;  // storage for the added strings
  std::vector<char*> out(argv, argv + argc);
  for (const auto& d : defaults) {
    std::string key = d.substr(0, d.find('=') + 1);
    bool given = false;
    for (int i = 1; i < argc; ++i)
      if (std::strncmp(argv[i], key.c_str(), key.size()) == 0) given = true;
    if (!given) keep.push_back(d);
  }
  for (auto& s : keep) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

inline std::string read_first_line(const char* cmd) {
  std::string s;
  if (FILE* f = popen(cmd, "r")) {
    char buf[512];
    if (std::fgets(buf, sizeof buf, f)) s = buf;
    pclose(f);
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

inline std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

/// Lines of /proc/self/maps naming a BLAS/LAPACK/MKL library (unique paths).
inline std::vector<std::string> loaded_blas_libraries() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  std::set<std::string> seen;
  std::vector<std::string> out;
  while (std::getline(f, line)) {
    auto p = line.find('/');
    if (p == std::string::npos) continue;
    std::string path = line.substr(p);
    std::string low = path;
    for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (low.find("blas") == std::string::npos && low.find("lapack") == std::string::npos &&
        low.find("mkl") == std::string::npos)
      continue;
    if (seen.insert(path).second) out.push_back(path);
  }
  return out;
}

// ---- OpenBLAS, loaded at run time ------------------------------------------------------------

enum { kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112 };
using cblas_sgemm_fn = void (*)(int order, int ta, int tb, int M, int N, int K, float alpha, const float* A,
                                int lda, const float* B, int ldb, float beta, float* C, int ldc);
using openblas_set_threads_fn = void (*)(int);
using openblas_get_config_fn = char* (*)();

struct OpenBlas {
  void* handle = nullptr;
  cblas_sgemm_fn sgemm = nullptr;
  openblas_set_threads_fn set_threads = nullptr;
  std::string config;
  std::string path;

  static OpenBlas& get() {
    static OpenBlas b = load();
    return b;
  }
  bool ok() const { return sgemm != nullptr; }

 private:
  static OpenBlas load() {
    OpenBlas b;
    b.handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!b.handle) return b;
    b.sgemm = reinterpret_cast<cblas_sgemm_fn>(dlsym(b.handle, "cblas_sgemm"));
    b.set_threads = reinterpret_cast<openblas_set_threads_fn>(dlsym(b.handle, "openblas_set_num_threads"));
    if (auto cfg = reinterpret_cast<openblas_get_config_fn>(dlsym(b.handle, "openblas_get_config")))
      b.config = cfg();
    Dl_info info{};
    if (b.sgemm && dladdr(reinterpret_cast<void*>(b.sgemm), &info) && info.dli_fname) b.path = info.dli_fname;
    return b;
  }
};

/// Adds a "min" aggregate (the fastest repetition) next to mean/median/stddev/cv.
inline benchmark::internal::Benchmark* with_min(benchmark::internal::Benchmark* b) {
  return b->ComputeStatistics("min", [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
  });
}

/// Registers the ceiling benchmarks: OpenBLAS cblas_sgemm at n^3, n in {1024, 2048}, row-major,
/// no transposes, `threads` OpenBLAS threads. Skips with a message when libopenblas is missing.
inline void register_ceiling(int threads) {
  for (int n : {1024, 2048}) {
    std::string name = "ceiling/openblas_sgemm/" + std::to_string(n) + "x" + std::to_string(n) + "x" +
                       std::to_string(n);
    auto* b = benchmark::RegisterBenchmark(name.c_str(), [n, threads](benchmark::State& st) {
      OpenBlas& ob = OpenBlas::get();
      if (!ob.ok()) {
        st.SkipWithError("libopenblas.so.0 not found (install libopenblas0-pthread): no sgemm ceiling");
        for (auto _ : st) {
        }
        return;
      }
      if (ob.set_threads) ob.set_threads(threads);
      std::vector<float> A(static_cast<size_t>(n) * n), B(A.size()), C(A.size());
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> u(-1.f, 1.f);
      for (auto& x : A) x = u(rng);
      for (auto& x : B) x = u(rng);
      for (auto _ : st) {
        ob.sgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f,
                 C.data(), n);
        benchmark::DoNotOptimize(C.data());
        benchmark::ClobberMemory();
      }
      st.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
    });
    with_min(b)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

// ---- reporter that remembers medians ----------------------------------------------------------

struct Result {
  double seconds = 0;  // median real time per iteration
  double best = 0;     // fastest repetition (less sensitive to load from other processes)
  double cv = -1;      // coefficient of variation across repetitions (-1 when unknown)
  bool error = false;
  std::string error_message;
};

/// Prints like the console reporter and keeps, per benchmark (function_name), the median real
/// time per iteration (the "median" aggregate when there are repetitions, else the run itself).
class KeepingReporter : public benchmark::ConsoleReporter {
 public:
  using benchmark::ConsoleReporter::ConsoleReporter;
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      const std::string name = r.run_name.function_name;
      Result& res = results_[name];
      if (r.error_occurred) {
        res.error = true;
        res.error_message = r.error_message;
        continue;
      }
      const double s = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
      if (r.run_type == Run::RT_Aggregate) {
        if (r.aggregate_name == "median") {
          res.seconds = s;
          have_median_.insert(name);
        } else if (r.aggregate_name == "min") {
          res.best = s;
        } else if (r.aggregate_name == "cv") {
          res.cv = r.real_accumulated_time;  // a ratio, stored unscaled for percentage aggregates
        }
      } else {
        samples_[name].push_back(s);
        auto v = samples_[name];
        std::sort(v.begin(), v.end());
        if (!have_median_.count(name)) res.seconds = v[v.size() / 2];
        res.best = v.front();
      }
    }
  }
  const Result* find(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? nullptr : &it->second;
  }
  /// Best (largest) ceiling GFLOP/s among the registered ceiling benchmarks; 0 if none ran.
  double ceiling_gflops() const {
    double best = 0;
    for (int n : {1024, 2048}) {
      std::string name = "ceiling/openblas_sgemm/" + std::to_string(n) + "x" + std::to_string(n) + "x" +
                         std::to_string(n);
      const Result* r = find(name);
      if (r && !r->error && r->seconds > 0) best = std::max(best, 2.0 * n * n * n / r->seconds * 1e-9);
    }
    return best;
  }

 private:
  std::map<std::string, Result> results_;
  std::map<std::string, std::vector<double>> samples_;
  std::set<std::string> have_median_;
};

}  // namespace anyrl_bench
