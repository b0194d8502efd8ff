#include "results.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <map>
#include <stdexcept>
#include <thread>

#include <sqlite3.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "command_line.hpp"
#include "filesystem_type.hpp"
#include "pjx/reports/report.hpp"
#include "subprocess.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

std::string shorten(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  if (width <= 3) return text.substr(0, width);
  return text.substr(0, width - 3) + "...";
}

std::string pad(const std::string& text, std::size_t width) {
  std::string s = shorten(text, width);
  s.resize(width, ' ');
  return s;
}

bool held(const std::string& verdict) {
  return verdict == "pass" || verdict == "reproduced" || verdict == "skip";
}

}  // namespace

Json machine_info(const fs::path& dir) {
  Json m;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) {
    m["hostname"] = host;
  } else {
    m["hostname"] = "unknown";
  }
  struct utsname u {};
  if (::uname(&u) == 0) {
    m["kernel"] = std::string(u.sysname) + " " + u.release;
  } else {
    m["kernel"] = "unknown";
  }
  m["cpus"] = std::thread::hardware_concurrency();
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    const double gib = static_cast<double>(pages) * static_cast<double>(page_size) /
                       (1024.0 * 1024.0 * 1024.0);
    m["memory_gib"] = std::round(gib * 10) / 10;
  }
  m["sqlite"] = sqlite3_libversion();
  m["filesystem"] = pjx::testing::filesystem_type(dir);
  return m;
}

std::string commit_id() {
  auto git = [](const std::string& dir) {
    std::vector<std::string> argv = {"git"};
    if (!dir.empty()) {
      argv.push_back("-C");
      argv.push_back(dir);
    }
    argv.insert(argv.end(), {"rev-parse", "--short", "HEAD"});
    return pjx::testing::run_for_output(argv, 5000);
  };
  std::optional<std::string> out = git("");
#ifdef PJX_SOURCE_DIR
  if (!out) out = git(PJX_SOURCE_DIR);
#endif
  if (!out) return "unknown";
  std::string id = *out;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id.empty() ? "unknown" : id;
}

std::string utc_now_iso() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Json results_json(const RunSummary& summary, const fs::path& results_file) {
  Json doc;
  doc["tool"] = "pjx-harness";
  doc["version"] = kHarnessVersion;
  doc["schema"] = 1;
  doc["command"] = summary.command;
  doc["started_at"] = summary.started_at;
  doc["duration_s"] = std::round(summary.duration_s * 10) / 10;
  doc["machine"] = machine_info(summary.dir);
  doc["commit"] = commit_id();
  doc["worker_cmd"] = summary.worker_cmd;
  std::string backend;
  for (const ScenarioResult& r : summary.results) {
    backend = backend.empty() || backend == r.backend ? r.backend : "mixed";
  }
  doc["backend"] = backend.empty() ? "sqlite" : backend;
  doc["timing"] = summary.timing;
  doc["seed"] = summary.seed;
  Json scenarios = Json::array();
  std::map<std::string, int> counts = {
      {"pass", 0}, {"fail", 0}, {"skip", 0}, {"error", 0}, {"reproduced", 0}};
  const fs::path base = results_file.parent_path().empty() ? fs::path(".")
                                                           : results_file.parent_path();
  for (const ScenarioResult& r : summary.results) {
    Json s;
    s["name"] = r.name;
    s["file"] = r.file;
    s["guarantee"] = r.guarantee;
    s["verdict"] = r.verdict.verdict;
    s["expect"] = r.expect;
    s["timing"] = r.timing;
    s["backend"] = r.backend;
    s["seed"] = r.seed;
    s["duration_s"] = std::round(r.duration_s * 100) / 100;
    s["rerun"] = r.rerun;
    std::error_code ec;
    const fs::path rel =
        fs::absolute(r.history, ec).lexically_relative(fs::absolute(base, ec).lexically_normal());
    s["history"] = rel.empty() ? r.history.string() : rel.string();
    s["metrics"] = r.verdict.metrics;
    Json checks = Json::array();
    for (const CheckResult& c : r.verdict.checks) checks.push_back(c.to_json());
    s["checks"] = checks;
    if (!r.verdict.reason.empty()) s["reason"] = r.verdict.reason;
    scenarios.push_back(std::move(s));
    ++counts[r.verdict.verdict];
  }
  doc["scenarios"] = scenarios;
  doc["summary"] = counts;
  return doc;
}

void write_results(const RunSummary& summary, const fs::path& results_file) {
  std::error_code ec;
  if (!results_file.parent_path().empty()) fs::create_directories(results_file.parent_path(), ec);
  std::ofstream out(results_file, std::ios::binary | std::ios::trunc);
  out << results_json(summary, results_file).dump(2) << "\n";
  if (!out) throw std::runtime_error("cannot write " + results_file.string());
}

std::string junit_xml(const RunSummary& summary) {
  return pjx::reports::junit_xml(results_json(summary, "junit.xml").dump(), "the run's results");
}

