// A small fork-join thread pool. The caller takes part in the work; chunks are claimed
// from an atomic counter, and chunk boundaries depend only on (n, grain), so which thread
// runs a chunk never changes the result.
#include "anyrl/engine/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "anyrl/engine/error.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define ANYRL_HAVE_MXCSR 1
#endif

namespace anyrl {
namespace {

thread_local bool t_in_parallel = false;

// Flush-to-zero mode requested by set_flush_denormal, and the mode each thread last applied.
std::atomic<bool> g_flush_denormal{false};
thread_local bool t_flush_applied = false;

void apply_flush_mode(bool on) {
#ifdef ANYRL_HAVE_MXCSR
  constexpr unsigned kFtzDaz = 0x8040;  // FTZ (bit 15) | DAZ (bit 6)
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(on ? (csr | kFtzDaz) : (csr & ~kFtzDaz));
#endif
  t_flush_applied = on;
}

inline void sync_flush_mode() {
  const bool want = g_flush_denormal.load(std::memory_order_relaxed);
  if (want != t_flush_applied) apply_flush_mode(want);
}

int default_threads() {
  if (const char* env = std::getenv("ANYRL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

struct Job {
  const std::function<void(std::int64_t, std::int64_t)>* fn;
  std::int64_t n, chunk, nchunks;
  std::atomic<std::int64_t> next{0}, done{0};
  std::mutex err_mu;
  std::exception_ptr error;
};

class Pool {
 public:
  static Pool& get() {
    static Pool* p = new Pool(default_threads());  // leaked: workers may outlive statics
    return *p;
  }

  int threads() const { return nthreads_; }

  void resize(int n) {
    stop_workers();
    nthreads_ = n;
    start_workers();
  }

  void run(std::int64_t n, std::int64_t chunk, std::int64_t nchunks,
           const std::function<void(std::int64_t, std::int64_t)>& fn) {
    std::lock_guard<std::mutex> run_lock(run_mu_);  // one parallel region at a time
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->n = n;
    job->chunk = chunk;
    job->nchunks = nchunks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = job;
      ++generation_;
    }
    cv_.notify_all();
    work(*job);
    while (job->done.load(std::memory_order_acquire) < nchunks) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  explicit Pool(int n) : nthreads_(n) { start_workers(); }

  // Each job owns its counters, so a worker that wakes late for a finished job finds no
  // chunk left and can never touch the next job's state.
  static void work(Job& job) {
    t_in_parallel = true;
    for (;;) {
      std::int64_t c = job.next.fetch_add(1);
      if (c >= job.nchunks) break;
      std::int64_t b = c * job.chunk, e = std::min(job.n, b + job.chunk);
      try {
        (*job.fn)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(job.err_mu);
        if (!job.error) job.error = std::current_exception();
      }
      job.done.fetch_add(1, std::memory_order_release);
    }
    t_in_parallel = false;
  }

  void worker_loop() {
    std::uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      sync_flush_mode();  // workers follow set_flush_denormal; the caller keeps its own mode
      work(*job);
    }
  }

  void start_workers() {
    stop_ = false;
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex run_mu_, mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint64_t generation_ = 0;
  std::shared_ptr<Job> job_;
};

}  // namespace

bool set_flush_denormal(bool on) {
#ifdef ANYRL_HAVE_MXCSR
  g_flush_denormal.store(on, std::memory_order_relaxed);
  apply_flush_mode(on);
  return true;
#else
  return !on;
#endif
}

bool flush_denormal() { return g_flush_denormal.load(std::memory_order_relaxed); }

int num_threads() { return Pool::get().threads(); }

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: need at least 1 thread, got " + std::to_string(n));
  if (n != Pool::get().threads()) Pool::get().resize(n);
}

void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  // At most 64 chunks: enough to balance a few threads, few enough to keep overhead low.
  std::int64_t chunk = std::max(grain, (n + 63) / 64);
  std::int64_t nchunks = (n + chunk - 1) / chunk;
  Pool& pool = Pool::get();
  if (nchunks == 1 || pool.threads() == 1 || t_in_parallel) {
    // Same chunk boundaries as the parallel path, run in order.
    for (std::int64_t c = 0; c < nchunks; ++c) fn(c * chunk, std::min(n, (c + 1) * chunk));
    return;
  }
  pool.run(n, chunk, nchunks, fn);
}

}  // namespace anyrl
