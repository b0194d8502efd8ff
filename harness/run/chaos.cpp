#include "chaos.hpp"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "check/history.hpp"
#include "check/model.hpp"
#include "command_line.hpp"
#include "scenario_writer.hpp"

namespace pjx::harness {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string clock_text(double s) {
  const auto total = static_cast<long>(std::max(0.0, s));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", total / 60, total % 60);
  return buf;
}

// The chaos kind a planned or recorded fault belongs to ("" for the helpers
// of another kind: a restart, a snapshot, a clock stepped back).
std::string kind_of(const std::string& action, bool during_publish, const std::string& offset) {
  if (action == "pause") return "pause";
  if (action == "kill") return during_publish ? "kill-during-publish" : "kill";
  if (action == "lock") return "lock";
  if (action == "clock_step") return offset == "+0s" ? "" : "clock-step";
  if (action == "vfs_fault") return "io";
  if (action == "disk_full") return "disk-full";
  if (action == "replace_db") return "replace";
  if (action == "delete_db") return "delete";
  if (action == "restore_db") return "restore";
  if (action == "readonly_dir") return "readonly";
  if (action == "power_loss") return "power-loss";
  return "";
}

std::int64_t ns(double ms) { return static_cast<std::int64_t>(ms * 1e6); }

// Effect rules: whether fault window `w` of kind `k` reached the path it
// targets; nullopt when the history cannot tell (a pause shorter than
// the retention targets nothing that shows).
std::optional<bool> reached_path(const HistoryModel& m, const FaultWindow& w, const std::string& k,
                                 const Timing& timing) {
  const std::int64_t grace = ns(2 * timing.retention_ms + 2 * timing.poll_ms + 1000);
  auto flushed = [&](std::optional<std::size_t> only, std::int64_t from, std::int64_t to,
                     std::initializer_list<const char*> reasons) {
    for (const Incarnation& inc : m.incarnations) {
      if (only && inc.index != *only) continue;
      for (std::size_t i = 0; i < inc.flushes.size(); ++i) {
        if (inc.flushes[i] < from || inc.flushes[i] > to) continue;
        if (reasons.size() == 0) return true;
        for (const char* r : reasons) {
          if (inc.flush_reasons[i] == r) return true;
        }
      }
    }
    return false;
  };
  auto held_back = [&](std::optional<std::size_t> only, std::int64_t from, std::int64_t to) {
    return std::any_of(m.publishes.begin(), m.publishes.end(), [&](const Publish& p) {
      return (!only || p.publisher == *only) && p.t_op >= from && p.t_op <= to &&
             (p.queued || p.error.has_value());
    });
  };
  if (k == "pause") {
    if (w.ms() <= timing.retention_ms) return std::nullopt;
    return flushed(w.incarnation, w.begin, w.end + grace, {"gap", "stall"});
  }
  if (k == "kill") return true;
  if (k == "kill-during-publish") {
    const Json id = w.params.value("publish_id", Json());
    if (!id.is_number_integer()) return false;
    const Publish* p = m.find_publish(id.get<std::int64_t>());
    return p != nullptr && !p->acked() && !p->error;  // in flight when the worker died
  }
  // A read-only directory does not stop writes through files already open
  // (the bind mount is new; their descriptors are not): its path is
  // opening a file there, which only a worker starting or reopening inside
  // the window takes. Judged when one started inside it (a restart):
  // reached when a worker was refused, or one said it met a read-only
  // database (a publish's error, a warning) by the end of the grace.
  if (k == "readonly") {
    const auto says_readonly = [](std::string text) {  // "readonly database", "Read-only file system"
      std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
      return text.find("readonly") != std::string::npos || text.find("read-only") != std::string::npos;
    };
    const bool met = std::any_of(m.incarnations.begin(), m.incarnations.end(), [&](const Incarnation& i) {
      if (i.fatal_message && i.t_spawn <= w.end && says_readonly(*i.fatal_message)) return true;
      return std::any_of(i.warnings.begin(), i.warnings.end(), [&](const auto& tw) {
        return tw.first >= w.begin && tw.first <= w.end + grace && says_readonly(tw.second);
      });
    }) || std::any_of(m.publishes.begin(), m.publishes.end(), [&](const Publish& p) {
      return p.t_op >= w.begin && p.t_op <= w.end + grace && p.error && says_readonly(*p.error);
    });
    if (met) return true;
    const bool started_inside = std::any_of(m.incarnations.begin(), m.incarnations.end(), [&](const Incarnation& i) {
      return i.t_spawn >= w.begin && i.t_spawn <= w.end;
    });
    return started_inside ? std::optional<bool>(false) : std::nullopt;
  }
  if (k == "lock" || k == "disk-full") {
    return held_back(std::nullopt, w.begin - ns(timing.busy_timeout_ms), w.end);
  }
  if (k == "io") return held_back(w.incarnation, w.begin, w.end);
  if (k == "replace" || k == "delete") {
    return flushed(std::nullopt, w.begin, w.begin + grace, {"replaced_file"});
  }
  if (k == "restore") return flushed(std::nullopt, w.begin, w.begin + grace, {});
  if (k == "clock-step") return flushed(std::nullopt, w.begin, m.t_last, {"gap"});
  // The disk dropped (or kept) writes it had not been asked to sync.
  if (k == "power-loss") {
    return w.params.value("changes_undone", 0) > 0 || w.params.value("changes_kept", 0) > 0;
  }
  return std::nullopt;
}

// What one run of a plan showed.
struct Outcome {
  std::string verdict;  // the scenario verdict
  std::string reason;
  bool reference_violation = false;
  std::set<std::string> failed_checks;          // reference violations, by check
  std::map<std::string, std::size_t> violations;  // reference, by check
  std::map<std::string, std::size_t> documented;  // "impl:check"
  std::map<std::string, std::size_t> not_exercised;  // by check
  std::optional<double> first_violation_ms;     // from the workload's start
  std::size_t publishes = 0, reads = 0, flushes = 0;
  std::map<std::string, FaultEffect> effects;
  std::vector<ChaosFault> faults;  // applied, from this epoch's workload start
  bool ran = false;  // the history could be read
};

class Analyser {
 public:
  Analyser(const ChaosOptions& o, const Timing& timing) : o_(o), timing_(timing) {
    for (const auto& [worker, impl] : chaos_worker_impls(o.config)) impl_of_[worker] = impl;
  }

