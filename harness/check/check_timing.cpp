// The timing checks: latency and staleness (rules in checkers.hpp).
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "check/check_support.hpp"
#include "check/stats.hpp"

namespace pjx::harness::detail {
namespace {

constexpr double kDefaultSlackMs = 250;

Json distribution_json(const std::vector<double>& values) {
  const Distribution d = describe(values);
  return {{"p50", round_ms(d.p50)}, {"p99", round_ms(d.p99)}, {"max", round_ms(d.max)}, {"n", d.n}};
}

struct StaleWindow {
  const Incarnation* receiver;
  const Publish* publish;
  std::int64_t from;
  std::int64_t to;
  std::string closed_by;  // received, flushed, never
  double ms;
  std::optional<std::int64_t> pause_end;  // the last pause overlapping it ended here
  std::int64_t deadline = 0;              // when P had to be visible (visibility_deadline)
  double late_ms = 0;                     // beyond its deadline (pass mode)
};

}  // namespace

CheckResult check_latency(const HistoryModel& m, const Json& params) {
  const double slack = param_number(params, "slack_ms", kDefaultSlackMs);
  // A p99 bound applies only when params.p99_max_ms is given (a plain double
  // and a flag: GCC 12 warns falsely about std::optional<double> here).
  const bool has_p99_max = params.is_object() && params.contains("p99_max_ms");
  const double p99_max = param_number(params, "p99_max_ms", 0);
  // A p50 bound (params.p50_max_ms) tells a poll slower than configured from
  // a loaded machine: a few late deliveries move p99, not the median.
  const bool has_p50_max = params.is_object() && params.contains("p50_max_ms");
  const double p50_max = param_number(params, "p50_max_ms", 0);
  const double bound = m.poll_interval_ms + slack;

  LatencySamples measured = delivery_latencies(m);
  std::vector<LatencySample>& samples = measured.samples;
  const std::size_t excluded = measured.excluded;
  std::sort(samples.begin(), samples.end(), [](const LatencySample& a, const LatencySample& b) {
    return a.delivery->record < b.delivery->record;
  });

  CheckResult r;
  r.name = "latency";
  r.bound = "max <= poll_interval " + fmt_num(m.poll_interval_ms) + " ms + slack " +
            fmt_num(slack) + " ms";
  if (has_p99_max) r.bound += " and p99 <= " + fmt_num(p99_max) + " ms";
  if (has_p50_max) r.bound += " and p50 <= " + fmt_num(p50_max) + " ms";
  r.bound += ", net of measured host stalls";
  std::set<std::int64_t> events;
  for (const LatencySample& s : samples) events.insert(s.publish->id);
  r.metrics = {{"poll_interval_ms", json_number(m.poll_interval_ms)},
               {"workers", m.ready_worker_count()},
               {"events", events.size()},
               {"deliveries", samples.size()},
               {"excluded", excluded},
               {"host_lag_windows", m.host_lags.size()},
               {"deliveries_net_of_host_lag", measured.net_of_host_lag},
               {"host_lag_max_ms", round_ms(measured.host_lag_max_ms)}};
  if (samples.empty()) {
    r.measured = "no delivery measured";
    r.summary = "no delivery to a required receiver outside a fault window: latency not shown";
    set_verdict(r, m, false, false);
    return r;
  }

  std::vector<double> all;
  std::map<std::string, std::vector<double>> per_worker;
  for (const LatencySample& s : samples) {
    all.push_back(s.ms);
    per_worker[m.incarnations[s.delivery->receiver].worker].push_back(s.ms);
  }
  const Distribution d = describe(all);
  r.metrics["latency_p50_ms"] = round_ms(d.p50);
  r.metrics["latency_p99_ms"] = round_ms(d.p99);
  r.metrics["latency_max_ms"] = round_ms(d.max);
  r.details["latencies_ms"] = Json::array();
  for (double v : all) r.details["latencies_ms"].push_back(round_ms(v));
  r.details["per_worker"] = Json::object();
  for (const auto& [name, values] : per_worker)
    r.details["per_worker"][name] = distribution_json(values);

  const bool p99_over = has_p99_max && d.p99 > p99_max;
  const bool p50_over = has_p50_max && d.p50 > p50_max;
  std::vector<const LatencySample*> slowest;
  for (const LatencySample& s : samples) slowest.push_back(&s);
  std::stable_sort(slowest.begin(), slowest.end(),
                   [](const LatencySample* a, const LatencySample* b) { return a->ms > b->ms; });
  std::size_t over = 0;
  Evidence evidence;
  if (p99_over) {
    evidence.add(0, "p99", "p99 " + fmt_ms(d.p99) + " ms > p99_max_ms " + fmt_num(p99_max));
  }
  if (p50_over) {
    evidence.add(0, "p50", "p50 " + fmt_ms(d.p50) + " ms > p50_max_ms " + fmt_num(p50_max) +
                               ": the listeners poll less often than poll_interval " +
                               fmt_num(m.poll_interval_ms) + " ms");
  }
  std::size_t shown_in_time = 0;
  for (const LatencySample* s : slowest) {
    const bool late = s->ms > bound;
    if (late) {
      ++over;
    } else if (over != 0 || shown_in_time++ >= 3) {
      break;
    }
    evidence.add(late ? 1 : 2, late ? "late" : "slow",
                 m.incarnations[s->delivery->receiver].label() + " received publish " +
                     std::to_string(s->publish->id) + " from " +
                     m.incarnations[s->publish->publisher].label() + " " + fmt_ms(s->ms) +
                     " ms after its publish began (at " + m.at(s->delivery->t) + ")" +
                     host_lag_note(*s) + (s == slowest.front() ? " (largest)" : ""));
  }
  r.evidence = evidence.lines();
  r.measured = "max " + fmt_ms(d.max) + " ms";
  if (has_p99_max) r.measured += ", p99 " + fmt_ms(d.p99) + " ms";
  if (has_p50_max) r.measured += ", p50 " + fmt_ms(d.p50) + " ms";
  r.summary = std::to_string(samples.size()) + " deliveries, p50 " + fmt_ms(d.p50) + " ms, p99 " +
              fmt_ms(d.p99) + " ms";
  if (excluded != 0)
    r.summary += ", " + std::to_string(excluded) + " excluded (receiver under a fault)";
  if (measured.net_of_host_lag != 0) {
    r.summary += ", " + std::to_string(measured.net_of_host_lag) + " net of a host stall (up to " +
                 fmt_ms(measured.host_lag_max_ms) + " ms)";
  }
  if (over != 0) {
    r.summary = std::to_string(over) + " of " + std::to_string(samples.size()) +
                " deliveries took longer than " + fmt_num(bound) + " ms (max " + fmt_ms(d.max) +
                " ms)";
  } else if (p99_over) {
    r.summary = "p99 " + fmt_ms(d.p99) + " ms exceeds " + fmt_num(p99_max) + " ms";
  } else if (p50_over) {
    r.summary = "p50 " + fmt_ms(d.p50) + " ms exceeds " + fmt_num(p50_max) +
                " ms: deliveries wait longer than a poll_interval of " +
                fmt_num(m.poll_interval_ms) + " ms spreads them";
  }
  set_verdict(r, m, true, over != 0 || p99_over || p50_over);
  return r;
}

CheckResult check_staleness(const HistoryModel& m, const Json& params) {
  const double slack = param_number(params, "slack_ms", kDefaultSlackMs);
  const VisibilityBounds bounds = visibility_bounds(m, params);
  const double after_resume = bounds.after_resume_ms;
  const bool reproduce = m.expect == "reproduced";

  std::vector<StaleWindow> windows;
  for (const Publish& p : m.publishes) {
    if (!p.acked()) continue;
    const std::int64_t commit = *p.t_commit;
    for (const Incarnation& inc : m.incarnations) {
      if (inc.index == p.publisher || inc.channel != p.channel) continue;
      if (!inc.t_ready || *inc.t_ready >= p.begin()) continue;
      if (auto end = inc.t_end(); end && *end <= commit) continue;
      StaleWindow w{&inc, &p, commit, commit, "never", 0, std::nullopt, 0, 0};
      std::optional<std::int64_t> received;
      for (std::size_t di : m.deliveries_of(inc.index, p.id)) {
        received = received ? std::min(*received, m.deliveries[di].t) : m.deliveries[di].t;
      }
      // A flush during the publish call covers it too: the row committed
      // somewhere inside [t_begin, t_commit], and a flush after the commit
      // (the listener reseeding past it) or before it (the row then comes
      // as a delivery) leaves nothing stale. published.t is only when the
      // call returned.
      std::optional<std::int64_t> flushed;
      for (std::int64_t f : inc.flushes) {
        if (f >= p.begin()) {
          flushed = f;
          break;
        }
      }
      const std::optional<std::int64_t> ended = inc.t_end();
      if (received && (!flushed || *received <= *flushed)) {
        w.to = std::max(commit, *received);
        w.closed_by = "received";
      } else if (flushed) {
        w.to = *flushed;
        w.closed_by = "flushed";
      } else if (lost_with_publisher(m, p)) {
        // Queued in a worker that was killed: its outbox died with it.
        w.to = std::max(commit, std::min(ended.value_or(m.t_last), m.t_last));
        w.closed_by = "lost_with_publisher";
      } else if (ended && *ended < m.quiesce_end()) {
        // Killed, stopped or exited before it got it: its cache is gone too.
        w.to = std::max(commit, *ended);
        w.closed_by = "ended";
      } else {
        w.to = std::max(commit, m.t_last);
      }
      w.ms = HistoryModel::ms(w.from, w.to);
      for (const FaultWindow* pause : m.faults_of(inc.index, "pause")) {
        if (pause->overlaps(w.from, w.to)) {
          w.pause_end = std::max(w.pause_end.value_or(pause->end), pause->end);
        }
      }
      w.deadline = visibility_deadline(m, p, inc.index, bounds);
      w.late_ms = w.closed_by == "lost_with_publisher"
                      ? 0.0
                      : std::max(0.0, HistoryModel::ms(w.deadline, w.to));
      windows.push_back(w);
    }
  }

  double stall_ms = 0;
  for (const FaultWindow* pause : m.faults_named("pause"))
    stall_ms = std::max(stall_ms, pause->ms());
  std::size_t missed = 0;
  std::size_t flushed = 0;
  std::size_t late = 0;
  double max_stale = 0;
  for (const StaleWindow& w : windows) {
    if (w.closed_by == "never") ++missed;
    if (w.closed_by == "flushed") ++flushed;
    if (w.closed_by != "never" && w.late_ms > 0) ++late;
    max_stale = std::max(max_stale, w.ms);
  }

  CheckResult r;
  r.name = "staleness";
  r.metrics = {{"stall_ms", round_ms(stall_ms)},
               {"retention_ms", json_number(m.retention_ms)},
               {"missed_events", missed},
               {"flushed_events", flushed},
               {"max_stale_ms", round_ms(max_stale)},
               {"stale_windows", windows.size()}};
  r.details["stale_windows"] = Json::array();
  for (const StaleWindow& w : windows) {
    r.details["stale_windows"].push_back({{"worker", w.receiver->worker},
                                          {"incarnation", w.receiver->generation},
                                          {"publish_id", w.publish->id},
                                          {"from_t", w.from},
                                          {"to_t", w.to},
                                          {"closed_by", w.closed_by},
                                          {"ms", round_ms(w.ms)},
                                          {"deadline_t", w.deadline}});
  }

  std::vector<const StaleWindow*> worst;
  for (const StaleWindow& w : windows) worst.push_back(&w);
  std::stable_sort(worst.begin(), worst.end(), [](const StaleWindow* a, const StaleWindow* b) {
    if ((a->closed_by == "never") != (b->closed_by == "never")) return a->closed_by == "never";
    return a->ms > b->ms;
  });
  Evidence evidence;
  for (const StaleWindow* w : worst) {
    const std::string who = w->receiver->label();
    const std::string what = "publish " + std::to_string(w->publish->id) + " from " +
                             m.incarnations[w->publish->publisher].label() + " (committed " +
                             m.at(w->from) + ")";
    std::string pause;
    if (w->pause_end) pause = ", its pause ended " + m.at(*w->pause_end);
    if (w->closed_by == "never") {
      evidence.add(0, "never",
                   who + " never received or flushed for " + what + ": stale " + fmt_ms(w->ms) +
                       " ms until " + m.at(w->to) + pause);
    } else if (w->late_ms > 0 || (reproduce && w->closed_by == "flushed")) {
      evidence.add(w->late_ms > 0 ? 1 : 2, w->late_ms > 0 ? "late" : "flushed",
                   who + " stale " + fmt_ms(w->ms) + " ms for " + what + ", closed by " +
                       w->closed_by + " at " + m.at(w->to) + pause +
                       (w->late_ms > 0 ? " (" + fmt_ms(w->late_ms) + " ms over its bound)" : ""));
    } else if (evidence.size() < 3) {
      evidence.add(3, "window",
                   who + " stale " + fmt_ms(w->ms) + " ms for " + what + ", closed by " +
                       w->closed_by + pause);
    }
  }
  r.evidence = evidence.lines();

  r.measured = "max stale " + fmt_ms(max_stale) + " ms; " + std::to_string(missed) +
               " never closed, " + std::to_string(flushed) + " closed by flush, of " +
               std::to_string(windows.size()) + " windows";
  const std::string stall =
      "longest pause " + fmt_ms(stall_ms) + " ms vs retention " + fmt_num(m.retention_ms) + " ms";
  if (reproduce) {
    r.bound = "missed invalidations > 0 after a pause longer than retention";
    r.summary = missed != 0 ? std::to_string(missed) +
                                  " invalidations never reached their worker (" + stall + ")"
                            : "no missed invalidation (" + stall + ")";
  } else {
    r.bound = "0 missed; a paused worker's stale window ends <= " + fmt_num(after_resume) +
              " ms after its pause, others' <= poll_interval " + fmt_num(m.poll_interval_ms) +
              " ms + slack " + fmt_num(slack) + " ms, or " + fmt_num(bounds.after_fault_ms) +
              " ms after a lock, full disk or I/O fault that held it back";
    if (missed != 0) {
      r.summary =
          std::to_string(missed) + " invalidations never reached their worker (" + stall + ")";
    } else if (late != 0) {
      r.summary = std::to_string(late) + " stale windows outlasted their bound (max stale " +
                  fmt_ms(max_stale) + " ms)";
    } else {
      r.summary = std::to_string(windows.size()) + " stale windows all closed in time (" +
                  std::to_string(flushed) + " by flush; " + stall + ")";
    }
  }
  if (windows.empty()) r.summary = "no acknowledged publish had a listener: staleness not shown";
  set_verdict(r, m, !windows.empty(), reproduce ? missed != 0 : (missed != 0 || late != 0),
              /*measures_failure=*/true,
              "expected missed invalidations after a pause longer than retention, saw none (" +
                  stall + ", " + std::to_string(flushed) + " windows closed by flush)");
  return r;
}

}  // namespace pjx::harness::detail
