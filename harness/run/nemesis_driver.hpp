// NemesisDriver: applies a run's faults at their planned times and keeps
// every fault window open until its end, the heal phase or the teardown.
//
// The fault actions themselves are in nemesis.hpp (database lock, file
// operations, mounts, filler files) and Subprocess::signal (SIGSTOP,
// SIGCONT, SIGKILL, SIGUSR1/2); this class decides which to call for a
// planned action and records a `fault` record for it (phase begin, end or
// instant, with its params), after the action took effect where a later
// event must be able to rely on it.
//
// Windows (by fault index): pause, lock, readonly_dir, disk_full, vfs_fault,
// partition, the redis_restart outage, the redis_pause (SIGSTOP) of the
// server, and redis_failover (from the primary's kill to the first sentinel
// seen naming the replica). A window whose
// begin could not be applied (its worker was not running) has no end either.
//
// Thread safety: none; the RunLoop's thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "nemesis.hpp"
#include "net_hosts.hpp"
#include "run_loop.hpp"
#include "run_redis.hpp"
#include "scenario.hpp"
#include "timeline.hpp"
#include "worker_slots.hpp"

namespace pjx::harness {

// The size of the tmpfs a disk_full scenario runs on: room for the database
// and its WAL, small enough to fill in a few milliseconds.
inline constexpr std::uint64_t kDiskFullFsBytes = 8u << 20;

class NemesisDriver {
 public:
  // `seed`: the run's, for the faults that draw (power_loss's `keep`).
  NemesisDriver(RunLoop& loop, Workers& workers, const Scenario& scenario, const Timing& timing,
                const std::filesystem::path& run_dir, RunRedis& redis, std::uint64_t seed);

  // A scenario with a disk_full fault runs on a size-limited filesystem
  // mounted on the run directory for the whole run (before its files are
  // written). Does nothing for other scenarios. Throws Abort.
  void mount_small_fs_if_needed();
  // After the teardown's integrity check (the database lives on it).
  void unmount_small_fs();

  // The run's hosts (hosts = true), for partition faults; null: none.
  void set_hosts(NetHosts* hosts) { hosts_ = hosts; }

  // Applies a kFaultBegin, kFaultEnd or kFaultInstant action. Throws Abort
  // when a fault cannot be applied ("skip" when the host lacks what it
  // needs).
  void apply(const PlannedAction& a);

  // Heal: ends every window still open except Redis outages, each with its
  // `end` record: paused workers continued, locks released, binds undone,
  // fillers removed, VFS faults cleared.
  void end_windows();
  // Heal, once the publishes are answered: restarts a server whose outage
  // window is still open.
  void end_outages();
  // Teardown: nothing may stay stopped, locked or mounted (the small
  // filesystem stays until unmount_small_fs()).
  void release_all();

 private:
  using Handler = void (NemesisDriver::*)(const PlannedAction&, const FaultSpec&, Json&);
  static const std::map<std::string, Handler>& handlers();

  void record_fault(const FaultSpec& f, const char* phase, Json params);
  void kill_for(WorkerSlot& s, const std::string& reason);
  void pause(const PlannedAction& a, const FaultSpec& f, Json& params);
  void kill(const PlannedAction& a, const FaultSpec& f, Json& params);
  void stop(const PlannedAction& a, const FaultSpec& f, Json& params);
  void restart(const PlannedAction& a, const FaultSpec& f, Json& params);
  void clock_step(const PlannedAction& a, const FaultSpec& f, Json& params);
  void vfs_fault(const PlannedAction& a, const FaultSpec& f, Json& params);
  void redis_restart(const PlannedAction& a, const FaultSpec& f, Json& params);
  void client_kill(const PlannedAction& a, const FaultSpec& f, Json& params);
  void redis_pause(const PlannedAction& a, const FaultSpec& f, Json& params);
  void partition(const PlannedAction& a, const FaultSpec& f, Json& params);
  void end_partitions();
  void redis_failover(const PlannedAction& a, const FaultSpec& f, Json& params);
  // One sweep of the sentinels during a failover window; records its end
  // once one names the replica, else schedules the next sweep.
  void watch_failover();
  // nemesis_driver_storage.cpp
  void lock(const PlannedAction& a, const FaultSpec& f, Json& params);
  void delete_db(const PlannedAction& a, const FaultSpec& f, Json& params);
  void copy_db(const PlannedAction& a, const FaultSpec& f, Json& params);  // snapshot, restore
  void replace_db(const PlannedAction& a, const FaultSpec& f, Json& params);
  void readonly_dir(const PlannedAction& a, const FaultSpec& f, Json& params);
  void disk_full(const PlannedAction& a, const FaultSpec& f, Json& params);
  void power_loss(const PlannedAction& a, const FaultSpec& f, Json& params);
  void forget_power_log();
  void end_storage_faults();

  RunLoop& loop_;
  Workers& workers_;
  const Scenario& scenario_;
  const Timing& timing_;
  std::filesystem::path run_dir_;
  std::filesystem::path db_;
  RunRedis& redis_;
  std::uint64_t seed_;
  std::map<std::size_t, std::string> paused_;  // fault index -> worker
  std::map<std::size_t, std::unique_ptr<DbWriteLock>> locks_;
  std::map<std::size_t, std::unique_ptr<ReadonlyBind>> readonly_;
  // disk_full: the run directory's size-limited filesystem, and the filler
  // file of each open window.
  std::unique_ptr<SizeLimitedFs> small_fs_;
  std::map<std::size_t, std::filesystem::path> fillers_;
  // vfs_fault windows open: the worker and the incarnation that was armed.
  // A worker restarted inside the window starts disarmed
  // (PJX_WORKER_FAULT_ARMED=0), so only the armed one is sent SIGUSR2.
  struct ArmedFault {
    std::string worker;
    int pid = -1;
  };
  std::map<std::size_t, ArmedFault> vfs_faults_;  // fault index -> armed incarnation
  void clear_vfs_fault(const ArmedFault& armed);   // SIGUSR2, to that incarnation only
  std::map<std::size_t, bool> outages_;            // redis_restart and redis_pause windows open
  NetHosts* hosts_ = nullptr;
  std::map<std::size_t, bool> partitions_;  // partition windows open
  // The open redis_failover window: its fault, when the primary was killed
  // and when the last sweep that found every sentinel naming the old
  // primary began.
  struct Failover {
    std::size_t fault = 0;
    std::int64_t killed_t = 0;
    std::int64_t unswitched_t = 0;
    std::size_t sweeps = 0;
  };
  std::optional<Failover> failover_;
  bool failed_over_ = false;
  std::unique_ptr<boost::asio::steady_timer> failover_timer_;
};

}  // namespace pjx::harness
