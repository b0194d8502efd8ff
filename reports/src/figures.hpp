// Figures the renderers derive from a scenario's checker output and history:
// which check decides the verdict, the latency sample and its reference
// lines, stale windows, and the reason behind a skip or an error.
//
// Contract: pure functions of the model; nothing is measured here, only read
// from checker output (details, metrics) and the history's records.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model.hpp"

namespace pjx::reports {

// The first check whose verdict is the scenario's (it decides it), else the
// first check; null when the scenario has no checks.
const Check* deciding_check(const Scenario& scenario);

struct LatencyFigures {
  std::string check;  // name of the check the sample came from
  std::vector<double> latencies_ms;
  std::optional<double> poll_interval_ms;
  std::optional<double> bound_ms;
  std::optional<double> p50_ms;  // the checker's latency_p50_ms
  std::optional<double> p99_ms;  // the checker's latency_p99_ms
};

// The first check with details.latencies_ms (non-numbers skipped). poll_interval
// from the scenario or check metrics, else the history's meta params; the
// bound from details.bound_ms, the check's metrics.bound_ms, the scenario's
// metrics.latency_bound_ms, else parse_bound_ms(check.bound). p50 and p99
// from the check's metrics latency_p50_ms and latency_p99_ms, else the
// scenario's.
std::optional<LatencyFigures> latency_figures(const Scenario& scenario);

// The sum of the "<number> ms" terms of a bound text ("<= poll_interval 50 ms
// + slack 250 ms" -> 300); nullopt when there is none.
std::optional<double> parse_bound_ms(std::string_view text);

// details.stale_windows of the first check that has it (an array), or null.
const nlohmann::json& stale_windows(const Scenario& scenario);
// details.stale_reads of the first check that has it (an array), or null.
const nlohmann::json& stale_reads(const Scenario& scenario);

// Why a scenario was skipped or errored: its note, else the history's
// skip/error record, else the deciding check's summary and evidence.
std::string reason_text(const Scenario& scenario);

// The history's meta record, or an empty object when there is no history.
const nlohmann::json& history_meta(const Scenario& scenario);

// A chaos run in one line, as plain text: "seed 7 · 2 epochs · 30 s of
// workload · 24.9 s · 431 publishes · 374 reads · 15 flushes" (parts the
// summary lacks are left out).
std::string chaos_counts_text(const ResultsDoc& doc);

// Its verdict in words: "0 violations of the reference" or "3 violations of
// the reference (order 1, staleness 2)", then ", 1 epoch could not run"
// when one did not, and documented failures of other implementations.
std::string chaos_verdict_text(const ChaosRun& run);

// The shrunk plan against the failing one: "2 of 9 faults, 40 of 310 ops";
// "" without both plans.
std::string chaos_shrink_text(const ChaosRun& run);

}  // namespace pjx::reports
