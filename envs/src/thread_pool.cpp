#include "thread_pool.hpp"

#include <algorithm>

namespace anyrl::envs::detail {

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < std::max(1, num_threads); ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

static void chunk(int n, int parts, int id, int& b, int& e) {
  b = static_cast<int>(static_cast<long long>(n) * id / parts);
  e = static_cast<int>(static_cast<long long>(n) * (id + 1) / parts);
}

void ThreadPool::parallel_for(int n, const std::function<void(int, int)>& fn) {
  const int parts = size();
  if (parts == 1 || n <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  {
    std::lock_guard lk(m_);
    fn_ = &fn;
    n_ = n;
    pending_ = parts - 1;
    error_ = nullptr;
    ++generation_;
  }
  cv_.notify_all();
  std::exception_ptr mine;
  int b, e;
  chunk(n, parts, 0, b, e);
  try {
    if (b < e) fn(b, e);
  } catch (...) {
    mine = std::current_exception();
  }
  std::unique_lock lk(m_);
  done_cv_.wait(lk, [&] { return pending_ == 0; });
  fn_ = nullptr;
  if (mine) std::rethrow_exception(mine);
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker(int id) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int, int)>* fn;
    int n;
    {
      std::unique_lock lk(m_);
      cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      n = n_;
    }
    int b, e;
    chunk(n, size(), id, b, e);
    std::exception_ptr err;
    try {
      if (b < e) (*fn)(b, e);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard lk(m_);
      if (err && !error_) error_ = err;
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace anyrl::envs::detail
