#include "bench_figures.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "text.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;

constexpr double kMiB = 1.0 / (1024.0 * 1024.0);

int wake_rank(std::string_view wake) {
  if (wake == "off") return 0;
  if (wake == "wal") return 1;
  if (wake == "on") return 2;
  return wake.empty() ? 3 : 4;
}

std::string param_string(const json& params, const char* key) {
  const auto it = params.find(key);
  return it == params.end() || !it->is_string() ? std::string() : it->get<std::string>();
}

double param_or(const BenchRun& r, const char* key, double fallback) {
  return number_at(r.params, key).value_or(fallback);
}

Column col(std::string title, bool param, std::string key, double scale = 1,
           std::string unit = "") {
  return Column{std::move(title), param, std::move(key), scale, std::move(unit)};
}
Column p(std::string title, std::string key) { return col(std::move(title), true, std::move(key)); }
Column m(std::string title, std::string key, double scale = 1, std::string unit = "") {
  return col(std::move(title), false, std::move(key), scale, std::move(unit));
}

std::string ms_text(double v) { return format_significant(v, 3) + " ms"; }

std::vector<Mode> modes_in(const std::vector<const BenchRun*>& runs) {
  std::set<Mode> modes;
  for (const BenchRun* r : runs) modes.insert(mode_of(*r));
  return {modes.begin(), modes.end()};
}

}  // namespace

std::string Mode::label() const {
  if (backend == "redis") return "Redis pub/sub";
  const std::string name = backend == "sqlite" ? "SQLite" : backend;
  if (wake == "off") return name + ", polling only (wake off)";
  if (wake == "wal") return name + ", wake on -wal writes";
  if (wake == "on") return name + ", wake on (doorbell)";
  return wake.empty() ? name : name + ", wake " + wake;
}

int Mode::style() const {
  // Series styles (plots.cpp): 0 blue circle, 1 vermillion square, 2 green
  // triangle, 3 purple diamond, 4 orange cross.
  if (backend == "redis") return 3;
  if (backend != "sqlite") return 4;
  if (wake == "off") return 1;
  if (wake == "wal") return 2;
  return 0;
}

bool Mode::operator<(const Mode& other) const {
  const auto key = [](const Mode& m) {
    return std::make_tuple(m.backend == "sqlite" ? 0 : 1, m.backend, wake_rank(m.wake), m.wake);
  };
  return key(*this) < key(other);
}

Mode mode_of(const BenchRun& run) {
  Mode mode;
  mode.backend = param_string(run.params, "backend");
  if (mode.backend.empty()) mode.backend = "sqlite";
  mode.wake = param_string(run.params, "wake");
  if (mode.wake == "n/a") mode.wake.clear();
  return mode;
}

std::optional<double> column_value(const BenchRun& run, const Column& c) {
  const json& from = c.param ? run.params : run.metrics;
  std::optional<double> v = number_at(from, c.key);
  const std::string suffix = "_over_poll";
  if (!v && !c.param && c.key.size() > suffix.size() && c.key.ends_with(suffix)) {
    const auto latency = number_at(run.metrics, c.key.substr(0, c.key.size() - suffix.size()) + "_ms");
    const auto poll = number_at(run.params, "poll_interval_ms");
    if (latency && poll && *poll > 0) v = *latency / *poll;
  }
  if (!v) return std::nullopt;
  return *v * c.scale;
}

std::string column_text(const BenchRun& run, const Column& c) {
  const json& from = c.param ? run.params : run.metrics;
  const auto it = from.find(c.key);
  if (it != from.end() && !it->is_number()) return json_text(*it);
  // Params as given ("50", not "50.0"); integer metrics in full.
  if (it != from.end() && (c.param || it->is_number_integer()) && c.scale == 1) {
    return json_text(*it);
  }
  const auto v = column_value(run, c);
  return v ? format_significant(*v, 3) : std::string();
}

