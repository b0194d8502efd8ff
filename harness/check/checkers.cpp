// The check registry, judge() and the result documents.
#include "check/checkers.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "check/check_support.hpp"

namespace pjx::harness {
namespace {

using CheckFn = CheckResult (*)(const HistoryModel&, const Json&);

const std::vector<std::pair<std::string, CheckFn>>& registry() {
  static const std::vector<std::pair<std::string, CheckFn>> checks = {
      {"fanout", detail::check_fanout},
      {"isolation", detail::check_isolation},
      {"no_replay", detail::check_no_replay},
      {"latency", detail::check_latency},
      {"staleness", detail::check_staleness},
      {"rejection", detail::check_rejection},
      {"sidecars", detail::check_sidecars},
      {"integrity", detail::check_integrity},
      {"crash_safety", detail::check_crash_safety},
      {"lock_contention", detail::check_lock_contention},
      {"pruning", detail::check_pruning},
      {"reconnect", detail::check_reconnect},
      {"disk_full", detail::check_disk_full},
      {"io_fault", detail::check_io_fault},
      {"wake_latency", detail::check_wake_latency},
      {"wake_fallback", detail::check_wake_fallback},
      {"stale_reads", detail::check_stale_reads},
      {"exits", detail::check_exits},
      {"flush_causes", detail::check_flush_causes},
      {"order", detail::check_order},
      {"outbox", detail::check_outbox},
  };
  return checks;
}

int severity(const std::string& verdict) {
  if (verdict == "pass") return 0;
  if (verdict == "reproduced") return 1;
  if (verdict == "skip") return 2;
  if (verdict == "fail") return 3;
  return 4;  // error, and anything unknown
}

CheckResult not_run(const std::string& name, const std::string& verdict, const std::string& why) {
  CheckResult r;
  r.name = name;
  r.verdict = verdict;
  r.measured = "not run";
  r.summary = why;
  return r;
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

}  // namespace

Json CheckResult::to_json() const {
  Json j = {{"name", name},       {"verdict", verdict},   {"measured", measured}, {"bound", bound},
            {"summary", summary}, {"evidence", evidence}, {"metrics", metrics}};
  if (details.is_object() && !details.empty()) j["details"] = details;
  return j;
}

Json ScenarioVerdict::to_json() const {
  Json list = Json::array();
  for (const CheckResult& c : checks) list.push_back(c.to_json());
  return {{"verdict", verdict}, {"metrics", metrics}, {"checks", list}, {"reason", reason}};
}

const std::vector<std::string>& implicit_checks() {
  static const std::vector<std::string> names = {"exits", "flush_causes"};
  return names;
}

const std::vector<std::string>& check_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : registry()) out.push_back(entry.first);
    return out;
  }();
  return names;
}

std::string worst_verdict(const std::string& a, const std::string& b) {
  return severity(b) > severity(a) ? b : a;
}

CheckResult run_check(const std::string& name, const HistoryModel& model, const Json& params) {
  for (const auto& [known, fn] : registry()) {
    if (known != name) continue;
    try {
      CheckResult r = fn(model, params.is_null() ? Json::object() : params);
      r.name = name;
      return r;
    } catch (const std::exception& e) {
      return not_run(name, "error", std::string("check could not run: ") + e.what());
    }
  }
  return not_run(name, "error",
                 "unknown check \"" + name + "\"; known checks: " + joined(check_names(), ", "));
}

CheckResult run_check(const std::string& name, const std::vector<Json>& history,
                      const Json& params) {
  try {
    return run_check(name, build_model(history), params);
  } catch (const std::exception& e) {
    return not_run(name, "error", std::string("history unreadable: ") + e.what());
  }
}

ScenarioVerdict judge(const std::vector<Json>& history) {
  ScenarioVerdict v;
  if (history.empty() || !history.front().is_object() ||
      history.front().value("type", std::string()) != "meta") {
    v.verdict = "error";
    v.reason = "history has no meta record first";
    return v;
  }
  const Json& meta = history.front();
  std::vector<std::string> names;
  if (auto it = meta.find("checks"); it != meta.end() && it->is_array()) {
    for (const Json& name : *it) {
      names.push_back(name.is_string() ? name.get<std::string>() : name.dump());
    }
  }
  if (names.empty()) {
    v.verdict = "error";
    v.reason = "meta.checks names no check: the scenario judges nothing";
    return v;
  }

  std::vector<std::string> errors;
  std::vector<std::string> skips;
  for (const Json& record : history) {
    if (!record.is_object()) continue;
    const std::string type = record.value("type", std::string());
    const std::string reason = record.contains("reason") && record["reason"].is_string()
                                   ? record["reason"].get<std::string>()
                                   : std::string("(no reason given)");
    if (type == "error") errors.push_back(reason);
    if (type == "skip") skips.push_back(reason);
  }
  if (!errors.empty() || !skips.empty()) {
    v.verdict = errors.empty() ? "skip" : "error";
    v.reason = (errors.empty() ? "skipped: " : "could not run: ") +
               joined(errors.empty() ? skips : errors, "; ");
    for (const std::string& name : names) v.checks.push_back(not_run(name, v.verdict, v.reason));
    return v;
  }

  HistoryModel model;
  try {
    model = build_model(history);
  } catch (const std::exception& e) {
    v.verdict = "error";
    v.reason = std::string("history unreadable: ") + e.what();
    for (const std::string& name : names) v.checks.push_back(not_run(name, "error", v.reason));
    return v;
  }

  const Json* all_params = meta.contains("check_params") ? &meta["check_params"] : nullptr;
  v.verdict = "pass";
  // Run on every scenario, after the ones it names (rules 18 and 19).
  for (const std::string& implicit : implicit_checks()) {
    if (std::find(names.begin(), names.end(), implicit) == names.end()) names.push_back(implicit);
  }
  for (const std::string& name : names) {
    Json params = Json::object();
    if (all_params != nullptr && all_params->is_object() && all_params->contains(name)) {
      params = (*all_params)[name];
    }
    CheckResult r =
        params.is_object()
            ? run_check(name, model, params)
            : not_run(name, "error",
                      "meta.check_params." + name + " must be an object, got " + params.dump());
    v.verdict = worst_verdict(v.verdict, r.verdict);
    for (const auto& [key, value] : r.metrics.items()) {
      if (!v.metrics.contains(key)) v.metrics[key] = value;
    }
    v.checks.push_back(std::move(r));
  }

  std::vector<std::string> worst;
  for (const CheckResult& c : v.checks) {
    if (c.verdict == v.verdict) worst.push_back(c.name + ": " + c.summary);
  }
  if (v.verdict == "pass" && model.expect == "reproduced") {
    v.verdict = "fail";
    v.reason = "expected the documented failure, but no check reproduced it";
  } else if (v.verdict == "pass") {
    v.reason = "all " + std::to_string(v.checks.size()) + " checks passed";
  } else if (v.verdict == "reproduced") {
    v.reason = "documented failure reproduced: " + joined(worst, "; ");
  } else {
    v.reason = v.verdict + ": " + joined(worst, "; ");
  }
  return v;
}

}  // namespace pjx::harness
