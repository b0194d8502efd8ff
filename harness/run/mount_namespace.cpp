#include "mount_namespace.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace pjx::harness {

namespace {

// Set once by the single-threaded start of the process, read-only after.
bool entered = false;
std::string reason = "the harness did not enter a private mount namespace";

}  // namespace

std::string enter_private_mount_namespace() {
  if (entered) return "";
  if (::unshare(CLONE_NEWNS) != 0) {
    const int err = errno;
    reason = "cannot make a private mount namespace for the run (unshare(CLONE_NEWNS): " +
             std::generic_category().message(err) + "; it needs root or CAP_SYS_ADMIN" +
             (::geteuid() != 0 ? ", and the harness is not running as root)" : ")");
    return reason;
  }
  // In the new namespace, shared mounts still share with the host: make
  // them slaves, so that nothing mounted here propagates back.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    reason = "cannot stop mounts propagating to the host (mount --make-rslave /: " +
             std::generic_category().message(errno) + ")";
    return reason;
  }
  entered = true;
  reason.clear();
  return "";
}

std::string mount_faults_unavailable() { return reason; }

}  // namespace pjx::harness