const std::vector<Column>& summary_columns(std::string_view bench) {
  static const std::map<std::string, std::vector<Column>, std::less<>> kColumns = {
      {"latency",
       {p("backend", "backend"), p("workers", "workers"), p("poll (ms)", "poll_interval_ms"),
        p("wake", "wake"), m("p50 (ms)", "p50_ms"), m("p99 (ms)", "p99_ms"),
        m("max (ms)", "max_ms"), m("p50 / poll", "p50_over_poll"),
        m("p99 / poll", "p99_over_poll"), m("max / poll", "max_over_poll"),
        m("empty wakes (% of wakes)", "empty_wake_rate", 100),
        m("CPU (% of a core per worker)", "cpu_percent_per_worker"),
        m("deliveries", "deliveries"), m("missing", "missing")}},
      {"idle",
       {p("backend", "backend"), p("workers", "workers"), p("poll (ms)", "poll_interval_ms"),
        p("wake", "wake"), p("duration (s)", "duration_s"),
        m("CPU (ms/s per worker)", "cpu_ms_per_s_per_worker"),
        m("CPU (% of a core per worker)", "cpu_percent_per_worker"),
        m("CPU from ticks (ms/s per worker)", "cpu_ticks_ms_per_s_per_worker")}},
      {"throughput",
       {p("backend", "backend"), p("publishers", "publishers"),
        m("commits (per s)", "commits_per_s"), m("p50 (\u00B5s)", "p50_us"),
        m("p99 (\u00B5s)", "p99_us"), m("p99.9 (\u00B5s)", "p999_us"), m("max (\u00B5s)", "max_us"),
        m("errors", "errors"), m("busy waits", "busy_waits"), m("lost", "lost")}},
      {"growth",
       {p("backend", "backend"), p("publishers", "publishers"), p("retention (s)", "retention_s"),
        p("duration (s)", "duration_s"), m("commits (per s)", "commits_per_s"),
        m("db max (MiB)", "db_max_bytes", kMiB), m("db bound (MiB)", "db_bound_bytes", kMiB),
        m("db max / bound", "db_max_over_bound"), m("WAL max (MiB)", "wal_max_bytes", kMiB),
        m("WAL final (MiB)", "wal_final_bytes", kMiB),
        m("WAL max / 8 MiB", "wal_max_over_target"), m("errors", "errors"), m("lost", "lost")}}};
  static const std::vector<Column> kNone;
  const auto it = kColumns.find(bench);
  return it == kColumns.end() ? kNone : it->second;
}

const std::vector<MetricGroup>& metric_groups(std::string_view bench) {
  static const std::map<std::string, std::vector<MetricGroup>, std::less<>> kGroups = {
      {"latency",
       {{"Latency from the publish call's start",
         {m("p50", "p50_ms", 1, "ms"), m("p99", "p99_ms", 1, "ms"), m("max", "max_ms", 1, "ms")}},
        {"Latency from the call's return",
         {m("p50", "p50_after_return_ms", 1, "ms"), m("p99", "p99_after_return_ms", 1, "ms")}},
        {"Publish call",
         {m("p50", "publish_call_p50_ms", 1, "ms"), m("p99", "publish_call_p99_ms", 1, "ms")}},
        {"CPU per receiver under load",
         {m("schedstat", "cpu_ms_per_s_per_worker", 1, "ms/s"),
          m("share", "cpu_percent_per_worker", 1, "% of a core"),
          m("ticks", "cpu_ticks_ms_per_s_per_worker", 1, "ms/s"),
          m("over", "load_s", 1, "s")}},
        {"Wakes (all receivers)",
         {m("wakes", "wakes"), m("doorbell", "doorbell_wakes"), m("empty", "empty_wakes"),
          m("empty rate", "empty_wake_rate", 100, "%"), m("timed polls", "timed_polls"),
          m("failures", "wake_failures")}},
        {"Deliveries",
         {m("delivered", "deliveries"), m("missing", "missing"), m("errors", "errors")}}}},
      {"idle",
       {{"CPU per idle worker",
         {m("schedstat", "cpu_ms_per_s_per_worker", 1, "ms/s"),
          m("share", "cpu_percent_per_worker", 1, "% of a core"),
          m("ticks", "cpu_ticks_ms_per_s_per_worker", 1, "ms/s"), m("tick", "tick_ms", 1, "ms"),
          m("over", "elapsed_s", 1, "s")}}}},
      {"throughput",
       {{"Commit latency",
         {m("p50", "p50_us", 1, "\u00B5s"), m("p99", "p99_us", 1, "\u00B5s"),
          m("p99.9", "p999_us", 1, "\u00B5s"), m("max", "max_us", 1, "\u00B5s")}},
        {"Throughput",
         {m("rate", "commits_per_s", 1, "/s"), m("commits", "commits"),
          m("over", "elapsed_s", 1, "s")}},
        {"Contention and loss",
         {m("busy waits", "busy_waits"), m("errors", "errors"), m("lost", "lost")}}}},
      {"growth",
       {{"Database file",
         {m("max", "db_max_bytes", kMiB, "MiB"), m("final", "db_final_bytes", kMiB, "MiB"),
          m("bound", "db_bound_bytes", kMiB, "MiB"), m("max / bound", "db_max_over_bound"),
          m("rows", "rows_final"), m("rows bound", "rows_bound"),
          m("per row", "row_bytes", 1, "B")}},
        {"WAL file",
         {m("max", "wal_max_bytes", kMiB, "MiB"), m("final", "wal_final_bytes", kMiB, "MiB"),
          m("max after 1 s", "wal_max_after_1s_bytes", kMiB, "MiB"),
          m("target", "wal_target_bytes", kMiB, "MiB"), m("max / target", "wal_max_over_target")}},
        {"Publishing",
         {m("rate", "commits_per_s", 1, "/s"), m("commits", "commits"),
          m("busy waits", "busy_waits"), m("errors", "errors"), m("lost", "lost"),
          m("over", "elapsed_s", 1, "s")}}}}};
  static const std::vector<MetricGroup> kNone;
  const auto it = kGroups.find(bench);
  return it == kGroups.end() ? kNone : it->second;
}

