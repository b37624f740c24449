// vtr — opt-in parallelism for large video inputs. Off by default: a method given no executor (or a serial
// one) runs on the calling thread with the caller's workspace, exactly as it always has — no thread is
// created, nothing is allocated for it, the loop is the plain loop.
//
// The engine brings the threads. vtr never owns a pool behind the user's back: an `executor` wraps the
// engine's own parallel-for (any callable `void(index_t n, vtr::task_ref task)` that runs task(0) … task(n−1),
// possibly concurrently, and returns when all have returned), or vtr::thread_executor
// (core/thread_executor.hpp) supplies a small std::thread pool for users without one.
//
// Why the results are bit-identical to the serial run for every thread count: a method only hands the
// executor work items that are independent (one temporal segment's clustering, one frame's quadtree, one
// frame pair's cosine). Each item reads shared inputs, writes its own pre-assigned slice of the result, and
// does its arithmetic in the same order whichever thread runs it; nothing is reduced across items in an
// order that depends on scheduling. Which worker runs which item may change from run to run — what an item
// computes never does (its scratch memory's previous contents do not matter: tests/properties checks that).
//
// Scratch memory. vtr::workspace is a bump arena and not thread-safe, so the executor owns one workspace
// per worker slot: the items run by slot i take their temporaries from slot_workspace(i). They are sized by
// the first parallel call (or reserve() them) and reused afterwards. The caller's workspace is still used,
// by the calling thread only, for the arrays the items share. Like a workspace, an executor serves one call
// at a time: two threads planning concurrently each need their own executor (they may wrap the same pool).
//
// Errors. Each item returns a vtr::status; the call reports the error of the LOWEST failing item, which is
// the error the serial loop would have stopped at, and items above a known failure are skipped. An
// exception escaping an item (std::bad_alloc) is caught on the worker and rethrown on the calling thread.
// Every item releases its workspace scope however it ends, so a failed call leaves the slots reusable.
#pragma once

#include "../config.hpp"
#include "error.hpp"
#include "workspace.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

VTR_NAMESPACE_BEGIN

/// A non-owning reference to the task body vtr hands an executor: call it as task(i), i in [0, n). It
/// never throws (vtr catches inside) and stays valid until the parallel-for it was passed to returns.
class task_ref {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::remove_cv_t<F>, task_ref>>>
  task_ref(F& f) noexcept  // NOLINT: implicit on purpose, like std::function_ref
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, index_t i) { (*static_cast<F*>(o))(i); }) {}
  void operator()(index_t i) const { call_(obj_, i); }

 private:
  void* obj_;
  void (*call_)(void*, index_t);
};

class executor;
namespace detail {
template <class Body>
status run_items(executor* ex, index_t n, workspace& ws, Body&& body, index_t* failed_item = nullptr);
}  // namespace detail

/// How a method may split its work over threads. Default-constructed: serial. Methods take it as an optional
/// trailing `executor*` (nullptr = serial), after their optional `details*`:
///   s1.plan(in, ws, &meta, &exec);
class executor {
 public:
  /// The engine's parallel-for: runs task(i) for every i in [0, n), possibly concurrently, and returns only
  /// when every task has returned (a join, future or condition-variable wait also makes their writes
  /// visible to the caller, which vtr relies on). n ≤ workers(). It must not throw once a task has started
  /// (tasks reference the caller's stack). Running the tasks one after another on one thread is valid too:
  /// vtr's tasks never wait for each other.
  using parallel_for_fn = std::function<void(index_t n, task_ref task)>;

  /// Serial: every item runs on the calling thread, in order, with the caller's workspace.
  executor() noexcept = default;
  /// Wraps an engine's parallel-for. `workers` is the most tasks vtr hands it at once (typically the pool's
  /// thread count); values below 2, or an empty function, give a serial executor. One workspace per worker
  /// is created here, empty (nothing allocated until the first parallel call).
  executor(parallel_for_fn parallel_for, index_t workers)
      : fn_(std::move(parallel_for)), workers_(fn_ ? std::max<index_t>(workers, 1) : 1) {
    if (workers_ > 1) {
      slots_.resize(static_cast<std::size_t>(workers_));
      results_.resize(static_cast<std::size_t>(workers_));
    }
  }
  // Slot workspaces are handed out by reference and the thread pool captures `this`: never copied or moved.
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;
  virtual ~executor() = default;

