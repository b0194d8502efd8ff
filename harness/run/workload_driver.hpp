// WorkloadDriver: issues a run's workload actions to the workers: the
// publishes, the [reads] ops (read, write, burst), the late worker starts,
// and, after quiesce, the read-back of every key.
//
// Each action goes to the first of its candidate workers able to take it
// then (ready, not paused, not stopped; "reads" or "burst" in its caps where
// the op needs it); when none is, a `note` says so and the action is
// dropped, which the checkers see in the history. Sent ops are tracked in
// Workers until answered.
//
// Thread safety: none; the RunLoop's thread.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "run_loop.hpp"
#include "scenario.hpp"
#include "timeline.hpp"
#include "worker_slots.hpp"

namespace pjx::harness {

class WorkloadDriver {
 public:
  WorkloadDriver(RunLoop& loop, Workers& workers, const Timing& timing);

  // Issues one workload action (kPublish, kRead, kWrite, kBurst,
  // kStartWorker). REQUIRES: a workload kind.
  void issue(const PlannedAction& a);

  // Each worker that reads reads every key of `plan`'s reads and writes
  // back, with ids above every id of the plan; waits up to 5 s for the
  // answers. A cache that kept a stale entry shows it here at the latest.
  void read_back(const std::vector<PlannedAction>& plan);

 private:
  void publish(const PlannedAction& a);
  void read(const PlannedAction& a);
  void write(const PlannedAction& a);
  void burst(const PlannedAction& a);
  // The first of a's candidates that can_read(), else nullptr (noted).
  WorkerSlot* reader_for(const PlannedAction& a, const char* what);

  RunLoop& loop_;
  Workers& workers_;
  const Timing& timing_;
};

// "a, b, c".
std::string join_names(const std::vector<std::string>& names);

}  // namespace pjx::harness
