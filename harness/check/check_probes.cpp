// The checks over the harness's own observations and worker lifecycles:
// rejection, sidecars, integrity and pruning (rules in checkers.hpp).
#include <algorithm>
#include <cctype>

#include "check/check_support.hpp"

namespace pjx::harness::detail {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool any_worker_running(const HistoryModel& m, std::int64_t t) {
  return std::any_of(m.incarnations.begin(), m.incarnations.end(), [&](const Incarnation& inc) {
    return inc.t_ready && *inc.t_ready <= t && inc.alive_at(t);
  });
}

// The first incarnation alive at t, or null.
const Incarnation* alive_at(const HistoryModel& m, std::int64_t t) {
  for (const Incarnation& inc : m.incarnations) {
    if (inc.alive_at(t)) return &inc;
  }
  return nullptr;
}

std::vector<const Probe*> probes_of(const HistoryModel& m, const std::string& what) {
  std::vector<const Probe*> out;
  for (const Probe& p : m.probes) {
    if (p.what == what) out.push_back(&p);
  }
  return out;
}

}  // namespace

CheckResult check_rejection(const HistoryModel& m, const Json& /*params*/) {
  std::size_t expected = 0;
  std::size_t rejected = 0;
  Evidence evidence;
  if (m.meta.contains("workers") && m.meta["workers"].is_array()) {
    for (const Json& spec : m.meta["workers"]) {
      if (!spec.is_object() || spec.value("expect_fatal", false) != true) continue;
      ++expected;
      const std::string name = spec.value("name", std::string("?"));
      const std::string why = spec.value("why", std::string("(no why given)"));
      std::vector<std::string> problems;
      std::string message;
      bool spawned = false;
      for (const Incarnation& inc : m.incarnations) {
        if (inc.worker != name) continue;
        spawned = true;
        if (!inc.fatal_message || inc.fatal_message->empty()) {
          problems.push_back(inc.label() + " emitted no fatal message");
        } else {
          message = *inc.fatal_message;
        }
        if (inc.t_ready) {
          problems.push_back(inc.label() + " became ready at " + m.at(*inc.t_ready) +
                             ": it accepted the configuration");
        }
        if (!inc.t_exit) {
          problems.push_back(inc.label() + " has no exit recorded");
        } else if (inc.exit_status.value_or(0) == 0) {
          problems.push_back(inc.label() + " exited with status 0");
        }
      }
      if (!spawned) problems.push_back(name + " was never started");
      if (problems.empty()) {
        ++rejected;
        evidence.add(1, "rejected", name + " (" + why + "): fatal \"" + message + "\"");
      } else {
        std::string line = name + " (" + why + "): ";
        for (std::size_t i = 0; i < problems.size(); ++i) line += (i ? "; " : "") + problems[i];
        evidence.add(0, "accepted", line);
      }
    }
  }
  CheckResult r;
  r.name = "rejection";
  r.measured =
      std::to_string(rejected) + " of " + std::to_string(expected) + " expected rejections";
  r.bound = "each expect_fatal worker emits fatal, never becomes ready, and exits non-zero";
  r.metrics = {{"expected", expected}, {"rejected", rejected}};
  r.evidence = evidence.lines();
  if (expected == 0) {
    r.summary = "no worker in meta.workers has expect_fatal: rejection not tested";
  } else if (rejected < expected) {
    r.summary = std::to_string(expected - rejected) + " of " + std::to_string(expected) +
                " bad configurations were not rejected";
  } else {
    r.summary = "all " + std::to_string(expected) + " bad configurations were rejected";
  }
  set_verdict(r, m, expected > 0, rejected < expected);
  return r;
}

CheckResult check_sidecars(const HistoryModel& m, const Json& /*params*/) {
  struct Rule {
    const char* what;
    bool while_running;  // else after every worker stopped
    bool (*ok)(const Json&);
    const char* expected;
  };
  const Rule rules[] = {
      {"journal_mode", true,
       [](const Json& v) { return v.is_string() && lower(v.get<std::string>()) == "wal"; },
       "\"wal\""},
      {"sidecars", true,
       [](const Json& v) {
         return v.is_object() && v.value("wal", false) == true && v.value("shm", false) == true;
       },
       "{\"wal\": true, \"shm\": true}"},
      {"integrity", false, [](const Json& v) { return v == "ok"; }, "\"ok\""},
  };
  std::vector<std::string> problems;
  std::vector<std::string> seen;
  std::size_t probes = 0;
  for (const Rule& rule : rules) {
    const auto found = probes_of(m, rule.what);
    probes += found.size();
    if (found.empty()) {
      problems.push_back(std::string("probe ") + rule.what + " not recorded");
      continue;
    }
    bool timed = false;
    for (const Probe* p : found) {
      const std::string where =
          std::string(rule.what) + " at " + m.at(p->t) + ": " + p->value.dump();
      if (!rule.ok(p->value)) {
        problems.push_back("probe " + where + ", expected " + rule.expected);
      } else {
        seen.push_back(where);
      }
      if (rule.while_running ? any_worker_running(m, p->t) : alive_at(m, p->t) == nullptr) {
        timed = true;
      }
    }
    if (!timed) {
      if (rule.while_running) {
        problems.push_back(std::string("probe ") + rule.what +
                           " was not taken while a worker was running");
      } else {
        problems.push_back(std::string("probe ") + rule.what + " was taken while " +
                           alive_at(m, found.back()->t)->label() +
                           " was still running, not after a clean stop");
      }
    }
  }
  CheckResult r;
  r.name = "sidecars";
  r.measured = problems.empty() ? "journal_mode wal, -wal and -shm present, integrity ok"
                                : std::to_string(problems.size()) + " probe problems";
  r.bound =
      "journal_mode \"wal\" and -wal/-shm files while running; integrity \"ok\" after a clean "
      "stop";
  r.metrics = {{"probes", probes}};
  r.evidence = problems;
  for (std::string& line : seen) r.evidence.push_back(line);
  if (r.evidence.size() > kEvidenceCap) r.evidence.resize(kEvidenceCap);
  r.summary = problems.empty() ? "the database ran in WAL mode with its sidecars and ended intact"
                               : problems.front();
  set_verdict(r, m, true, !problems.empty());
  return r;
}

