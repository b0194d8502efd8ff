#include "figures.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "text.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;

const json& empty_object() {
  static const json kEmpty = json::object();
  return kEmpty;
}

const json& null_json() {
  static const json kNull;
  return kNull;
}

}  // namespace

const Check* deciding_check(const Scenario& scenario) {
  for (const Check& c : scenario.checks) {
    if (c.verdict == scenario.verdict) return &c;
  }
  return scenario.checks.empty() ? nullptr : &scenario.checks.front();
}

const json& history_meta(const Scenario& scenario) {
  if (!scenario.history || scenario.history->records.empty()) return empty_object();
  return scenario.history->records.front();
}

std::optional<LatencyFigures> latency_figures(const Scenario& scenario) {
  for (const Check& c : scenario.checks) {
    if (!c.details.contains("latencies_ms")) continue;
    const json& sample = c.details.at("latencies_ms");
    if (!sample.is_array()) continue;
    LatencyFigures f;
    f.check = c.name;
    for (const json& v : sample) {
      if (v.is_number()) f.latencies_ms.push_back(v.get<double>());
    }
    f.poll_interval_ms = number_at(scenario.metrics, "poll_interval_ms");
    if (!f.poll_interval_ms) f.poll_interval_ms = number_at(c.metrics, "poll_interval_ms");
    if (!f.poll_interval_ms) {
      const json& meta = history_meta(scenario);
      if (const auto params = meta.find("params"); params != meta.end()) {
        f.poll_interval_ms = number_at(*params, "poll_interval_ms");
      }
    }
    f.bound_ms = number_at(c.details, "bound_ms");
    if (!f.bound_ms) f.bound_ms = number_at(c.metrics, "bound_ms");
    if (!f.bound_ms) f.bound_ms = number_at(scenario.metrics, "latency_bound_ms");
    if (!f.bound_ms) f.bound_ms = parse_bound_ms(c.bound);
    f.p50_ms = number_at(c.metrics, "latency_p50_ms");
    if (!f.p50_ms) f.p50_ms = number_at(scenario.metrics, "latency_p50_ms");
    f.p99_ms = number_at(c.metrics, "latency_p99_ms");
    if (!f.p99_ms) f.p99_ms = number_at(scenario.metrics, "latency_p99_ms");
    return f;
  }
  return std::nullopt;
}

std::optional<double> parse_bound_ms(std::string_view text) {
  std::optional<double> sum;
  std::size_t i = 0;
  while (i < text.size()) {
    const bool starts_number = std::isdigit(static_cast<unsigned char>(text[i])) != 0 &&
                               (i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1])));
    if (!starts_number) {
      ++i;
      continue;
    }
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
    std::size_t j = static_cast<std::size_t>(end - text.data());
    if (ec != std::errc{}) {
      ++i;
      continue;
    }
    std::size_t k = j;
    while (k < text.size() && text[k] == ' ') ++k;
    const bool is_ms =
        text.substr(k, 2) == "ms" &&
        (k + 2 == text.size() || !std::isalnum(static_cast<unsigned char>(text[k + 2])));
    if (is_ms) sum = sum.value_or(0) + value;
    i = j;
  }
  return sum;
}

const json& stale_reads(const Scenario& scenario) {
  for (const Check& c : scenario.checks) {
    const auto it = c.details.find("stale_reads");
    if (it != c.details.end() && it->is_array()) return *it;
  }
  return null_json();
}

const json& stale_windows(const Scenario& scenario) {
  for (const Check& c : scenario.checks) {
    const auto it = c.details.find("stale_windows");
    if (it != c.details.end() && it->is_array()) return *it;
  }
  return null_json();
}

std::string reason_text(const Scenario& scenario) {
  if (!scenario.note.empty()) return scenario.note;
  if (scenario.history) {
    for (const json& r : scenario.history->records) {
      const auto type = r.find("type");
      const auto reason = r.find("reason");
      if (type != r.end() && (*type == "skip" || *type == "error") && reason != r.end() &&
          reason->is_string()) {
        return reason->get<std::string>();
      }
    }
  }
  if (const Check* c = deciding_check(scenario)) {
    std::string out = c->summary;
    for (const std::string& e : c->evidence) out += (out.empty() ? "" : "; ") + e;
    return out;
  }
  return "";
}

std::string chaos_counts_text(const ResultsDoc& doc) {
  const ChaosRun& c = doc.chaos;
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : " \u00B7 ") + part; };
  auto count = [](std::int64_t n, const std::string& one, const std::string& many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  if (!doc.seed.empty()) add("seed " + doc.seed);
  add(count(c.epochs, "epoch", "epochs"));
  if (!c.epoch_workload_s.empty()) {
    double workload = 0;
    for (double s : c.epoch_workload_s) workload += s;
    add(format_number(workload) + " s of workload");
  }
  if (doc.duration_s) add(format_fixed(*doc.duration_s, 1) + " s");
  add(count(c.publishes, "publish", "publishes"));
  add(count(c.reads, "read", "reads"));
  add(count(c.flushes, "flush", "flushes"));
  return out;
}

std::string chaos_verdict_text(const ChaosRun& run) {
  const std::int64_t n = run.violation_count();
  std::string out = std::to_string(n) + (n == 1 ? " violation" : " violations") + " of the reference";
  std::string by_check;
  for (const auto& [check, count] : run.violations) {
    if (count > 0) by_check += (by_check.empty() ? "" : ", ") + check + " " + std::to_string(count);
  }
  if (!by_check.empty()) out += " (" + by_check + ")";
  if (run.epochs_error > 0 || !run.errors.empty()) {
    const auto e = std::max<std::int64_t>(run.epochs_error, static_cast<std::int64_t>(run.errors.size()));
    out += ", " + std::to_string(e) + (e == 1 ? " epoch" : " epochs") + " could not run";
  }
  if (!run.doublecheck_differences.empty()) {
    out += ", " + std::to_string(run.doublecheck_differences.size()) + " doublecheck difference" +
           (run.doublecheck_differences.size() == 1 ? "" : "s");
  }
  std::int64_t documented = 0;
  for (const auto& [what, count] : run.documented) documented += count;
  if (documented > 0) {
    out += "; " + std::to_string(documented) + " documented failure" + (documented == 1 ? "" : "s") +
           " of other implementations";
  }
  return out;
}

std::string chaos_shrink_text(const ChaosRun& run) {
  if (!run.failing || !run.minimal) return "";
  return std::to_string(run.minimal->faults) + " of " + std::to_string(run.failing->faults) +
         " faults, " + std::to_string(run.minimal->ops) + " of " + std::to_string(run.failing->ops) +
         " ops";
}

}  // namespace pjx::reports
