// Test helper shared by the leftovers tests: the owner of a run that died.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "leftovers.hpp"

namespace pjx::harness::testing {

// A process that existed and is gone: forked, killed, reaped. Its pid and
// start time name no live process.
inline RunOwner dead_owner() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  RunOwner owner;
  owner.pid = pid;
  owner.start_ticks = live_process_start(pid).value_or(0);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return owner;
}

}  // namespace pjx::harness::testing