std::vector<std::string> other_metrics(const BenchRun& run) {
  std::set<std::string> known;
  for (const MetricGroup& g : metric_groups(run.bench)) {
    for (const Column& c : g.items) known.insert(c.key);
  }
  for (const Column& c : summary_columns(run.bench)) {
    if (!c.param) known.insert(c.key);
  }
  std::vector<std::string> out;
  for (const auto& [key, value] : run.metrics.items()) {
    if (!known.count(key)) out.push_back(key);
  }
  return out;
}

std::vector<const BenchRun*> runs_of(const std::vector<BenchRun>& runs, std::string_view bench) {
  std::vector<const BenchRun*> out;
  for (const BenchRun& r : runs) {
    if (r.bench == bench) out.push_back(&r);
  }
  const auto key = [](const BenchRun* r) {
    const Mode mode = mode_of(*r);
    return std::make_tuple(mode.backend == "sqlite" ? 0 : 1, mode.backend,
                           param_or(*r, "poll_interval_ms", 0), wake_rank(mode.wake), mode.wake,
                           param_or(*r, "workers", 0), param_or(*r, "publishers", 0));
  };
  std::stable_sort(out.begin(), out.end(),
                   [&key](const BenchRun* a, const BenchRun* b) { return key(a) < key(b); });
  return out;
}

std::optional<std::size_t> worst_p99_over_poll(const std::vector<const BenchRun*>& runs) {
  const Column ratio = m("p99 / poll", "p99_over_poll");
  std::optional<std::size_t> worst;
  double worst_value = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto v = column_value(*runs[i], ratio);
    if (v && (!worst || *v > worst_value)) {
      worst = i;
      worst_value = *v;
    }
  }
  return worst;
}

bool has_missing(const BenchRun& run) {
  for (const char* key : {"missing", "lost", "errors"}) {
    if (number_at(run.metrics, key).value_or(0) > 0) return true;
  }
  return false;
}

std::string load_before(const std::vector<BenchRun>& runs) {
  for (const BenchRun& r : runs) {
    if (!r.load_before.empty()) return r.load_before;
  }
  return "";
}

std::string load_after(const std::vector<BenchRun>& runs) {
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (!it->load_after.empty()) return it->load_after;
  }
  return "";
}

std::vector<Series> mode_series(const std::vector<const BenchRun*>& runs, std::string_view x_param,
                                std::string_view y_metric, double scale) {
  std::vector<Series> out;
  for (const Mode& mode : modes_in(runs)) {
    Series s{mode.label(), {}, mode.style()};
    for (const BenchRun* r : runs) {
      if (!(mode_of(*r) == mode)) continue;
      const auto x = number_at(r->params, x_param);
      const auto y = number_at(r->metrics, y_metric);
      if (x && y) s.points.emplace_back(*x, *y * scale);
    }
    std::sort(s.points.begin(), s.points.end());
    if (!s.points.empty()) out.push_back(std::move(s));
  }
  return out;
}

std::vector<double> param_values(const std::vector<const BenchRun*>& runs, std::string_view param) {
  std::set<double> values;
  for (const BenchRun* r : runs) {
    if (const auto v = number_at(r->params, param)) values.insert(*v);
  }
  return {values.begin(), values.end()};
}

