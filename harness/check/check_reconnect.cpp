// The reconnect check (rule 14 in checkers.hpp): pub/sub delivery is at most
// once, so a listener whose connection was lost must drop its whole cache
// (`flushed`) once it is subscribed again, and nothing published while it was
// connected may be missing. A silent server (redis_pause) must be noticed
// (any `flushed`, typically reason `disconnected`) within the health-check
// bound, while it is still silent. So must a `partition` that cut the
// listener from redis-server (hosts): no RST, no FIN, nothing but the
// health check can tell; its resubscription flush comes after the heal.
// A `redis_failover` (Sentinel: the primary killed, the replica promoted;
// the window ends when the harness first saw a sentinel name the new
// primary) must be noticed as a silent server is, whatever the window's
// length, and answered by the flush that follows the subscription on the
// new primary; a publish begun after the kill and acknowledged before any
// sentinel named the new primary (end params.unswitched_t) reached no
// primary (killed_t: the primary was dead): acknowledged and dropped.
#include <algorithm>
#include <optional>

#include "check/check_support.hpp"

namespace pjx::harness::detail {
namespace {

std::string count_of(std::size_t n, const char* what) { return std::to_string(n) + " " + what; }

// A lost connection of one incarnation: [begin, end] (end == begin for an
// instant fault), and the flushes that answered it.
struct Disruption {
  std::size_t incarnation = 0;
  const FaultWindow* fault = nullptr;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  // The first flush at or after begin whose reason is not `disconnected`:
  // the one that follows the new subscription.
  std::optional<std::int64_t> flush;
  std::optional<std::int64_t> noticed;  // the first flush of any reason at or after begin
};

bool silent(const FaultWindow& w) { return w.action == "redis_pause" || w.action == "partition"; }
bool failover(const FaultWindow& w) { return w.action == "redis_failover"; }
bool server_wide(const FaultWindow& w) {
  return w.action == "redis_restart" || w.action == "redis_pause" || failover(w);
}

std::vector<Disruption> disruptions(const HistoryModel& m, bool pause_disconnects) {
  std::vector<Disruption> out;
  const std::int64_t quiesce_end = m.quiesce_end();
  for (const FaultWindow& w : m.faults) {
    std::vector<std::size_t> hit;
    if (w.action == "client_kill" && w.incarnation) {
      hit.push_back(*w.incarnation);
    } else if (w.action == "pause" && pause_disconnects && w.incarnation && !w.instant) {
      hit.push_back(*w.incarnation);
    } else if (server_wide(w)) {
      for (const Incarnation& inc : m.incarnations) {
        if (inc.t_ready && *inc.t_ready < w.begin && inc.alive_at(w.begin))
          hit.push_back(inc.index);
      }
    } else if (w.action == "partition") {
      for (const Incarnation& inc : m.incarnations) {
        if (cut_from_redis(m, w, inc.index)) hit.push_back(inc.index);
      }
    }
    for (std::size_t i : hit) {
      const Incarnation& inc = m.incarnations[i];
      if (!inc.t_ready || *inc.t_ready >= w.begin) continue;               // not listening yet
      if (auto gone = inc.t_end(); gone && *gone < quiesce_end) continue;  // did not live to tell
      Disruption d{i, &w, w.begin, w.end, std::nullopt, std::nullopt};
      for (std::size_t k = 0; k < inc.flushes.size(); ++k) {
        const std::int64_t f = inc.flushes[k];
        if (f < w.begin) continue;
        if (!d.noticed) d.noticed = f;
        const std::string& reason = k < inc.flush_reasons.size() ? inc.flush_reasons[k] : "";
        if (reason != "disconnected") {
          d.flush = f;
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
  const double slack_ms = param_number(params, "slack_ms", 2 * m.poll_interval_ms);
  const double notice_within_ms = param_number(params, "notice_within_ms", 3000);
  const bool pause_disconnects = params.is_object() && params.value("pause_disconnects", false);
  const std::vector<Disruption> ds = disruptions(m, pause_disconnects);
  const std::int64_t quiesce_end = m.quiesce_end();

  Evidence evidence;
  std::size_t unflushed = 0;
  std::size_t late_flushes = 0;
  std::size_t unnoticed = 0;
  std::size_t silent_judged = 0;
  double max_flush_ms = 0;
  double max_notice_ms = 0;
  // Failovers: each listener's kill -> first flush and kill -> the flush on
  // the new primary, in ms (the figures of bench/README.md, issue 21).
  Json failover_notice = Json::array();
  Json failover_switch = Json::array();
  for (const Disruption& d : ds) {
    const Incarnation& inc = m.incarnations[d.incarnation];
    const std::string what = d.fault->action + " at " + m.at(d.begin);
    if (failover(*d.fault)) {
      if (d.noticed) failover_notice.push_back(round_ms(HistoryModel::ms(d.begin, *d.noticed)));
      if (d.flush) failover_switch.push_back(round_ms(HistoryModel::ms(d.begin, *d.flush)));
    }
    // A silent server is to be noticed while it is still silent: judged
    // when it stayed silent longer than the bound. A failover always: the
    // listener must stop caching long before the sentinels have elected.
    if ((silent(*d.fault) && HistoryModel::ms(d.begin, d.end) > notice_within_ms) ||
        failover(*d.fault)) {
      ++silent_judged;
      const std::optional<double> ms =
          d.noticed ? std::optional(HistoryModel::ms(d.begin, *d.noticed)) : std::nullopt;
      if (ms) max_notice_ms = std::max(max_notice_ms, *ms);
      if (!ms || *ms > notice_within_ms) {
        ++unnoticed;
        evidence.add(
            0, "silent server unnoticed",
            inc.label() + " did not flush within " + fmt_num(notice_within_ms) + " ms of " + what +
                " (" +
                (ms ? "its first flush came " + fmt_ms(*ms) + " ms after" : "it never flushed") +
                "): while it hears nothing from the server its cache is kept, and what others "
                "publish meanwhile never reaches it");
      }
    }
    if (!d.flush) {
      ++unflushed;
      evidence.add(0, "not flushed",
                   inc.label() + " lost its connection (" + what +
                       ") and never emitted `flushed`: its cache may keep what it missed");
      continue;
    }
    const double ms = HistoryModel::ms(d.end, *d.flush);
    max_flush_ms = std::max(max_flush_ms, ms);
    if (ms > flush_within_ms) {
      ++late_flushes;
      evidence.add(1, "late flush",
                   inc.label() + " flushed " + fmt_ms(ms) + " ms after " + what + " ended (bound " +
                       fmt_num(flush_within_ms) + " ms)");
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
                       std::to_string(p->id) + " at " + m.at(del.t) + ", after " + d.fault->action +
                       " at " + m.at(d.begin) + " but before its flush at " + m.at(*d.flush));
    }
  }

  // Lost while connected: an acknowledged publish that a listening
  // incarnation neither received nor was excused from by a disruption window
  // [begin - slack, its flush].
  const auto slack_ns = static_cast<std::int64_t>(slack_ms * 1e6);
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
        return d.incarnation == inc.index && d.flush && *p.t_commit >= d.begin - slack_ns &&
               p.begin() <= *d.flush;
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
  std::size_t switch_acked = 0;  // failover: acknowledged once a sentinel named the new primary
  Json switch_ms = Json::array();
  std::int64_t last_end = 0;
  bool outage = false;
  for (const FaultWindow& w : m.faults) {
    if (w.action == "client_kill" || server_wide(w) || w.action == "partition" ||
        (w.action == "pause" && pause_disconnects)) {
      last_end = std::max(last_end, w.end);
    }
    if (!server_wide(w) || w.instant) continue;
    outage = true;
    if (failover(w)) {
      // No server is the primary from the kill until a sentinel names the
      // new one: a publish begun after the kill and answered before the
      // last sweep that found every sentinel naming the old primary was
      // acknowledged by nobody who could deliver it.
      const std::int64_t killed = w.end_params.value("killed_t", w.begin);
      const std::int64_t unswitched = w.end_params.value("unswitched_t", w.begin);
      if (w.end_params.contains("switch_ms")) switch_ms.push_back(w.end_params["switch_ms"]);
      for (const Publish& p : m.publishes) {
        if (p.t_op < w.begin || p.t_op > w.end) continue;
        ++during_outage;
        if (p.error) {
          ++outage_errors;
        } else if (p.acked() && p.begin() >= killed && *p.t_commit <= unswitched) {
          ++silently_acked;
          evidence.add(0, "acknowledged during failover",
                       "publish " + std::to_string(p.id) + " by " +
                           m.incarnations[p.publisher].label() + " began " + m.at(p.begin()) +
                           ", after the primary was killed at " + m.at(killed) +
                           ", and was acknowledged at " + m.at(*p.t_commit) +
                           ", while every sentinel still named the dead primary (until " +
                           m.at(unswitched) + "): no primary took it, it reached nobody");
        } else if (p.acked()) {
          ++switch_acked;
        } else {
          ++unanswered;
          evidence.add(1, "unanswered",
                       "publish " + std::to_string(p.id) +
                           " sent during the failover got neither published nor error");
        }
      }
      continue;
    }
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
                         m.at(*p.t_commit) + " while redis-server was " +
                         (silent(w) ? "stopped" : "down") + " (" + m.at(w.begin) + " to " +
                         m.at(w.end) + "): it reached nobody");
      } else if (!p.acked()) {
        ++unanswered;
        evidence.add(1, "unanswered",
                     "publish " + std::to_string(p.id) +
                         " sent during the outage got neither "
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
      unflushed + late_flushes + unnoticed + before_flush + lost + silently_acked + unanswered;

  CheckResult r;
  r.name = "reconnect";
  r.measured = count_of(ds.size(), "lost connections") + ": " + count_of(unflushed, "unflushed") +
               ", " + count_of(late_flushes, "late") + ", max flush " + fmt_ms(max_flush_ms) +
               " ms after; " + count_of(lost, "lost while connected") + ", " +
               count_of(excused, "missed while disconnected (flushed)") +
               "; outage: " + std::to_string(outage_errors) + "/" + std::to_string(during_outage) +
               " errors";
  if (!switch_ms.empty()) {
    r.measured += " (failover: " + std::to_string(switch_acked) +
                  " acknowledged by the new primary; sentinels switched " +
                  fmt_ms(switch_ms.back().get<double>()) + " ms after the kill)";
  }
  if (silent_judged != 0) {
    r.measured += "; silent server: " + count_of(unnoticed, "unnoticed") + " of " +
                  std::to_string(silent_judged) + ", first flush max " + fmt_ms(max_notice_ms) +
                  " ms after it fell silent, was cut off or its primary was killed";
  }
  r.bound = "each lost connection answered by `flushed` <= " + fmt_num(flush_within_ms) +
            " ms after it ended, before newer deliveries; a silent server (redis_pause) or a "
            "partition cutting the listener from it noticed by a `flushed` <= " +
            fmt_num(notice_within_ms) +
            " ms after it began (health check interval + timeout + slack), a failover by a "
            "`flushed` <= as long after the primary's kill; nothing "
            "published while connected missing; publishes during an outage report error, during "
            "a failover error or are acknowledged only once a sentinel named the new primary; "
            "delivery resumes";
  r.metrics = {{"disruptions", ds.size()},
               {"unflushed", unflushed},
               {"late_flushes", late_flushes},
               {"max_flush_ms", round_ms(max_flush_ms)},
               {"silent_judged", silent_judged},
               {"unnoticed", unnoticed},
               {"max_notice_ms", round_ms(max_notice_ms)},
               {"delivered_before_flush", before_flush},
               {"lost", lost},
               {"missed_while_disconnected", excused},
               {"receiver_pairs", checked},
               {"outage_publishes", during_outage},
               {"outage_errors", outage_errors},
               {"acked_during_outage", silently_acked},
               {"unanswered", unanswered},
               {"failover_acked", switch_acked}};
  if (!switch_ms.empty()) {
    r.details["failover"] = {{"switch_ms", switch_ms},
                             {"first_flush_after_kill_ms", failover_notice},
                             {"switch_flush_after_kill_ms", failover_switch}};
  }
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
