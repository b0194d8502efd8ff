// Workers::start_initial(): the start phase of a run (worker_slots.hpp).
#include <algorithm>

#include "worker_slots.hpp"

namespace pjx::harness {

void Workers::start_initial() {
  std::vector<WorkerSlot*> starting;
  for (auto& s : slots_) {
    if (s->spec->start_at) continue;
    spawn(*s);
    starting.push_back(s.get());
  }
  start_rejected(starting);
  start_one_by_one(starting);
  require_ready(starting);
  require_caps(starting);
}

// Workers that must be rejected all at once: each must answer by itself
// (`fatal` and exit) or show that it accepted (`ready`, or an error).
void Workers::start_rejected(const std::vector<WorkerSlot*>& starting) {
  std::vector<WorkerSlot*> rejected;
  for (WorkerSlot* s : starting) {
    if (!s->spec->expect_fatal) continue;
    s->start_sent = true;
    send(*s, {{"op", "start"}});
    rejected.push_back(s);
  }
  loop_.pump_until(
      [&] {
        return std::all_of(rejected.begin(), rejected.end(), [](const WorkerSlot* s) {
          return s->ready || s->proc->exited() || (!s->start_error.empty() && !s->fatal);
        });
      },
      monotonic_ns() + kStartDeadline);
}

// The others one at a time, each answered before the next: every cursor is
// seeded before the workload, in file order, and a fresh database is
// created by one worker rather than by several racing.
void Workers::start_one_by_one(const std::vector<WorkerSlot*>& starting) {
  for (WorkerSlot* s : starting) {
    if (s->spec->expect_fatal) continue;
    s->start_sent = true;
    send(*s, {{"op", "start"}});
    loop_.pump_until(
        [s] { return s->ready || s->fatal || !s->start_error.empty() || s->proc->exited(); },
        monotonic_ns() + kStartDeadline);
  }
}

void Workers::require_ready(const std::vector<WorkerSlot*>& starting) const {
  for (WorkerSlot* s : starting) {
    if (s->spec->expect_fatal) {
      if (!s->ready && !s->proc->exited() && s->start_error.empty()) {
        loop_.note(s->name + " neither became ready nor exited within 15 s");
      }
      continue;
    }
    if (s->ready) continue;
    std::string why;
    if (s->fatal) {
      why = "rejected its configuration: " + s->fatal_message;
    } else if (!s->start_error.empty()) {
      why = "answered `start` with an error: " + s->start_error;
    } else if (s->proc->exited()) {
      why = "exited (" + describe_status(s->proc->status()) + ") before it was ready";
    } else {
      why = "did not answer `start` with `ready` within 15 s";
    }
    throw Abort{"error", "worker " + s->name + " " + why + " (its stderr is in " +
                             stderr_file(*s).string() + ")"};
  }
}

void Workers::require_caps(const std::vector<WorkerSlot*>& starting) const {
  for (WorkerSlot* s : starting) {
    if (!s->ready) continue;
    for (const std::string& cap : scenario_.requires_caps) {
      if (s->has_cap(cap)) continue;
      std::string caps;
      for (const std::string& c : s->caps) caps += (caps.empty() ? "" : ", ") + c;
      throw Abort{"skip", "worker " + s->name + " lacks the capability \"" + cap +
                              "\" this scenario requires (its ready.caps: [" + caps + "])"};
    }
  }
}

}  // namespace pjx::harness