std::vector<const BenchRun*> with_param(const std::vector<const BenchRun*>& runs,
                                        std::string_view param, double value) {
  std::vector<const BenchRun*> out;
  for (const BenchRun* r : runs) {
    if (number_at(r->params, param) == value) out.push_back(r);
  }
  return out;
}

namespace {

// Groups by (block param, group param) ascending; one series per mode.
template <typename Fill>
RangeData range_by_mode(const std::vector<const BenchRun*>& runs, const char* block_param,
                        const char* group_param, Fill fill) {
  RangeData out;
  std::vector<std::pair<double, double>> keys;
  for (const BenchRun* r : runs) {
    const auto b = number_at(r->params, block_param);
    const auto g = number_at(r->params, group_param);
    if (b && g) keys.emplace_back(*b, *g);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  const std::vector<Mode> modes = modes_in(runs);
  for (const Mode& mode : modes) {
    out.series.push_back(RangeSeries{mode.label(), mode.style(), {}});
  }
  for (const auto& [b, g] : keys) {
    RangeGroup group;
    for (std::size_t i = 0; i < modes.size(); ++i) {
      std::optional<RangeValue> value;
      for (const BenchRun* r : runs) {
        if (mode_of(*r) == modes[i] && number_at(r->params, block_param) == b &&
            number_at(r->params, group_param) == g) {
          value = fill(*r, modes[i], group);
          break;
        }
      }
      out.series[i].values.push_back(value);
    }
    out.groups.push_back(std::move(group));
  }
  return out;
}

std::string count_text(double n, const char* one, const char* many) {
  return format_number(n) + " " + (n == 1 ? one : many);
}

}  // namespace

RangeData latency_by_mode(const std::vector<const BenchRun*>& latency_runs) {
  return range_by_mode(
      latency_runs, "poll_interval_ms", "workers",
      [](const BenchRun& r, const Mode& mode, RangeGroup& group) -> std::optional<RangeValue> {
        const double poll = param_or(r, "poll_interval_ms", 0);
        const double workers = param_or(r, "workers", 0);
        group.label = count_text(workers, "worker", "workers");
        group.sublabel = "poll_interval " + format_number(poll) + " ms";
        group.reference = poll;
        const auto p50 = number_at(r.metrics, "p50_ms");
        const auto p99 = number_at(r.metrics, "p99_ms");
        if (!p50 || !p99) return std::nullopt;
        const double mx = number_at(r.metrics, "max_ms").value_or(*p99);
        return RangeValue{*p50, *p99, mx,
                          mode.label() + ", " + group.label + ", " + group.sublabel + ": p50 " +
                              ms_text(*p50) + ", p99 " + ms_text(*p99) + ", max " + ms_text(mx)};
      });
}

RangeData idle_cpu_by_mode(const std::vector<const BenchRun*>& idle_runs) {
  return range_by_mode(
      idle_runs, "workers", "poll_interval_ms",
      [](const BenchRun& r, const Mode& mode, RangeGroup& group) -> std::optional<RangeValue> {
        const double poll = param_or(r, "poll_interval_ms", 0);
        group.label = "poll " + format_number(poll) + " ms";
        group.sublabel = count_text(param_or(r, "workers", 0), "idle worker", "idle workers");
        const auto cpu = number_at(r.metrics, "cpu_percent_per_worker");
        if (!cpu) return std::nullopt;
        return RangeValue{*cpu, *cpu, *cpu,
                          mode.label() + ", " + group.sublabel + ", " + group.label + ": " +
                              format_significant(*cpu, 3) + " % of a core per worker"};
      });
}

std::vector<Headline> latency_headlines(const std::vector<const BenchRun*>& latency_runs) {
  std::vector<Headline> out;
  for (double poll : param_values(latency_runs, "poll_interval_ms")) {
    const auto at_poll = with_param(latency_runs, "poll_interval_ms", poll);
    const auto workers = param_values(at_poll, "workers");
    if (workers.empty()) continue;
    Headline h{poll, workers.back(), {}};
    for (const Mode& mode : modes_in(at_poll)) {
      for (const BenchRun* r : with_param(at_poll, "workers", workers.back())) {
        const auto p99 = number_at(r->metrics, "p99_ms");
        if (mode_of(*r) == mode && p99) {
          h.p99_ms.emplace_back(mode, *p99);
          break;
        }
      }
    }
    if (!h.p99_ms.empty()) out.push_back(std::move(h));
  }
  return out;
}

}  // namespace pjx::reports
