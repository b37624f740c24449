// vtr — scratch memory (DESIGN §2.5). A workspace is a bump arena: kernels take their temporaries from
// it and give them back in LIFO order through a scope. Sized once (reserve() with a step's
// workspace_bytes(), or by a first call), later calls allocate nothing.
#pragma once

#include "../config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

VTR_NAMESPACE_BEGIN

class workspace {
 public:
  /// Alignment of every block handed out: one AVX-512 register / cache line.
  static constexpr std::size_t alignment = 64;

  workspace() = default;
  explicit workspace(std::size_t bytes) { reserve(bytes); }
  workspace(const workspace&) = delete;
  workspace& operator=(const workspace&) = delete;
  workspace(workspace&&) noexcept = default;
  workspace& operator=(workspace&&) noexcept = default;

  /// Ensures `bytes` of contiguous capacity. Only valid while nothing is handed out.
  void reserve(std::size_t bytes) {
    VTR_ASSERT(used_ == 0 && overflow_.empty());
    if (bytes <= capacity_) return;
    main_.reset(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{alignment})));
    capacity_ = bytes;
  }

  std::size_t capacity() const noexcept { return capacity_; }
  /// Bytes handed out at the peak since construction: the size to reserve() for allocation-free calls.
  std::size_t high_water() const noexcept { return high_water_; }
  /// Number of heap allocations made since construction (the tests assert it stays flat).
  std::size_t allocations() const noexcept { return allocations_; }

  /// `n` uninitialised objects of trivial type T, aligned to `alignment`.
  template <class T>
  T* take(std::size_t n) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                  "vtr::workspace only holds trivial types");
    return static_cast<T*>(take_bytes(n * sizeof(T)));
  }

  /// Restores the arena to its state at construction of the scope (LIFO release of everything taken
  /// inside it). When the arena had to overflow, the next outermost release grows it to fit.
  class scope {
   public:
    explicit scope(workspace& ws) noexcept : ws_(ws), mark_(ws.used_), overflow_mark_(ws.overflow_.size()) {}
    ~scope() { ws_.release(mark_, overflow_mark_); }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    workspace& ws_;
    std::size_t mark_;
    std::size_t overflow_mark_;
  };

 private:
  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{alignment}); }
  };
  using block = std::unique_ptr<std::byte, aligned_delete>;

  static std::size_t round_up(std::size_t n) noexcept { return (n + alignment - 1) / alignment * alignment; }

  void* take_bytes(std::size_t bytes) {
    bytes = round_up(std::max<std::size_t>(bytes, 1));
    if (overflow_.empty() && used_ + bytes <= capacity_) {
      void* p = main_.get() + used_;
      used_ += bytes;
      high_water_ = std::max(high_water_, used_ + overflow_bytes_);
      return p;
    }
    // Out of room: earlier blocks stay valid, so hand out a separate block and remember to grow.
    overflow_.emplace_back(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{alignment})));
    ++allocations_;
    overflow_bytes_ += bytes;
    overflow_sizes_.push_back(bytes);
    high_water_ = std::max(high_water_, used_ + overflow_bytes_);
    return overflow_.back().get();
  }

  void release(std::size_t mark, std::size_t overflow_mark) {
    while (overflow_.size() > overflow_mark) {
      overflow_bytes_ -= overflow_sizes_.back();
      overflow_sizes_.pop_back();
      overflow_.pop_back();
    }
    used_ = mark;
    if (used_ == 0 && overflow_.empty() && high_water_ > capacity_) {
      reserve(high_water_);
      ++allocations_;
    }
  }

  block main_;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::vector<block> overflow_;
  std::vector<std::size_t> overflow_sizes_;
  std::size_t overflow_bytes_ = 0;
  std::size_t high_water_ = 0;
  std::size_t allocations_ = 0;
};

VTR_NAMESPACE_END
