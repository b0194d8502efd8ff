// ForkGuard: notices an object built before fork() being used in a child.
//
// A backend built before fork() (gunicorn --preload builds the app, and so
// the backend or LoadCache, in the master) leaves every child with the same
// instance_id, so sibling workers filter out each other's rows as their own;
// the children also inherit the parent's SQLite connections (whose POSIX
// locks they do not hold) and none of its threads. Such an object must not
// be used in the child, and must not be cleaned up there either: closing an
// inherited SQLite connection can checkpoint or delete the -wal the parent
// is using, and joining a thread that was not copied cannot work. So the
// entry points throw, stop() does nothing, and the destructor leaks.
//
// Thread safety: all methods are thread-safe. forked() costs one relaxed
// atomic load (a pthread_atfork child handler counts forks).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace pjx::detail {

class ForkGuard {
 public:
  ForkGuard();

  // True in a process forked after this guard was made.
  bool forked() const noexcept;

  // Throws BackendError naming `what` (e.g. "SqliteInvalidationBackend for
  // \"/srv/pjx.db\""), the two process ids and the fix, when forked().
  void check(const std::string& what) const;

 private:
  pid_t pid_;
  std::uint64_t forks_;  // the process's fork count when made
};

}  // namespace pjx::detail
