// Per-thread free lists for the engine's small bookkeeping objects (TensorImpl, Storage and
// autograd Node control blocks, through std::allocate_shared). An eager step creates and drops
// hundreds of them; glibc's per-thread cache holds only 7 blocks per size, so most of them
// went through malloc's slow path. A block freed on another thread joins that thread's list.
#pragma once
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace anyrl::detail {

template <std::size_t Size>
class BlockPool {
 public:
  static void* get() {
    if (!t_dead) {
      List& l = list();
      if (l.head) {
        Free* f = l.head;
        l.head = f->next;
        --l.count;
        return f;
      }
    }
    return ::operator new(Size);
  }
  static void put(void* p) {
    if (!t_dead) {
      List& l = list();
      if (l.count < kMaxCached) {
        Free* f = static_cast<Free*>(p);
        f->next = l.head;
        l.head = f;
        ++l.count;
        return;
      }
    }
    ::operator delete(p);
  }

 private:
  static constexpr std::size_t kMaxCached = 4096;
  struct Free {
    Free* next;
  };
  struct List {
    Free* head = nullptr;
    std::size_t count = 0;
    ~List() {
      t_dead = true;  // objects destroyed later on this thread (statics) go to operator delete
      while (head) {
        Free* n = head->next;
        ::operator delete(head);
        head = n;
      }
    }
  };
  static List& list() {
    static thread_local List l;
    return l;
  }
  static inline thread_local bool t_dead = false;
};

/// std::allocator replacement for allocate_shared: single objects come from BlockPool.
template <class T>
struct PoolAllocator {
  using value_type = T;
  static constexpr std::size_t kBlock = (sizeof(T) + 15) / 16 * 16;
  static_assert(alignof(T) <= 16, "PoolAllocator: over-aligned type");

  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}

  T* allocate(std::size_t n) {
    if (n == 1) return static_cast<T*>(BlockPool<kBlock>::get());
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) {
    if (n == 1)
      BlockPool<kBlock>::put(p);
    else
      std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const PoolAllocator<U>&) const {
    return false;
  }
};

/// make_shared through the pool.
template <class T, class... Args>
std::shared_ptr<T> make_pooled(Args&&... args) {
  return std::allocate_shared<T>(PoolAllocator<T>(), std::forward<Args>(args)...);
}

}  // namespace anyrl::detail