  Outcome analyse(const Scenario& plan, const ScenarioResult& result) const {
    Outcome out;
    out.verdict = result.verdict.verdict;
    out.reason = result.verdict.reason;
    for (const FaultSpec& f : plan.faults) {
      const std::string k = kind_of(f.action, f.during_publish, f.offset);
      if (!k.empty()) ++out.effects[k].planned;
    }
    std::optional<HistoryModel> model;
    try {
      model = build_model(load_history(result.history));
      out.ran = true;
    } catch (const std::exception&) {
      // A history that cannot be read: the verdict (error) says why.
    }
    if (model) count(*model, out);
    // A run that could not finish (error, skip) judged nothing.
    if (out.verdict != "fail" && out.verdict != "pass" && out.verdict != "reproduced") return out;
    for (const CheckResult& c : result.verdict.checks) {
      if (c.verdict != "fail" && c.verdict != "error") continue;
      attribute(c, model ? &*model : nullptr, out);
    }
    if (out.verdict == "fail" && out.violations.empty() && out.documented.empty() && out.not_exercised.empty()) {
      // A failure no check explains (cannot happen today): the reference's.
      out.reference_violation = true;
      out.failed_checks.insert("scenario");
      ++out.violations["scenario"];
    }
    return out;
  }

 private:
  std::string impl_of(const std::string& worker) const {
    const auto it = impl_of_.find(worker);
    return it == impl_of_.end() ? "cpp" : it->second;
  }
  bool documented(const std::string& impl) const { return o_.documented_failures.count(impl) != 0; }

  void reference(Outcome& out, const std::string& check, std::optional<double> at_ms) const {
    out.reference_violation = true;
    out.failed_checks.insert(check);
    ++out.violations[check];
    if (at_ms && (!out.first_violation_ms || *at_ms < *out.first_violation_ms)) {
      out.first_violation_ms = at_ms;
    }
  }

