// The checks judge() runs on every scenario besides the ones it names
// (rules 18 and 19 in checkers.hpp): no worker dies unnoticed, and no flush
// happens without a cause in the history. Without them a worker that
// crashed half-way is simply left out of every delivery check, and a worker
// that flushes its cache on every poll (serving nothing stale, and nothing
// from its cache either) passes every other check.
#include <algorithm>
#include <cstdlib>

#include "check/check_support.hpp"

namespace pjx::harness::detail {
namespace {

// The fault actions that can make a listener miss rows, so that it must
// flush with reason `gap` (rows pruned before it read them).
bool can_cause_gap(const std::string& action) {
  return action != "kill" && action != "restart";
}

// Whether `window` explains a flush of `inc` with `reason` at `t`:
// the flush comes at or after the window began and at most `grace_ns` after
// it ended (a clock step keeps pruning early until the end of the run).
bool explains(const HistoryModel& m, const FaultWindow& window, const Incarnation& inc,
              const std::string& reason, std::int64_t t, std::int64_t grace_ns,
              std::int64_t lead_ns) {
  const bool own = window.incarnation == inc.index;
  const std::int64_t until =
      window.action == "clock_step" ? INT64_MAX : window.end + grace_ns;
  // The harness records a fault once it has acted: a worker may notice a
  // replaced file before the record is written.
  if (t < window.begin - lead_ns || t > until) return false;
  if (reason == "stall") return own && window.action == "pause";
  if (reason == "replaced_file") {
    return window.action == "delete_db" || window.action == "replace_db" ||
           window.action == "restore_db";
  }
  if (reason == "reconnect" || reason == "disconnected") {
    return window.action == "client_kill" || window.action == "redis_restart" ||
           (own && window.action == "pause") || silences_redis(m, window, inc.index);
  }
  // gap, and any reason this harness does not know: a fault that can lose rows.
  return can_cause_gap(window.action);
}

}  // namespace

CheckResult check_exits(const HistoryModel& m, const Json& /*params*/) {
  CheckResult r;
  r.name = "exits";
  r.bound = "no worker exits unless the harness stopped or killed it, or it had to be rejected";
  Evidence evidence;
  std::size_t unexpected = 0;
  for (const Incarnation& inc : m.incarnations) {
    if (!inc.t_exit || inc.exit_expected) continue;
    ++unexpected;
    const std::string status =
        inc.exit_status ? (*inc.exit_status < 0 ? "killed by signal " +
                                                      std::to_string(-*inc.exit_status)
                                                : "exit status " + std::to_string(*inc.exit_status))
                        : "no status";
    std::string last = "no warning";
    if (!inc.warnings.empty()) last = "last warning: " + inc.warnings.back().second;
    evidence.add(0, "exit",
                 inc.label() + " exited on its own at " + m.at(*inc.t_exit) + " (" + status +
                     ", pid " + std::to_string(inc.pid) + "; " + last +
                     "): its later deliveries, reads and publishes are missing from every check");
  }
  r.evidence = evidence.lines();
  r.metrics = {{"unexpected_exits", unexpected}, {"incarnations", m.incarnations.size()}};
  r.measured = std::to_string(unexpected) + " unexpected exits of " +
               std::to_string(m.incarnations.size()) + " worker processes";
  r.summary = unexpected == 0 ? "every worker ran until the harness stopped it"
                              : std::to_string(unexpected) + " workers died during the run";
  r.verdict = unexpected == 0 ? "pass" : "fail";
  return r;
}

CheckResult check_flush_causes(const HistoryModel& m, const Json& params) {
  const double grace_ms =
      param_number(params, "grace_ms", std::max(3000.0, 2 * m.retention_ms + 2 * m.poll_interval_ms));
  const auto grace_ns = static_cast<std::int64_t>(grace_ms * 1e6);
  const auto lead_ns = static_cast<std::int64_t>(param_number(params, "lead_ms", 500) * 1e6);
  CheckResult r;
  r.name = "flush_causes";
  r.bound =
      "every `flushed` follows a fault that explains its reason (stall: the worker's own "
      "pause; gap: any fault that can lose rows; replaced_file: a deleted or replaced "
      "file; disconnected, reconnect: a lost or silent Redis connection), at most " +
      fmt_num(grace_ms) + " ms after it ended";
  Evidence evidence;
  std::size_t flushes = 0;
  std::size_t unexplained = 0;
  for (const Incarnation& inc : m.incarnations) {
    for (std::size_t i = 0; i < inc.flushes.size(); ++i) {
      ++flushes;
      const std::int64_t t = inc.flushes[i];
      const std::string reason = inc.flush_reasons[i];
      bool ok = std::any_of(m.faults.begin(), m.faults.end(), [&](const FaultWindow& w) {
        return explains(m, w, inc, reason, t, grace_ns, lead_ns);
      });
      // A handler that threw left its keys unapplied: the backend says so in
      // a warning of its own (rate-limited: within grace of the flush).
      if (reason == "handler_error") {
        ok = ok || std::any_of(inc.warnings.begin(), inc.warnings.end(), [&](const auto& w) {
               return std::llabs(w.first - t) <= grace_ns;
             });
      }
      if (ok) continue;
      ++unexplained;
      evidence.add(0, "unexplained",
                   inc.label() + " flushed its cache at " + m.at(t) + " (reason \"" + reason +
                       "\") with no fault in the history that explains it");
    }
  }
  r.evidence = evidence.lines();
  r.metrics = {{"flushes", flushes}, {"unexplained_flushes", unexplained}};
  r.measured = std::to_string(unexplained) + " unexplained of " + std::to_string(flushes) +
               " flushes";
  r.summary = unexplained == 0
                  ? (flushes == 0 ? "no flush" : std::to_string(flushes) + " flushes, each after its cause")
                  : std::to_string(unexplained) +
                        " flushes without a cause: a cache flushed needlessly serves nothing "
                        "from itself";
  r.verdict = unexplained == 0 ? "pass" : "fail";
  return r;
}

}  // namespace pjx::harness::detail
