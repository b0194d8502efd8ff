// The read check: stale_reads (rule 17 in checkers.hpp). What a worker's
// cache serves, judged against the writes of the truth store, as a register
// with a staleness bound: each read must return a version at least as new as
// every write of its key that had to be visible to its worker when the read
// began.
//
// When a write had to be visible to a reader (its deadline):
//  D1. The writer's own reads: when its `written` was emitted (the write
//      evicts locally before it answers).
//  D2. Any other incarnation: written.t + bound_ms.
//  D3. A fault window that holds the invalidation back extends the deadline
//      to the window's end + a bound, when the window overlaps [t_begin,
//      deadline]: the reader's own `pause` (+ after_resume_ms: its backend
//      must catch up or flush), a blocking window of any worker (`lock`,
//      `disk_full`, `vfs_fault`, `readonly_dir`, `redis_restart`,
//      `client_kill`; + after_fault_ms: the outbox retries, Redis
//      reconnects), and the writer's own `pause` when the write was queued
//      (its outbox drains in the paused process). A silent window
//      (`redis_pause`, a `partition` that cut the reader from
//      redis-server, or a `redis_failover` from the primary's kill to the
//      promotion) moves it only to the window's begin +
//      after_silence_ms: the health check must notice the silence and the
//      cache keep nothing until resubscribed, however long the window. Repeated until no window
//      moves the deadline.
//  D4. Then later by the time the host stalled (`host_lag` records: the
//      harness's own probe thread did not run) after written.t, or after
//      the point D3 last moved the deadline from, and before the deadline
//      as it moves; as `latency` subtracts stalls from a delivery.
//  A write answered with `error` imposes nothing (the application was told);
//  a read that began before the write's deadline may return either version.
#include <algorithm>
#include <map>
#include <set>

#include "check/check_support.hpp"

