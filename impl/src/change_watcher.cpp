#include "change_watcher.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <system_error>

namespace pjx::detail {

namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

std::filesystem::path doorbell_path(const std::filesystem::path& db_file) {
  return std::filesystem::path(db_file.string() + "-notify");
}

void ring_doorbell(const std::filesystem::path& doorbell, const std::filesystem::path& db_file) {
  if (::utimensat(AT_FDCWD, doorbell.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) == 0) return;
  if (const int err = errno; err != ENOENT) throw_errno(err, "touching " + doorbell.string());
  struct stat db {};
  const bool have_db = ::stat(db_file.c_str(), &db) == 0;
  const mode_t mode = have_db ? (db.st_mode & 0666) : 0644;
  const int fd = ::open(doorbell.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    const int err = errno;
    throw_errno(err, "creating " + doorbell.string());
  }
  // As SQLite does for -wal and -shm: the database's permission bits despite
  // the umask, and, when root creates it, the database's owner, so that
  // every worker that may write the database may ring. Best effort: the
  // ring below is what matters to this process.
  if (have_db) {
    static_cast<void>(::fchmod(fd, mode));
    if (::geteuid() == 0 && ::fchown(fd, db.st_uid, db.st_gid) != 0) {
      // Another worker's utimensat may fail; it says so itself.
    }
  }
  ::close(fd);
  if (::utimensat(AT_FDCWD, doorbell.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    throw_errno(err, "touching " + doorbell.string());
  }
}

ChangeWatcher::ChangeWatcher(const std::filesystem::path& db_file)
    : db_name_(db_file.filename().string()),
      wal_name_(db_file.filename().string() + "-wal"),
      doorbell_name_(doorbell_path(db_file).filename().string()) {
  dir_ = db_file.parent_path();
  if (dir_.empty()) dir_ = ".";
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    throw_errno(err, "inotify_init1");
  }
  try {
    watch_writes(true);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

void ChangeWatcher::watch_writes(bool on) {
  // Adding a watch for a directory already watched replaces its mask.
  const std::uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_ATTRIB | (on ? IN_MODIFY | IN_CLOSE_WRITE : 0u);
  if (::inotify_add_watch(fd_, dir_.c_str(), mask) < 0) {
    const int err = errno;
    throw_errno(err, "inotify_add_watch " + dir_.string());
  }
}

ChangeWatcher::~ChangeWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

ChangeWatcher::Events ChangeWatcher::drain() {
  alignas(inotify_event) char buffer[8192];
  Events events;
  while (true) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return events;
      const int err = errno;
      throw_errno(err, "reading inotify events");
    }
    if (n == 0) return events;
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      if (event->mask & IN_Q_OVERFLOW) events.data = true;
      if (event->mask & IN_IGNORED) throw_errno(ENOENT, "the watched directory went away");
      if (event->len > 0) {
        const char* name = event->name;
        if ((event->mask & IN_ATTRIB) != 0) {
          if (doorbell_name_ == name) events.doorbell = true;
        } else if (wal_name_ == name || db_name_ == name) {
          events.data = true;
        }
      }
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
    // A read returns every queued event that fits; with room left for the
    // largest one, the queue was empty (one read per wake, not two).
    if (static_cast<std::size_t>(n) + sizeof(inotify_event) + NAME_MAX + 1 <= sizeof buffer) return events;
  }
}

}  // namespace pjx::detail