  /// Worker slots (1 when serial).
  index_t workers() const noexcept { return workers_; }
  bool serial() const noexcept { return workers_ <= 1; }

  /// Scratch of worker slot i, 0 ≤ i < workers() (only for a parallel executor): reserve() it once for
  /// allocation-free calls, or let the first call size it.
  workspace& slot_workspace(index_t i) {
    VTR_ASSERT(i >= 0 && i < static_cast<index_t>(slots_.size()));
    return slots_[static_cast<std::size_t>(i)];
  }

 private:
  template <class Body>
  friend status detail::run_items(executor* ex, index_t n, workspace& ws, Body&& body, index_t* failed_item);

  /// What one slot saw: its first (lowest) failing item, the status, or the exception it caught.
  struct slot_result {
    index_t failed = std::numeric_limits<index_t>::max();
    status error;
#if !defined(VTR_NO_EXCEPTIONS)
    std::exception_ptr exception;
#endif
  };

  template <class Body>
  status run_parallel(index_t n, Body& body, index_t* failed_item) {
    const index_t tasks = std::min(workers_, n);
    for (index_t t = 0; t < tasks; ++t) results_[static_cast<std::size_t>(t)] = slot_result{};
    std::atomic<index_t> next{0};
    std::atomic<index_t> lowest_failure{n};
    auto task = [&](index_t t) {
      workspace& ws = slots_[static_cast<std::size_t>(t)];
      slot_result& r = results_[static_cast<std::size_t>(t)];
      for (;;) {
        // Items are claimed in ascending order, so once an item is above a known failure every later
        // claim of this slot is too: the slot stops. Items below the lowest failure always run.
        const index_t i = next.fetch_add(1, std::memory_order_relaxed);
        if (i >= n || i > lowest_failure.load(std::memory_order_relaxed)) return;
        bool failed = false;
#if !defined(VTR_NO_EXCEPTIONS)
        try {
#endif
          status st = body(i, t, ws);
          if (!st.ok()) {
            r.error = std::move(st);
            failed = true;
          }
#if !defined(VTR_NO_EXCEPTIONS)
        } catch (...) {
          r.exception = std::current_exception();
          failed = true;
        }
#endif
        if (failed) {
          r.failed = i;
          index_t cur = lowest_failure.load(std::memory_order_relaxed);
          while (i < cur && !lowest_failure.compare_exchange_weak(cur, i, std::memory_order_relaxed)) {
          }
          return;
        }
      }
    };
    fn_(tasks, task_ref(task));
    const slot_result* worst = nullptr;
    for (index_t t = 0; t < tasks; ++t) {
      const slot_result& r = results_[static_cast<std::size_t>(t)];
      if (r.failed < n && (!worst || r.failed < worst->failed)) worst = &r;
    }
    if (!worst) return {};
    if (failed_item) *failed_item = worst->failed;
#if !defined(VTR_NO_EXCEPTIONS)
    if (worst->exception) std::rethrow_exception(worst->exception);
#endif
    return worst->error;
  }

  parallel_for_fn fn_;
  index_t workers_ = 1;
  std::vector<workspace> slots_;
  std::vector<slot_result> results_;
};

namespace detail {

/// Worker slots a method sizes its per-slot state for (1 when serial or no executor).
inline index_t slot_count(const executor* ex) noexcept { return ex ? ex->workers() : 1; }

/// Runs `body(item, slot, ws) -> status` for every item in [0, n) and returns the error of the lowest
/// failing item (its index in *failed_item when given; untouched on success). Serial (no executor, a serial
/// one, or a single item): in order on the calling thread with the caller's `ws` and slot 0, stopping at the
/// first error — the loop it replaces. Parallel: slot t's items use ex->slot_workspace(t). `body` must
/// only write what belongs to its item and open its own workspace::scope for what it takes.
template <class Body>
status run_items(executor* ex, index_t n, workspace& ws, Body&& body, index_t* failed_item) {
  if (n <= 0) return {};
  if (!ex || ex->serial() || n == 1) {
    for (index_t i = 0; i < n; ++i) {
      status st = body(i, index_t(0), ws);
      if (!st.ok()) {
        if (failed_item) *failed_item = i;
        return st;
      }
    }
    return {};
  }
  return ex->run_parallel(n, body, failed_item);
}

}  // namespace detail

VTR_NAMESPACE_END
