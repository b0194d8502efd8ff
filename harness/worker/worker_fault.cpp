// The fault VFS in a pjx-worker: see worker_fault.hpp.
#include "worker_fault.hpp"

#include <pthread.h>
#include <signal.h>

#include <stdexcept>
#include <thread>
#include <utility>

#include "pjx/errors.hpp"

namespace pjx::harness {
namespace {

constexpr const char* kVfsName = "pjx-worker-fault";

}  // namespace

std::optional<WorkerFault> worker_fault_from_env(const Settings::Getenv& getenv) {
  const std::optional<std::string> text = getenv("PJX_WORKER_FAULT");
  if (!text || text->empty()) return std::nullopt;
  WorkerFault fault;
  try {
    fault.spec = parse_fault_spec(*text);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("PJX_WORKER_FAULT: ") + e.what());
  }
  if (const auto armed = getenv("PJX_WORKER_FAULT_ARMED"); armed && !armed->empty()) {
    if (*armed != "0" && *armed != "1") {
      throw ConfigError("PJX_WORKER_FAULT_ARMED \"" + *armed +
                        "\" is not 0 or 1; 1 (the default) arms the fault at start, 0 waits for SIGUSR1");
    }
    fault.armed_at_start = *armed == "1";
  }
  return fault;
}

bool install_worker_fault(const WorkerFault& fault, Settings& settings, bool redis_defect) {
  if (settings.backend != BackendKind::kSqlite || redis_defect) return false;
  FaultVfs& vfs = FaultVfs::install(kVfsName);
  settings.sqlite.vfs = vfs.name();
  if (fault.armed_at_start) vfs.arm(fault.spec);
  return true;
}

bool install_power_loss_log(const std::string& log_path, Settings& settings, bool redis_defect) {
  if (settings.backend != BackendKind::kSqlite || redis_defect) return false;
  FaultVfs& vfs = FaultVfs::install(kVfsName);
  vfs.record_unsynced(log_path);
  settings.sqlite.vfs = vfs.name();
  return true;
}

void start_fault_signals(const WorkerFault& fault, std::function<void(const std::string&)> report) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    throw std::runtime_error("pthread_sigmask failed; the fault cannot be switched by signals");
  }
  FaultVfs& vfs = FaultVfs::install(kVfsName);
  std::thread([set, spec = fault.spec, &vfs, tell = std::move(report)] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGUSR1) {
        vfs.arm(spec);
        tell("fault armed: " + to_string(spec));
      } else if (sig == SIGUSR2) {
        vfs.clear();
        tell("fault cleared (" + std::to_string(vfs.faults_injected()) + " injected since start)");
      }
    }
  }).detach();
}

}  // namespace pjx::harness
