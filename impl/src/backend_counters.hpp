// BackendCounters: every counter and gauge of a SqliteInvalidationBackend
// that is one atomic, in one struct that stats() copies (SqliteStats says
// what each one counts).
//
// The counters are listed once, in PJX_SQLITE_COUNTERS: the struct declares
// one std::atomic<std::uint64_t> per name and copy_to() copies each into the
// SqliteStats member of the same name, so a counter cannot be declared and
// then forgotten by stats().
//
// Thread safety: every member is an atomic; counters are independent of
// each other and of everything else, so they are added to and read relaxed.
#pragma once

#include <atomic>
#include <cstdint>

#include "pjx/sqlite_backend.hpp"

namespace pjx::detail {

// X(name) for each std::uint64_t counter of SqliteStats, in its order.
#define PJX_SQLITE_COUNTERS(X)                                                                    \
  X(published) X(publish_commits) X(publish_failures) X(queued) X(outbox_committed)                \
  X(outbox_dropped) X(outbox_overflows) X(outbox_retries) X(checkpoints) X(checkpoints_busy)       \
  X(rows_pruned) X(busy_waits) X(polls) X(skipped_polls) X(header_skips) X(poll_errors) X(rows_received) \
  X(keys_delivered) X(malformed_rows) X(handler_errors) X(flushes) X(gaps_detected) X(missed_ids)  \
  X(stalls_detected) X(timed_polls) X(wakes) X(doorbell_wakes) X(doorbells) X(doorbell_failures)   \
  X(empty_wakes) X(wake_retries) X(wake_failures) X(reopens)

struct BackendCounters {
#define PJX_DECLARE_COUNTER(name) std::atomic<std::uint64_t> name{0};
  PJX_SQLITE_COUNTERS(PJX_DECLARE_COUNTER)
#undef PJX_DECLARE_COUNTER

  // Gauges, set by the poll thread: whether a change watch is in place and
  // what wakes the listener now.
  std::atomic<bool> wake_active{false};
  std::atomic<WakeMode> wake_mode{WakeMode::kPolling};

  // Copies every counter and gauge into `stats`; leaves its other members.
  void copy_to(SqliteStats& stats) const {
#define PJX_COPY_COUNTER(name) stats.name = name.load(std::memory_order_relaxed);
    PJX_SQLITE_COUNTERS(PJX_COPY_COUNTER)
#undef PJX_COPY_COUNTER
    stats.wake_active = wake_active.load();
    stats.wake_mode = wake_mode.load();
  }
};

// Adds `n` to a counter (relaxed: counters are independent).
inline void count(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace pjx::detail
