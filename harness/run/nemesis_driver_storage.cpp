// NemesisDriver's faults on the database and the run directory
// (nemesis_driver.hpp): lock, delete_db, snapshot_db, restore_db,
// replace_db, readonly_dir, disk_full, power_loss.
#include "nemesis_driver.hpp"

#include <csignal>
#include <system_error>
#include <vector>

#include "db_probe.hpp"
#include "pjx/fault_vfs.hpp"

namespace pjx::harness {

namespace fs = std::filesystem;
using Kind = PlannedAction::Kind;

namespace {
// A worker stopped (pause) in the middle of a commit holds the write lock
// until it is continued: wait that long for it.
constexpr int kLockAcquireMs = 10000;
}  // namespace

void NemesisDriver::mount_small_fs_if_needed() {
  bool disk_full = false;
  for (const FaultSpec& f : scenario_.faults) disk_full = disk_full || f.action == "disk_full";
  if (!disk_full) return;
  try {
    small_fs_ = std::make_unique<SizeLimitedFs>(run_dir_, kDiskFullFsBytes);
  } catch (const std::exception& e) {
    throw Abort{"error", std::string("disk_full: ") + e.what()};
  }
  loop_.note("mounted a " + std::to_string(kDiskFullFsBytes >> 20) + " MiB tmpfs on " +
             run_dir_.string() + " for disk_full");
}

void NemesisDriver::unmount_small_fs() {
  if (!small_fs_) return;
  if (const std::string err = small_fs_->undo(); !err.empty()) loop_.note(err);
  small_fs_.reset();
}

void NemesisDriver::lock(const PlannedAction& a, const FaultSpec& f, Json& params) {
  if (a.kind == Kind::kFaultBegin) {
    params["busy_timeout_ms"] = timing_.busy_timeout_ms;
    try {
      auto lock = std::make_unique<DbWriteLock>(db_, kLockAcquireMs);
      record_fault(f, "begin", params);
      locks_[a.fault] = std::move(lock);
    } catch (const std::exception& e) {
      throw Abort{"error", std::string("lock fault: ") + e.what()};
    }
    return;
  }
  auto it = locks_.find(a.fault);
  if (it == locks_.end()) return;
  it->second->release();
  locks_.erase(it);
  record_fault(f, "end", params);
}

void NemesisDriver::delete_db(const PlannedAction& /*a*/, const FaultSpec& f, Json& params) {
  params["sidecars"] = f.sidecars;
  params["detail"] = harness::delete_db(db_, f.sidecars);
  forget_power_log();
  record_fault(f, "instant", params);
}

// After the harness swapped or rewrote the files, what the power-loss log
// says they held before describes files that are gone: a later power loss
// must not write it back. The log is emptied in place (workers append to it
// through descriptors they keep), which only makes that loss milder: the
// unsynced writes before this moment are treated as synced.
void NemesisDriver::forget_power_log() {
  const fs::path log = power_log_path(run_dir_);
  std::error_code ec;
  if (fs::exists(log, ec)) fs::resize_file(log, 0, ec);
  if (ec) loop_.note("cannot empty the power-loss log: " + ec.message());
}

void NemesisDriver::copy_db(const PlannedAction& /*a*/, const FaultSpec& f, Json& params) {
  const fs::path snapshot = run_dir_ / "pjx.snapshot.db";
  try {
    params["detail"] =
        f.action == "snapshot_db" ? snapshot_db(db_, snapshot) : restore_db(db_, snapshot);
    if (f.action == "restore_db") forget_power_log();
  } catch (const std::exception& e) {
    throw Abort{"error", f.action + " fault: " + e.what()};
  }
  record_fault(f, "instant", params);
}

void NemesisDriver::replace_db(const PlannedAction& /*a*/, const FaultSpec& f, Json& params) {
  try {
    params["sidecars"] = f.sidecars;
    params["detail"] = harness::replace_db(db_, f.sidecars);
    forget_power_log();
  } catch (const std::exception& e) {
    throw Abort{"error", std::string("replace_db fault: ") + e.what()};
  }
  record_fault(f, "instant", params);
}

void NemesisDriver::readonly_dir(const PlannedAction& a, const FaultSpec& f, Json& params) {
  if (a.kind == Kind::kFaultBegin) {
    try {
      auto bind = std::make_unique<ReadonlyBind>(run_dir_);
      params["dir"] = run_dir_.string();
      record_fault(f, "begin", params);
      readonly_[a.fault] = std::move(bind);
    } catch (const std::exception& e) {
      throw Abort{"skip", std::string("readonly_dir needs a read-only bind mount: ") + e.what()};
    }
    return;
  }
  auto it = readonly_.find(a.fault);
  if (it == readonly_.end()) return;
  const std::string err = it->second->undo();
  readonly_.erase(it);
  if (!err.empty()) loop_.note(err);
  record_fault(f, "end", params);
}

void NemesisDriver::disk_full(const PlannedAction& a, const FaultSpec& f, Json& params) {
  if (a.kind == Kind::kFaultBegin) {
    const fs::path filler = run_dir_ / ("disk-full-" + std::to_string(a.fault) + ".filler");
    FillResult filled;
    try {
      filled = fill_filesystem(filler);
    } catch (const std::exception& e) {
      throw Abort{"error", std::string("disk_full fault: ") + e.what()};
    }
    fillers_[a.fault] = filler;
    params["dir"] = run_dir_.string();
    params["fs_bytes"] = kDiskFullFsBytes;
    params["filler_bytes"] = filled.written;
    params["free_bytes_before"] = filled.free_before;
    params["free_bytes_after"] = filled.free_after;
    record_fault(f, "begin", params);
    return;
  }
  auto it = fillers_.find(a.fault);
  if (it == fillers_.end()) return;
  std::error_code ec;
  fs::remove(it->second, ec);
  fillers_.erase(it);
  if (ec) loop_.note("cannot remove the disk_full filler: " + ec.message());
  try {
    params["free_bytes"] = free_bytes(run_dir_);
  } catch (const std::exception& e) {
    loop_.note(e.what());
  }
  record_fault(f, "end", params);
}

// A power loss: every worker process dies at once (SIGKILL, paused ones
// too), the disk keeps only what was synced (FaultVfs's power-loss log,
// which every worker records into, is rolled back), the file is checked,
// and every worker that was running starts again, as after a reboot.
// Workers of other implementations cannot record what they write: the
// scenario requires the `power_loss` cap of every worker.
void NemesisDriver::power_loss(const PlannedAction& a, const FaultSpec& f, Json& params) {
  std::vector<WorkerSlot*> down;
  for (const auto& slot : workers_.all()) {
    WorkerSlot& s = *slot;
    if (!s.proc || s.proc->exited()) continue;
    kill_for(s, "power loss");
    down.push_back(&s);
  }
  for (WorkerSlot* s : down) workers_.wait_gone(*s, monotonic_ns() + kExitDeadline);
  const fs::path log = power_log_path(run_dir_);
  params["workers_killed"] = down.size();
  try {
    if (fs::exists(log)) {
      // The disk keeps a seeded share of the unsynced writes: the same run
      // seed and fault give the same choice over the same log.
      const PowerLossModel model{f.keep, seed_ * 1000003 + a.fault + 1};
      const UnsyncedRollback r = roll_back_unsynced(log.string(), model);
      params["keep"] = f.keep;
      params["changes_kept"] = r.changes_kept;
      params["log_records"] = r.records;
      params["files"] = r.files;
      params["changes_undone"] = r.changes_undone;
      params["bytes_undone"] = r.bytes_undone;
      params["last_sync_t"] = r.last_sync_ns;
      params["notes"] = r.notes;
      fs::remove(log);  // consumed: the next power loss starts from this state
    } else {
      params["log_records"] = 0;
    }
  } catch (const std::exception& e) {
    throw Abort{"error", std::string("power_loss fault: ") + e.what()};
  }
  record_fault(f, "instant", params);
  const std::string integrity = integrity_check(db_);
  loop_.probe("integrity", integrity == "ok", integrity, {{"after", "power_loss"}});
  for (WorkerSlot* s : down) workers_.spawn_and_start(*s);
}

void NemesisDriver::end_storage_faults() {
  for (const auto& [index, filler] : fillers_) {
    std::error_code ec;
    fs::remove(filler, ec);
    loop_.record(
        {{"type", "fault"}, {"action", "disk_full"}, {"phase", "end"}, {"params", Json::object()}});
  }
  fillers_.clear();
  for (const auto& [index, armed] : vfs_faults_) {
    clear_vfs_fault(armed);
    loop_.record({{"type", "fault"},
                  {"action", "vfs_fault"},
                  {"worker", armed.worker},
                  {"phase", "end"},
                  {"params", Json::object()}});
  }
  vfs_faults_.clear();
}

}  // namespace pjx::harness
