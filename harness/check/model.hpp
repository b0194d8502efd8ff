// HistoryModel: a history parsed once into the things checkers reason about:
// worker incarnations, publishes, deliveries, flushes, fault windows, probes
// and phases. Checkers and later tools share it so that every rule reads the
// history the same way.
//
// Attribution rules:
//  1. Every `spawn` starts a new incarnation of its worker name (a restarted
//     worker is a new incarnation). Ops and events of that name that come
//     after the spawn in the history belong to it; an `exit` belongs to the
//     incarnation with its pid (else the current one).
//  2. An incarnation's channel is meta.workers[name].channel, else
//     meta.params.channel.
//  3. A publish is its `publish` op, a `write` op (protocol v2: its version
//     bump is published with the op's `keys`), or one entry of a `burst`
//     op's `publishes`; `published` (`written` for a write; same id) gives
//     t_commit (its `t`) and t_begin; `error` (same id) means it did not
//     commit. A write's `written.version` (or `error.version`: bumped in the
//     truth store, not published) is its version.
//  3b. A `handler_published` event (a worker's handler published from the
//     listener thread) is a publish of that incarnation with a synthetic id
//     (-1000000, -1000001, ... in history order), acknowledged at its `t`.
//  3a. A read is its `read` op; `read_result` (same id) gives its version,
//     hit, t_begin and t; `error` (same id) means it returned nothing.
//  4. A `received` event is a delivery; it maps to the publish whose key set
//     equals its key set (each publish carries a unique key `e:<id>`), else
//     publish_id is kUnmatched.
//  5. Fault windows pair `begin`/`end` records of the same action and worker;
//     an unended window ends at the end of the history; `instant` faults are
//     windows of length 0. A window belongs to the incarnation of its worker
//     current at its begin. A `kill` (begin or instant) ends that incarnation.
//  6. Records that cannot be attributed (an event of a worker never spawned,
//     a `published` for an unknown id, ...) are listed in `anomalies`.
//
// Thread safety: a HistoryModel is an immutable value once built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "check/history.hpp"

namespace pjx::harness {

// One run of one worker process, from its `spawn` to its `exit` or kill.
struct Incarnation {
  std::size_t index = 0;  // position in HistoryModel::incarnations
  std::string worker;     // the name the harness gave the worker
  int generation = 0;     // 0 for the first spawn of the name, 1 after one restart, ...
  std::string channel;
  std::int64_t pid = 0;
  std::int64_t t_spawn = 0;
  std::optional<std::int64_t> t_start_op;  // its first `start` op
  std::optional<std::int64_t> t_ready;     // its first `ready` event
  std::optional<std::int64_t> t_killed;    // a `kill` fault on it
  std::optional<std::int64_t> t_exit;      // its `exit` record
  std::optional<std::int64_t> exit_status;
  bool exit_expected = false;
  std::optional<std::string> fatal_message;  // its `fatal` event
  std::vector<std::string> caps;
  std::vector<std::int64_t> flushes;    // `flushed` event times, history order
  std::vector<std::string> flush_reasons;  // their `reason`s ("" when absent), same order
  std::vector<std::size_t> deliveries;  // indices into HistoryModel::deliveries
  std::optional<Json> last_stats;       // its last `stats` event, as written
  std::vector<std::pair<std::int64_t, std::string>> warnings;  // `warning` events: t, message

  // The earlier of kill and exit; nullopt while it was still running at the end.
  std::optional<std::int64_t> t_end() const;
  // Spawned at or before t and not ended before t.
  bool alive_at(std::int64_t t) const;
  // "w1" for the first incarnation, "w1#2" for w1 after its second restart.
  std::string label() const;
};

struct Publish {
  std::int64_t id = 0;
  std::string op = "publish";     // the op that carried it: publish, write, burst, or
                                  // "handler" (a handler_published event)
  std::size_t publisher = 0;      // incarnation index
  std::string channel;            // the publisher's channel
  std::vector<std::string> keys;  // sorted, without duplicates
  std::int64_t t_op = 0;
  std::optional<std::int64_t> t_begin;   // `published.t_begin`
  std::optional<std::int64_t> t_commit;  // `published.t` (for a queued one: when it was queued)
  bool queued = false;                   // `published.queued`: kept in the worker's outbox, committed later
  std::optional<std::string> error;      // `error.message`: not committed
  std::size_t record = 0;                // index of the op in the history
  std::optional<std::string> write_key;  // a write: the truth-store key it bumped
  std::optional<std::int64_t> version;   // a write: the version it made

  // Acknowledged: reported `published` and no `error`.
  bool acked() const { return t_commit.has_value() && !error.has_value(); }
  // When the publish began: t_begin, else the op's time.
  std::int64_t begin() const { return t_begin.value_or(t_op); }
};

// A `read` op (protocol v2): a load through the worker's cache of one
// truth-store key, answered `read_result`.
struct Read {
  std::int64_t id = 0;
  std::size_t reader = 0;  // incarnation index
  std::string key;
  std::int64_t t_op = 0;
  double slow_ms = 0;                    // the loader's pause, to open a race
  std::optional<std::int64_t> version;   // `read_result.version`
  bool hit = false;                      // served from the cache
  std::optional<std::int64_t> t_begin;   // `read_result.t_begin`
  std::optional<std::int64_t> t_end;     // `read_result.t`
  std::optional<std::string> error;      // `error.message`
  std::size_t record = 0;

