// The plans of `pjx-harness chaos`: a workload and a fault schedule drawn
// from a seed, as ordinary scenarios.
//
// A chaos run is a series of epochs; epoch i's plan comes from (seed, i)
// alone, so the same seed gives the same plans (the processes will not
// replay exactly: the plan, not the run, is what a seed reproduces). Each
// plan is a Scenario, run by the same runner and judged by the same checks
// as the conformance suite, written into the run's folder as a scenario file
// so that `pjx-harness run` replays it and a person can read and edit it.
//
// Fault kinds (ChaosConfig::faults), each drawn at random times with random
// lengths, below and above the retention, overlapping one another:
//   pause                SIGSTOP/SIGCONT of one worker, 0.2-0.9 or 1.2-3 x retention
//   kill                 SIGKILL of one worker, restarted 2-12 polls later
//   kill-during-publish  the same, with a publish written just before the kill
//   lock                 the write lock held for 1.2-2.5 x the busy timeout
//   clock-step           one worker's wall clock stepped (+1 h or -30 s) and back
//   io                   write errors below SQLite in one pjx-worker (vfs_fault)
//   disk-full            the run directory's filesystem filled for 5-15 polls
//   replace              the file replaced (sometimes with its -wal and -shm)
//   delete               the file deleted with its -wal and -shm
//   restore              a snapshot taken early restored in place later
//   readonly             the run directory made read-only for 3-10 polls
// Restarts never fall inside a readonly or disk-full window (a worker
// started there is refused, which is the readonly-dir scenario's business).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "duration.hpp"
#include "scenario.hpp"

namespace pjx::harness {

struct ChaosConfig {
  std::uint64_t seed = 1;
  double epoch_s = 20;  // length of one plan's workload
  int workers = 4;
  std::vector<std::string> faults;  // kinds, from chaos_fault_kinds()
  // Implementations and how many workers run each, in order: the first
  // `count` workers run the first one's command, and so on.
  struct Impl {
    std::string name;  // "cpp", "python", ...
    std::string cmd;   // its worker command line
    int count = 0;
  };
  std::vector<Impl> mix;
  std::string backend = "sqlite";
};

// Every fault kind, in the order above.
const std::vector<std::string>& chaos_fault_kinds();
// The kinds that exist for a backend ("redis": pause, kill,
// kill-during-publish).
std::vector<std::string> chaos_fault_kinds_for(const std::string& backend);

// The plan of epoch `epoch` (0-based). Its name is
// "chaos-<seed>-<epoch>"; worker i runs the implementation the mix gives
// it (its `cmd`). REQUIRES: config.workers >= 2, the mix's counts sum to
// config.workers.
Scenario plan_chaos_epoch(const ChaosConfig& config, int epoch, const Timing& timing);

// The implementation name of each worker of a plan, by worker name.
std::vector<std::pair<std::string, std::string>> chaos_worker_impls(const ChaosConfig& config);

}  // namespace pjx::harness
