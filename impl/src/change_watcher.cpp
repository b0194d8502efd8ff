#include "change_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace pjx::detail {

ChangeWatcher::ChangeWatcher(const std::filesystem::path& db_file)
    : db_name_(db_file.filename().string()), wal_name_(db_file.filename().string() + "-wal") {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  auto dir = db_file.parent_path();
  if (dir.empty()) dir = ".";
  if (::inotify_add_watch(fd_, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(err, std::generic_category(), "inotify_add_watch " + dir.string());
  }
}

ChangeWatcher::~ChangeWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

bool ChangeWatcher::drain() {
  alignas(inotify_event) char buffer[8192];
  bool changed = false;
  while (true) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return changed;
      throw std::system_error(errno, std::generic_category(), "reading inotify events");
    }
    if (n == 0) return changed;
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      if (event->mask & IN_Q_OVERFLOW) changed = true;
      if (event->mask & IN_IGNORED) {
        throw std::system_error(ENOENT, std::generic_category(), "the watched directory went away");
      }
      if (event->len > 0) {
        const char* name = event->name;
        if (wal_name_ == name || db_name_ == name) changed = true;
      }
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
}

}  // namespace pjx::detail