  // Each violation that names a worker goes to that worker's implementation.
  void attribute(const CheckResult& c, const HistoryModel* m, Outcome& out) const {
    // Random faults may keep an epoch from exercising what a check judges
    // (a fill-vs-invalidate race whose writer was killed): not a violation,
    // counted apart. The conformance scenarios, whose workloads are fixed,
    // fail such a run.
    if (c.details.is_object() && c.details.value("not_shown", false)) {
      ++out.not_exercised[c.name];
      return;
    }
    auto at_ms = [&](const Json& t) -> std::optional<double> {
      if (m == nullptr || !t.is_number_integer()) return std::nullopt;
      return HistoryModel::ms(m->workload_start(), t.get<std::int64_t>());
    };
    bool any = false;
    auto one = [&](const Json& worker, const Json& t) {
      any = true;
      const std::string impl = impl_of(worker.is_string() ? worker.get<std::string>() : "");
      if (documented(impl)) {
        ++out.documented[impl + ":" + c.name];
      } else {
        reference(out, c.name, at_ms(t));
      }
    };
    if (c.name == "stale_reads" && c.details.contains("stale_reads")) {
      for (const Json& s : c.details["stale_reads"]) one(s.value("worker", Json()), s.value("t", Json()));
    } else if (c.name == "staleness" && c.details.contains("stale_windows")) {
      for (const Json& w : c.details["stale_windows"]) {
        // As the check counts them: never closed, or closed after the
        // deadline (by a delivery, a flush, or the worker's end while it
        // still served), except an event that died in its publisher's outbox.
        const std::string closed = w.value("closed_by", std::string());
        const bool late = w.value("to_t", std::int64_t{0}) > w.value("deadline_t", std::int64_t{0});
        if (closed == "never" || (closed != "lost_with_publisher" && late)) {
          one(w.value("worker", Json()), w.value("deadline_t", Json()));
        }
      }
    }
    if (!any) reference(out, c.name, std::nullopt);
  }

  void count(const HistoryModel& m, Outcome& out) const {
    for (const Publish& p : m.publishes) out.publishes += p.acked() ? 1u : 0u;
    for (const Read& r : m.reads) out.reads += r.answered() ? 1u : 0u;
    for (const Incarnation& inc : m.incarnations) out.flushes += inc.flushes.size();
    out.faults = chaos_faults(m, timing_);
    for (const ChaosFault& f : out.faults) {
      FaultEffect& e = out.effects[f.kind];
      ++e.applied;
      if (f.reached) {
        ++e.judged;
        e.reached += *f.reached ? 1 : 0;
      }
    }
  }

