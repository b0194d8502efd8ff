// Timeline: the workload and the nemesis of a scenario, planned before the
// run as one list of timed actions. Planning is a pure function of the
// scenario, the timing and the seed, so a seed reproduces the same publishes
// (ids, keys, chosen publishers) and the same fault times.
//
// Publishes carry the unique key "e:<id>" plus `shared_keys` random keys
// ("user:17", "order:3", ...) so that deliveries map back to publishes and
// key sets overlap like a real application's. Ids are 1, 2, ... in time
// order, shared by publishes, reads, writes and the publishes of a burst.
// The `[reads]` ops (choices of op, key and worker) come from a second
// seeded stream, so adding them leaves the publishes' keys as they were.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "duration.hpp"
#include "scenario.hpp"

namespace pjx::harness {

// A small deterministic random generator (SplitMix64): the same numbers on
// every platform and standard library, unlike std::uniform_int_distribution.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [0, n). REQUIRES: n > 0.
  std::uint64_t below(std::uint64_t n);

 private:
  std::uint64_t state_;
};

struct PlannedAction {
  enum class Kind {
    kPublish,       // send a publish op
    kStartWorker,   // spawn a worker with start_at and send it `start`
    kFaultBegin,    // begin a fault window (pause, lock, readonly_dir)
    kFaultEnd,      // end it
    kFaultInstant,  // kill, restart, clock_step, delete_db, replace_db
    kRead,          // send a read op ([reads]; protocol v2)
    kWrite,         // send a write op
    kBurst,         // send a burst op: several publishes from threads at once
  };
  Kind kind = Kind::kPublish;
  std::int64_t at_ns = 0;  // after the start of the workload
  // kPublish: the publisher, in order of preference (the seeded choice
  // first); the runner sends it to the first one able to publish then.
  // Other kinds: the target worker (if any) in candidates[0].
  std::vector<std::string> candidates;
  std::int64_t publish_id = 0;    // kPublish, and a kill with during_publish
  std::vector<std::string> keys;  // sorted; includes "e:<publish_id>"
  bool await = false;             // kPublish: wait for its answer
  // kPublish of a [workload] step sent `together`: 0 for the step's first
  // publish (the seeded choice), k for the one from the k-th publisher after
  // it, so that the step's publishes come from different workers.
  int together_rank = 0;
  std::size_t fault = 0;          // index into Scenario::faults
  // kRead, kWrite: the truth-store key; a write's `keys` are {key, e:<id>}.
  std::string key;
  double slow_ms = 0;  // kRead: the loader's pause
  // kBurst: each publish's id and keys (which include "e:<id>").
  struct BurstPublish {
    std::int64_t id = 0;
    std::vector<std::string> keys;
  };
  std::vector<BurstPublish> burst;

  const std::string& worker() const;  // candidates[0], or "" when none
};

// The actions of a scenario in time order (ties keep file order: workload
// publishes, [[publish]] entries, worker starts, faults).
std::vector<PlannedAction> plan_timeline(const Scenario& scenario, const Timing& timing,
                                         std::uint64_t seed);

}  // namespace pjx::harness
