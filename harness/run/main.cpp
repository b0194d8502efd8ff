// pjx-harness: runs conformance and reproduction scenarios against worker
// processes (harness/PROTOCOL.md), judges their histories, probes live
// databases and renders reports. Usage: harness/README.md.
//
// Exit status: 0 every guarantee held (pass, or reproduced as expected;
// skips allowed), 1 a guarantee was violated, 2 the run could not be done
// (usage, setup, a scenario that could not run), 130 (128 + the signal)
// interrupted by SIGINT, 143 by SIGTERM (the scenario under way is torn
// down and the results so far are written).
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fnmatch.h>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "bench.hpp"
#include "chaos_cli.hpp"
#include "check/checkers.hpp"
#include "check/history.hpp"
#include "command_line.hpp"
#include "db_probe.hpp"
#include "leftovers.hpp"
#include "mount_namespace.hpp"
#include "nemesis.hpp"
#include "results.hpp"
#include "runner.hpp"
#include "scenario.hpp"

#include "pjx/reports/report.hpp"

namespace fs = std::filesystem;
using namespace pjx::harness;

namespace {

// Writes `content` to `path`, creating its folder. Throws naming the path.
void write_text_file(const fs::path& path, const std::string& content) {
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Renders results files into a report folder and, unless quiet, says where.
void render_report(const std::vector<fs::path>& results, const fs::path& out_dir,
                   bool quiet = false) {
  pjx::reports::write_report(results, out_dir);
  if (!quiet) std::cout << "report: " << (out_dir / "index.html").string() << "\n";
}

}  // namespace

namespace {

constexpr int kExitUsage = 2;

// The help footers: exit statuses, environment, examples (also the man
// pages' sections, through help2man).
constexpr const char* kExitStatusHelp =
    "Exit status:\n"
    "  0    every guarantee held (pass, or reproduced where a scenario expects it; skip is\n"
    "       allowed, except for a missing capability under --require-caps)\n"
    "  1    a guarantee was violated (fail)\n"
    "  2    the run could not be done: bad usage, a scenario file that does not load, a\n"
    "       scenario that could not run (error), an output that cannot be written\n"
    "  130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: the scenario under way is torn\n"
    "       down (workers stopped, faults undone) and the results so far are written\n";

constexpr const char* kEnvironmentHelp =
    "Environment:\n"
    "  PJX_SCENARIOS_DIR  scenario folder when --scenarios is not given (default: the one\n"
    "                     installed beside pjx-harness, ../share/pjx-inval/scenarios)\n"
    "  TMPDIR             where temporary run folders go (default /tmp)\n"
    "  PJX_REDIS_SERVER   the redis-server to start for --backend redis (default: PATH)\n"
    "  The workers' variables (PJX_INVALIDATION_DB, REDIS_URL, PJX_POLL_INTERVAL, ...) are\n"
    "  set by the harness for each worker (PROTOCOL.md); the harness's own are not passed on.\n";

constexpr const char* kExamplesHelp =
    "Examples:\n"
    "  pjx-harness conform\n"
    "      every conformance scenario against pjx-worker, quick timing, temporary folder\n"
    "  pjx-harness conform --require-caps --junit out/junit.xml --report out/\n"
    "      the reference profile, as a CI job runs it\n"
    "  pjx-harness conform --timing documented --dir /srv/app/tmp\n"
    "      upstream's timing, on the filesystem of the host you deploy to\n"
    "  pjx-harness conform --worker-cmd 'pjx-pyjinhx-worker --backend pyjinhx.integrations.sqlite:SqliteInvalidationBackend'\n"
    "      the installed Python pyjinhx package instead of the C++ reference\n"
    "  pjx-harness probe /var/lib/app/pjx.db\n"
    "      what a live database holds, without writing to it\n";

std::string footer(std::initializer_list<const char*> parts) {
  std::string out;
  for (const char* part : parts) out += std::string(out.empty() ? "" : "\n") + part;
  return out;
}

fs::path self_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// The pjx-worker built or installed beside pjx-harness, else from PATH.
std::string default_worker_cmd() {
  const fs::path beside = self_dir() / "pjx-worker";
  if (!self_dir().empty() && ::access(beside.c_str(), X_OK) == 0) return beside.string();
  return "pjx-worker";
}

// The upstream emulation's command line, for `chaos --mix python=N`: the
// Python worker installed beside this executable (the build tree mirrors
// it), which loads the emulation by default; "" when it is not there.
std::string default_python_cmd() {
  std::error_code ec;
  const fs::path py = self_dir() / ".." / "share" / "pjx-inval" / "worker" / "pyjinhx_worker.py";
  if (self_dir().empty() || !fs::is_regular_file(py, ec)) return "";
  return "python3 " + quote_word(fs::weakly_canonical(py, ec).string());
}

// --scenarios, else $PJX_SCENARIOS_DIR, else the scenarios installed beside
// this executable (bin/../share/pjx-inval/scenarios, which the build tree
// mirrors: cmake/PjxLayout.cmake). Never a source tree: an installed harness
// runs what it was installed with.
fs::path scenarios_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("PJX_SCENARIOS_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  // Resolved, so that the build tree's link shows as the source folder it is.
  std::error_code ec;
  const fs::path beside = self_dir() / ".." / "share" / "pjx-inval" / "scenarios";
  const fs::path resolved = fs::weakly_canonical(beside, ec);
  return ec ? beside.lexically_normal() : resolved;
}

// The exit status after a signal interrupted the run: 128 + its number.
int interrupted_status(int signal) { return 128 + (signal > 0 ? signal : SIGINT); }

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  std::string out;
  static const char* const kHex = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes; ++i) {
    const unsigned v = rd() & 0xffu;
    out += kHex[v >> 4];
    out += kHex[v & 0xfu];
  }
  return out;
}

