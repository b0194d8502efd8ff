// The delivery checks: fanout, isolation, no_replay, crash_safety and
// lock_contention (rules in checkers.hpp).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "check/check_support.hpp"

namespace pjx::harness::detail {
namespace {

std::string count_of(std::size_t n, const char* what) { return std::to_string(n) + " " + what; }

// "3 missing, 1 duplicate": the non-zero violation counts.
std::string violation_list(const FanoutAnalysis& a) {
  const std::pair<std::size_t, const char*> counts[] = {
      {a.missing, "missing"},     {a.duplicates, "duplicate"},    {a.self, "self-delivered"},
      {a.cross, "cross-channel"}, {a.uncommitted, "uncommitted"}, {a.unmatched, "unmatched"},
      {a.errors, "failed outside faults"}};
  std::string out;
  for (const auto& [n, what] : counts) {
    if (n != 0) out += (out.empty() ? "" : ", ") + count_of(n, what);
  }
  return out;
}

// Lines that explain a failed composite check, then the fan-out evidence.
std::vector<std::string> merge_evidence(const std::vector<std::string>& problems,
                                        const Evidence& rest) {
  std::vector<std::string> out(
      problems.begin(),
      problems.begin() + static_cast<std::ptrdiff_t>(std::min(problems.size(), kEvidenceCap)));
  if (out.size() < kEvidenceCap) {
    for (std::string& line : rest.lines(kEvidenceCap - out.size())) out.push_back(line);
  }
  return out;
}

std::int64_t last_end(const std::vector<const FaultWindow*>& windows) {
  std::int64_t end = 0;
  for (const FaultWindow* w : windows) end = std::max(end, w->end);
  return end;
}

}  // namespace

// The fanout parameter `after`: the name of a fault action (a file swap such
// as "replace_db" or "delete_db"). Publishes begun before the end of its last
// window may go to the file that was swapped out, so they are exempt; every
// publish begun after it must reach everyone. Naming an action the run never
// injected would exempt nothing by accident of the schedule: an error.
struct RequiredFrom {
  std::int64_t from = std::numeric_limits<std::int64_t>::min();
  std::string action;
};

RequiredFrom required_from(const HistoryModel& m, const Json& params) {
  RequiredFrom out;
  if (!params.is_object() || !params.contains("after")) return out;
  const Json& v = params["after"];
  if (!v.is_string() || v.get<std::string>().empty()) {
    throw std::runtime_error("check parameter \"after\" must name a fault action such as \"replace_db\", got " +
                             v.dump());
  }
  out.action = v.get<std::string>();
  bool found = false;
  for (const FaultWindow& w : m.faults) {
    if (w.action != out.action) continue;
    found = true;
    out.from = std::max(out.from, w.end);
  }
  if (!found) {
    throw std::runtime_error("check parameter \"after\" names the fault action \"" + out.action +
                             "\", which this run never injected; name one of the scenario's [[fault]] actions");
  }
  return out;
}

CheckResult check_fanout(const HistoryModel& m, const Json& params) {
  const RequiredFrom from = required_from(m, params);
  const FanoutAnalysis a = analyse_fanout(m, self_rule(params), from.from);
  CheckResult r;
  r.name = "fanout";
  r.measured = a.measured();
  if (!from.action.empty()) {
    r.measured += "; " + std::to_string(a.exempt) + " publishes begun before the last " + from.action + " (" +
                  m.at(from.from) + ") exempt";
  }
  switch (a.self_rule) {
    case SelfRule::kForbidden:
      r.bound =
          "each acknowledged publish reaches every other ready worker of its channel exactly "
          "once; nothing else is delivered";
      break;
    case SelfRule::kExpected:
      r.bound =
          "each acknowledged publish reaches every ready worker of its channel, its publisher "
          "included (self = expected), exactly once; nothing else is delivered";
      break;
    case SelfRule::kAllowed:
      r.bound =
          "each acknowledged publish reaches every other ready worker of its channel exactly "
          "once (its publisher may receive it too); nothing else is delivered";
      break;
  }
  if (!from.action.empty()) {
    r.bound += "; only publishes begun after the last " + from.action +
               " are required (earlier ones may have gone to the file it swapped out)";
  }
  r.metrics = a.metrics();
  r.evidence = a.evidence.lines();
  if (a.acked == 0) {
    r.summary = "no acknowledged publish: fan-out not shown";
  } else if (a.required == 0) {
    r.summary = count_of(a.acked, "acknowledged publishes") +
                " had no required receiver (no other worker of the channel was ready): "
                "fan-out not shown";
  } else if (a.violations() != 0) {
    r.summary = "fan-out broken: " + violation_list(a) + " (" + count_of(a.acked, "publishes") +
                ", " + count_of(a.required, "required deliveries") + ")";
  } else {
    r.summary = count_of(a.acked, "publishes") + " reached all " +
                count_of(a.required, "required receivers") + " exactly once";
  }
  set_verdict(r, m, a.shown(), a.violations() != 0, /*measures_failure=*/true);
  return r;
}

CheckResult check_isolation(const HistoryModel& m, const Json& /*params*/) {
  std::map<std::string, std::size_t> cross_pairs;
  std::size_t cross = 0;
  std::size_t within = 0;
  Evidence evidence;
  for (const Delivery& d : m.deliveries) {
    const Publish* p = m.find_publish(d.publish_id);
    if (p == nullptr || p->publisher == d.receiver) continue;
    const Incarnation& r = m.incarnations[d.receiver];
    if (r.channel == p->channel) {
      ++within;
      continue;
    }
    ++cross;
    ++cross_pairs["\"" + p->channel + "\" -> \"" + r.channel + "\""];
    evidence.add(1, "cross-channel",
                 r.label() + " on channel \"" + r.channel + "\" received publish " +
                     std::to_string(p->id) + " of channel \"" + p->channel + "\" at " + m.at(d.t));
  }
  for (const auto& [pair, n] : cross_pairs) {
    evidence.add(0, "pair", pair + ": " + count_of(n, "deliveries"));
  }
  std::set<std::string> channels;
  for (const Incarnation& inc : m.incarnations) {
    if (inc.t_ready) channels.insert(inc.channel);
  }

  CheckResult r;
  r.name = "isolation";
  r.measured = count_of(cross, "cross-channel deliveries") + ", " + std::to_string(within) +
               " within channels";
  r.bound = "0 deliveries across channels (>= 1 within a channel, >= 2 channels)";
  r.metrics = {{"cross_channel", cross}, {"within_channel", within}, {"channels", channels.size()}};
  r.details = {{"cross_pairs", Json::object()}};
  for (const auto& [pair, n] : cross_pairs) r.details["cross_pairs"][pair] = n;
  r.evidence = evidence.lines();
  const bool shown = within > 0 && channels.size() >= 2;
  if (channels.size() < 2) {
    r.summary = "only " + count_of(channels.size(), "channel(s)") + " in use: isolation not shown";
  } else if (within == 0) {
    r.summary = "nothing delivered, isolation not shown";
  } else if (cross != 0) {
    r.summary = count_of(cross, "deliveries") + " crossed channels (" +
                count_of(cross_pairs.size(), "channel pairs") + ")";
  } else {
    r.summary = count_of(within, "deliveries") + " over " + count_of(channels.size(), "channels") +
                ", none crossed";
  }
  set_verdict(r, m, shown, cross != 0);
  return r;
}

CheckResult check_no_replay(const HistoryModel& m, const Json& /*params*/) {
  std::size_t earlier = 0;
  std::size_t replayed = 0;
  std::size_t incarnations = 0;
  Evidence evidence;
  for (const Incarnation& inc : m.incarnations) {
    if (!inc.t_start_op || !inc.t_ready) continue;
    bool counted = false;
    for (const Publish& p : m.publishes) {
      if (!p.acked() || p.publisher == inc.index || p.channel != inc.channel) continue;
      if (*p.t_commit >= *inc.t_start_op) continue;
      ++earlier;
      if (!counted) {
        ++incarnations;
        counted = true;
      }
      for (std::size_t di : m.deliveries_of(inc.index, p.id)) {
        ++replayed;
        evidence.add(0, "replayed",
                     inc.label() + " received publish " + std::to_string(p.id) + " from " +
                         m.incarnations[p.publisher].label() + " at " + m.at(m.deliveries[di].t) +
                         ", committed " + m.at(*p.t_commit) + " before its start op at " +
                         m.at(*inc.t_start_op));
      }
    }
  }
  CheckResult r;
  r.name = "no_replay";
  r.measured = count_of(replayed, "replayed") + " of " +
               count_of(earlier, "publishes committed before a start");
  r.bound = "0 deliveries of publishes committed before the receiver's start";
  r.metrics = {{"replayed", replayed}, {"earlier_publishes", earlier}};
  r.evidence = evidence.lines();
  if (earlier == 0) {
    r.summary = "scenario did not publish before a start: replay not tested";
  } else if (replayed != 0) {
    r.summary = count_of(replayed, "deliveries") + " replayed history written before start";
  } else {
    r.summary = count_of(incarnations, "workers") + " started after " +
                count_of(earlier, "earlier publishes") + " (pairs) and received none of them";
  }
  set_verdict(r, m, earlier > 0, replayed != 0);
  return r;
}

CheckResult check_crash_safety(const HistoryModel& m, const Json& params) {
  const FanoutAnalysis a = analyse_fanout(m, self_rule(params));
  // A backend without a database file (Redis) has no integrity to probe.
  const bool needs_integrity = !params.is_object() || params.value("integrity", true);
  const auto kills = m.faults_named("kill");
  std::vector<std::string> problems;
  if (kills.empty()) problems.push_back("no kill fault: crash not exercised");

  std::size_t integrity = 0;
  std::size_t integrity_failures = 0;
  for (const Probe& probe : m.probes) {
    if (probe.what != "integrity") continue;
    ++integrity;
    if (probe.value != "ok") {
      ++integrity_failures;
      problems.push_back("integrity probe at " + m.at(probe.t) + " found " + probe.value.dump());
    }
  }
  if (integrity == 0 && needs_integrity) problems.push_back("probe integrity not recorded");
  if (a.violations() != 0) problems.push_back("fan-out broken: " + violation_list(a));
  if (a.acked == 0) problems.push_back("no acknowledged publish");

  const std::int64_t after = last_end(kills);
  std::size_t acked_after = 0;
  bool survivors_work = false;
  for (const Publish& p : m.publishes) {
    if (!p.acked() || kills.empty() || p.begin() < after) continue;
    ++acked_after;
    survivors_work = survivors_work || reached_all_required(m, p);
  }
  if (!kills.empty() && !survivors_work) {
    problems.push_back("survivors stopped working: no publish begun after the last kill (" +
                       m.at(after) + ") was acknowledged and reached all its receivers (" +
                       count_of(acked_after, "acknowledged") + ")");
  }

  CheckResult r;
  r.name = "crash_safety";
  r.measured = count_of(kills.size(), "kills") + ", " + count_of(a.missing, "lost deliveries") +
               ", " + count_of(integrity_failures, "integrity failures") + ", " +
               count_of(acked_after, "publishes acknowledged after the last kill");
  r.bound =
      ">= 1 kill; integrity ok; no acknowledged publish lost; >= 1 publish after the last kill "
      "reaches every receiver";
  r.metrics = a.metrics();
  r.metrics.update(Json{{"kills", kills.size()},
                        {"lost", a.missing},
                        {"integrity_failures", integrity_failures},
                        {"acked_after_kill", acked_after}});
  r.evidence = merge_evidence(problems, a.evidence);
  r.summary = problems.empty() ? count_of(kills.size(), "kills") +
                                     ": nothing acknowledged was lost, the file is intact and " +
                                     "the survivors kept working"
                               : problems.front();
  set_verdict(r, m, true, !problems.empty());
  return r;
}

CheckResult check_lock_contention(const HistoryModel& m, const Json& params) {
  const FanoutAnalysis a = analyse_fanout(m);
  std::vector<const FaultWindow*> locks;
  for (const FaultWindow* w : m.faults_named("lock")) {
    if (!w->instant) locks.push_back(w);
  }
  std::vector<std::string> problems;
  if (locks.empty()) problems.push_back("no lock fault window: contention not exercised");

  double lock_ms = 0;
  for (const FaultWindow* w : locks) lock_ms = std::max(lock_ms, w->ms());
  std::size_t during = 0;
  std::size_t errors = 0;
  std::size_t acked_during = 0;
  std::size_t unanswered = 0;
  for (const Publish& p : m.publishes) {
    const bool in_lock = std::any_of(locks.begin(), locks.end(), [&](const FaultWindow* w) {
      return w->overlaps(p.t_op, p.t_op);
    });
    if (!in_lock) continue;
    ++during;
    if (p.error) {
      ++errors;
    } else if (p.acked()) {
      ++acked_during;
    } else {
      ++unanswered;
      problems.push_back("publish " + std::to_string(p.id) + " sent to " +
                         m.incarnations[p.publisher].label() + " at " + m.at(p.t_op) +
                         " during the lock got neither published nor error");
    }
  }
  if (!locks.empty() && during == 0) problems.push_back("no publish was sent during the lock");
  if (a.violations() != 0) problems.push_back("fan-out broken: " + violation_list(a));

  // Queued publishes: committed from the worker's outbox once the lock is
  // gone, so delivered within the retry backoff plus one poll of the release.
  const double queued_bound = param_number(
      params, "queued_bound_ms", 500 + m.poll_interval_ms + param_number(params, "slack_ms", 1000));
  std::size_t queued = 0;
  std::size_t queued_late = 0;
  std::optional<double> max_queued_ms;
  for (const Publish& p : m.publishes) {
    if (!p.acked() || !p.queued) continue;
    ++queued;
    std::int64_t reference = *p.t_commit;
    for (const FaultWindow* w : locks) {
      if (w->begin <= *p.t_commit) reference = std::max(reference, w->end);
    }
    for (std::size_t inc : required_receivers(m, p)) {
      const auto& delivered = m.deliveries_of(inc, p.id);
      if (delivered.empty()) continue;  // counted as lost by the fan-out rule
      std::int64_t first = m.deliveries[delivered.front()].t;
      for (std::size_t d : delivered) first = std::min(first, m.deliveries[d].t);
      const double ms = static_cast<double>(first - reference) / 1e6;
      max_queued_ms = std::max(max_queued_ms.value_or(ms), ms);
      if (ms > queued_bound) {
        ++queued_late;
        problems.push_back("queued publish " + std::to_string(p.id) + " from " +
                           m.incarnations[p.publisher].label() + " reached " +
                           m.incarnations[inc].label() + " " + fmt_ms(ms) +
                           " ms after the lock was released (bound " + fmt_ms(queued_bound) + " ms)");
      }
    }
  }

  const std::int64_t after = last_end(locks);
  bool resumed = false;
  for (const Publish& p : m.publishes) {
    if (!locks.empty() && p.acked() && p.begin() >= after) {
      resumed = resumed || reached_all_required(m, p);
    }
  }
  if (!locks.empty() && !resumed) {
    problems.push_back("delivery did not resume: no publish begun after the lock ended (" +
                       m.at(after) + ") was acknowledged and reached all its receivers");
  }

  CheckResult r;
  r.name = "lock_contention";
  r.measured = "lock " + fmt_ms(lock_ms) + " ms: " + count_of(during, "publishes") +
               " during it (" + std::to_string(acked_during) + " acknowledged, " +
               std::to_string(errors) + " error, " + std::to_string(unanswered) + " unanswered), " +
               count_of(a.missing, "lost deliveries") + ", " + count_of(queued, "queued") +
               (max_queued_ms ? ", queued delivered <= " + fmt_ms(*max_queued_ms) + " ms after the release"
                              : std::string());
  r.bound =
      "every publish during the lock is acknowledged or reports error; nothing acknowledged "
      "(committed or queued) is lost; a queued publish reaches every receiver <= " +
      fmt_ms(queued_bound) + " ms after the lock's release; delivery resumes after the lock";
  r.metrics = a.metrics();
  r.metrics.update(Json{{"lock_ms", round_ms(lock_ms)},
                        {"publish_errors", errors},
                        {"acked_during_lock", acked_during},
                        {"unanswered", unanswered},
                        {"queued", queued},
                        {"queued_late", queued_late},
                        {"max_queued_delivery_ms",
                         max_queued_ms ? Json(round_ms(*max_queued_ms)) : Json(nullptr)},
                        {"queued_bound_ms", round_ms(queued_bound)},
                        {"lost", a.missing}});
  r.evidence = merge_evidence(problems, a.evidence);
  r.summary = problems.empty()
                  ? "during a " + fmt_ms(lock_ms) + " ms lock " + count_of(errors, "publishes") +
                        " reported error and " + std::to_string(acked_during) +
                        " were acknowledged (" + std::to_string(queued) +
                        " queued in total); nothing was lost and delivery resumed"
                  : problems.front();
  set_verdict(r, m, true, !problems.empty());
  return r;
}

}  // namespace pjx::harness::detail
