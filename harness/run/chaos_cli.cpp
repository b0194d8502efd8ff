#include "chaos_cli.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "chaos.hpp"
#include "command_line.hpp"
#include "duration.hpp"
#include "leftovers.hpp"
#include "pjx/reports/report.hpp"
#include "results.hpp"

namespace pjx::harness {
namespace fs = std::filesystem;
namespace {

constexpr int kExitUsage = 2;

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (const char c : text + ",") {
    if (c == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return out;
}

}  // namespace

void add_chaos_flags(CLI::App* app, ChaosFlags& f) {
  app->add_option("--seed", f.seed, "Seed of the plans: the same seed draws the same plans (default 1)");
  app->add_option("--duration", f.duration, "Workload time in all, e.g. 2m, 30m (default 2m)");
  app->add_option("--epoch", f.epoch,
                  "Workload time of one plan (default 20s); each plan runs with fresh workers "
                  "and a fresh database and is judged when it ends");
  app->add_option("--workers", f.workers, "Workers per plan (default 4, at least 2)")
      ->check(CLI::Range(2, 32));
  app->add_option("--faults", f.faults,
                  "Fault kinds, comma-separated (default: every kind of the backend): pause, kill, "
                  "kill-during-publish, lock, clock-step, io, disk-full, replace, delete, restore, "
                  "readonly, power-loss (planned only when every worker is cpp)");
  app->add_option("--mix", f.mix,
                  "Implementations sharing the file, e.g. cpp=3,python=1 (default: cpp for every "
                  "worker); python is the upstream emulation, judged by what upstream documents");
  app->add_option("--backend", f.backend, "sqlite (default) or redis")
      ->check(CLI::IsMember({"sqlite", "redis"}));
  app->add_option("--timing", f.timing, "quick (default) or documented")
      ->check(CLI::IsMember({"quick", "documented"}));
  app->add_option("--worker-cmd", f.worker_cmd,
                  "The implementation under test, the `cpp` of --mix (default: the pjx-worker "
                  "beside pjx-harness)");
  app->add_option("--python-cmd", f.python_cmd,
                  "The `python` of --mix (default: python3 and the upstream emulation of the "
                  "source tree or the installed package)");
  app->add_option("--dir", f.dir,
                  "Output folder: plans/, histories/, summary.json, failing.toml, minimal.toml "
                  "(default: a new temporary folder, kept)");
  app->add_option("--report", f.report,
                  "Render the run's page (index.html: fault schedule, effects per kind, "
                  "violations and the shrunk reproducer; summary.md, junit.xml) into this "
                  "folder from summary.json when the run ends")
      ->type_name("DIR");
  app->add_flag("--doublecheck", f.doublecheck, "Run every plan twice and report a verdict that differs");
  app->add_flag("--require-effect", f.require_effect,
                "Exit 2 when a fault kind never reached the code path it targets");
  app->add_flag("--keep-going", f.keep_going, "Go on after a violation (and do not shrink)");
  app->add_option("--shrink-budget", f.shrink_budget,
                  "Time for shrinking the first failing plan (default 5m; 0: no shrinking)");
  app->add_option("--shrink-runs", f.shrink_runs,
                  "Runs of each shrinking candidate; it still fails when any run fails (default 2)")
      ->check(CLI::Range(1, 20));
  app->add_flag("-q,--quiet", f.quiet, "No progress lines");
}

int cmd_chaos(const ChaosFlags& f, const std::string& default_worker_cmd,
              const std::string& default_python_cmd, const std::string& run_id,
              const std::string& command) {
  ChaosOptions o;
  o.command = command;
  try {
    o.duration_s = parse_seconds(f.duration);
    o.config.epoch_s = parse_seconds(f.epoch);
    o.shrink_budget_s = parse_seconds(f.shrink_budget);
  } catch (const std::invalid_argument& e) {
    std::cerr << "pjx-harness chaos: " << e.what() << "\n";
    return kExitUsage;
  }
  if (o.config.epoch_s < 2) {
    std::cerr << "pjx-harness chaos: --epoch " << f.epoch << " is too short: at least 2s\n";
    return kExitUsage;
  }
  o.config.seed = f.seed;
  o.config.workers = f.workers;
  o.config.backend = f.backend;
  o.timing = *Timing::named(f.timing);
  const std::vector<std::string> possible = chaos_fault_kinds_for(f.backend);
  o.config.faults = f.faults.empty() ? possible : split_commas(f.faults);
  for (const std::string& k : o.config.faults) {
    if (std::find(possible.begin(), possible.end(), k) == possible.end()) {
      std::string list;
      for (const std::string& p : possible) list += (list.empty() ? "" : ", ") + p;
      std::cerr << "pjx-harness chaos: fault kind \"" << k << "\" does not exist for the " << f.backend
                << " backend (known: " << list << ")\n";
      return kExitUsage;
    }
  }
  const std::string cpp_cmd = f.worker_cmd.empty() ? default_worker_cmd : f.worker_cmd;
  const std::string python_cmd = f.python_cmd.empty() ? default_python_cmd : f.python_cmd;
  int total = 0;
  for (const std::string& part : split_commas(f.mix.empty() ? "cpp=" + std::to_string(f.workers) : f.mix)) {
    const std::size_t eq = part.find('=');
    ChaosConfig::Impl impl;
    impl.name = part.substr(0, eq);
    try {
      impl.count = eq == std::string::npos ? -1 : std::stoi(part.substr(eq + 1));
    } catch (const std::exception&) {
      impl.count = -1;
    }
    if (impl.count < 0 || (impl.name != "cpp" && impl.name != "python")) {
      std::cerr << "pjx-harness chaos: --mix part \"" << part
                << "\" must be cpp=N or python=N, e.g. --mix cpp=3,python=1\n";
      return kExitUsage;
    }
    impl.cmd = impl.name == "cpp" ? cpp_cmd : python_cmd;
    if (impl.cmd.empty()) {
      std::cerr << "pjx-harness chaos: --mix python needs the upstream emulation, which was not "
                   "found: give --python-cmd 'python3 PATH/upstream_worker.py'\n";
      return kExitUsage;
    }
    total += impl.count;
    if (impl.count > 0) o.config.mix.push_back(impl);
  }
  if (total != f.workers) {
    std::cerr << "pjx-harness chaos: --mix \"" << f.mix << "\" gives " << total << " workers, but --workers is "
              << f.workers << ": make them agree\n";
    return kExitUsage;
  }

  try {
    o.out = f.dir.empty() ? make_run_folder(temp_root(), "harness", /*keep=*/true) : fs::path(f.dir);
    fs::create_directories(o.out);
  } catch (const std::exception& e) {
    std::cerr << "pjx-harness chaos: cannot create the output folder: " << e.what() << "\n";
    return kExitUsage;
  }
  o.run.worker_cmd = cpp_cmd;
  o.run.worker_cmd_is_default = f.worker_cmd.empty();
  o.run.timing = f.timing;
  o.run.seed = f.seed;
  o.run.dir = o.out / "runs";
  o.run.history_dir = o.out / "histories";
  o.run.run_id = run_id;
  o.run.harness_version = kHarnessVersion;
  o.run.backend = f.backend;
  o.doublecheck = f.doublecheck;
  o.require_effect = f.require_effect;
  o.keep_going = f.keep_going;
  o.shrink_runs = f.shrink_runs;
  if (!f.quiet) {
    std::cerr << "pjx-harness chaos: seed " << f.seed << ", " << f.duration << " of workload in epochs of "
              << f.epoch << ", " << f.workers << " workers, output in " << o.out.string() << "\n";
  }
  int code = kExitUsage;
  try {
    code = run_chaos(o, std::cout, f.quiet ? nullptr : &std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "pjx-harness chaos: " << e.what() << "\n";
    return kExitUsage;
  }
  if (!f.report.empty()) {
    try {
      pjx::reports::write_report({o.out / "summary.json"}, f.report);
      if (!f.quiet) std::cout << "report: " << (fs::path(f.report) / "index.html").string() << "\n";
    } catch (const std::exception& e) {
      std::cerr << "pjx-harness chaos: report: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  return code;
}

}  // namespace pjx::harness
