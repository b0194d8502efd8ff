// The storage-fault checks: disk_full and io_fault, and the outbox check
// over every window in which commits cannot happen (rules in checkers.hpp).
// Both judge a window in which the database's storage fails (a full
// filesystem; faults injected below SQLite in one worker) the way
// lock_contention judges a held lock: every publish sent during the window
// is answered, acknowledged ones (committed at once, or queued by the
// backend and committed later) are delivered, ones that reported `error`
// are not, and delivery resumes after the window.
#include <algorithm>

#include "check/check_support.hpp"

namespace pjx::harness::detail {
namespace {

std::string count_of(std::size_t n, const char* what) { return std::to_string(n) + " " + what; }

struct WindowRule {
  const char* check;   // the check's name
  const char* action;  // the fault action whose windows it judges
  const char* what;    // "the disk was full", for messages
};

CheckResult check_storage_window(const HistoryModel& m, const WindowRule& rule,
                                 std::vector<std::string> problems) {
  const FanoutAnalysis a = analyse_fanout(m);
  std::vector<const FaultWindow*> windows;
  for (const FaultWindow* w : m.faults_named(rule.action)) {
    if (!w->instant) windows.push_back(w);
  }
  if (windows.empty()) {
    problems.insert(problems.begin(), std::string("no ") + rule.action + " fault window: not exercised");
  }
  double window_ms = 0;
  std::int64_t after = 0;
  for (const FaultWindow* w : windows) {
    window_ms = std::max(window_ms, w->ms());
    after = std::max(after, w->end);
  }
  std::size_t during = 0, errors = 0, acked_during = 0, unanswered = 0;
  std::string first_error;
  for (const Publish& p : m.publishes) {
    const bool inside = std::any_of(windows.begin(), windows.end(),
                                    [&](const FaultWindow* w) { return w->overlaps(p.t_op, p.t_op); });
    if (!inside) continue;
    ++during;
    if (p.error) {
      ++errors;
      if (first_error.empty()) first_error = *p.error;
    } else if (p.acked()) {
      ++acked_during;
    } else {
      ++unanswered;
      problems.push_back("publish " + std::to_string(p.id) + " sent to " + m.incarnations[p.publisher].label() +
                         " at " + m.at(p.t_op) + " while " + rule.what + " got neither published nor error");
    }
  }
  if (!windows.empty() && during == 0) problems.push_back(std::string("no publish was sent while ") + rule.what);
  if (a.violations() != 0) {
    problems.push_back("fan-out broken: " + count_of(a.missing, "missing") + ", " +
                       count_of(a.uncommitted, "delivered after reporting error") + ", " +
                       count_of(a.duplicates, "duplicate"));
  }
  bool resumed = false;
  for (const Publish& p : m.publishes) {
    if (!windows.empty() && p.acked() && p.begin() >= after) resumed = resumed || reached_all_required(m, p);
  }
  if (!windows.empty() && !resumed) {
    problems.push_back("delivery did not resume: no publish begun after the window ended (" + m.at(after) +
                       ") was acknowledged and reached all its receivers");
  }

  CheckResult r;
  r.name = rule.check;
  r.measured = std::string(rule.action) + " " + fmt_ms(window_ms) + " ms: " + count_of(during, "publishes") +
               " during it (" + std::to_string(acked_during) + " acknowledged, " + std::to_string(errors) +
               " error, " + std::to_string(unanswered) + " unanswered), " + count_of(a.missing, "lost deliveries");
  r.bound = std::string("every publish while ") + rule.what +
            " is acknowledged (committed or queued, then delivered) or reports error; nothing acknowledged "
            "is lost; delivery resumes after it";
  r.metrics = a.metrics();
  r.metrics.update(Json{{"window_ms", round_ms(window_ms)},
                        {"publishes_during", during},
                        {"publish_errors", errors},
                        {"acked_during", acked_during},
                        {"unanswered", unanswered},
                        {"lost", a.missing}});
  if (!first_error.empty()) r.details["first_error"] = first_error;
  std::vector<std::string> evidence(problems.begin(),
                                    problems.begin() + static_cast<std::ptrdiff_t>(
                                                           std::min(problems.size(), kEvidenceCap)));
  if (!first_error.empty() && evidence.size() < kEvidenceCap) evidence.push_back("first error: " + first_error);
  for (std::string& line : a.evidence.lines(kEvidenceCap - std::min(evidence.size(), kEvidenceCap))) {
    evidence.push_back(line);
  }
  r.evidence = std::move(evidence);
  r.summary = problems.empty() ? std::string("while ") + rule.what + " for " + fmt_ms(window_ms) + " ms " +
                                     count_of(errors, "publishes") + " reported error and " +
                                     std::to_string(acked_during) +
                                     " were acknowledged; nothing was lost and delivery resumed"
                               : problems.front();
  set_verdict(r, m, true, !problems.empty());
  return r;
}

}  // namespace

CheckResult check_disk_full(const HistoryModel& m, const Json& /*params*/) {
  std::vector<std::string> problems;
  // The nemesis records how much space was left once the filler was written:
  // a filesystem that was not really full shows nothing.
  for (const FaultWindow* w : m.faults_named("disk_full")) {
    const Json free_after = w->params.value("free_bytes_after", Json());
    if (!free_after.is_number()) {
      problems.push_back("the disk_full window at " + m.at(w->begin) + " does not record free_bytes_after");
    } else if (free_after.get<double>() > 64 * 1024) {
      problems.push_back("the filesystem was not full: " + std::to_string(free_after.get<std::int64_t>()) +
                         " bytes free after filling");
    }
  }
  return check_storage_window(m, WindowRule{"disk_full", "disk_full", "the disk was full"}, std::move(problems));
}

CheckResult check_io_fault(const HistoryModel& m, const Json& /*params*/) {
  return check_storage_window(m, WindowRule{"io_fault", "vfs_fault", "I/O faults were injected"}, {});
}

namespace {

bool has_cap(const Incarnation& inc, const char* cap) {
  return std::find(inc.caps.begin(), inc.caps.end(), cap) != inc.caps.end();
}

}  // namespace

CheckResult check_outbox(const HistoryModel& m, const Json& params) {
  // A publish that began up to `lead` before a window may still be waiting
  // for the lock when it starts; one answered within `lead` after the end
  // may have failed inside it.
  const double lead_ms = param_number(params, "lead_ms", m.busy_timeout_ms + 500);
  const auto lead = static_cast<std::int64_t>(lead_ms * 1e6);
  std::vector<const FaultWindow*> windows;
  for (const char* action : {"lock", "disk_full", "vfs_fault"}) {
    for (const FaultWindow* w : m.faults_named(action)) {
      if (!w->instant) windows.push_back(w);
    }
  }
  bool any_outbox = false;
  for (const Incarnation& inc : m.incarnations) any_outbox = any_outbox || has_cap(inc, "outbox");

  CheckResult r;
  r.name = "outbox";
  r.bound = "0 publishes answered error by a worker advertising `outbox` while commits could not "
            "happen (lock, full disk, I/O faults; from " + fmt_num(lead_ms) +
            " ms before each window to its end)";
  if (!any_outbox) {
    r.verdict = "skip";
    r.measured = "no worker advertises outbox";
    r.summary = "no worker advertises the `outbox` capability: keeping publishes through a held "
                "lock, a full disk or an I/O fault was not judged";
    return r;
  }
  std::size_t during = 0, queued = 0, errors = 0;
  std::vector<std::string> evidence;
  for (const Publish& p : m.publishes) {
    if (!has_cap(m.incarnations[p.publisher], "outbox")) continue;
    const bool inside = std::any_of(windows.begin(), windows.end(), [&](const FaultWindow* w) {
      return w->overlaps(p.t_op, p.t_op + lead);
    });
    if (!inside) continue;
    ++during;
    if (p.queued) ++queued;
    if (p.error) {
      ++errors;
      if (evidence.size() < kEvidenceCap) {
        evidence.push_back("publish " + std::to_string(p.id) + " (" + p.op + ") sent to " +
                           m.incarnations[p.publisher].label() + " at " + m.at(p.t_op) +
                           " answered error although it advertises `outbox`: " + *p.error);
      }
    }
  }
  r.measured = std::to_string(during) + " publishes by outbox workers around " +
               std::to_string(windows.size()) + " windows: " + std::to_string(queued) + " queued, " +
               std::to_string(errors) + " error";
  r.metrics = {{"windows", windows.size()},
               {"outbox_publishes", during},
               {"queued", queued},
               {"outbox_errors", errors}};
  r.evidence = std::move(evidence);
  bool shown = true;
  if (windows.empty()) {
    shown = false;
    r.summary = "no lock, disk_full or vfs_fault window: the outbox was not exercised";
  } else if (queued == 0 && errors == 0) {
    shown = false;
    r.summary = "no publish of an outbox worker was queued or failed during a window: the outbox "
                "was not exercised";
  } else {
    r.summary = errors != 0 ? std::to_string(errors) +
                                  " publishes answered error where the outbox should have kept them"
                            : "every publish the windows held back was queued (" +
                                  std::to_string(queued) + "), none answered error";
  }
  set_verdict(r, m, shown, errors != 0);
  return r;
}

}  // namespace pjx::harness::detail
