// ChangeWatcher: tells the poll thread that another process may have
// committed, so that it polls at once instead of at the next interval.
//
// Linux inotify on the database's directory, filtered to the database file
// and its `-wal` file: in WAL mode every commit writes the -wal file, and a
// directory watch keeps working when the -wal file is checkpointed, reset,
// deleted and recreated. A wake is a hint, never a guarantee: the frames are
// written just before the commit becomes visible to readers, so a wake can
// find nothing new yet (the poller then looks again shortly after), and
// wakes can be lost (the poller keeps its timed poll as the safety net).
//
// Thread safety: one thread uses an instance.
#pragma once

#include <filesystem>
#include <string>

namespace pjx::detail {

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
  // Reads every pending event; true when one concerned the database. Throws
  // std::system_error when the watch broke (the directory was removed, the
  // event queue overflowed is reported as true: assume a change).
  bool drain();

 private:
  int fd_ = -1;
  std::string db_name_;
  std::string wal_name_;
};

}  // namespace pjx::detail
