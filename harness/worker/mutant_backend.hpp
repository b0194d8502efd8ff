// MutantBackend: a deliberately breakable SQLite invalidation backend, so
// that the conformance harness can prove each of its checkers catches the
// failure it is meant to catch (`pjx-worker --defect NAME`).
//
// It is written independently of the library's SqliteInvalidationBackend,
// straight from WIRE.md: the same table, index and WAL mode, one write
// transaction per publish (insert, then prune rows older than retention),
// and a poll thread that seeds its cursor at MAX(id) and reads rows of its
// channel from other instances in id order. With default MutantKnobs it is a
// correct (if plain) backend; each knob breaks exactly one rule. It has no
// gap, stall or replaced-file detection, so it never calls on_flush (under
// the no-gap-detection defect its worker still claims the `flush`
// capability, so that the pause scenarios run and must catch it). It has
// no change wake either, and says nothing about it (wake counters stay 0, no
// warning): the defect "silent-wake-loss" is that plain backend.
//
// Files are created on first publish() or start(), as upstream does.
//
// Thread safety: all methods are thread-safe. The handler runs on the
// backend's poll thread. start() and stop() must not race each other.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "pjx/invalidation_backend.hpp"
#include "pjx/sqlite_backend.hpp"

namespace pjx::harness {

// Each knob's non-default value is one defect.
struct MutantKnobs {
  bool filter_channel = true;      // false: delivers rows of every channel
  bool seed_cursor_at_max = true;  // false: starts at id 0, replaying history
  bool skip_own_rows = true;       // false: also delivers the instance's own rows
  bool prune = true;               // false: publish never deletes old rows
  bool drop_when_busy = false;     // true: a publish that cannot take the write lock
                                   // within min(busy_timeout, 1 s) returns as if committed
  int skip_every = 0;              // n > 0: silently skips every n-th deliverable row
  bool deliver_late = false;       // true: delivers each row 3 x poll_interval + 100 ms
                                   // after reading it
  bool accept_memory = false;      // true: the worker accepts private (memory/temporary)
                                   // databases instead of failing with a ConfigError
  bool ack_failed_publish = false; // true: a publish whose commit fails (I/O error, full
                                   // disk, a lock past busy_timeout) returns as if committed
  bool claims_flush = false;       // true: the worker advertises the `flush` capability
                                   // (detects missed invalidations and flushes) yet, like
                                   // every mutant, never detects a gap or a stall
  bool claims_outbox = false;      // true: the worker advertises the `outbox` capability
  bool claims_wakes = false;       // true: the worker advertises the `wakes` capability
                                   // (keeps what it cannot commit) yet, like every
                                   // mutant, fails a publish it cannot commit
  bool channel_like = false;         // true: a row's channel is compared with LIKE
  bool fail_most_publishes = false;  // true: 9 publishes of 10 throw BackendError
  bool flush_every_poll = false;     // true: calls on_flush (reason gap) after every poll
  int exit_after_deliveries = 0;     // n > 0: the process exits (status 70) after n deliveries
  double poll_factor = 1;            // polls every poll_factor x poll_interval
  double retention_factor = 1;       // prunes rows older than retention_factor x retention
  bool wal = true;                   // false: journal_mode DELETE (no -wal, no -shm)
  bool scribble_on_stop = false;     // true: stop() overwrites the start of page 2 of the
                                     // database file after closing its connection
  bool ack_before_commit = false;    // true: publish returns at once and commits max(1 s,
                                     // 4 x poll_interval) later on another thread
};

struct Defect {
  std::string_view name;
  std::string_view description;
  MutantKnobs knobs;
};

// Every defect pjx-worker offers, in a stable order.
std::span<const Defect> defects();
// The defect called `name`, or nullptr.
const Defect* find_defect(std::string_view name);

// True when SQLite would give every connection opened with `db_path` its own
// private database: "", ":memory:", and `file:` URIs of memory or temporary
// databases.
bool is_private_database(std::string_view db_path);

class MutantBackend final : public InvalidationBackend {
 public:
  // Opens nothing. REQUIRES: `options` passed pjx::validate(); `db_path` was
  // checked by the caller (the mutant trusts it, and opens it as a URI).
  MutantBackend(std::string db_path, SqliteOptions options, MutantKnobs knobs);
  ~MutantBackend() override;  // stops the poll thread

  // Throws std::invalid_argument for a key that is not UTF-8 and BackendError
  // when the row could not be committed (except under drop_when_busy).
  void publish(const KeySet& keys) override;
  // Throws BackendError when the database cannot be opened or read.
  void start(InvalidationHandler handler, FlushHandler on_flush = {}) override;
  void stop() override;

  // The library's counter set; the mutant leaves busy_waits and
  // skipped_polls at 0. A publish dropped under drop_when_busy is counted
  // nowhere (that is the defect).
  SqliteStats stats() const;
  // 32 lowercase hex digits (a UUID4), new for every object.
  const std::string& instance_id() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pjx::harness