// Before a run: removes what dead runs left (leftovers.hpp), saying so,
// then enters the run's private mount namespace (mount_namespace.hpp), where
// the mounting faults mount. Both must happen before any thread or child is
// started; neither failing stops the run (the mounting faults then say why
// they cannot run).
void prepare_host() {
  const CleanupReport leftovers = remove_dead_runs(CleanupPlaces{}, false);
  for (const std::string& line : leftovers.removed) {
    std::cout << "pjx-harness: " << line << " (left by a killed run)\n";
  }
  for (const std::string& line : leftovers.failed) {
    std::cerr << "pjx-harness: cannot remove what a killed run left: " << line << "\n";
  }
  enter_private_mount_namespace();
}

bool matches(const std::string& pattern, const Scenario& s) {
  if (pattern.empty()) return true;
  const std::string stem = s.file.stem().string();
  const bool glob = pattern.find_first_of("*?[") != std::string::npos;
  // Several patterns may be given separated by commas.
  std::stringstream list(pattern);
  std::string p;
  while (std::getline(list, p, ',')) {
    if (p.empty()) continue;
    if (glob) {
      if (::fnmatch(p.c_str(), s.name.c_str(), 0) == 0 ||
          ::fnmatch(p.c_str(), stem.c_str(), 0) == 0) {
        return true;
      }
    } else if (s.name.find(p) != std::string::npos || stem.find(p) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string command_line_of(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 0; i < argc; ++i) words.emplace_back(argv[i]);
  if (!words.empty()) words[0] = fs::path(words[0]).filename().string();
  return join_command_line(words);
}

struct RunFlags {
  std::string worker_cmd;
  std::string dir;
  std::string timing;
  std::string filter;
  std::uint64_t seed = 1;
  std::string json;
  std::string junit;
  std::string report;
  std::string scenarios;
  bool keep = false;
  std::string backend = "sqlite";  // sqlite, redis or both
  std::string redis_url;
  bool require_caps = false;
  bool quiet = false;
};

void add_run_flags(CLI::App* app, RunFlags& f, bool conform) {
  app->add_option("--worker-cmd", f.worker_cmd,
                  "Worker command line, split like a shell (default: the pjx-worker beside "
                  "pjx-harness, else from PATH)")
      ->type_name("CMD");
  app->add_option("--dir", f.dir,
                  "Run directory on the filesystem under test (default: a temporary one, "
                  "removed at the end unless --keep)")
      ->type_name("DIR");
  app->add_option("--timing", f.timing,
                  "quick (poll 50 ms, retention 500 ms) or documented (0.5 s, 5 s); default: "
                  "the scenario's, else quick")
      ->check(CLI::IsMember({"quick", "documented"}));
  if (conform) {
    app->add_option("--filter", f.filter,
                    "Only scenarios whose name or file contains this text (or matches this "
                    "glob); several separated by commas");
    app->add_option("--scenarios", f.scenarios,
                    "Scenario folder holding conformance/ (default: $PJX_SCENARIOS_DIR, else "
                    "../share/pjx-inval/scenarios beside pjx-harness)")
        ->type_name("DIR");
  }
  app->add_option("--seed", f.seed, "Seed of the workload's random choices (default 1)");
  app->add_option("--json", f.json, "Write results.json here (histories go to histories/ beside it)")
      ->type_name("FILE");
  app->add_option("--junit", f.junit, "Write JUnit XML here")->type_name("FILE");
  app->add_option("--report", f.report, "Render an HTML/Markdown report into this folder")
      ->type_name("DIR");
  app->add_flag("--keep", f.keep, "Keep the run directory (databases, histories, worker stderr)");
  app->add_option("--backend", f.backend,
                  "Backend under test: sqlite (default), redis, or both (every scenario on "
                  "sqlite, then on redis)")
      ->check(CLI::IsMember({"sqlite", "redis", "both"}));
  app->add_option("--redis-url", f.redis_url,
                  "Redis backend: use this running server (default: start a redis-server per "
                  "scenario on a free loopback port)");
  app->add_flag("--require-caps", f.require_caps,
                "The reference profile: a scenario or check skipped because the worker lacks a "
                "capability (flush, reopen, reads, ...) fails instead of being skipped");
  app->add_flag("-q,--quiet", f.quiet,
                "Print only what failed or could not run and the one-line summary: no line per "
                "scenario, no progress, no table");
}

// A usage error found while preparing a run: its message, and the exit
// status kExitUsage.
struct UsageError {
  std::string message;
};

// Where one `conform` or `run` invocation runs and writes: the RunOptions
// shared by its scenarios, and the files it leaves.
struct Invocation {
  RunOptions options;
  fs::path dir;           // the run directory (a temporary one unless --dir)
  bool temp = false;      // removed at the end unless --keep
  fs::path results_file;  // --json, or results.json in the run directory for --report
};

Invocation prepare_invocation(const RunFlags& f) {
  Invocation inv;
  RunOptions& o = inv.options;
  o.worker_cmd = f.worker_cmd.empty() ? default_worker_cmd() : f.worker_cmd;
  o.worker_cmd_is_default = f.worker_cmd.empty();
  try {
    if (split_command_line(o.worker_cmd).empty()) throw UsageError{"--worker-cmd is empty"};
  } catch (const std::invalid_argument& e) {
    throw UsageError{std::string("--worker-cmd: ") + e.what()};
  }
  if (!f.redis_url.empty() && f.backend == "sqlite") {
    throw UsageError{"--redis-url applies to --backend redis or both"};
  }
  o.redis_url = f.redis_url;
  if (!f.timing.empty()) o.timing = f.timing;
  o.seed = f.seed;
  o.run_id = random_hex(6);
  o.harness_version = kHarnessVersion;
  inv.temp = f.dir.empty();
  try {
    inv.dir = inv.temp ? make_run_folder(temp_root(), "harness", f.keep) : fs::path(f.dir);
    fs::create_directories(inv.dir);
  } catch (const std::exception& e) {
    throw UsageError{std::string("cannot create the run directory: ") + e.what()};
  }
  o.dir = inv.dir;
  if (!f.json.empty()) {
    inv.results_file = f.json;
  } else if (!f.report.empty()) {
    inv.results_file = inv.dir / "results.json";
  }
  o.history_dir = inv.results_file.empty() ? inv.dir / "histories" : inv.results_file.parent_path() / "histories";
  if (o.history_dir.parent_path().empty()) o.history_dir = fs::path(".") / "histories";
  return inv;
}

// Each (backend, scenario) pair that applies, in backend order; says which
// scenarios a backend skips when more than one thing runs.
std::vector<std::pair<std::string, const Scenario*>> plan_runs(const std::vector<Scenario>& scenarios,
                                                               const RunFlags& f) {
  const std::vector<std::string> backends =
      f.backend == "both" ? std::vector<std::string>{"sqlite", "redis"} : std::vector<std::string>{f.backend};
  std::vector<std::pair<std::string, const Scenario*>> runs;
  for (const std::string& backend : backends) {
    std::string not_applicable;
    for (const Scenario& s : scenarios) {
      if (s.applies_to(backend)) {
        runs.emplace_back(backend, &s);
      } else {
        not_applicable += (not_applicable.empty() ? "" : ", ") + s.name;
      }
    }
    if (!not_applicable.empty() && backends.size() + scenarios.size() > 1 && !f.quiet) {
      std::cout << "pjx-harness: not applicable to " << backend << " (their 'backends' do not "
                << "list it): " << not_applicable << "\n";
    }
  }
  if (runs.empty()) throw UsageError{"no scenario applies to --backend " + f.backend};
  return runs;
}

// Runs them one by one into `summary`, with a progress line each; stops at
// an interrupt and returns its signal (0 when none came).
int run_all(const std::vector<std::pair<std::string, const Scenario*>>& runs, RunOptions o,
            const RunFlags& f, RunSummary& summary) {
  ProgressLog progress(std::cout);
  if (!f.quiet) o.progress = &progress;
  const fs::path base_dir = o.dir;
  const fs::path base_history_dir = o.history_dir;
  int index = 0;
  for (const auto& [backend, scenario] : runs) {
    const Scenario& s = *scenario;
    ++index;
    // Redis runs keep their folders and histories apart: <dir>/redis/<name>/.
    o.backend = backend;
    o.dir = backend == "sqlite" ? base_dir : base_dir / backend;
    o.history_dir = backend == "sqlite" ? base_history_dir : base_history_dir / backend;
    const std::string label = backend == "sqlite" ? s.name : backend + "/" + s.name;
    if (!f.quiet) progress.begin("[" + std::to_string(index) + "/" + std::to_string(runs.size()) + "] " + label);
    ScenarioResult r;
    try {
      r = run_scenario(s, o);
    } catch (const std::exception& e) {
      if (!f.quiet) progress.end("could not run");
      throw UsageError{label + ": " + e.what()};
    }
    if (f.require_caps) apply_required_caps(r);
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", r.duration_s);
    if (!f.quiet) progress.end(r.verdict.verdict + " (" + secs + " s, " + r.timing + ")");
    const bool interrupted = r.interrupted;
    const int signal = r.interrupt_signal;
    summary.results.push_back(std::move(r));
    if (interrupted) {
      std::cout << "interrupted: the remaining scenarios are not run\n";
      return signal;
    }
  }
  return 0;
}

// The verdict table (only its summary line with --quiet) and what failed.
void print_outcome(const RunSummary& summary, const RunFlags& f, bool paths_kept) {
  if (f.quiet) {
    // Only the table's last line, the summary ("24 scenarios: 24 pass (43.0 s)").
    std::ostringstream table;
    print_table(table, summary.results);
    std::string text = table.str();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::cout << text.substr(text.rfind('\n') + 1) << "\n";
  } else {
    std::cout << "\n";
    print_table(std::cout, summary.results);
  }
  print_failures(std::cout, summary.results, paths_kept);
}

// results.json, junit.xml and the report; kExitUsage when one cannot be written.
int write_outputs(const RunSummary& summary, const RunFlags& f, const Invocation& inv, int code) {
  try {
    if (!inv.results_file.empty()) {
      write_results(summary, inv.results_file);
      if (!f.json.empty() && !f.quiet) std::cout << "\nresults: " << inv.results_file.string() << "\n";
    }
    if (!f.junit.empty()) write_text_file(f.junit, junit_xml(summary));
    if (!f.report.empty()) render_report({inv.results_file}, f.report, f.quiet);
  } catch (const std::exception& e) {
    std::cerr << "pjx-harness: " << e.what() << "\n";
    return kExitUsage;
  }
  return code;
}

int run_scenarios(std::vector<Scenario> scenarios, const RunFlags& f, const std::string& command) {
  if (scenarios.empty()) {
    std::cerr << "pjx-harness: no scenario matches";
    if (!f.filter.empty()) std::cerr << " the filter \"" << f.filter << "\"";
    std::cerr << "\n";
    return kExitUsage;
  }
  Invocation inv;
  try {
    inv = prepare_invocation(f);
  } catch (const UsageError& e) {
    std::cerr << "pjx-harness: " << e.message << "\n";
    return kExitUsage;
  }
  // A run that could not start or finish leaves no temporary folder behind.
  const auto give_up = [&](const UsageError& e) {
    std::cerr << "pjx-harness: " << e.message << "\n";
    std::error_code ec;
    if (inv.temp && !f.keep) fs::remove_all(inv.dir, ec);
    return kExitUsage;
  };
  std::vector<std::pair<std::string, const Scenario*>> runs;
  try {
    runs = plan_runs(scenarios, f);
  } catch (const UsageError& e) {
    return give_up(e);
  }
  RunSummary summary;
  summary.command = command;
  summary.started_at = utc_now_iso();
  summary.worker_cmd = inv.options.worker_cmd;
  summary.seed = inv.options.seed;
  summary.dir = inv.dir;
  const auto start = std::chrono::steady_clock::now();
  if (!f.quiet) {
    std::cout << "pjx-harness: " << runs.size() << " scenario(s), worker: " << inv.options.worker_cmd
              << ", seed " << inv.options.seed << ", dir " << inv.dir.string();
    if (f.backend != "sqlite") std::cout << ", backend " << f.backend;
    std::cout << "\n";
  }
  int interrupt_signal = 0;
  try {
    interrupt_signal = run_all(runs, inv.options, f, summary);
  } catch (const UsageError& e) {
    return give_up(e);
  }
  summary.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.timing = summary.results.front().timing;
  for (const ScenarioResult& r : summary.results) {
    if (r.timing != summary.timing) summary.timing = "mixed";
  }
  print_outcome(summary, f, !(inv.temp && !f.keep && inv.results_file.empty()));
  const int code = write_outputs(summary, f, inv, exit_code(summary.results));
  if (inv.temp && !f.keep) {
    std::error_code ec;
    fs::remove_all(inv.dir, ec);
  } else if (!f.quiet) {
    std::cout << "run directory kept: " << inv.dir.string() << "\n";
  }
  if (interrupt_signal != 0) return interrupted_status(interrupt_signal);
  return code;
}

std::vector<Scenario> load_all(const std::vector<fs::path>& files, const std::string& filter) {
  std::vector<Scenario> out;
  for (const fs::path& file : files) {
    Scenario s = load_scenario(file, check_names());
    if (matches(filter, s)) out.push_back(std::move(s));
  }
  return out;
}

int cmd_conform(const RunFlags& f, const std::string& command) {
  const fs::path dir = scenarios_dir(f.scenarios) / "conformance";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    std::cerr << "pjx-harness: no scenario folder " << dir.string()
              << " (give --scenarios DIR or set PJX_SCENARIOS_DIR)\n";
    return kExitUsage;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Scenario> scenarios;
  try {
    scenarios = load_all(files, f.filter);
  } catch (const ScenarioError& e) {
    std::cerr << "pjx-harness: " << e.what() << "\n";
    return kExitUsage;
  }
  std::vector<std::string> names;
  for (const Scenario& s : scenarios) {
    if (std::find(names.begin(), names.end(), s.name) != names.end()) {
      std::cerr << "pjx-harness: two scenarios are named \"" << s.name << "\"\n";
      return kExitUsage;
    }
    names.push_back(s.name);
  }
  return run_scenarios(std::move(scenarios), f, command);
}

int cmd_run(const std::vector<std::string>& files, const RunFlags& f, const std::string& command) {
  std::vector<Scenario> scenarios;
  try {
    std::vector<fs::path> paths(files.begin(), files.end());
    scenarios = load_all(paths, "");
  } catch (const ScenarioError& e) {
    std::cerr << "pjx-harness: " << e.what() << "\n";
    return kExitUsage;
  }
  return run_scenarios(std::move(scenarios), f, command);
}

int cmd_analyze(const std::vector<std::string>& files, const std::string& json,
                const std::string& junit, const std::string& command) {
  RunSummary summary;
  summary.command = command;
  summary.started_at = utc_now_iso();
  summary.dir = ".";
  for (const std::string& file : files) {
    try {
      const std::vector<Json> history = load_history(file);
      summary.results.push_back(result_from_history(file, history));
    } catch (const std::exception& e) {
      std::cerr << "pjx-harness: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  const std::vector<Json> first = load_history(files.front());
  summary.worker_cmd = first.front().value("worker_cmd", "");
  summary.seed = first.front().value("seed", std::uint64_t{1});
  summary.timing = summary.results.front().timing;
  for (const ScenarioResult& r : summary.results) {
    summary.duration_s += r.duration_s;
    if (r.timing != summary.timing) summary.timing = "mixed";
  }
  print_table(std::cout, summary.results);
  print_failures(std::cout, summary.results);
  try {
    if (!json.empty()) write_results(summary, json);
    if (!junit.empty()) {
      write_text_file(junit, junit_xml(summary));
    }
  } catch (const std::exception& e) {
    std::cerr << "pjx-harness: " << e.what() << "\n";
    return kExitUsage;
  }
  return exit_code(summary.results);
}

std::string human_bytes(const std::optional<std::uintmax_t>& size) {
  if (!size) return "absent";
  char buf[64];
  if (*size >= 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(*size) / (1024.0 * 1024.0));
  } else if (*size >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(*size) / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%ju B", *size);
  }
  return buf;
}

int cmd_probe(const std::string& db, const std::string& json) {
  const DbInspection info = inspect_db(db);
  if (!json.empty()) {
    const std::string text = info.to_json().dump(2) + "\n";
    if (json == "-") {
      std::cout << text;
    } else {
      try {
        write_text_file(json, text);
      } catch (const std::exception& e) {
        std::cerr << "pjx-harness: " << e.what() << "\n";
        return kExitUsage;
      }
    }
    return info.error.empty() ? 0 : kExitUsage;
  }
  std::cout << "database:     " << info.path.string() << "\n";
  if (!info.error.empty()) {
    std::cout << "error:        " << info.error << "\n";
    std::cout << "-wal:         " << human_bytes(info.wal_size) << "\n";
    std::cout << "-shm:         " << human_bytes(info.shm_size) << "\n";
    return kExitUsage;
  }
  std::cout << "journal mode: " << info.journal_mode
            << (info.immutable ? " (from the file header: no process has it open in WAL mode)"
                               : "")
            << "\n";
  std::cout << "-wal:         " << human_bytes(info.wal_size) << "\n";
  std::cout << "-shm:         " << human_bytes(info.shm_size) << "\n";
  if (!info.has_table) {
    std::cout << "table:        no pjx_invalidation table (nothing was ever published or "
                 "listened to here)\n";
    return 0;
  }
  std::cout << "rows:         " << info.total_rows << " (highest id " << info.max_id << ")\n";
  char buf[64];
  if (info.oldest_created_at) {
    std::snprintf(buf, sizeof buf, "%.3f s", info.inspected_at - *info.oldest_created_at);
    std::cout << "oldest row:   " << buf << " old\n";
    std::snprintf(buf, sizeof buf, "%.3f s", info.inspected_at - *info.newest_created_at);
    std::cout << "newest row:   " << buf << " old\n";
  }
  std::cout << "channels:     " << info.channels.size() << "\n";
  for (const auto& [name, rows] : info.channels) {
    std::cout << "  " << name << ": " << rows << " row(s)\n";
  }
  return 0;
}

int cmd_report(const std::vector<std::string>& files, const std::string& out) {
  try {
    render_report(std::vector<fs::path>(files.begin(), files.end()), out);
  } catch (const std::exception& e) {
    std::cerr << "pjx-harness: " << e.what() << "\n";
    return kExitUsage;
  }
  return 0;
}

struct BenchFlags {
  BenchOptions options;
  std::string worker_cmd;
  std::string dir;
  std::string json;
  std::string report;
  bool quick = false;
  bool keep = false;
  bool quiet = false;
};

void add_bench_flags(CLI::App* app, BenchFlags& f) {
  app->add_option("--kind", f.options.kind,
                  "latency, idle, throughput, growth or all (default all)")
      ->check(CLI::IsMember({"latency", "idle", "throughput", "growth", "all"}));
  app->add_option("--workers", f.options.workers, "Receiving worker counts (default 1,4,16,64)")
      ->delimiter(',');
  app->add_option("--idle-workers", f.options.idle_workers, "Idle worker counts (default 4)")
      ->delimiter(',');
  app->add_option("--poll", f.options.poll_s, "Poll intervals in seconds (default 0.01,0.05,0.5)")
      ->delimiter(',');
  app->add_option("--wake", f.options.wake,
                  "Change wakes: on (with the doorbell), wal (no doorbell), off, both (off and on) or all "
                  "(default both)")
      ->check(CLI::IsMember({"on", "wal", "off", "both", "all"}));
  app->add_option("--events", f.options.events, "Events per latency run (default 40)");
  app->add_option("--duration", f.options.duration_s,
                  "Seconds per idle, throughput and growth run (default 10, 10 and 60)");
  app->add_option("--publishers", f.options.publishers,
                  "Publisher counts for throughput (default 1,2,4,8)")
      ->delimiter(',');
  app->add_option("--growth-publishers", f.options.growth_publishers,
                  "Publisher counts for growth (default 1,4)")
      ->delimiter(',');
  app->add_option("--retention", f.options.retention_s,
                  "Retention in seconds for growth runs (default 5)")
      ->check(CLI::PositiveNumber);
  app->add_option("--runs", f.options.runs,
                  "Runs of each configuration; metrics are their medians (default 1)")
      ->check(CLI::Range(1, 100));
  app->add_option("--backend", f.options.backend,
                  "sqlite, redis or both: redis runs latency and idle over Redis pub/sub on "
                  "loopback too (default sqlite)")
      ->check(CLI::IsMember({"sqlite", "redis", "both"}));
  app->add_option("--seed", f.options.seed, "Seed of the publish spacing (default 1)");
  app->add_option("--worker-cmd", f.worker_cmd, "Worker command line (default pjx-worker)");
  app->add_option("--dir", f.dir, "Run folder (default a temporary one, removed afterwards)");
  app->add_option("--json", f.json, "Write bench.json here")->type_name("FILE");
  app->add_option("--report", f.report, "Write a report into this folder")->type_name("DIR");
  app->add_flag("--quick", f.quick, "Small sizes, for CI");
  app->add_flag("--keep", f.keep, "Keep the temporary run folder");
  app->add_flag("-q,--quiet", f.quiet, "No progress lines while the runs go (the table still prints)");
}

int cmd_bench(BenchFlags& f, const std::string& command) {
  BenchOptions o = f.options;
  if (f.quick) {
    const BenchOptions given = o;
    apply_quick(o);
    o.kind = given.kind;
    o.backend = given.backend;
  }
  o.worker_cmd = f.worker_cmd.empty() ? default_worker_cmd() : f.worker_cmd;
  o.run_id = random_hex(6);
  const bool temp = f.dir.empty();
  int code = 0;
  try {
    o.dir = temp ? make_run_folder(temp_root(), "harness", f.keep) : fs::path(f.dir);
    fs::create_directories(o.dir);
    Json doc = {{"tool", "pjx-harness"},
                {"kind", "bench"},
                {"schema", 1},
                {"version", kHarnessVersion},
                {"machine", machine_info(o.dir)},
                {"commit", commit_id()},
                {"started_at", utc_now_iso()},
                {"command", command},
                {"worker_cmd", o.worker_cmd}};
    std::ostream silent(nullptr);  // discards what it is given
    const Json runs = run_benches(o, f.quiet ? silent : std::cerr);
    doc["runs"] = runs;
    print_bench_table(std::cout, runs);
    code = bench_exit_code(runs);
    if (code != 0) std::cout << "\nsome run lost, missed or failed publishes\n";
    fs::path json_file = f.json;
    if (json_file.empty() && !f.report.empty()) json_file = fs::path(f.report) / "bench.json";
    if (!json_file.empty()) {
      write_text_file(json_file, doc.dump(2) + "\n");
      std::cout << "\nbench: " << json_file.string() << "\n";
    }
    if (!f.report.empty()) {
      render_report({json_file}, f.report, f.quiet);
    }
  } catch (const std::exception& e) {
    std::cerr << "pjx-harness: " << e.what() << "\n";
    code = kExitUsage;
  }
  if (temp && !f.keep && !o.dir.empty()) {
    std::error_code ec;
    fs::remove_all(o.dir, ec);
  }
  return code;
}

int cmd_cleanup(const std::vector<std::string>& tmpdirs, bool dry_run) {
  CleanupPlaces places;
  if (!tmpdirs.empty()) places.temp_roots.assign(tmpdirs.begin(), tmpdirs.end());
  const CleanupReport r = remove_dead_runs(places, dry_run);
  for (const std::string& line : r.removed) std::cout << line << "\n";
  for (const std::string& line : r.kept) std::cout << "kept " << line << "\n";
  for (const std::string& line : r.failed) std::cerr << "pjx-harness: cannot remove " << line << "\n";
  if (r.removed.empty() && r.failed.empty()) std::cout << "nothing left by a dead run\n";
  return r.failed.empty() ? 0 : kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Writes to a worker that died must fail with EPIPE, not kill the harness.
  std::signal(SIGPIPE, SIG_IGN);
  // Not a user command: how the runner starts a worker without inotify
  // (scenario key `inotify_instances`; nemesis.hpp). Handled before anything
  // starts a thread.
  if (argc >= 2 && std::string(argv[1]) == "with-inotify-limit") {
    return exec_with_inotify_limit(argc, argv);
  }
  const std::string command = command_line_of(argc, argv);

  CLI::App app{
      "pjx-harness: conformance and chaos tests for pyjinhx's cross-process cache "
      "invalidation over SQLite"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("pjx-harness ") + kHarnessVersion);
  app.footer(footer({"Run `pjx-harness COMMAND --help` for a command's options.\n",
                     kExitStatusHelp, kEnvironmentHelp, kExamplesHelp}));

  RunFlags conform_flags;
  CLI::App* conform = app.add_subcommand(
      "conform", "Run every scenario in scenarios/conformance/ and print the verdicts");
  add_run_flags(conform, conform_flags, true);
  conform->footer(footer({kExitStatusHelp, kEnvironmentHelp, kExamplesHelp}));

  RunFlags run_flags;
  std::vector<std::string> run_files;
  CLI::App* run = app.add_subcommand("run", "Run scenario files (e.g. scenarios/repro/*.toml)");
  run->add_option("scenario", run_files, "Scenario TOML file(s)")->required()->check(
      CLI::ExistingFile);
  add_run_flags(run, run_flags, false);
  run->footer(footer({kExitStatusHelp, kEnvironmentHelp,
                      "Examples:\n"
                      "  pjx-harness run /usr/share/pjx-inval/scenarios/repro/stale-after-pause.toml\n"
                      "      upstream's incident, reproduced (installed from the .deb)\n"
                      "  pjx-harness run fanout.toml --worker-cmd 'pjx-worker --defect skip-rows'\n"
                      "      a deliberately broken worker, caught by the fanout check\n"}));

  std::vector<std::string> analyze_files;
  std::string analyze_json;
  std::string analyze_junit;
  CLI::App* analyze =
      app.add_subcommand("analyze", "Judge saved histories again, without running anything");
  analyze->add_option("history", analyze_files, "History files (*.history.jsonl)")
      ->required()
      ->check(CLI::ExistingFile);
  analyze->add_option("--json", analyze_json, "Write results.json here")->type_name("FILE");
  analyze->add_option("--junit", analyze_junit, "Write JUnit XML here")->type_name("FILE");
  analyze->footer(
      "Exit status:\n"
      "  0  every guarantee held in the histories\n"
      "  1  one was violated\n"
      "  2  a history cannot be read, or an output cannot be written\n\n"
      "Examples:\n"
      "  pjx-harness analyze out/histories/*.history.jsonl --json again/results.json\n"
      "      judge a run's histories again with the current checkers\n");

  std::string probe_db;
  std::string probe_json;
  CLI::App* probe = app.add_subcommand(
      "probe", "Describe a live invalidation database without writing to it");
  probe->add_option("db", probe_db, "Database file")->required();
  probe->add_option("--json", probe_json,
                    "Write the description as JSON to this file instead (- for stdout)")
      ->type_name("FILE");
  probe->footer(
      "Exit status:\n"
      "  0  described\n"
      "  2  the database cannot be read (the reason is printed)\n\n"
      "Examples:\n"
      "  pjx-harness probe /var/lib/app/pjx.db\n"
      "      journal mode, sidecar sizes, rows per channel, oldest and newest row\n"
      "  pjx-harness probe /var/lib/app/pjx.db --json - | jq .channels\n"
      "      the same as JSON on stdout\n");

  std::vector<std::string> report_files;
  std::string report_out;
  CLI::App* report =
      app.add_subcommand("report", "Render results files (results.json, bench.json, a chaos "
                                   "run's summary.json) into a report");
  report->add_option("results", report_files, "Results files")->required()->check(
      CLI::ExistingFile);
  report->add_option("-o,--out", report_out, "Output folder")->required()->type_name("DIR");
  report->footer(
      "Exit status:\n"
      "  0  written\n"
      "  2  a results file cannot be read, or the report cannot be written\n\n"
      "Examples:\n"
      "  pjx-harness report out/results.json -o report/\n"
      "      index.html, summary.md, junit.xml and the histories in report/\n"
      "  pjx-harness report results.json bench.json -o report/\n"
      "      conformance and benchmark results in one report\n"
      "  pjx-harness report out/chaos/summary.json -o report/\n"
      "      a chaos run's fault schedule, effects per kind and shrunk reproducer\n");

  BenchFlags bench_flags;
  CLI::App* bench = app.add_subcommand(
      "bench",
      "Multi-process benchmarks: delivery latency, idle CPU, publish throughput, file growth");
  add_bench_flags(bench, bench_flags);
  bench->footer(
      "Exit status:\n"
      "  0    every delivery arrived\n"
      "  1    some run lost, missed or failed publishes\n"
      "  2    the benchmark could not run\n"
      "  130  interrupted by SIGINT (it dies of the signal; its workers with it)\n\n"
      "Environment:\n"
      "  TMPDIR  where the temporary run folder goes (default /tmp)\n\n"
      "Examples:\n"
      "  pjx-harness bench --quick --json bench.json\n"
      "      every kind of run, small, as CI runs it\n"
      "  pjx-harness bench --kind latency --wake all --workers 1,16,64 --runs 3\n"
      "      delivery latency through the worker protocol, medians of 3 runs\n");

  ChaosFlags chaos_flags;
  CLI::App* chaos = app.add_subcommand(
      "chaos",
      "Seeded random fault schedules over real workers, judged by every check, with a shrunk "
      "reproducer for the first violation");
  add_chaos_flags(chaos, chaos_flags);
  chaos->footer(
      "Exit status:\n"
      "  0  no violation of the reference, and every epoch ran\n"
      "  1  a violation of the reference (failing.toml, and minimal.toml when shrunk)\n"
      "  2  an epoch could not run, a --doublecheck verdict differed, --require-effect and a\n"
      "     fault kind never reached its path, the report could not be written, or bad usage\n\n"
      "Examples:\n"
      "  pjx-harness chaos --seed 7 --duration 60s --dir out/chaos --report out/chaos/report\n"
      "      a minute of random faults; report/index.html shows the fault schedule, which\n"
      "      kinds reached their path, and any violation with its shrunk reproducer\n"
      "  pjx-harness report out/chaos/summary.json -o report/\n"
      "      the same page again, from the run's summary.json\n");

  std::vector<std::string> cleanup_tmpdirs;
  bool cleanup_dry_run = false;
  CLI::App* cleanup = app.add_subcommand(
      "cleanup",
      "Remove what killed runs left: their temporary folders, network namespaces and links "
      "(each run also does it when it starts)");
  cleanup->add_option("--tmpdir", cleanup_tmpdirs,
                      "Folder holding the runs' temporary folders (default: $TMPDIR, else /tmp); "
                      "may be repeated");
  cleanup->add_flag("--dry-run", cleanup_dry_run, "Only list what would be removed");
  cleanup->footer(
      "Exit status:\n"
      "  0  nothing was left, or all of it was removed\n"
      "  2  something could not be removed (the reason is printed)\n\n"
      "Examples:\n"
      "  pjx-harness cleanup --dry-run\n"
      "      list what killed runs left, remove nothing\n"
      "  pjx-harness cleanup --tmpdir /srv/app/tmp\n"
      "      where runs were given TMPDIR=/srv/app/tmp\n");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  if (*cleanup) return cmd_cleanup(cleanup_tmpdirs, cleanup_dry_run);
  if (*conform || *run || *bench || *chaos) prepare_host();
  if (*conform) return cmd_conform(conform_flags, command);
  if (*run) return cmd_run(run_files, run_flags, command);
  if (*analyze) return cmd_analyze(analyze_files, analyze_json, analyze_junit, command);
  if (*probe) return cmd_probe(probe_db, probe_json);
  if (*report) return cmd_report(report_files, report_out);
  if (*bench) return cmd_bench(bench_flags, command);
  if (*chaos) return cmd_chaos(chaos_flags, default_worker_cmd(), default_python_cmd(), random_hex(6),
                                 command);
  return kExitUsage;
}
