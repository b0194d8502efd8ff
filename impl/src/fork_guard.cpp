#include "fork_guard.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "pjx/errors.hpp"

namespace pjx::detail {
namespace {

// Forks of this process's ancestors since the library was loaded, counted in
// each child (fork() copies the count, then the child handler adds one).
std::atomic<std::uint64_t> g_forks{0};

void count_fork_in_child() { g_forks.fetch_add(1, std::memory_order_relaxed); }

std::uint64_t forks_so_far() {
  static std::once_flag registered;
  std::call_once(registered, [] { ::pthread_atfork(nullptr, nullptr, &count_fork_in_child); });
  return g_forks.load(std::memory_order_relaxed);
}

}  // namespace

ForkGuard::ForkGuard() : pid_(::getpid()), forks_(forks_so_far()) {}

bool ForkGuard::forked() const noexcept {
  return g_forks.load(std::memory_order_relaxed) != forks_;
}

void ForkGuard::check(const std::string& what) const {
  if (!forked()) return;
  throw BackendError(
      what + " was created in process " + std::to_string(pid_) + " and is used in process " +
          std::to_string(::getpid()) +
          " after fork(): forked workers would share its instance_id (and each ignore the "
          "others' invalidations as its own) and the parent's database connections and threads. "
          "Create the backend and its LoadCache after the fork, in each worker: with gunicorn "
          "--preload, build them in the post_fork hook instead of at import time",
      0);
}

}  // namespace pjx::detail