  bool answered() const { return version.has_value() && t_end.has_value(); }
  std::int64_t begin() const { return t_begin.value_or(t_op); }
};

inline constexpr std::int64_t kUnmatched = -1;

struct Delivery {
  std::size_t receiver = 0;  // incarnation index
  std::int64_t t = 0;
  std::vector<std::string> keys;  // sorted, without duplicates
  std::int64_t publish_id = kUnmatched;
  std::size_t record = 0;  // index in the history
};

struct FaultWindow {
  std::string action;
  std::string worker;                      // empty when the fault names no worker
  std::optional<std::size_t> incarnation;  // of `worker`, current at begin
  std::int64_t begin = 0;
  std::int64_t end = 0;
  bool instant = false;
  bool open = false;  // never ended: `end` is the end of the history
  Json params = Json::object();      // of the begin (or instant) record
  Json end_params = Json::object();  // of the end record

  double ms() const { return static_cast<double>(end - begin) / 1e6; }
  // Shares at least one instant with [from, to].
  bool overlaps(std::int64_t from, std::int64_t to) const { return begin <= to && from <= end; }
};

struct Probe {
  std::string what;
  bool ok = false;
  Json value;
  Json detail;
  std::int64_t t = 0;
};

// A stall of the host the harness measured (a `host_lag` record): from the
// deadline its probe thread missed to when that thread ran again.
struct HostLag {
  std::int64_t from = 0;
  std::int64_t to = 0;
};

struct Phase {
  std::string name;
  std::int64_t t = 0;
};

namespace detail {
class ModelBuilder;
}

class HistoryModel {
 public:
  Json meta;
  std::string expect = "pass";  // meta.expect
  double poll_interval_ms = 0;  // meta.params
  double retention_ms = 0;
  double busy_timeout_ms = 5000;  // meta.params.busy_timeout_ms, when recorded
  std::string channel;
  std::int64_t t_first = 0;  // the meta record's t
  std::int64_t t_last = 0;   // the largest t of any record

  std::vector<Incarnation> incarnations;  // spawn order
  std::vector<Publish> publishes;         // op order
  std::vector<Read> reads;                // op order
  std::vector<Delivery> deliveries;       // history order
  std::vector<FaultWindow> faults;        // begin order
  std::vector<Probe> probes;              // history order
  std::vector<Phase> phases;              // history order
  std::vector<HostLag> host_lags;         // time order
  std::vector<std::string> skips;         // `skip` reasons
  std::vector<std::string> errors;        // `error` record reasons
  std::vector<std::string> anomalies;

  const Publish* find_publish(std::int64_t id) const;
  // Deliveries of publish `publish_id` to `incarnation`, history order.
  const std::vector<std::size_t>& deliveries_of(std::size_t incarnation,
                                                std::int64_t publish_id) const;
  // Fault windows of an incarnation, optionally of one action only.
  std::vector<const FaultWindow*> faults_of(std::size_t incarnation,
                                            std::string_view action = {}) const;
  // Fault windows of one action, any worker.
  std::vector<const FaultWindow*> faults_named(std::string_view action) const;
  // The end of the last `quiesce` phase (the next phase's t), else the history end.
  std::int64_t quiesce_end() const;
  // The start of the `workload` phase (the time scenario durations count
  // from), else the meta record's t.
  std::int64_t workload_start() const;
  // meta.workers entry of that name, or null.
  const Json* worker_spec(std::string_view name) const;
  // Distinct worker names that became ready at least once.
  std::size_t ready_worker_count() const;
  // How long the host was stalled within [from, to] (the overlap of the
  // `host_lag` windows with it; 0 in histories that have none).
  std::int64_t host_lag_within(std::int64_t from, std::int64_t to) const;
  // `deadline` moved later by the stalled time after `from` (and before the
  // deadline as it moves: a stall that begins in the part added counts too).
  // One pass over the windows.
  std::int64_t extend_by_host_lag(std::int64_t from, std::int64_t deadline) const;
  // "+1.234 s": t relative to the start of the run, for evidence lines.
  std::string at(std::int64_t t) const;

  // Milliseconds from `from` to `to`.
  static double ms(std::int64_t from, std::int64_t to) {
    return static_cast<double>(to - from) / 1e6;
  }

 private:
  friend class detail::ModelBuilder;
  std::map<std::int64_t, std::size_t> publish_index_;  // id -> publishes[]
  std::map<std::int64_t, std::size_t> read_index_;     // id -> reads[]
  std::map<std::pair<std::size_t, std::int64_t>, std::vector<std::size_t>> pair_index_;
};

// Builds the model. REQUIRES: history[0] is `meta` with numeric
// params.poll_interval_ms and params.retention_ms. Throws std::runtime_error
// naming the record (1-based, as the line of a saved history) when a record
// lacks a field the model needs (a `spawn` without `worker`, a `publish` op
// without an integer `id` or string `keys`, ...).
HistoryModel build_model(const std::vector<Json>& history);

}  // namespace pjx::harness
