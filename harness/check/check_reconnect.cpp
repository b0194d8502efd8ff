// The reconnect check (rule 12 in checkers.hpp): pub/sub delivery is at most
// once, so a listener whose connection was lost must drop its whole cache
// (`flushed`) once it is subscribed again, and nothing published while it was
// connected may be missing.
//
// A `partition` cutting a listener from redis-server (hosts) is a lost
// connection nobody is told of: no RST, no FIN. Its health check must find
// it and flush within detect_within_ms of the partition's *start* (default
// 3000 ms: health_check_interval 1 s + health_check_timeout 1 s + reconnect
// 1 s), however long the partition lasts; what was published until its
// first flush after the heal (its resubscription) is excused.
#include <algorithm>
#include <optional>

#include "check/check_support.hpp"

namespace pjx::harness::detail {
namespace {

std::string count_of(std::size_t n, const char* what) { return std::to_string(n) + " " + what; }

// A lost connection of one incarnation: [begin, end] (end == begin for an
// instant fault), and the flush that answered it.
struct Disruption {
  std::size_t incarnation = 0;
  const FaultWindow* fault = nullptr;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::optional<std::int64_t> flush;  // the first flush at or after begin
  bool partition = false;             // timed from begin, excused until `resync`
  std::optional<std::int64_t> resync;  // partition: the first flush at or after end
};

std::vector<Disruption> disruptions(const HistoryModel& m, bool pause_disconnects,
                                    std::int64_t slack_ns) {
  std::vector<Disruption> out;
  const std::int64_t quiesce_end = m.quiesce_end();
  for (const FaultWindow& w : m.faults) {
    std::vector<std::size_t> hit;
    if (w.action == "client_kill" && w.incarnation) {
      hit.push_back(*w.incarnation);
    } else if (w.action == "pause" && pause_disconnects && w.incarnation && !w.instant) {
      hit.push_back(*w.incarnation);
    } else if (w.action == "redis_restart") {
      for (const Incarnation& inc : m.incarnations) {
        if (inc.t_ready && *inc.t_ready < w.begin && inc.alive_at(w.begin)) hit.push_back(inc.index);
      }
    } else if (w.action == "partition") {
      for (const Incarnation& inc : m.incarnations) {
        if (cut_from_redis(m, w, inc.index)) hit.push_back(inc.index);
      }
    }
    for (std::size_t i : hit) {
      const Incarnation& inc = m.incarnations[i];
      if (!inc.t_ready || *inc.t_ready >= w.begin) continue;  // not listening yet
      if (auto gone = inc.t_end(); gone && *gone < quiesce_end) continue;  // did not live to tell
      Disruption d{i, &w, w.begin, w.end, std::nullopt, w.action == "partition", std::nullopt};
      for (std::int64_t f : inc.flushes) {
        if (f >= w.begin) {
          d.flush = f;
          break;
        }
      }
      // The end is recorded once the drop rules are gone, and the worker
      // may resubscribe before that record: look from slack before it.
      for (std::int64_t f : inc.flushes) {
        if (d.partition && f >= w.end - slack_ns) {
          d.resync = f;
          break;
        }
      }
      out.push_back(d);
    }
  }
  return out;
}

}  // namespace

CheckResult check_reconnect(const HistoryModel& m, const Json& params) {
  const double flush_within_ms = param_number(params, "flush_within_ms", 3000);
  const double detect_within_ms = param_number(params, "detect_within_ms", kRedisHealthBoundMs);
  const double slack_ms = param_number(params, "slack_ms", 2 * m.poll_interval_ms);
  const bool pause_disconnects = params.is_object() && params.value("pause_disconnects", false);
  const auto slack_ns = static_cast<std::int64_t>(slack_ms * 1e6);
  const std::vector<Disruption> ds = disruptions(m, pause_disconnects, slack_ns);
  const std::int64_t quiesce_end = m.quiesce_end();

  Evidence evidence;
  std::size_t unflushed = 0;
  std::size_t late_flushes = 0;
  double max_flush_ms = 0;
  double max_detect_ms = 0;  // partitions: flush after the start
  for (const Disruption& d : ds) {
    const Incarnation& inc = m.incarnations[d.incarnation];
    const std::string what = d.fault->action + " at " + m.at(d.begin);
    if (!d.flush) {
      ++unflushed;
      evidence.add(0, "not flushed",
                   inc.label() + " lost its connection (" + what +
                       ") and never emitted `flushed`: its cache may keep what it missed");
      continue;
    }
    if (d.partition) {
      // Timed from the start: the partition is silent, so only the health
      // check can end the stale period.
      const double detect_ms = HistoryModel::ms(d.begin, *d.flush);
      max_detect_ms = std::max(max_detect_ms, detect_ms);
      if (detect_ms > detect_within_ms) {
        ++late_flushes;
        evidence.add(1, "late detection",
                     inc.label() + " was cut from redis-server (" + what + ") and flushed only " +
                         fmt_ms(detect_ms) + " ms after the partition began (bound " +
                         fmt_num(detect_within_ms) +
                         " ms: health_check_interval + health_check_timeout + reconnect); until "
                         "then it served its cache without knowing it missed invalidations");
      }
      continue;
    }
    const double ms = HistoryModel::ms(d.end, *d.flush);
    max_flush_ms = std::max(max_flush_ms, ms);
    if (ms > flush_within_ms) {
      ++late_flushes;
      evidence.add(1, "late flush",
                   inc.label() + " flushed " + fmt_ms(ms) + " ms after " + what +
                       " ended (bound " + fmt_num(flush_within_ms) + " ms)");
    }
  }

  // Deliveries of publishes begun after a disruption ended that came before
  // the flush answering it: new entries cached, then dropped, or worse,
  // kept when the flush never came.
  std::size_t before_flush = 0;
  for (const Disruption& d : ds) {
    if (!d.flush) continue;
    for (std::size_t di : m.incarnations[d.incarnation].deliveries) {
      const Delivery& del = m.deliveries[di];
      const Publish* p = m.find_publish(del.publish_id);
      if (p == nullptr || del.t <= d.end || del.t >= *d.flush || p->begin() <= d.end) continue;
      ++before_flush;
      evidence.add(2, "delivered before flush",
                   m.incarnations[d.incarnation].label() + " received publish " +
                       std::to_string(p->id) + " at " + m.at(del.t) + ", after " +
                       d.fault->action + " at " + m.at(d.begin) + " but before its flush at " +
                       m.at(*d.flush));
    }
  }

  // Lost while connected: an acknowledged publish that a listening
  // incarnation neither received nor was excused from by a disruption window
  // [begin - slack, its flush].
  std::size_t lost = 0;
  std::size_t excused = 0;
  std::size_t checked = 0;
  for (const Publish& p : m.publishes) {
    if (!p.acked()) continue;
    for (const Incarnation& inc : m.incarnations) {
      if (inc.index == p.publisher || inc.channel != p.channel) continue;
      if (!inc.t_ready || *inc.t_ready >= p.begin()) continue;
      if (auto gone = inc.t_end(); gone && *gone < quiesce_end) continue;
      ++checked;
      if (!m.deliveries_of(inc.index, p.id).empty()) continue;
      const bool in_window = std::any_of(ds.begin(), ds.end(), [&](const Disruption& d) {
        // A PUBLISH that began before the flush (which follows the confirmed
        // re-subscription) may have run in Redis before the subscription.
        if (d.incarnation != inc.index || !d.flush || *p.t_commit < d.begin - slack_ns) {
          return false;
        }
        // A partition: missed until the resubscription after the heal (its
        // flush); with none seen, until the heal + flush_within_ms.
        const std::int64_t until = !d.partition ? *d.flush
                                   : d.resync
                                       ? *d.resync
                                       : d.end + static_cast<std::int64_t>(flush_within_ms * 1e6);
        return p.begin() <= until;
      });
      if (in_window) {
        ++excused;
        continue;
      }
      ++lost;
      evidence.add(0, "lost",
                   inc.label() + " never received publish " + std::to_string(p.id) + " from " +
                       m.incarnations[p.publisher].label() + " committed " + m.at(*p.t_commit) +
                       " while it was connected (no lost connection answered by a flush covers "
                       "it)");
    }
  }

  // Publishes during an outage of the server must report `error`.
  std::size_t during_outage = 0;
  std::size_t outage_errors = 0;
  std::size_t silently_acked = 0;
  std::size_t unanswered = 0;
  std::int64_t last_end = 0;
  bool outage = false;
  for (const FaultWindow& w : m.faults) {
    if (w.action == "client_kill" || w.action == "redis_restart" || w.action == "partition" ||
        (w.action == "pause" && pause_disconnects)) {
      last_end = std::max(last_end, w.end);
    }
    if (w.action != "redis_restart" || w.instant) continue;
    outage = true;
    for (const Publish& p : m.publishes) {
      if (p.t_op < w.begin || p.t_op > w.end) continue;
      ++during_outage;
      if (p.error) {
        ++outage_errors;
      } else if (p.acked() && *p.t_commit <= w.end) {
        ++silently_acked;
        evidence.add(0, "acknowledged during outage",
                     "publish " + std::to_string(p.id) + " by " +
                         m.incarnations[p.publisher].label() + " was acknowledged at " +
                         m.at(*p.t_commit) + " while redis-server was down (" + m.at(w.begin) +
                         " to " + m.at(w.end) + "): it reached nobody");
      } else if (!p.acked()) {
        ++unanswered;
        evidence.add(1, "unanswered",
                     "publish " + std::to_string(p.id) + " sent during the outage got neither "
                     "published nor error");
      }
    }
  }

  bool resumed = false;
  for (const Publish& p : m.publishes) {
    if (p.acked() && p.begin() > last_end) resumed = resumed || reached_all_required(m, p);
  }

  std::vector<std::string> not_shown;
  if (ds.empty()) not_shown.push_back("no listener lost its connection (no disruption applied)");
  if (outage && during_outage == 0) not_shown.push_back("no publish was sent during the outage");
  if (!ds.empty() && !resumed) {
    not_shown.push_back("delivery did not resume: no publish begun after the last disruption (" +
                        m.at(last_end) + ") was acknowledged and reached all its receivers");
  }
  const std::size_t violations =
      unflushed + late_flushes + before_flush + lost + silently_acked + unanswered;

  CheckResult r;
  r.name = "reconnect";
  r.measured = count_of(ds.size(), "lost connections") + ": " + count_of(unflushed, "unflushed") +
               ", " + count_of(late_flushes, "late") + ", max flush " + fmt_ms(max_flush_ms) +
               " ms after" +
               (max_detect_ms > 0 ? ", partitions detected (flushed) at most " +
                                        fmt_ms(max_detect_ms) + " ms after they began"
                                  : std::string()) +
               "; " + count_of(lost, "lost while connected") + ", " +
               count_of(excused, "missed while disconnected (flushed)") +
               "; outage: " + std::to_string(outage_errors) + "/" + std::to_string(during_outage) +
               " errors";
  r.bound = "each lost connection answered by `flushed` <= " + fmt_num(flush_within_ms) +
            " ms after it ended, before newer deliveries; nothing published while connected "
            "missing; publishes during an outage report error; delivery resumes";
  if (!m.faults_named("partition").empty()) {
    r.bound += "; a listener cut from redis-server by a partition flushes <= " +
               fmt_num(detect_within_ms) +
               " ms after the partition began (health_check_interval 1 s + health_check_timeout "
               "1 s + reconnect 1 s)";
  }
  r.metrics = {{"disruptions", ds.size()},
               {"unflushed", unflushed},
               {"late_flushes", late_flushes},
               {"max_flush_ms", round_ms(max_flush_ms)},
               {"max_detect_ms", round_ms(max_detect_ms)},
               {"delivered_before_flush", before_flush},
               {"lost", lost},
               {"missed_while_disconnected", excused},
               {"receiver_pairs", checked},
               {"outage_publishes", during_outage},
               {"outage_errors", outage_errors},
               {"acked_during_outage", silently_acked},
               {"unanswered", unanswered}};
  r.evidence = evidence.lines();
  for (const std::string& line : not_shown) r.evidence.insert(r.evidence.begin(), line);
  if (!not_shown.empty()) {
    r.summary = not_shown.front();
  } else if (violations != 0) {
    r.summary = r.evidence.front();
  } else {
    r.summary = count_of(ds.size(), "lost connections") + " each answered by a flush (max " +
                fmt_ms(max_flush_ms) + " ms after); nothing published while connected was missed";
  }
  set_verdict(r, m, not_shown.empty(), violations != 0);
  return r;
}

}  // namespace pjx::harness::detail
