// Internal: a small persistent pool running parallel_for over contiguous index ranges.
#pragma once
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace anyrl::envs::detail {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);  // total threads including the caller
  ~ThreadPool();
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Calls fn(begin, end) on disjoint chunks of [0, n); the caller runs chunk 0. Rethrows the
  // first exception thrown by any chunk.
  void parallel_for(int n, const std::function<void(int, int)>& fn);

 private:
  void worker(int id);
  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int, int)>* fn_ = nullptr;
  int n_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

int default_threads();

}  // namespace anyrl::envs::detail
