// The run's private mount namespace. pjx-harness enters one before it
// starts any worker or thread (main.cpp), so that every mount a fault makes
// (the read-only bind of readonly_dir, the tmpfs of disk_full) exists only
// in a namespace that the run's processes share and the host never sees.
// The kernel destroys that namespace, and every mount in it, with the last
// process of the run, however the run ends: a SIGKILLed harness cannot leave
// a mount behind.
//
// Propagation is made recursively slave: mounts and unmounts of the host
// still reach the run (an unmount on the host really frees the device), and
// nothing the run mounts reaches the host.
//
// Thread safety: enter_private_mount_namespace() REQUIRES a single-threaded
// caller (a namespace is per thread: threads started before would stay
// outside); mount_faults_unavailable() may be called from any thread after.
#pragma once

#include <string>

namespace pjx::harness {

// unshare(CLONE_NEWNS), then mount --make-rslave /. Needs CAP_SYS_ADMIN
// (root). Returns "" when the process is now in a private namespace, else
// the reason (also what mount_faults_unavailable() returns from then on).
// Idempotent.
std::string enter_private_mount_namespace();

// "" when this process is in a private mount namespace made by
// enter_private_mount_namespace(), else why mounting faults are refused (the
// nemesis never mounts in the host's namespace: a killed run would leave
// the mount there).
std::string mount_faults_unavailable();

}  // namespace pjx::harness