void print_table(std::ostream& out, const std::vector<ScenarioResult>& results) {
  constexpr std::size_t kName = 20, kGuarantee = 36, kVerdict = 10, kMeasured = 46;
  out << pad("SCENARIO", kName) << " " << pad("GUARANTEE", kGuarantee) << " "
      << pad("VERDICT", kVerdict) << " " << pad("MEASURED", kMeasured) << " BOUND\n";
  std::map<std::string, int> counts;
  double total = 0;
  for (const ScenarioResult& r : results) {
    ++counts[r.verdict.verdict];
    total += r.duration_s;
    const CheckResult* first = r.verdict.checks.empty() ? nullptr : &r.verdict.checks.front();
    std::string measured = first != nullptr ? first->measured : r.verdict.reason;
    std::string bound = first != nullptr ? first->bound : "";
    if (r.verdict.verdict == "skip" || r.verdict.verdict == "error") {
      measured = r.verdict.reason;
      bound = "";
    }
    out << pad(r.name, kName) << " " << pad(r.guarantee, kGuarantee) << " "
        << pad(r.verdict.verdict, kVerdict) << " " << pad(measured, kMeasured) << " " << bound
        << "\n";
    if (r.verdict.verdict == "skip" || r.verdict.verdict == "error") continue;
    for (std::size_t i = 1; i < r.verdict.checks.size(); ++i) {
      const CheckResult& c = r.verdict.checks[i];
      out << pad("", kName) << " " << pad("  + " + c.name, kGuarantee) << " "
          << pad(c.verdict, kVerdict) << " " << pad(c.measured, kMeasured) << " " << c.bound
          << "\n";
    }
  }
  out << "\n" << results.size() << " scenarios:";
  for (const char* v : {"pass", "reproduced", "fail", "skip", "error"}) {
    if (counts[v] > 0) out << " " << counts[v] << " " << v;
  }
  out << std::fixed << std::setprecision(1) << " (" << total << " s)\n";
}

void print_failures(std::ostream& out, const std::vector<ScenarioResult>& results,
                    bool histories_kept) {
  for (const ScenarioResult& r : results) {
    const std::string& v = r.verdict.verdict;
    if (v != "fail" && v != "error") continue;
    out << "\n" << (v == "fail" ? "FAILED" : "COULD NOT RUN") << ": " << r.name << " ("
        << r.file << ")\n";
    out << "  guarantee: " << r.guarantee << "\n";
    if (!r.verdict.reason.empty()) out << "  reason: " << r.verdict.reason << "\n";
    for (const CheckResult& c : r.verdict.checks) {
      if (c.verdict == "pass" || c.verdict == "reproduced" || c.verdict == "skip") continue;
      out << "  " << c.name << ": " << c.verdict << ": measured " << c.measured << "; bound "
          << c.bound << "\n";
      if (!c.summary.empty()) out << "    " << c.summary << "\n";
      for (const std::string& e : c.evidence) out << "    - " << e << "\n";
    }
    if (histories_kept) {
      out << "  history: " << display_path(r.history) << "\n";
    } else {
      out << "  history: not kept (add --json FILE or --keep)\n";
    }
    out << "  rerun:   " << r.rerun << "\n";
  }
}

bool apply_required_caps(ScenarioResult& result) {
  auto capability = [](const std::string& why) {
    return why.find("capability") != std::string::npos;
  };
  ScenarioVerdict& v = result.verdict;
  bool changed = false;
  for (CheckResult& c : v.checks) {
    if (c.verdict == "skip" && capability(c.summary)) {
      c.verdict = "fail";
      c.summary = "required by the reference profile (--require-caps): " + c.summary;
      changed = true;
    }
  }
  if (v.verdict == "skip" && capability(v.reason)) {
    v.verdict = "fail";
    v.reason = "required by the reference profile (--require-caps): " + v.reason;
    return true;
  }
  if (changed && (v.verdict == "pass" || v.verdict == "skip" || v.verdict == "reproduced")) {
    v.verdict = "fail";
    v.reason = "required by the reference profile (--require-caps): a check was skipped for a "
               "capability the worker lacks";
  }
  return changed;
}

int exit_code(const std::vector<ScenarioResult>& results) {
  bool failed = false;
  bool errored = false;
  for (const ScenarioResult& r : results) {
    if (r.verdict.verdict == "fail") failed = true;
    if (!held(r.verdict.verdict) && r.verdict.verdict != "fail") errored = true;
  }
  if (failed) return 1;
  return errored ? 2 : 0;
}

ScenarioResult result_from_history(const fs::path& history_file, const std::vector<Json>& history) {
  ScenarioResult r;
  const Json& meta = history.front();
  r.name = meta.value("scenario", history_file.stem().string());
  r.backend = meta.value("backend", std::string("sqlite"));
  if (r.backend != "sqlite") r.name = r.backend + "/" + r.name;
  r.file = meta.value("file", "");
  r.guarantee = meta.value("guarantee", "");
  r.expect = meta.value("expect", "pass");
  r.timing = meta.value("timing", "quick");
  r.seed = meta.value("seed", std::uint64_t{1});
  r.history = history_file;
  std::int64_t first = meta.value("t", std::int64_t{0});
  std::int64_t last = first;
  for (const Json& rec : history) {
    if (rec.contains("t") && rec["t"].is_number_integer()) {
      last = std::max(last, rec["t"].get<std::int64_t>());
    }
  }
  r.duration_s = static_cast<double>(last - first) / 1e9;
  RunOptions o;
  o.seed = r.seed;
  o.worker_cmd = meta.value("worker_cmd", "");
  o.worker_cmd_is_default = meta.value("worker_cmd_is_default", o.worker_cmd.empty());
  r.rerun = rerun_command(r.file, o, r.timing);
  r.verdict = judge(history);
  return r;
}

}  // namespace pjx::harness
