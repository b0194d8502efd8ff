// Internal to the checkers: evidence lists, number formatting, the verdict
// rule shared by all checks, and the fan-out analysis that fanout,
// crash_safety and lock_contention share. Not part of the library's interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "check/checkers.hpp"
#include "check/model.hpp"

namespace pjx::harness::detail {

// Collects evidence lines and keeps the most telling ones.
class Evidence {
 public:
  // Lines are listed by rank (lower first), then in the order added.
  // `category` names the kind of line in the "... more" line ("missing").
  void add(int rank, std::string category, std::string line);
  std::size_t size() const { return lines_.size(); }
  // At most `cap` lines; when lines are left out, the last line counts them
  // per category ("... and 42 more: 40 missing, 2 duplicate").
  std::vector<std::string> lines(std::size_t cap = kEvidenceCap) const;

 private:
  struct Line {
    int rank;
    std::size_t order;
    std::string category;
    std::string text;
  };
  std::vector<Line> lines_;
};

// "50.3": milliseconds with one decimal.
std::string fmt_ms(double ms);
// Milliseconds rounded to the microsecond, for metrics.
double round_ms(double ms);
// A number without a fractional part when it has none ("50", "12.5").
std::string fmt_num(double value);
// A JSON integer when `value` has no fractional part, else a JSON float.
Json json_number(double value);
// "[a, b]" for evidence lines.
std::string fmt_keys(const std::vector<std::string>& keys);

// Sets r.verdict for a check over `m`:
//  !shown: fail (the check could not show its guarantee);
//  measures_failure and m.expect == "reproduced": violated ? reproduced : fail;
//    on fail the summary becomes `unreproduced` when given, else it is prefixed
//    with "expected the documented failure, saw none: ";
//  otherwise violated ? fail : pass.
void set_verdict(CheckResult& r, const HistoryModel& m, bool shown, bool violated,
                 bool measures_failure = false, const std::string& unreproduced = {});

// The required receivers (incarnation indices) of an acknowledged publish, as
// defined in checkers.hpp.
std::vector<std::size_t> required_receivers(const HistoryModel& m, const Publish& p);

// A publish-to-delivery latency: from the start of the publish call to the
// first delivery of an acknowledged publish to one of its required receivers.
// `ms` is what the timing checks judge: `raw_ms` less the host stalls the
// harness measured within it (`host_lag_ms`, HistoryModel::host_lag_within):
// a worker is not late for the time the host ran nothing.
struct LatencySample {
  double ms = 0;
  double raw_ms = 0;
  double host_lag_ms = 0;
  const Delivery* delivery = nullptr;
  const Publish* publish = nullptr;
};

struct LatencySamples {
  std::vector<LatencySample> samples;  // publish order, then receiver order
  std::size_t excluded = 0;            // the receiver was under a fault in between
  std::size_t net_of_host_lag = 0;     // samples with host_lag_ms > 0
  double host_lag_max_ms = 0;          // the largest host_lag_ms of a sample
};

// Every such latency to a receiver `keep` accepts (all when `keep` is
// empty), except where a fault window of the receiver overlaps it.
LatencySamples delivery_latencies(const HistoryModel& m,
                                  const std::function<bool(const Incarnation&)>& keep = {});

// " (raw 144.2 ms, of which 96.5 ms the host stalled)" for a sample the host
// stalled in, else empty: for evidence lines.
std::string host_lag_note(const LatencySample& s);

// True when `p` is acknowledged, has >= 1 required receiver and reached all.
bool reached_all_required(const HistoryModel& m, const Publish& p);

// When publish `p`'s invalidation had to be visible at incarnation `reader`
// (the rules D1-D3 of stale_reads, check_reads.cpp; staleness judges its
// windows by the same deadline):
//  D1. the publisher itself: at its commit (`published.t`);
//  D2. any other incarnation: t_commit + bound_ms;
//  D3. extended while a fault window that holds the invalidation back
//      overlaps [p.begin(), deadline]: the reader's own `pause` to its end
//      + after_resume_ms; a `lock`, `disk_full`, `vfs_fault`,
//      `readonly_dir`, `redis_restart` or `client_kill` window of anyone,
//      and the publisher's own pause when `p` was queued, to its end +
//      after_fault_ms. Repeated until no window moves it.
//  D4. then later by the time the host stalled (`host_lag` records: the
//      harness's probe thread did not run) after t_commit, or after the
//      point D3 last moved it from (the end of a pause or blocking window,
//      the begin of a silent one: D3 already excuses what came before), and
//      before the deadline as it moves; as latency subtracts stalls.
// Never (INT64_MAX) for a publish lost_with_publisher().
// REQUIRES: p.t_commit.
// A queued publish (kept in its worker's outbox, in memory) whose worker
// was killed: it may never commit, and nobody can be held to it.
bool lost_with_publisher(const HistoryModel& m, const Publish& p);
struct VisibilityBounds {
  double bound_ms;         // D2 (default poll_interval_ms + 250)
  double after_resume_ms;  // D3, the reader's pause (default poll_interval_ms + 250)
  double after_fault_ms;   // D3, blocking windows (default 1500 + poll_interval_ms)
  // D3, a silent window (redis_pause): the listener's health check must
  // notice it and stop caching (default 3000: 1 s interval + 1 s timeout +
  // 1 s slack), so the deadline moves to its begin + this, not to its end.
  double after_silence_ms;
};
VisibilityBounds visibility_bounds(const HistoryModel& m, const Json& params);
std::int64_t visibility_deadline(const HistoryModel& m, const Publish& p, std::size_t reader,
                                 const VisibilityBounds& b);

// Whether the `partition` window `w` cut incarnation `inc` from
// redis-server: its worker is among the cut hosts (params.hosts) and
// "redis" is not, or the other way round; and it ran at the window's start.
bool cut_from_redis(const HistoryModel& m, const FaultWindow& w, std::size_t inc);

// Whether window `w` leaves incarnation `inc` without a reachable Redis
// primary, with nothing but its own health check (or the reset of a killed
// primary) to tell it: `redis_pause`, `redis_failover`, or a `partition`
// that cut it from redis-server. Its staleness bound starts at the window's
// begin (after_silence_ms), however long the window lasts.
bool silences_redis(const HistoryModel& m, const FaultWindow& w, std::size_t inc);

// How the fan-out rule treats a publisher's deliveries of its own publishes
// (check parameter `self`): "forbidden" (SQLite, the default: each is a
// violation), "expected" (Redis pub/sub, as upstream: each acknowledged
// publish must also reach its publisher exactly once while it runs),
// "allowed" (neither required nor a violation).
enum class SelfRule { kForbidden, kExpected, kAllowed };
// Reads params.self; throws std::runtime_error naming a bad value.
SelfRule self_rule(const Json& params);

// The fan-out rule over a whole history.
struct FanoutAnalysis {
  std::size_t acked = 0;
  std::size_t required = 0;  // (publish, required receiver) pairs
  std::size_t deliveries = 0;
  std::size_t missing = 0;
  std::size_t duplicates = 0;  // deliveries beyond the first of a pair
  std::size_t self = 0;
  std::size_t cross = 0;
  std::size_t uncommitted = 0;
  std::size_t unmatched = 0;
  std::size_t errors = 0;  // publishes answered `error` with no fault under way
  std::size_t workers = 0;
  SelfRule self_rule = SelfRule::kForbidden;
  std::size_t own_required = 0;   // kExpected: publishes that must reach their publisher
  std::size_t own_delivered = 0;  // deliveries of own publishes (first ones)
  // Acknowledged publishes begun before `required_from` (the fanout
  // parameter `after`): counted, but required of no receiver.
  std::size_t exempt = 0;
  Evidence evidence;

