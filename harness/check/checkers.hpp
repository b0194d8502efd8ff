// Checkers: pure functions from a history (harness/HISTORY.md) to a verdict
// with the evidence. No I/O, no clocks: a saved history judged again gives the
// same result. Thread safety: pure functions, safe from any thread.
//
// Terms (see model.hpp for how records are attributed):
//  * acknowledged publish: a `publish` op answered by `published` and not by
//    `error` (`error` means "not committed"). t_begin and t_commit are the
//    `published` event's `t_begin` and `t`.
//  * incarnation: one run of a worker, from `spawn` to `exit` or `kill`.
//  * required receiver of an acknowledged publish P: an incarnation on P's
//    channel, other than P's publisher, that was ready (ready.t) before
//    P.t_begin, that did not exit or get killed before the end of the
//    `quiesce` phase (else the history's end), and that was not in a `pause`
//    window longer than meta.params.retention_ms overlapping [P.t_commit,
//    quiesce end].
//  * end of quiesce: the t of the phase after the last `quiesce` phase, else
//    the last t of the history.
//
// Verdicts: pass, fail, reproduced. When meta.expect == "reproduced", the
// checks that measure a documented failure (fanout, staleness, pruning) report
// `reproduced` when they see it and `fail` when they do not; every other check
// reports pass/fail as usual. A check that cannot show its guarantee (nothing
// published, nothing delivered, a probe missing) fails in either mode.
//
// The checks (guarantee; bound; evidence; metrics):
//  1. fanout: every acknowledged publish reaches every required receiver
//     exactly once; nothing else is delivered wrongly. Bound: 0 missing, 0
//     duplicate, 0 delivered to the publisher itself, 0 delivered to another
//     channel, 0 deliveries of a publish that reported `error`, 0 received key
//     sets that match no publish, 0 publishes answered `error` when no fault
//     window overlaps [op - g, op + g] with g = busy_timeout_ms + 1000 (a
//     backend that fails publishes on a healthy host must not pass);
//     needs >= 1 acknowledged publish with >= 1
//     required receiver. Evidence: each violation, missing first. Metrics:
//     events (acknowledged publishes), deliveries, required, missing,
//     duplicates, self_deliveries, cross_channel, uncommitted_deliveries,
//     unmatched, publish_errors (failed outside faults), workers (worker
//     names that became ready), own_required,
//     own_delivered. params.self (Redis pub/sub delivers a publisher's own
//     messages back to it): "forbidden" (default: each own delivery is a
//     violation), "expected" (the publisher, ready before t_begin and alive
//     to the end of quiesce, is a required receiver too), "allowed" (neither).
//     crash_safety takes the same `self`, and `integrity = false` for a
//     backend without a database file. params.after names a fault action
//     (a file swap: "replace_db", "delete_db"): publishes begun before the
//     end of its last window are exempt (counted in metrics.exempt), since
//     what went into the swapped-out file is covered only by the flush;
//     every publish begun after it must reach everyone (a publisher or a
//     listener still on the old file fails). An action the run never
//     injected is an error.
//  2. isolation: no delivery crosses channels. Bound: 0 cross-channel
//     deliveries, >= 1 delivery within a channel, >= 2 channels in use.
//     Evidence: counts per "from -> to" channel pair. Metrics: cross_channel,
//     within_channel, channels. Details: cross_pairs {"a -> b": n}.
//  3. no_replay: no incarnation receives a publish committed (published.t)
//     before its `start` op. Bound: 0 replayed; needs >= 1 acknowledged publish
//     on the incarnation's channel, by another incarnation, committed before
//     some incarnation's start (else "scenario did not publish before a
//     start"). Evidence: each replay. Metrics: replayed, earlier_publishes
//     (such incarnation x publish pairs).
//  4. latency: for the first delivery of each acknowledged publish to each
//     required receiver, received.t - published.t_begin in ms (from the start
//     of the publish call: the commit happens inside it, and receivers woken
//     by a doorbell often have it before the call returns; without t_begin,
//     the op's time), excluding deliveries whose receiver had a fault window
//     overlapping [t_begin, t_received]
//     (counted as `excluded`), less the time within it that the host
//     stalled (`host_lag` records, HISTORY.md: the harness's own probe
//     thread did not run; wake_latency and wake_fallback do the same).
//     Bound: max <= poll_interval_ms +
//     params.slack_ms (default 250); when params.p99_max_ms is given, also
//     p99 <= it; when params.p50_max_ms is given, also p50 <= it (with
//     polling, latency is spread over [0, poll_interval], so p50 is about
//     poll / 2: a p50 bound catches a poll slower than configured and stays
//     steady on a loaded machine); needs >= 1 measured delivery. Percentiles: nearest rank
//     (stats.hpp). Evidence: the slowest deliveries. Metrics: latency_p50_ms,
//     latency_p99_ms, latency_max_ms, poll_interval_ms, workers, events
//     (acknowledged publishes with a measured delivery), deliveries (measured),
//     excluded, host_lag_windows, deliveries_net_of_host_lag, host_lag_max_ms
//     (the largest stall subtracted from one delivery). Details: latencies_ms (history order),
//     per_worker {name: {p50, p99, max, n}}.
//  5. staleness: for each acknowledged publish P and each incarnation on P's
//     channel alive at P.t_commit (ready before P.t_begin, not the publisher,
//     not ended before t_commit) INCLUDING paused ones, a stale window from
//     t_commit to the first of: its delivery of P (`received`), its first
//     `flushed` at or after P's t_begin (`flushed`: the row committed
//     somewhere in the publish call, and a flush during the call covers it
//     whether it came before or after the commit); when neither happens, `never`,
//     ending at the history end; `ended` when the incarnation was killed,
//     stopped or exited first (its cache went with it);
//     `lost_with_publisher` when P was queued in a publisher that was then
//     killed (its in-memory outbox died with it; not judged). expect=reproduced:
//     reproduced iff missed_events > 0, else fail ("expected missed
//     invalidations after a pause longer than retention, saw none").
//     Otherwise pass iff missed_events == 0 and every window ends by P's
//     visibility deadline at that incarnation (visibility_deadline in
//     check_support.hpp, the rule stale_reads uses): t_commit +
//     poll_interval_ms + params.slack_ms (default 250), extended to the end
//     of its own pause + params.after_resume_ms (default poll_interval_ms +
//     slack), or of a lock, disk_full, vfs_fault, readonly_dir, redis_restart
//     or client_kill window + params.after_fault_ms (default 1500 +
//     poll_interval_ms), or to the begin of a redis_pause window +
//     params.after_silence_ms (default 3000), when one overlaps; then later
//     by the host stalls (`host_lag`) after that point (rule D4).
//     Needs >= 1 window. Evidence: the worst windows, `never` first. Metrics:
//     stall_ms (longest pause window), retention_ms, missed_events (closed by
//     never), flushed_events (closed by flush), max_stale_ms, stale_windows.
//     Details: stale_windows [{worker, publish_id, from_t, to_t, closed_by, ms,
//     deadline_t}].
//  6. rejection: every meta.workers entry with expect_fatal: true (and a
//     `why`) emitted `fatal` with a non-empty message, never emitted `ready`,
//     and exited with a status != 0, in every incarnation. Needs >= 1 such
//     worker. Evidence: per worker its why and its message. Metrics: expected,
//     rejected.
//  7. sidecars: probes journal_mode = "wal" and sidecars = {"wal": true,
//     "shm": true} taken while a worker was running (ready, not ended), and
//     integrity = "ok" taken after every worker had stopped. A missing probe
//     fails ("probe X not recorded"). Evidence: each probe. Metrics: probes.
//  8. integrity: every `integrity` probe has value "ok"; needs >= 1. Metrics:
//     integrity_probes, integrity_failures.
//  9. crash_safety: >= 1 `kill` fault; >= 1 integrity probe and all "ok";
//     the fanout rule (1) holds; survivors keep working: >= 1 publish that
//     began after the last kill ended is acknowledged and delivered to each of
//     its required receivers (>= 1). Metrics: kills, lost, integrity_failures,
//     acked_after_kill, plus fanout's counters.
// 10. lock_contention: >= 1 `lock` fault window; >= 1 publish op sent during a
//     lock window; every such publish either acknowledged or answered with
//     `error` (none left unanswered); the fanout rule (1) holds (no
//     acknowledged publish lost, queued ones included; no publish that
//     reported `error` delivered); every publish acknowledged as queued
//     (`published.queued`) reaches each required receiver by max(its ack,
//     the end of the last lock window begun before its ack) +
//     params.queued_bound_ms (default 500 ms retry backoff cap +
//     poll_interval_ms + params.slack_ms (default 1000)); delivery resumed:
//     >= 1 publish that began after the last lock ended is acknowledged and
//     reached all its required receivers (>= 1). Metrics: lock_ms (longest
//     window), publish_errors, acked_during_lock, queued, queued_late,
//     max_queued_delivery_ms (latest first delivery after that reference
//     time, null without queued publishes), queued_bound_ms, unanswered,
//     lost.
// 11. pruning: the last `rows` probe {"count": N, "oldest_age_ms": X} taken
//     after the workload shows oldest_age_ms <= retention_ms +
//     params.slack_ms (default 2 x poll_interval_ms + 500) (count 0 passes)
//     and, with its newest_age_ms, oldest - newest <= retention_ms +
//     params.span_slack_ms (default 100): the newest commit pruned what was
//     older than retention before it, wherever the probe ran;
//     needs >= 1 acknowledged publish and the probe (with ok: true). Metrics: rows,
//     oldest_age_ms, row_span_ms, retention_ms.
// 12. disk_full: as lock_contention, over `disk_full` windows (the run
//     directory's size-limited filesystem filled up): >= 1 window, each
//     recording params.free_bytes_after <= 64 KiB (else "the filesystem was
//     not full"); >= 1 publish sent during one; each answered `published`
//     (committed, or queued by the backend and committed later) or `error`;
//     the fanout rule (1) holds; delivery resumed after the last window.
//     Metrics: window_ms, publishes_during, publish_errors, acked_during,
//     unanswered, lost, plus fanout's. Details: first_error (its message).
// 13. io_fault: the same over `vfs_fault` windows (faults injected below
//     SQLite in one worker), without the free-space rule.
// 14. reconnect (Redis: at-most-once pub/sub): a disruption is a
//     `client_kill` fault (its worker's incarnation), a `redis_restart`
//     (instant, or a window = the outage; every incarnation ready before it),
//     a `redis_pause` window (SIGSTOP: a silent server; every incarnation
//     ready before it), a `partition` window (hosts: every incarnation it cut
//     from redis-server, silent like a redis_pause for those), a
//     `redis_failover` window (the primary killed until a sentinel names the
//     replica; every incarnation ready before it: noticed as a silent server,
//     whatever its length; a publish begun after end params.killed_t and
//     acknowledged at or before params.unswitched_t is acknowledged during
//     the failover, a violation, and one left unanswered too; details.failover
//     {switch_ms, first_flush_after_kill_ms, switch_flush_after_kill_ms};
//     metric failover_acked),
//     or, with params.pause_disconnects = true, a `pause` window of the worker
//     (the scenario fills Redis's pub/sub output buffer so that the server
//     drops the stopped subscriber); incarnations that ended before the end
//     of quiesce are not judged. Bound: each disruption is answered by a
//     `flushed` of that incarnation whose reason is not `disconnected` (the
//     flush after the new subscription) at or after its begin and <=
//     params.flush_within_ms (default 3000) after its end; a redis_pause
//     window longer than params.notice_within_ms (default 3000: the default
//     health check's 1 s interval + 1 s timeout + 1 s slack), or a partition
//     longer than that, is noticed by a
//     `flushed` of any reason <= notice_within_ms after its begin; no delivery of a
//     publish begun after the disruption ended arrives between its end and
//     that flush; every acknowledged publish reaches every other incarnation
//     of its channel ready before t_begin unless it was committed at or after
//     a disruption's begin - params.slack_ms (default 2 x poll) and began
//     (t_begin) at or before the flush answering it (missed while
//     disconnected: excused by the flush); during a
//     redis_restart or redis_pause window every publish op is answered with `error` (an
//     acknowledgement while the server is down is a silent loss); shown when
//     >= 1 disruption, >= 1 publish sent during each outage, and >= 1
//     publish begun after the last disruption reached all its receivers.
//     Metrics: disruptions, unflushed, late_flushes, max_flush_ms,
//     silent_judged, unnoticed, max_notice_ms,
//     delivered_before_flush, lost, missed_while_disconnected,
//     receiver_pairs, outage_publishes, outage_errors, acked_during_outage,
//     unanswered.
// 15. wake_latency: latency as in (4), over required receivers that are not
//     wakeless (see 16) and advertise the cap `wakes` (change wakes are the
//     reference's, not every implementation's: `skip` when no worker
//     advertises it, a failure under --require-caps). Bound: p95 <= params.p95_max_ms (default
//     poll_interval_ms / 2), and p99 <= params.p99_max_ms when given:
//     commits wake the listener instead of waiting for its timed poll (p95,
//     so that a few deliveries held up by a loaded scheduler do not fail it,
//     while a listener that misses one publisher's wakes, a sixth or more of
//     its deliveries, does); needs >= 1 measured delivery. Evidence: the
//     percentile over its bound, receivers whose last `stats` says
//     wake_active false, the slowest deliveries. Metrics:
//     wake_latency_p50_ms, wake_latency_p95_ms, wake_latency_p99_ms,
//     wake_latency_max_ms, wake_p95_max_ms, wake_p99_max_ms (when given),
//     wake_deliveries, deliveries_net_of_host_lag, host_lag_max_ms (each
//     delivery is judged net of the host stalls within it, as in (4)).
// 16. wake_fallback: the wakeless workers are params.workers (names), else
//     every meta.workers entry with `inotify_instances` (the harness ran it
//     where inotify cannot be used). For each of their incarnations that
//     became ready: >= 1 `warning` event whose message mentions "watch",
//     "wake" or "inotify"; its last `stats` has wake_failures >= 1 and
//     wake_active false; every delivery to it (as in 4) within
//     poll_interval_ms + params.slack_ms (default 250): it falls back to
//     polling, loudly. Needs >= 1 such incarnation and >= 1 delivery to one.
//     Metrics: fallback_workers, wake_failures, fallback_warnings,
//     fallback_deliveries, fallback_late, fallback_latency_p50_ms,
//     fallback_latency_max_ms.
// 17. stale_reads (what the workers serve; protocol v2 `read`/`write`,
//     check_reads.cpp): each answered read of key k returns a version >= the
//     version of every acknowledged write of k whose deadline for the
//     reader is before the read began (read_result.t_begin). A write's
//     deadline is its `written.t` for the writer's own reads (it evicts
//     before it answers), else written.t + params.bound_ms (default
//     poll_interval_ms + params.slack_ms (250)), extended while a fault
//     window holds the invalidation back and overlaps [t_begin, deadline]:
//     the reader's own `pause` to its end + params.after_resume_ms (default
//     poll_interval_ms + slack), a `lock`, `disk_full`, `vfs_fault`,
//     `readonly_dir`, `redis_restart` or `client_kill` window (and the
//     writer's own pause, for a queued write) to its end +
//     params.after_fault_ms (default 1500 + poll_interval_ms), a
//     `redis_pause` window (a silent server), a `redis_failover` window, or
//     a `partition` that cut the reader from redis-server, only to its begin +
//     params.after_silence_ms (default 3000: the health check notices, the
//     cache keeps nothing until resubscribed); then later by as long as the
//     host stalled within [written.t, deadline] (`host_lag`). A write
//     answered with `error` imposes nothing. A read may not return a version
//     above the number of writes of its key sent before it ended (no write
//     could have made it). Shown when >= 1 read was answered, >= 1 read was
//     checked against another worker's write, and, when reads with slow_ms
//     were sent, >= 1 of them overlapped another worker's write of its key
//     (the fill-vs-invalidate race happened). `skip` when no worker
//     advertises the `reads` capability and no read was sent.
//     expect=reproduced: reproduced iff stale reads > 0. Evidence: each
//     stale read with its key, versions, the write that should have evicted
//     it, its deadline, and the reader's delivery of that write and flushes
//     around it. Metrics: reads, read_hits, read_errors, writes,
//     checked_reads, stale_reads, future_reads, slow_reads, races,
//     max_read_lag_ms (longest a returned version had been superseded when
//     the read began, within the bound or not), worst_stale_read_ms (the
//     furthest a stale read began past its deadline), read_bound_ms.
//     Details: stale_reads [{worker, incarnation, read_id, key, version,
//     expected, write_id, t, deadline_t, hit}].
// 18. exits (run on every scenario): no incarnation exits unless the harness
//     expected it (`exit.expected`: it stopped or killed the worker, or the
//     worker had to be rejected). Evidence: each unexpected exit with its
//     status and last warning. Metrics: unexpected_exits, incarnations.
// 19. flush_causes (run on every scenario): every `flushed` event follows a
//     fault window that explains its reason: `stall`, a pause of that
//     incarnation; `replaced_file`, a delete_db, replace_db or restore_db;
//     `reconnect` and `disconnected`, a client_kill, a redis_restart, a
//     redis_pause or a pause of that incarnation; `handler_error`, a `warning` of that incarnation
//     within the grace; `gap` (and any other reason), any fault but kill and restart; at most
//     params.lead_ms (default 500: the harness records a fault once it has acted) before the
//     window's begin and at most params.grace_ms (default max(3000, 2 x retention + 2 x
//     poll_interval)) after its end (a clock_step explains until the end of the run). Metrics:
//     flushes, unexplained_flushes.
// 20. order: for each publisher incarnation and each other incarnation, the
//     first deliveries of the publisher's acknowledged publishes (publish and
//     write ops; a burst's run at once and are left out) come in the order
//     of their ops (a first delivery after a restore_db, replace_db or
//     delete_db that followed the publish's commit is a replay of the file's
//     earlier rows, left out). Needs >= 1 such pair with >= 2 deliveries. Evidence: each
//     delivery that overtook an earlier publish. Metrics: order_pairs,
//     ordered_deliveries, inversions.
// 21. outbox: an incarnation advertising the `outbox` capability keeps what
//     it cannot commit: every publish or write it was sent from
//     params.lead_ms (default busy_timeout_ms + 500) before a `lock`,
//     `disk_full` or `vfs_fault` window to that window's end is answered
//     `published` (committed, or `queued`), none `error`. (That queued ones
//     are delivered, in order, is lock_contention's, disk_full's, io_fault's
//     and order's.) Needs >= 1 window and >= 1 such publish queued or
//     failed; `skip` when no incarnation advertises `outbox`. Evidence: each
//     error. Metrics: windows, outbox_publishes, queued, outbox_errors.
//
// judge(): `error` records make the verdict `error`, else `skip` records make
// it `skip` (the named checks are listed with that verdict, not run). A
// history without meta.checks, an unknown check name, or a history the model
// cannot read gives `error`. The scenario verdict is the worst check verdict
// (error > fail > skip > reproduced > pass); when meta.expect == "reproduced"
// and no check reproduced the failure, the verdict is `fail`. Scenario metrics
// are the union of the checks' metrics (on a name clash the first check in
// meta.checks wins). Each check gets meta.check_params[name] (an object, may
// be absent) as params.
#pragma once

