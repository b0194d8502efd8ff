// The fault-injecting VFS in a pjx-worker (pjx/fault_vfs.hpp), configured by
// pjx-worker-only environment variables (harness/PROTOCOL.md):
//
//   PJX_WORKER_FAULT        a fault spec, "kind=write,nth=5,error=full,persistent=1"
//                           (the format of pjx::parse_fault_spec)
//   PJX_WORKER_FAULT_ARMED  "1" (default): armed when the worker starts;
//                           "0": armed only when the worker gets SIGUSR1
//
// With PJX_WORKER_FAULT set the worker opens its database through the shim,
// SIGUSR1 (re)arms the fault (nth counted from the signal) and SIGUSR2 clears
// it, so the harness can turn a fault on and off at chosen times (the
// `vfs_fault` nemesis action, scenarios/README.md).
//
// Thread safety: worker_fault_from_env is reentrant; start_fault_signals must
// be called on the main thread before any other thread exists.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "pjx/fault_vfs.hpp"
#include "pjx/settings.hpp"

namespace pjx::harness {

struct WorkerFault {
  FaultSpec spec;
  bool armed_at_start = true;
};

// Reads the two variables; nullopt when PJX_WORKER_FAULT is unset or empty.
// Throws ConfigError naming the variable, the value and the fix.
std::optional<WorkerFault> worker_fault_from_env(const Settings::Getenv& getenv);

// Installs the shim (as "pjx-worker-fault"), points settings.sqlite.vfs at it
// and arms the fault when armed_at_start; returns true. The SQLite defect
// workers (mutant_backend.hpp) open through that VFS too. When the worker
// has no SQLite below it (REDIS_URL, or a Redis defect) it does nothing and
// returns false: the caller says so on stderr and does not list the
// `fault_vfs` cap, so scenarios that need the fault are `skip`, as with any
// other worker that lacks it.
bool install_worker_fault(const WorkerFault& fault, Settings& settings, bool redis_defect);

// PJX_WORKER_POWER_LOG=<path>: the shim records into the power-loss log at
// <path> what every write of the database and its WAL overwrites
// (FaultVfs::record_unsynced), so that the harness can undo what was not
// synced after killing every worker (the `power_loss` nemesis action).
// Installs the shim as install_worker_fault does and returns true; false
// (nothing done) without SQLite below, as there. Throws std::runtime_error
// naming the path when the log cannot be opened.
bool install_power_loss_log(const std::string& log_path, Settings& settings, bool redis_defect);

// Blocks SIGUSR1 and SIGUSR2 in the calling thread (so in every thread it
// creates later) and starts a detached thread that waits for them: SIGUSR1
// arms `fault.spec` anew, SIGUSR2 clears it; each change is reported through
// `report` ("fault armed: ...", "fault cleared").
void start_fault_signals(const WorkerFault& fault, std::function<void(const std::string&)> report);

}  // namespace pjx::harness