namespace pjx::harness::detail {
namespace {

struct StaleRead {
  const Read* read;
  const Publish* write;  // the newest write the read had to see
  std::int64_t deadline;
};

}  // namespace

CheckResult check_stale_reads(const HistoryModel& m, const Json& params) {
  const VisibilityBounds b = visibility_bounds(m, params);

  CheckResult r;
  r.name = "stale_reads";
  r.bound = "each read returns at least the version of every write of its key done " +
            fmt_num(b.bound_ms) + " ms (bound) before it began (the writer's own reads: 0 ms); " +
            "a paused reader gets " + fmt_num(b.after_resume_ms) +
            " ms after resuming, a lock, full disk or I/O fault " + fmt_num(b.after_fault_ms) +
            " ms after it ends, a silent Redis server " + fmt_num(b.after_silence_ms) +
            " ms after it fell silent, a partition cutting the reader from it " +
            fmt_num(b.after_silence_ms) + " ms after it began, a failover " +
            fmt_num(b.after_silence_ms) +
            " ms after the primary's kill (health_check_interval 1 s + health_check_timeout 1 s + "
            "1 s for the reconnect), however long any of them lasts; and as long again as the "
            "host stalled";

  // Acknowledged writes per key, in commit order.
  std::map<std::string, std::vector<const Publish*>> writes;
  std::map<std::string, std::vector<std::int64_t>> write_ops;  // every write op's t, per key
  for (const Publish& p : m.publishes) {
    if (!p.write_key) continue;
    write_ops[*p.write_key].push_back(p.t_op);
    if (p.acked() && p.version) writes[*p.write_key].push_back(&p);
  }
  for (auto& [key, list] : writes) {
    std::sort(list.begin(), list.end(),
              [](const Publish* x, const Publish* y) { return *x->t_commit < *y->t_commit; });
  }

  bool any_reader = false;
  for (const Incarnation& inc : m.incarnations) {
    if (std::find(inc.caps.begin(), inc.caps.end(), "reads") != inc.caps.end()) any_reader = true;
  }

  std::size_t answered = 0, hits = 0, checked = 0, errors = 0, races = 0, slow = 0;
  std::size_t acked_writes = 0;
  for (const auto& [key, list] : writes) acked_writes += list.size();
  double max_lag_ms = 0;  // how long the value a read returned had been superseded
  std::vector<StaleRead> stale;
  std::vector<const Read*> future;
  for (const Read& read : m.reads) {
    if (read.error) ++errors;
    if (!read.answered()) continue;
    ++answered;
    if (read.hit) ++hits;
    const std::int64_t begin = read.begin();
    const auto& list = writes[read.key];
    if (read.slow_ms > 0) {
      ++slow;
      const bool raced = std::any_of(list.begin(), list.end(), [&](const Publish* w) {
        return w->publisher != read.reader && *w->t_commit >= begin && w->begin() <= *read.t_end;
      });
      if (raced) ++races;
    }
    const Publish* required = nullptr;
    std::int64_t required_deadline = 0;
    bool other = false;
    for (const Publish* w : list) {
      const std::int64_t d = visibility_deadline(m, *w, read.reader, b);
      if (d >= begin) continue;
      if (w->publisher != read.reader) other = true;
      if (required == nullptr || *w->version > *required->version) {
        required = w;
        required_deadline = d;
      }
    }
    if (other) ++checked;
    for (const Publish* w : list) {
      if (*w->t_commit < begin && *w->version > *read.version) {
        max_lag_ms = std::max(max_lag_ms, HistoryModel::ms(*w->t_commit, begin));
        break;
      }
    }
    if (required != nullptr && *read.version < *required->version) {
      stale.push_back({&read, required, required_deadline});
    }
    const auto& ops = write_ops[read.key];
    const auto sent =
        std::count_if(ops.begin(), ops.end(), [&](std::int64_t t) { return t <= *read.t_end; });
    if (*read.version > sent) future.push_back(&read);
  }

  Evidence evidence;
  double worst_ms = 0;
  r.details["stale_reads"] = Json::array();
  for (const StaleRead& s : stale) {
    const Read& read = *s.read;
    const Publish& w = *s.write;
    const Incarnation& reader = m.incarnations[read.reader];
    const double over = HistoryModel::ms(s.deadline, read.begin());
    worst_ms = std::max(worst_ms, over);
    std::string delivered = "never received it";
    for (std::size_t di : m.deliveries_of(read.reader, w.id)) {
      delivered = "received it at " + m.at(m.deliveries[di].t);
      break;
    }
    std::string flushes;
    for (std::int64_t f : reader.flushes) {
      if (f >= w.begin() && f <= *read.t_end) flushes += (flushes.empty() ? "" : ", ") + m.at(f);
    }
    evidence.add(0, "stale",
                 reader.label() + " read " + read.key + " (read " + std::to_string(read.id) +
                     ", began " + m.at(read.begin()) + (read.hit ? ", cache hit" : ", loaded") +
                     ") and got version " + std::to_string(*read.version) + "; write " +
                     std::to_string(w.id) + " by " + m.incarnations[w.publisher].label() +
                     " made version " + std::to_string(*w.version) + " at " + m.at(*w.t_commit) +
                     " and had to be visible by " + m.at(s.deadline) + " (" + fmt_ms(over) +
                     " ms before the read began); " + reader.label() + " " + delivered +
                     (flushes.empty() ? ", no flush" : ", flushed at " + flushes));
    r.details["stale_reads"].push_back({{"worker", reader.worker},
                                        {"incarnation", reader.generation},
                                        {"read_id", read.id},
                                        {"key", read.key},
                                        {"version", *read.version},
                                        {"expected", *w.version},
                                        {"write_id", w.id},
                                        {"t", read.begin()},
                                        {"deadline_t", s.deadline},
                                        {"hit", read.hit}});
  }
  for (const Read* read : future) {
    evidence.add(1, "future",
                 m.incarnations[read->reader].label() + " read " + read->key + " (read " +
                     std::to_string(read->id) + ") and got version " +
                     std::to_string(*read->version) + ", which no write sent before " +
                     m.at(*read->t_end) + " could have made");
  }
  r.evidence = evidence.lines();
  r.metrics = {{"reads", answered},
               {"read_hits", hits},
               {"read_errors", errors},
               {"writes", acked_writes},
               {"checked_reads", checked},
               {"stale_reads", stale.size()},
               {"future_reads", future.size()},
               {"slow_reads", slow},
               {"races", races},
               {"max_read_lag_ms", round_ms(max_lag_ms)},
               {"worst_stale_read_ms", round_ms(worst_ms)},
               {"read_bound_ms", json_number(b.bound_ms)}};
  r.measured = std::to_string(stale.size()) + " stale of " + std::to_string(answered) + " reads (" +
               std::to_string(hits) + " hits, " + std::to_string(checked) +
               " checked against another worker's write, " + std::to_string(races) +
               " races); max lag " + fmt_ms(max_lag_ms) + " ms";

  if (!any_reader && m.reads.empty()) {
    r.verdict = "skip";
    r.summary =
        "no worker advertises the `reads` capability (protocol v2): what workers serve was not "
        "judged";
    return r;
  }
  bool shown = true;
  if (answered == 0) {
    shown = false;
    r.summary = "no read was answered: what workers serve not shown";
  } else if (checked == 0) {
    shown = false;
    r.details["not_shown"] = true;  // reads were answered; the workload did not line them up
    r.summary = "no read began after another worker's write had to be visible: stale reads "
                "not tested";
  } else if (slow > 0 && races == 0) {
    shown = false;
    r.details["not_shown"] = true;
    r.summary = std::to_string(slow) +
                " slow reads, none overlapped another worker's write of its key: the "
                "fill-vs-invalidate race was not exercised";
  } else if (!stale.empty() || !future.empty()) {
    r.summary = std::to_string(stale.size()) + " reads served a version older than the bound allows" +
                (future.empty() ? "" : ", " + std::to_string(future.size()) +
                                           " returned a version no write had made") +
                " (worst " + fmt_ms(worst_ms) + " ms past its deadline)";
  } else {
    r.summary = std::to_string(answered) + " reads (" + std::to_string(checked) +
                " checked against other workers' writes, " + std::to_string(races) +
                " fill-vs-invalidate races) all within the bound";
  }
  set_verdict(r, m, shown, !stale.empty() || !future.empty(), /*measures_failure=*/true,
              "expected stale reads, saw none (" + std::to_string(answered) + " reads, " +
                  std::to_string(checked) + " checked)");
  return r;
}

}  // namespace pjx::harness::detail
