#include "figures.hpp"

#include <cctype>
#include <charconv>

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

}  // namespace pjx::reports