#include <string>
#include <vector>

#include "check/history.hpp"
#include "check/model.hpp"

namespace pjx::harness {

// Evidence lists hold at most this many lines; the last says how many more.
inline constexpr std::size_t kEvidenceCap = 20;

struct CheckResult {
  std::string name;
  std::string verdict;                // "pass", "fail", "reproduced", "skip" or "error"
  std::string measured;               // one line: what was measured
  std::string bound;                  // one line: what it had to be
  std::string summary;                // one line: what happened, for a person
  std::vector<std::string> evidence;  // most telling first, capped at kEvidenceCap
  Json metrics = Json::object();
  Json details = Json::object();

  // {"name","verdict","measured","bound","summary","evidence","metrics"[,"details"]}
  // ("details" only when not empty), as in results.json.
  Json to_json() const;
};

struct ScenarioVerdict {
  std::string verdict;
  Json metrics = Json::object();
  std::vector<CheckResult> checks;
  std::string reason;  // one line: why this verdict

  // {"verdict","metrics","checks":[...],"reason"}
  Json to_json() const;
};

// Judges a whole history (history[0] must be `meta`). Never throws for bad
// history content: that gives verdict `error` with the reason.
ScenarioVerdict judge(const std::vector<Json>& history);

// Runs one check. Unknown names and unreadable histories give verdict `error`.
CheckResult run_check(const std::string& name, const std::vector<Json>& history,
                      const Json& params);
// Same, over a model built once.
CheckResult run_check(const std::string& name, const HistoryModel& model, const Json& params);

// The known check names, in the order documented above.
const std::vector<std::string>& check_names();
// The checks judge() runs on every scenario after those meta.checks names:
// exits, flush_causes.
const std::vector<std::string>& implicit_checks();

// The combination order: error > fail > skip > reproduced > pass.
std::string worst_verdict(const std::string& a, const std::string& b);

}  // namespace pjx::harness
