// The `pjx-harness chaos` command: its flags and what it does with them
// (chaos.hpp runs it).
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace pjx::harness {

struct ChaosFlags {
  std::uint64_t seed = 1;
  std::string duration = "2m";
  std::string epoch = "20s";
  int workers = 4;
  std::string faults;  // comma-separated kinds; empty: every kind of the backend
  std::string mix;     // "cpp=3,python=1"; empty: cpp for every worker
  std::string backend = "sqlite";
  std::string timing = "quick";
  std::string worker_cmd;  // the reference (cpp) command
  std::string python_cmd;  // the upstream emulation's command
  std::string dir;         // output folder
  std::string report;      // render the run's page into this folder ("": none)
  bool doublecheck = false;
  bool require_effect = false;
  bool keep_going = false;
  std::string shrink_budget = "5m";
  int shrink_runs = 2;
  bool quiet = false;
};

void add_chaos_flags(CLI::App* app, ChaosFlags& flags);

// `default_worker_cmd`: the pjx-worker beside pjx-harness; `default_python_cmd`:
// the upstream emulation's command line, "" when it cannot be found;
// `run_id`: the run's random id (its channels are "pjx-test:<run_id>...").
int cmd_chaos(const ChaosFlags& flags, const std::string& default_worker_cmd,
              const std::string& default_python_cmd, const std::string& run_id,
              const std::string& command);


}  // namespace pjx::harness
