#include "summary_reporter.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "check/stats.hpp"

namespace pjx::bench {
namespace {

using Run = benchmark::BenchmarkReporter::Run;

// One benchmark's figures: per-operation real and CPU time in nanoseconds,
// and its counters.
struct Figures {
  double real_ns = 0;
  double cpu_ns = 0;
  std::map<std::string, double> counters;
};

double to_ns(double value, benchmark::TimeUnit unit) {
  return value * 1e9 / benchmark::GetTimeUnitMultiplier(unit);
}

Figures figures_of(const Run& run) {
  Figures f{to_ns(run.GetAdjustedRealTime(), run.time_unit),
            to_ns(run.GetAdjustedCPUTime(), run.time_unit),
            {}};
  for (const auto& [name, counter] : run.counters) f.counters[name] = counter.value;
  return f;
}

// The median by the project's one percentile (check/stats.hpp).
double median(const std::vector<double>& values) { return harness::percentile(values, 50); }

// Medians per benchmark, keyed by the full name without the aggregate
// suffix: of the repetitions, or, when only aggregates were reported
// (--benchmark_report_aggregates_only), the library's own median.
std::map<std::string, Figures> medians(const std::vector<Run>& runs) {
  std::map<std::string, std::vector<Figures>> repetitions;
  std::map<std::string, Figures> result;
  for (const auto& run : runs) {
    if (run.error_occurred) continue;
    const std::string name = run.run_name.str();
    if (run.run_type != Run::RT_Aggregate) {
      repetitions[name].push_back(figures_of(run));
    } else if (run.aggregate_name == "median") {
      result[name] = figures_of(run);
    }
  }
  for (const auto& [name, reps] : repetitions) {
    if (reps.empty()) continue;
    Figures f;
    std::vector<double> real, cpu;
    for (const auto& r : reps) {
      real.push_back(r.real_ns);
      cpu.push_back(r.cpu_ns);
    }
    f.real_ns = median(real);
    f.cpu_ns = median(cpu);
    for (const auto& [counter, value] : reps.front().counters) {
      std::vector<double> values;
      for (const auto& r : reps) {
        if (const auto it = r.counters.find(counter); it != r.counters.end())
          values.push_back(it->second);
      }
      f.counters[counter] = median(values);
    }
    result[name] = f;
  }
  return result;
}

std::string us(double ns) {
  char text[32];
  std::snprintf(text, sizeof text, ns < 10'000 ? "%.2f us" : "%.0f us", ns / 1000);
  return text;
}

std::optional<double> counter(const Figures& f, const std::string& name) {
  const auto it = f.counters.find(name);
  if (it == f.counters.end()) return std::nullopt;
  return it->second;
}

}  // namespace

SummaryReporter::SummaryReporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
    : inner_(std::move(inner)) {}

bool SummaryReporter::ReportContext(const Context& context) {
  return inner_->ReportContext(context);
}

void SummaryReporter::ReportRuns(const std::vector<Run>& report) {
  runs_.insert(runs_.end(), report.begin(), report.end());
  inner_->ReportRuns(report);
}

void SummaryReporter::Finalize() { inner_->Finalize(); }

void SummaryReporter::print_summary(std::ostream& out) const {
  const auto all = medians(runs_);
  const auto find = [&all](const std::string& name) -> const Figures* {
    const auto it = all.find(name);
    return it == all.end() ? nullptr : &it->second;
  };
  char line[256];
  out << "\npjx micro-benchmark summary (per operation; medians when repeated)\n";

  const Figures* publish = find("publish/real_time/threads:1");
  for (const int threads : {1, 2, 4, 8}) {
    const Figures* f = find("publish/real_time/threads:" + std::to_string(threads));
    if (f == nullptr) continue;
    std::snprintf(line, sizeof line,
                  "  publish, %d thread(s): %.0f commits/s, per-publish p50 %s p99 %s\n", threads,
                  counter(*f, "items_per_second").value_or(0),
                  us(counter(*f, "p50_us").value_or(0) * 1000).c_str(),
                  us(counter(*f, "p99_us").value_or(0) * 1000).c_str());
    out << line;
  }
  if (const Figures* bare = find("bare_publish/real_time"); bare != nullptr && publish != nullptr) {
    const double bare_p50 = counter(*bare, "p50_us").value_or(0);
    std::snprintf(line, sizeof line,
                  "  bare insert-and-prune transaction: p50 %s, mean %s; publish / bare: %.2fx (p50), "
                  "%.2fx (mean)\n",
                  us(bare_p50 * 1000).c_str(), us(bare->real_ns).c_str(),
                  bare_p50 > 0 ? counter(*publish, "p50_us").value_or(0) / bare_p50 : 0.0,
                  bare->real_ns > 0 ? publish->real_ns / bare->real_ns : 0.0);
    out << line;
  }
  for (const auto& [name, label] :
       {std::pair<std::string, std::string>{"upstream_publish/listener_open:1/sync_full:1",
                                            "listener open"},
        {"upstream_publish/listener_open:0/sync_full:1", "alone (close checkpoints)"},
        {"upstream_publish/listener_open:1/sync_full:0", "listener open, synchronous=NORMAL"}}) {
    const Figures* f = find(name);
    if (f == nullptr) continue;
    std::snprintf(line, sizeof line, "  upstream pattern, %s: mean %s, p50 %s", label.c_str(),
                  us(f->real_ns).c_str(), us(counter(*f, "p50_us").value_or(0) * 1000).c_str());
    out << line;
    if (publish != nullptr && publish->real_ns > 0) {
      const double p50_ratio =
          counter(*f, "p50_us").value_or(0) / counter(*publish, "p50_us").value_or(1);
      std::snprintf(line, sizeof line, "; upstream / publish: %.1fx (mean), %.1fx (p50)",
                    f->real_ns / publish->real_ns, p50_ratio);
      out << line;
    }
    out << "\n";
  }
  if (const Figures* f = find("poll_idle")) {
    std::snprintf(line, sizeof line,
                  "  idle poll: p50 %s, mean %s, CPU %s (data_version fast path: %.0f%%)\n",
                  us(counter(*f, "p50_us").value_or(0) * 1000).c_str(), us(f->real_ns).c_str(),
                  us(f->cpu_ns).c_str(), 100 * counter(*f, "skipped_fraction").value_or(0));
    out << line;
  }
  for (const auto& [prefix, label] :
       {std::pair<std::string, std::string>{"poll_new_rows/rows:", "poll finding %s new row(s)"},
        {"decode_keys/keys:", "decode of %s key(s)"},
        {"load_cache_evict/entries:", "eviction of %s entries"},
        {"publish_at_table_size/rows:", "publish at table size %s (prunes 1)"},
        {"prune_burst/rows:", "publish pruning %s rows"}}) {
    for (const auto& [name, f] : all) {
      if (name.rfind(prefix, 0) != 0) continue;
      std::string arg = name.substr(prefix.size());
      arg = arg.substr(0, arg.find('/'));
      char what[96];
      std::snprintf(what, sizeof what, label.c_str(), arg.c_str());
      out << "  " << what << ":";
      if (const auto p50 = counter(f, "p50_us")) out << " p50 " << us(*p50 * 1000) << ",";
      out << " mean " << us(f.real_ns) << ", CPU " << us(f.cpu_ns) << "\n";
    }
  }
  if (publish == nullptr) out << "  (publish/threads:1 did not run: no upstream ratio)\n";
}

}  // namespace pjx::bench
