// vtr — a ready-made executor on std::thread, for users whose engine has no thread pool of its own
// (core/parallel.hpp explains the executor contract). Engines with a pool should wrap theirs in a
// vtr::executor instead: two pools on the same cores only fight.
//
// thread_executor(k) uses k threads in all: the calling thread runs tasks too, so k − 1 std::threads are
// started in the constructor (none for k = 1) and joined in the destructor. They sleep on a condition
// variable between calls. Using it needs the platform's thread library (Threads::Threads in CMake).
#pragma once

#include "../config.hpp"
#include "parallel.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

VTR_NAMESPACE_BEGIN

class thread_executor : public executor {
 public:
  /// k threads in all, the caller included (k < 1 is taken as 1: serial, no thread started).
  explicit thread_executor(index_t threads)
      : executor([this](index_t n, task_ref task) { run(n, task); }, threads) {
    const index_t extra = workers() - 1;
#if !defined(VTR_NO_EXCEPTIONS)
    try {
#endif
      pool_.reserve(static_cast<std::size_t>(extra));
      for (index_t i = 0; i < extra; ++i) pool_.emplace_back([this] { worker_loop(); });
#if !defined(VTR_NO_EXCEPTIONS)
    } catch (...) {  // the destructor will not run: stop the threads already started, then report
      shut_down();
      throw;
    }
#endif
  }
  ~thread_executor() override { shut_down(); }
  thread_executor(const thread_executor&) = delete;
  thread_executor& operator=(const thread_executor&) = delete;

  /// Threads in all, the caller included.
  index_t threads() const noexcept { return workers(); }

 private:
  // One job at a time: tasks are claimed under the mutex (there are at most `threads` of them per call,
  // each a long run of vtr items, so the lock is never contended in a way that matters).
  void run(index_t n, task_ref task) {
    std::unique_lock<std::mutex> lk(m_);
    VTR_ASSERT(n_ == 0);  // one call at a time (the slot workspaces could not be shared anyway)
    task_ = &task;
    n_ = n;
    next_ = 0;
    done_ = 0;
    lk.unlock();
    wake_.notify_all();
    lk.lock();
    drain(lk);
    finished_.wait(lk, [&] { return done_ == n_; });
    task_ = nullptr;
    n_ = next_ = done_ = 0;
  }

  // Runs unclaimed tasks of the current job; called and returns with the lock held.
  void drain(std::unique_lock<std::mutex>& lk) {
    while (next_ < n_) {
      const index_t i = next_++;
      const task_ref* task = task_;
      lk.unlock();
      (*task)(i);
      lk.lock();
      if (++done_ == n_) finished_.notify_all();
    }
  }

  void shut_down() noexcept {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : pool_) t.join();
    pool_.clear();
  }

  void worker_loop() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      wake_.wait(lk, [&] { return stop_ || next_ < n_; });
      if (stop_) return;
      drain(lk);
    }
  }

  std::vector<std::thread> pool_;
  std::mutex m_;
  std::condition_variable wake_, finished_;
  const task_ref* task_ = nullptr;
  index_t n_ = 0, next_ = 0, done_ = 0;
  bool stop_ = false;
};

VTR_NAMESPACE_END