CheckResult check_integrity(const HistoryModel& m, const Json& /*params*/) {
  const auto found = probes_of(m, "integrity");
  std::size_t failures = 0;
  Evidence evidence;
  for (const Probe* p : found) {
    const bool ok = p->value == "ok";
    if (!ok) ++failures;
    evidence.add(ok ? 1 : 0, ok ? "ok" : "failed",
                 "integrity at " + m.at(p->t) + ": " + p->value.dump() +
                     (p->detail.is_null() ? "" : " " + p->detail.dump()));
  }
  CheckResult r;
  r.name = "integrity";
  r.measured = std::to_string(found.size() - failures) + " of " + std::to_string(found.size()) +
               " integrity checks ok";
  r.bound = ">= 1 integrity probe, every one \"ok\"";
  r.metrics = {{"integrity_probes", found.size()}, {"integrity_failures", failures}};
  r.evidence = evidence.lines();
  r.summary = found.empty()   ? "probe integrity not recorded"
              : failures != 0 ? std::to_string(failures) + " integrity checks failed"
                              : "the database passed every integrity check";
  set_verdict(r, m, !found.empty(), failures != 0);
  return r;
}

CheckResult check_pruning(const HistoryModel& m, const Json& params) {
  const double slack = param_number(params, "slack_ms", 2 * m.poll_interval_ms + 500);
  const double bound = m.retention_ms + slack;
  const auto rows = probes_of(m, "rows");
  const std::size_t acked = static_cast<std::size_t>(std::count_if(
      m.publishes.begin(), m.publishes.end(), [](const Publish& p) { return p.acked(); }));

  CheckResult r;
  r.name = "pruning";
  r.bound = "oldest row <= retention " + fmt_num(m.retention_ms) + " ms + slack " + fmt_num(slack) +
            " ms";
  r.metrics = {{"retention_ms", json_number(m.retention_ms)}};
  if (rows.empty() || acked == 0) {
    r.measured = rows.empty() ? "no rows probe" : "nothing published";
    r.summary =
        rows.empty() ? "probe rows not recorded" : "no acknowledged publish: pruning not shown";
    set_verdict(r, m, false, false, true);
    return r;
  }
  const Probe& probe = *rows.back();
  const Json& v = probe.value;
  if (!probe.ok) {
    r.measured = "rows probe failed";
    r.summary = "probe rows at " + m.at(probe.t) + " failed: " + probe.detail.dump();
    set_verdict(r, m, false, false, true);
    return r;
  }
  if (!v.is_object() || !v.contains("count") || !v["count"].is_number()) {
    r.measured = "rows probe " + v.dump();
    r.summary = "probe rows at " + m.at(probe.t) + " has no numeric count";
    set_verdict(r, m, false, false, true);
    return r;
  }
  const double count = v["count"].get<double>();
  const bool has_age = v.contains("oldest_age_ms") && v["oldest_age_ms"].is_number();
  if (count > 0 && !has_age) {
    r.measured = "rows probe " + v.dump();
    r.summary = "probe rows at " + m.at(probe.t) + " has rows but no numeric oldest_age_ms";
    set_verdict(r, m, false, false, true);
    return r;
  }
  const double oldest = has_age ? v["oldest_age_ms"].get<double>() : 0;
  r.metrics["rows"] = json_number(count);
  r.metrics["oldest_age_ms"] = count > 0 ? Json(round_ms(oldest)) : Json();
  // The span between the newest and the oldest row does not depend on when
  // the probe ran (a loaded machine delays it): the commit of the newest row
  // pruned every row older than its created_at - retention.
  const double span_slack = param_number(params, "span_slack_ms", 100);
  const bool has_span = count > 0 && v.contains("newest_age_ms") && v["newest_age_ms"].is_number();
  const double span = has_span ? oldest - v["newest_age_ms"].get<double>() : 0;
  r.metrics["row_span_ms"] = has_span ? Json(round_ms(span)) : Json();
  const bool wide = has_span && span > m.retention_ms + span_slack;
  r.bound += "; newest row - oldest row <= retention + " + fmt_num(span_slack) + " ms";
  const bool kept = (count > 0 && oldest > bound) || wide;
  r.measured =
      fmt_num(count) + " rows" + (count > 0 ? ", oldest " + fmt_ms(oldest) + " ms" : std::string()) +
      (has_span ? ", span " + fmt_ms(span) + " ms" : std::string());
  r.evidence.push_back("probe rows at " + m.at(probe.t) + ": " + v.dump() + " after " +
                       std::to_string(acked) + " acknowledged publishes");
  r.summary = wide ? "rows are kept " + fmt_ms(span) + " ms before the newest one, more than "
                         "retention " + fmt_num(m.retention_ms) + " ms + " + fmt_num(span_slack) +
                         " ms: pruned late"
              : kept ? "rows older than retention are kept: never pruned? (oldest " + fmt_ms(oldest) +
                         " ms > " + fmt_num(bound) + " ms)"
                     : "rows are pruned: " + r.measured;
  set_verdict(r, m, true, kept, true);
  return r;
}

}  // namespace pjx::harness::detail
