#include "workload_driver.hpp"

#include <algorithm>
#include <stdexcept>

namespace pjx::harness {

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

WorkloadDriver::WorkloadDriver(RunLoop& loop, Workers& workers, const Timing& timing)
    : loop_(loop), workers_(workers), timing_(timing) {}

void WorkloadDriver::issue(const PlannedAction& a) {
  using Kind = PlannedAction::Kind;
  switch (a.kind) {
    case Kind::kPublish:
      publish(a);
      return;
    case Kind::kRead:
      read(a);
      return;
    case Kind::kWrite:
      write(a);
      return;
    case Kind::kBurst:
      burst(a);
      return;
    case Kind::kStartWorker: {
      WorkerSlot& s = workers_.slot(a.worker());
      if (s.proc && !s.proc->exited()) {  // a restart fault started it already
        loop_.note("late start of " + s.name + " not applied: it already runs");
        return;
      }
      workers_.spawn_and_start(s);
      return;
    }
    default:
      throw std::logic_error("WorkloadDriver::issue: a fault action");
  }
}

void WorkloadDriver::publish(const PlannedAction& a) {
  WorkerSlot* publisher = nullptr;
  for (const std::string& name : a.candidates) {
    WorkerSlot& s = workers_.slot(name);
    if (s.can_publish()) {
      publisher = &s;
      break;
    }
  }
  if (publisher == nullptr) {
    loop_.note("publish " + std::to_string(a.publish_id) + " not sent: none of " +
               join_names(a.candidates) + " could publish (not ready, paused, killed or stopped)");
    return;
  }
  workers_.track_publish(a.publish_id, *publisher);
  workers_.send(*publisher, {{"op", "publish"}, {"id", a.publish_id}, {"keys", a.keys}});
  if (!a.await) return;
  const std::int64_t id = a.publish_id;
  WorkerSlot* p = publisher;
  auto& publishes = workers_.publishes();
  if (!loop_.pump_until([&] { return publishes[id].answered || !p->alive(); },
                        monotonic_ns() + static_cast<std::int64_t>(timing_.busy_timeout_ms * 1e6) +
                            2 * kSecond)) {
    loop_.note("publish " + std::to_string(id) + " was not answered in time; the timeline goes on");
  }
}

WorkerSlot* WorkloadDriver::reader_for(const PlannedAction& a, const char* what) {
  for (const std::string& name : a.candidates) {
    WorkerSlot& s = workers_.slot(name);
    if (s.can_read()) return &s;
  }
  loop_.note(std::string(what) + " " + std::to_string(a.publish_id) + " not sent: none of " +
             join_names(a.candidates) +
             " could take it (not ready, paused, killed, stopped, or no \"reads\" capability)");
  return nullptr;
}

void WorkloadDriver::read(const PlannedAction& a) {
  WorkerSlot* s = reader_for(a, "read");
  if (s == nullptr) return;
  workers_.track_read(a.publish_id, *s);
  Json op = {{"op", "read"}, {"id", a.publish_id}, {"key", a.key}};
  if (a.slow_ms > 0) op["slow_ms"] = a.slow_ms;
  workers_.send(*s, std::move(op));
}

void WorkloadDriver::write(const PlannedAction& a) {
  WorkerSlot* s = reader_for(a, "write");
  if (s == nullptr) return;
  workers_.track_publish(a.publish_id, *s);
  workers_.send(*s, {{"op", "write"}, {"id", a.publish_id}, {"key", a.key}, {"keys", a.keys}});
}

void WorkloadDriver::burst(const PlannedAction& a) {
  WorkerSlot* s = nullptr;
  for (const std::string& name : a.candidates) {
    WorkerSlot& c = workers_.slot(name);
    if (c.can_publish() && c.has_cap("burst")) {
      s = &c;
      break;
    }
  }
  if (s == nullptr) {
    loop_.note("burst " + std::to_string(a.publish_id) +
               " not sent: no worker able to publish has the \"burst\" capability");
    return;
  }
  Json list = Json::array();
  for (const PlannedAction::BurstPublish& b : a.burst) {
    workers_.track_publish(b.id, *s);
    list.push_back({{"id", b.id}, {"keys", b.keys}});
  }
  workers_.send(*s, {{"op", "burst"}, {"id", a.publish_id}, {"publishes", std::move(list)}});
}

void WorkloadDriver::read_back(const std::vector<PlannedAction>& plan) {
  std::set<std::string> keys;
  std::int64_t id = 0;  // above every planned one
  for (const PlannedAction& a : plan) {
    id = std::max(id, a.publish_id);
    for (const PlannedAction::BurstPublish& b : a.burst) id = std::max(id, b.id);
    if (a.kind == PlannedAction::Kind::kRead || a.kind == PlannedAction::Kind::kWrite) {
      keys.insert(a.key);
    }
  }
  for (const auto& s : workers_.all()) {
    if (!s->can_read()) continue;
    for (const std::string& key : keys) {
      workers_.track_read(++id, *s);
      workers_.send(*s, {{"op", "read"}, {"id", id}, {"key", key}});
    }
  }
  if (!workers_.reads_answered(monotonic_ns() + 5 * kSecond)) {
    loop_.note("read_back: some reads were not answered within 5 s");
  }
}

}  // namespace pjx::harness
