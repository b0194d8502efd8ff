// ChangeWatcher: tells the poll thread that another process may have
// committed, so that it polls at once instead of at the next interval.
//
// Linux inotify on the database's directory (one instance per listener:
// max_user_instances is 128 by default), two kinds of event:
//
// * data: the database file or its `-wal` file changed (IN_MODIFY, created,
//   moved in). Every commit in WAL mode writes the -wal file, from any
//   publisher, upstream ones included; a directory watch keeps working when
//   the -wal file is checkpointed, reset, deleted and recreated. But the
//   frames are written just before the commit becomes visible to readers, so
//   a data wake often finds nothing new yet.
// * doorbell: the `<db>-notify` file's timestamps changed (IN_ATTRIB). Our
//   publishers ring it (ring_doorbell) after COMMIT returns, so a doorbell
//   wake finds the commit. Upstream publishers do not ring it; data events
//   cover them, except while the listener hears only doorbells (see Listen
//   in wake_scheduler.hpp).
//
// A wake is a hint, never a guarantee: wakes can be lost, so the poller keeps
// its timed poll as the safety net.
//
// Thread safety: one thread uses an instance; ring_doorbell() is free and
// thread-safe.
#pragma once

#include <filesystem>
#include <string>

namespace pjx::detail {

// "<db>-notify", the file whose timestamps our publishers touch after each
// commit.
std::filesystem::path doorbell_path(const std::filesystem::path& db_file);

// Touches the doorbell file (utimensat, not following a symlink), creating it
// first if needed with the permission bits of `db_file` (as SQLite does for
// its -wal and -shm files). Throws std::system_error when that fails
// (read-only directory, permissions). About a microsecond.
void ring_doorbell(const std::filesystem::path& doorbell, const std::filesystem::path& db_file);

class ChangeWatcher {
 public:
  // Throws std::system_error when inotify cannot be used (no instances or
  // watches left: /proc/sys/fs/inotify/max_user_*).
  explicit ChangeWatcher(const std::filesystem::path& db_file);
  ~ChangeWatcher();
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // Readable when events are pending.
  int fd() const noexcept { return fd_; }

  struct Events {
    bool data = false;      // the database or its -wal file changed (or the queue overflowed)
    bool doorbell = false;  // a publisher rang after its commit
  };
  // Reads every pending event. Throws std::system_error when the watch broke
  // (the directory was removed).
  Events drain();

  // Whether -wal and database writes raise events (on at construction). Off,
  // only the doorbell and file creations do: a commit then wakes nobody
  // until its publisher rings. Throws std::system_error when the watch
  // cannot be changed.
  void watch_writes(bool on);

 private:
  int fd_ = -1;
  std::filesystem::path dir_;
  std::string db_name_;
  std::string wal_name_;
  std::string doorbell_name_;
};

}  // namespace pjx::detail