  const ChaosOptions& o_;
  const Timing& timing_;
  std::map<std::string, std::string> impl_of_;
};

int ops_of(const Scenario& s) {
  int n = s.workload ? s.workload->publishes : 0;
  if (s.reads) n += s.reads->ops + 3 * s.reads->races + s.reads->bursts;
  return n + static_cast<int>(s.publishes.size() + s.data_ops.size());
}

void write_file(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

// Fault indices that go together: a kill and the restart of its worker, a
// snapshot and its restore, a clock step and the step back.
std::vector<std::vector<std::size_t>> fault_groups(const std::vector<FaultSpec>& faults) {
  std::vector<std::vector<std::size_t>> groups;
  std::vector<bool> used(faults.size(), false);
  for (std::size_t i = 0; i < faults.size(); ++i) {
    if (used[i]) continue;
    std::vector<std::size_t> g = {i};
    used[i] = true;
    const FaultSpec& f = faults[i];
    auto partner = [&](auto pred) {
      for (std::size_t j = i + 1; j < faults.size(); ++j) {
        if (!used[j] && pred(faults[j])) {
          g.push_back(j);
          used[j] = true;
          return;
        }
      }
    };
    if (f.action == "kill") {
      partner([&](const FaultSpec& x) { return x.action == "restart" && x.worker == f.worker; });
    } else if (f.action == "snapshot_db") {
      partner([](const FaultSpec& x) { return x.action == "restore_db"; });
    } else if (f.action == "clock_step" && f.offset != "+0s") {
      partner([&](const FaultSpec& x) { return x.action == "clock_step" && x.worker == f.worker; });
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

Scenario without_groups(const Scenario& s, const std::vector<std::vector<std::size_t>>& groups,
                        std::size_t from, std::size_t count) {
  std::set<std::size_t> drop;
  for (std::size_t g = from; g < std::min(groups.size(), from + count); ++g) {
    drop.insert(groups[g].begin(), groups[g].end());
  }
  Scenario out = s;
  out.faults.clear();
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    if (drop.count(i) == 0) out.faults.push_back(s.faults[i]);
  }
  return out;
}

class Shrinker {
 public:
  Shrinker(const ChaosOptions& o, const Analyser& a, std::set<std::string> checks, std::ostream* log)
      : o_(o), analyser_(a), checks_(std::move(checks)), log_(log), start_(Clock::now()) {}

  Scenario shrink(Scenario plan, std::optional<double> first_violation_ms) {
    if (first_violation_ms) plan = cut_after(plan, *first_violation_ms + 1000);
    plan = drop_faults(plan);
    plan = drop_workers(plan);
    plan = shorten_windows(plan);
    return plan;
  }

  int candidates() const { return candidates_; }

 private:
  bool budget_left() const { return seconds_since(start_) < o_.shrink_budget_s; }

  // Whether `plan` still shows a violation of the reference in one of the
  // same checks, in any of shrink_runs runs.
  bool still_fails(Scenario plan) {
    if (!budget_left()) return false;
    ++candidates_;
    plan.name = base_name_ + "-shrink-" + std::to_string(candidates_);
    for (int i = 0; i < std::max(1, o_.shrink_runs); ++i) {
      const ScenarioResult r = run_scenario(plan, o_.run);
      const Outcome out = analyser_.analyse(plan, r);
      for (const std::string& c : out.failed_checks) {
        if (checks_.count(c) != 0) {
          note("candidate " + std::to_string(candidates_) + " (" + std::to_string(plan.faults.size()) +
               " faults, " + std::to_string(ops_of(plan)) + " ops): still fails " + c);
          return true;
        }
      }
      if (!budget_left()) break;
    }
    note("candidate " + std::to_string(candidates_) + " (" + std::to_string(plan.faults.size()) +
         " faults): passes; kept the larger plan");
    return false;
  }

  void note(const std::string& line) {
    if (log_ != nullptr) *log_ << "chaos: shrink: " << line << std::endl;
  }

  // The faults after `ms` and the workload after it go.
  Scenario cut_after(const Scenario& plan, double ms) {
    base_name_ = plan.name;
    Scenario s = plan;
    s.faults.erase(std::remove_if(s.faults.begin(), s.faults.end(),
                                  [&](const FaultSpec& f) { return f.at.resolve_ms(o_.timing) > ms; }),
                   s.faults.end());
    if (s.workload && s.workload->interval) {
      const double every = s.workload->interval->resolve_ms(o_.timing);
      s.workload->publishes = std::min(s.workload->publishes, static_cast<int>(ms / every) + 1);
    }
    if (s.reads) {
      const double every = s.reads->interval.resolve_ms(o_.timing);
      s.reads->ops = std::min(s.reads->ops, static_cast<int>(ms / every) + 1);
    }
    if (ops_of(s) == ops_of(plan) && s.faults.size() == plan.faults.size()) return plan;
    return still_fails(s) ? s : plan;
  }

  Scenario drop_faults(Scenario plan) {
    base_name_ = plan.name.substr(0, plan.name.find("-shrink-"));
    for (std::size_t chunk = std::max<std::size_t>(1, fault_groups(plan.faults).size() / 2);
         chunk >= 1 && budget_left(); chunk /= 2) {
      for (std::size_t from = 0; budget_left();) {
        const auto groups = fault_groups(plan.faults);
        if (from >= groups.size()) break;
        Scenario candidate = without_groups(plan, groups, from, chunk);
        if (still_fails(candidate)) {
          plan = std::move(candidate);  // the same `from` now names the next groups
        } else {
          from += chunk;
        }
      }
      if (chunk == 1) break;
    }
    return plan;
  }

  Scenario drop_workers(Scenario plan) {
    for (std::size_t i = plan.workers.size(); i-- > 0 && plan.workers.size() > 2 && budget_left();) {
      const std::string name = plan.workers[i].name;
      const bool needed = std::any_of(plan.faults.begin(), plan.faults.end(),
                                      [&](const FaultSpec& f) { return f.worker == name; });
      if (needed) continue;
      Scenario candidate = plan;
      candidate.workers.erase(candidate.workers.begin() + static_cast<std::ptrdiff_t>(i));
      const auto forget = [&](std::vector<std::string>& names) {
        names.erase(std::remove(names.begin(), names.end(), name), names.end());
      };
      if (candidate.workload) forget(candidate.workload->publishers);
      if (candidate.reads) {
        forget(candidate.reads->readers);
        forget(candidate.reads->writers);
      }
      if (still_fails(candidate)) plan = std::move(candidate);
    }
    return plan;
  }

  Scenario shorten_windows(Scenario plan) {
    for (std::size_t i = 0; i < plan.faults.size() && budget_left(); ++i) {
      if (!plan.faults[i].duration) continue;
      const double polls = plan.faults[i].duration->resolve_ms(o_.timing) / o_.timing.poll_ms;
      if (polls < 2) continue;
      Scenario candidate = plan;
      char text[48];
      std::snprintf(text, sizeof text, "%.1f poll", polls / 2);
      candidate.faults[i].duration = parse_duration(text);
      if (still_fails(candidate)) plan = std::move(candidate);
    }
    return plan;
  }

  const ChaosOptions& o_;
  const Analyser& analyser_;
  std::set<std::string> checks_;
  std::ostream* log_;
  Clock::time_point start_;
  std::string base_name_;
  int candidates_ = 0;
};

std::string plan_header(const ChaosOptions& o, const std::string& what) {
  std::ostringstream h;
  h << what << "\n";
  h << "Drawn by pjx-harness chaos --seed " << o.config.seed << " (timing " << o.timing.name
    << ", backend " << o.config.backend << ").\n";
  h << "Replay: pjx-harness run FILE --timing " << o.timing.name;
  if (!o.run.worker_cmd_is_default) h << " --worker-cmd " << quote_word(o.run.worker_cmd);
  h << "\nA real-process replay runs the same plan, not the same interleaving: rerun it a few\n"
       "times when it does not fail at once.";
  return h.str();
}

Json effects_json(const std::map<std::string, FaultEffect>& effects) {
  Json out = Json::object();
  for (const auto& [k, e] : effects) {
    out[k] = {{"planned", e.planned}, {"applied", e.applied}, {"judged", e.judged}, {"reached", e.reached}};
  }
  return out;
}

void merge(ChaosSummary& sum, const Outcome& o) {
  sum.publishes += o.publishes;
  sum.reads += o.reads;
  sum.flushes += o.flushes;
  for (const auto& [k, e] : o.effects) {
    FaultEffect& t = sum.effects[k];
    t.planned += e.planned;
    t.applied += e.applied;
    t.judged += e.judged;
    t.reached += e.reached;
  }
  for (const auto& [c, n] : o.violations) sum.violations[c] += n;
  for (const auto& [c, n] : o.documented) sum.documented[c] += n;
  for (const auto& [c, n] : o.not_exercised) sum.not_exercised[c] += n;
}

std::string faults_line(const std::map<std::string, FaultEffect>& effects) {
  std::string line;
  for (const std::string& k : chaos_fault_kinds()) {
    const auto it = effects.find(k);
    if (it == effects.end() || it->second.applied == 0) continue;
    line += (line.empty() ? "" : " ") + k + " " + std::to_string(it->second.applied);
  }
  return line.empty() ? "none" : line;
}

std::size_t total(const std::map<std::string, std::size_t>& m) {
  std::size_t n = 0;
  for (const auto& [k, v] : m) n += v;
  return n;
}

double rounded_ms(double s) { return std::round(s * 1000) / 1000; }

}  // namespace

std::vector<ChaosFault> chaos_faults(const HistoryModel& m, const Timing& timing) {
  std::vector<ChaosFault> out;
  const std::int64_t t0 = m.workload_start();
  for (const FaultWindow& w : m.faults) {
    if (w.params.contains("reason")) continue;  // the kill before a restart
    const std::string k = kind_of(w.action, w.params.value("during_publish", false),
                                  w.params.value("offset", std::string()));
    if (k.empty()) continue;
    ChaosFault f;
    f.kind = k;
    f.worker = w.worker;
    f.begin_s = HistoryModel::ms(t0, w.begin) / 1000;
    f.end_s = w.instant ? f.begin_s : HistoryModel::ms(t0, w.end) / 1000;
    f.reached = reached_path(m, w, k, timing);
    out.push_back(std::move(f));
  }
  return out;
}

Json chaos_schedule_json(const std::vector<ChaosFault>& schedule) {
  Json out = Json::array();
  for (const ChaosFault& f : schedule) {
    out.push_back({{"epoch", f.epoch},
                   {"kind", f.kind},
                   {"worker", f.worker.empty() ? Json() : Json(f.worker)},
                   {"begin_s", rounded_ms(f.begin_s)},
                   {"end_s", rounded_ms(f.end_s)},
                   {"reached", f.reached ? Json(*f.reached) : Json()}});
  }
  return out;
}

int run_chaos(const ChaosOptions& o, std::ostream& out, std::ostream* progress) {
  const Clock::time_point start = Clock::now();
  const Analyser analyser(o, o.timing);
  ChaosSummary sum;
  double workload_s = 0;
  std::optional<Scenario> failing;
  Outcome failing_outcome;

  for (int epoch = 0; workload_s < o.duration_s; ++epoch) {
    ChaosConfig config = o.config;
    // The last epoch is cut to what is left of the duration (at least 5 s).
    config.epoch_s = std::min(o.config.epoch_s, std::max(5.0, o.duration_s - workload_s));
    Scenario plan = plan_chaos_epoch(config, epoch, o.timing);
    plan.timing = o.timing.name;
    const fs::path plan_file = o.out / "plans" / (plan.name + ".toml");
    write_file(plan_file, scenario_to_toml(plan, plan_header(o, "Chaos plan " + plan.name + ".")));
    plan.file = plan_file;
    const ScenarioResult result = run_scenario(plan, o.run);
    const Outcome outcome = analyser.analyse(plan, result);
    for (ChaosFault f : outcome.faults) {
      f.epoch = epoch;
      f.begin_s += workload_s;
      f.end_s += workload_s;
      sum.schedule.push_back(std::move(f));
    }
    sum.epoch_workload_s.push_back(config.epoch_s);
    workload_s += config.epoch_s;
    ++sum.epochs;
    merge(sum, outcome);
    if (outcome.verdict == "error" || outcome.verdict == "skip" || !outcome.ran) {
      ++sum.epochs_error;
      sum.errors.push_back(plan.name + ": " + outcome.verdict + ": " + outcome.reason);
    }
    if (outcome.reference_violation) ++sum.epochs_failed;
    if (o.doublecheck) {
      Scenario again = plan;
      again.name += "-again";
      const ScenarioResult second = run_scenario(again, o.run);
      if (second.verdict.verdict != result.verdict.verdict) {
        sum.doublecheck_differences.push_back(plan.name + ": " + result.verdict.verdict + ", then " +
                                              second.verdict.verdict + " (" + second.verdict.reason + ")");
      }
    }
    if (progress != nullptr) {
      *progress << "chaos: " << clock_text(seconds_since(start)) << " elapsed, "
                << clock_text(std::max(0.0, o.duration_s - workload_s)) << " of workload left | epoch "
                << epoch << " " << outcome.verdict << " | faults " << faults_line(sum.effects) << " | "
                << sum.publishes << " publishes, " << sum.reads << " reads | " << total(sum.violations)
                << " violations";
      if (!sum.documented.empty()) *progress << " (+" << total(sum.documented) << " documented)";
      *progress << std::endl;
    }
    if (outcome.reference_violation && !failing) {
      failing = plan;
      failing_outcome = outcome;
      if (!o.keep_going) break;
    }
    if (result.interrupted) break;
  }

  if (failing) {
    const fs::path failing_file = o.out / "failing.toml";
    std::string checks;
    for (const std::string& c : failing_outcome.failed_checks) checks += (checks.empty() ? "" : ", ") + c;
    Scenario shown = *failing;
    shown.name = "chaos-failing";
    write_file(failing_file, scenario_to_toml(shown, plan_header(o, "The plan that failed " + checks + ".")));
    sum.failing_plan = failing_file.string();
    sum.failing_faults = static_cast<int>(failing->faults.size());
    sum.failing_ops = ops_of(*failing);
    if (o.shrink_budget_s > 0) {
      Shrinker shrinker(o, analyser, failing_outcome.failed_checks, progress);
      Scenario minimal = shrinker.shrink(*failing, failing_outcome.first_violation_ms);
      minimal.name = "chaos-minimal";
      const fs::path minimal_file = o.out / "minimal.toml";
      write_file(minimal_file,
                 scenario_to_toml(minimal, plan_header(o, "The smallest plan found that still fails " +
                                                              checks + " (" +
                                                              std::to_string(shrinker.candidates()) +
                                                              " candidates tried).")));
      sum.minimal_plan = minimal_file.string();
      sum.minimal_faults = static_cast<int>(minimal.faults.size());
      sum.minimal_ops = ops_of(minimal);
      sum.rerun = "pjx-harness run " + quote_word(minimal_file.string()) + " --timing " + o.timing.name +
                  (o.run.worker_cmd_is_default ? "" : " --worker-cmd " + quote_word(o.run.worker_cmd));
    }
  }

  // The report.
  std::vector<std::string> unreached;
  out << "\nchaos: seed " << o.config.seed << ", " << sum.epochs << " epochs, "
      << clock_text(seconds_since(start)) << "; " << sum.publishes << " publishes, " << sum.reads
      << " reads, " << sum.flushes << " flushes\n";
  out << "  fault kind            planned applied judged reached\n";
  for (const std::string& k : chaos_fault_kinds()) {
    const auto it = sum.effects.find(k);
    if (it == sum.effects.end()) continue;
    const FaultEffect& e = it->second;
    char line[160];
    std::snprintf(line, sizeof line, "  %-21s %7d %7d %6d %7d%s\n", k.c_str(), e.planned, e.applied,
                  e.judged, e.reached,
                  e.judged > 0 && e.reached == 0 ? "   never reached its path" : "");
    out << line;
    if (e.judged > 0 && e.reached == 0) unreached.push_back(k);
  }
  out << "  violations of the reference: " << total(sum.violations);
  for (const auto& [c, n] : sum.violations) out << " " << c << "=" << n;
  out << "\n";
  if (!sum.documented.empty()) {
    out << "  documented failures of other implementations:";
    for (const auto& [c, n] : sum.documented) out << " " << c << "=" << n;
    out << "\n";
  }
  if (!sum.not_exercised.empty()) {
    out << "  checks an epoch did not exercise (not violations):";
    for (const auto& [c, n] : sum.not_exercised) out << " " << c << "=" << n;
    out << "\n";
  }
  for (const std::string& d : sum.doublecheck_differences) out << "  doublecheck: " << d << "\n";
  for (const std::string& e : sum.errors) out << "  could not run: " << e << "\n";
  if (!sum.failing_plan.empty()) {
    out << "  failing plan: " << sum.failing_plan << " (" << sum.failing_faults << " faults, "
        << sum.failing_ops << " ops)\n";
  }
  if (!sum.minimal_plan.empty()) {
    out << "  minimal plan: " << sum.minimal_plan << " (" << sum.minimal_faults << " faults, "
        << sum.minimal_ops << " ops)\n  rerun: " << sum.rerun << "\n";
  }

  Json doc = {{"kind", "chaos"},
              {"command", o.command},
              {"seed", o.config.seed},
              {"timing", o.timing.name},
              {"backend", o.config.backend},
              {"epochs", sum.epochs},
              {"epochs_failed", sum.epochs_failed},
              {"epochs_error", sum.epochs_error},
              {"duration_s", seconds_since(start)},
              {"publishes", sum.publishes},
              {"reads", sum.reads},
              {"flushes", sum.flushes},
              {"effects", effects_json(sum.effects)},
              {"violations", sum.violations},
              {"documented_failures", sum.documented},
              {"not_exercised", sum.not_exercised},
              {"doublecheck_differences", sum.doublecheck_differences},
              {"errors", sum.errors},
              {"unreached", unreached},
              {"epoch_workload_s", sum.epoch_workload_s},
              {"schedule", chaos_schedule_json(sum.schedule)}};
  if (!sum.failing_plan.empty()) {
    doc["failing"] = {{"plan", sum.failing_plan}, {"faults", sum.failing_faults}, {"ops", sum.failing_ops}};
  }
  if (!sum.minimal_plan.empty()) {
    doc["minimal"] = {{"plan", sum.minimal_plan},
                      {"faults", sum.minimal_faults},
                      {"ops", sum.minimal_ops},
                      {"rerun", sum.rerun}};
  }
  write_file(o.out / "summary.json", doc.dump(2) + "\n");
  out << "  summary: " << (o.out / "summary.json").string() << "\n";

  if (sum.epochs_failed > 0) return 1;
  if (sum.epochs_error > 0 || !sum.doublecheck_differences.empty()) return 2;
  if (o.require_effect && !unreached.empty()) {
    out << "chaos: --require-effect: fault kinds that never reached their path:";
    for (const std::string& k : unreached) out << " " << k;
    out << "\n";
    return 2;
  }
  return 0;
}

}  // namespace pjx::harness
