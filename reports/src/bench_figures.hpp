// What the report shows of benchmark runs (bench.json, see
// harness/run/bench.hpp): the series a run belongs to (its backend and wake
// mode), the columns of the summary tables (those `pjx-harness bench` prints
// on the terminal), the metric groups of the details table, the order of the
// runs, and the data of the bench plots.
//
// Contract: pure functions of the runs; nothing is measured here. A field a
// run lacks (older bench.json files have no wake, no ratios, no load) reads
// as absent, never as zero. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model.hpp"
#include "plots.hpp"

namespace pjx::reports {

// The series of a run: its backend and wake mode. Every plot draws one
// series per mode, in the same colour and shape everywhere.
struct Mode {
  std::string backend;  // params.backend, "sqlite" when absent
  std::string wake;     // params.wake: "off", "wal", "on"; "" when absent or "n/a"

  std::string label() const;  // "SQLite, wake on (doorbell)", "Redis pub/sub", ...
  int style() const;          // index into the plots' series styles
  bool operator<(const Mode& other) const;  // sqlite first; wake off, wal, on
  bool operator==(const Mode& other) const = default;
};
Mode mode_of(const BenchRun& run);

// A column of a summary table, or an item of a metric group.
struct Column {
  std::string title;  // summary header with its unit ("p99 (ms)"); details label ("p99")
  bool param = false;  // read from params, else metrics
  std::string key;
  double scale = 1;    // shown = value x scale (bytes to MiB, a fraction to %)
  std::string unit;    // details: written after the value
};

// The value of `column` in `run`, scaled; the *_over_poll ratios are
// computed from the latencies and poll_interval_ms when a run lacks them.
std::optional<double> column_value(const BenchRun& run, const Column& column);
// Display text: strings and params as they are ("50"), integer metrics in
// full, other numbers to three significant figures; "" when absent.
std::string column_text(const BenchRun& run, const Column& column);

// The terminal's columns for a bench kind (latency, idle, throughput,
// growth); empty for other kinds.
const std::vector<Column>& summary_columns(std::string_view bench);

struct MetricGroup {
  std::string title;
  std::vector<Column> items;
};
// The details table's metric groups for a bench kind (latency: latency,
// latency from the return, the publish call, CPU, wakes, deliveries).
const std::vector<MetricGroup>& metric_groups(std::string_view bench);
// Metrics of `run` in no group of its kind, in key order.
std::vector<std::string> other_metrics(const BenchRun& run);

// The runs of one kind, sorted by backend, poll_interval, wake, workers and
// publishers (stable: equal runs keep their file order).
std::vector<const BenchRun*> runs_of(const std::vector<BenchRun>& runs, std::string_view bench);

// Which of `runs` has the largest p99 / poll_interval; nullopt when none has one.
std::optional<std::size_t> worst_p99_over_poll(const std::vector<const BenchRun*>& runs);

// A run lost, missed or failed publishes (metrics missing, lost or errors > 0).
bool has_missing(const BenchRun& run);

// The machine load before the first run and after the last ("" if unrecorded).
std::string load_before(const std::vector<BenchRun>& runs);
std::string load_after(const std::vector<BenchRun>& runs);

// One series per mode: (params[x_param], metrics[y_metric] x scale) of the
// runs that have both, sorted by x. Empty series are left out.
std::vector<Series> mode_series(const std::vector<const BenchRun*>& runs, std::string_view x_param,
                                std::string_view y_metric, double scale = 1);

// The distinct values of a numeric param over runs, ascending.
std::vector<double> param_values(const std::vector<const BenchRun*>& runs, std::string_view param);

// The runs whose params[param] equals value.
std::vector<const BenchRun*> with_param(const std::vector<const BenchRun*>& runs,
                                        std::string_view param, double value);

// Latency by mode side by side: a group per (poll_interval, workers), one
// series per mode with p50 to p99 and max; poll_interval as the reference.
struct RangeData {
  std::vector<RangeGroup> groups;
  std::vector<RangeSeries> series;
};
RangeData latency_by_mode(const std::vector<const BenchRun*>& latency_runs);
// Idle CPU (% of a core per worker) by mode: a group per (workers, poll_interval).
RangeData idle_cpu_by_mode(const std::vector<const BenchRun*>& idle_runs);

// The figure a reader wants first: per poll_interval, at the largest worker
// count, the p99 of each mode.
struct Headline {
  double poll_interval_ms = 0;
  double workers = 0;
  std::vector<std::pair<Mode, double>> p99_ms;  // in mode order
};
std::vector<Headline> latency_headlines(const std::vector<const BenchRun*>& latency_runs);

}  // namespace pjx::reports