  std::size_t violations() const {
    return missing + duplicates + self + cross + uncommitted + unmatched + errors;
  }
  bool shown() const { return acked > 0 && required > 0; }
  Json metrics() const;
  std::string measured() const;
};
// Publishes begun before `required_from` (ns) are required of no receiver.
FanoutAnalysis analyse_fanout(
    const HistoryModel& m, SelfRule self = SelfRule::kForbidden,
    std::int64_t required_from = std::numeric_limits<std::int64_t>::min());

// A number from params, else `fallback`. Throws std::runtime_error naming the
// parameter when it is present but not a number.
double param_number(const Json& params, const char* name, double fallback);

CheckResult check_fanout(const HistoryModel& m, const Json& params);
CheckResult check_isolation(const HistoryModel& m, const Json& params);
CheckResult check_no_replay(const HistoryModel& m, const Json& params);
CheckResult check_latency(const HistoryModel& m, const Json& params);
CheckResult check_staleness(const HistoryModel& m, const Json& params);
CheckResult check_rejection(const HistoryModel& m, const Json& params);
CheckResult check_sidecars(const HistoryModel& m, const Json& params);
CheckResult check_integrity(const HistoryModel& m, const Json& params);
CheckResult check_crash_safety(const HistoryModel& m, const Json& params);
CheckResult check_lock_contention(const HistoryModel& m, const Json& params);
CheckResult check_pruning(const HistoryModel& m, const Json& params);
CheckResult check_wake_latency(const HistoryModel& m, const Json& params);
CheckResult check_wake_fallback(const HistoryModel& m, const Json& params);
CheckResult check_reconnect(const HistoryModel& m, const Json& params);
CheckResult check_disk_full(const HistoryModel& m, const Json& params);
CheckResult check_io_fault(const HistoryModel& m, const Json& params);
CheckResult check_stale_reads(const HistoryModel& m, const Json& params);
CheckResult check_exits(const HistoryModel& m, const Json& params);
CheckResult check_flush_causes(const HistoryModel& m, const Json& params);
CheckResult check_order(const HistoryModel& m, const Json& params);
CheckResult check_outbox(const HistoryModel& m, const Json& params);

}  // namespace pjx::harness::detail
