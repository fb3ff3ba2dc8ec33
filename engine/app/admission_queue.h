// AdmissionQueue: alerts read off the intake but not yet decided, most severe first, bounded.
//
// Under overload dispatchd reads frames much faster than the core can decide them (a frame is a
// few microseconds to read and validate, a decision with its fan-out tens). So each turn it reads
// everything waiting (up to a budget), queues the alerts here by level, and decides from the top:
// a level-I alert behind ten thousand level-IV ones waits for none of them. When the queue is full,
// the least severe alert is refused with an explicit BUSY (its reporter retries with the same
// idempotency key), never silently dropped, and never a more severe one to keep a less severe one.
//
// Within a level the order is arrival order. Among the least severe, the newest is the one shed:
// the older ones have waited longer and are closer to their turn.
//
// Pure bookkeeping, no I/O: T carries whatever the server needs to answer (routing frames, the
// alert, the time it was read). Thread-safety: none.

#ifndef ENGINE_APP_ADMISSION_QUEUE_H_
#define ENGINE_APP_ADMISSION_QUEUE_H_

#include <array>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "engine/dispatch/dispatch_config.h"

namespace gz {

template <typename T>
class AdmissionQueue {
 public:
  // REQUIRES: capacity > 0.
  explicit AdmissionQueue(size_t capacity) : capacity_(capacity) {}

  // Queues `item` at `level` (kUnspecified ranks lowest). When the queue was full, returns the
  // item that must be refused instead: either the newest of a strictly less severe level, or
  // `item` itself when nothing queued is less severe than it.
  std::optional<T> Push(Level level, T item) {
    const int rank = static_cast<int>(level);
    if (size_ < capacity_) {
      queues_[rank].push_back(std::move(item));
      ++size_;
      return std::nullopt;
    }
    for (int lower = 0; lower < rank; ++lower) {
      if (queues_[lower].empty()) continue;
      T shed = std::move(queues_[lower].back());
      queues_[lower].pop_back();
      queues_[rank].push_back(std::move(item));
      return shed;
    }
    return item;
  }

  // The oldest item of the most severe level present, or nullopt when empty.
  std::optional<T> PopMostSevere() {
    for (int rank = kLevelCount - 1; rank >= 0; --rank) {
      if (queues_[rank].empty()) continue;
      T item = std::move(queues_[rank].front());
      queues_[rank].pop_front();
      --size_;
      return item;
    }
    return std::nullopt;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  size_t size_at(Level level) const { return queues_[static_cast<int>(level)].size(); }

 private:
  size_t capacity_;
  size_t size_ = 0;
  std::array<std::deque<T>, kLevelCount> queues_;  // by Level's value: higher is more severe
};

}  // namespace gz

#endif  // ENGINE_APP_ADMISSION_QUEUE_H_
