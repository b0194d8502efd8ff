#include "nemesis_driver.hpp"

#include <chrono>
#include <csignal>
#include <stdexcept>
#include <utility>

namespace pjx::harness {

namespace fs = std::filesystem;
using Kind = PlannedAction::Kind;

NemesisDriver::NemesisDriver(RunLoop& loop, Workers& workers, const Scenario& scenario,
                             const Timing& timing, const fs::path& run_dir, RunRedis& redis,
                             std::uint64_t seed)
    : loop_(loop),
      workers_(workers),
      scenario_(scenario),
      timing_(timing),
      run_dir_(run_dir),
      db_(run_dir / "pjx.db"),
      redis_(redis),
      seed_(seed) {}

const std::map<std::string, NemesisDriver::Handler>& NemesisDriver::handlers() {
  static const std::map<std::string, Handler> kHandlers = {
      {"pause", &NemesisDriver::pause},
      {"kill", &NemesisDriver::kill},
      {"stop", &NemesisDriver::stop},
      {"restart", &NemesisDriver::restart},
      {"clock_step", &NemesisDriver::clock_step},
      {"vfs_fault", &NemesisDriver::vfs_fault},
      {"redis_restart", &NemesisDriver::redis_restart},
      {"client_kill", &NemesisDriver::client_kill},
      {"redis_pause", &NemesisDriver::redis_pause},
      {"partition", &NemesisDriver::partition},
      {"redis_failover", &NemesisDriver::redis_failover},
      {"lock", &NemesisDriver::lock},
      {"delete_db", &NemesisDriver::delete_db},
      {"snapshot_db", &NemesisDriver::copy_db},
      {"restore_db", &NemesisDriver::copy_db},
      {"replace_db", &NemesisDriver::replace_db},
      {"readonly_dir", &NemesisDriver::readonly_dir},
      {"disk_full", &NemesisDriver::disk_full},
      {"power_loss", &NemesisDriver::power_loss},
  };
  return kHandlers;
}

void NemesisDriver::apply(const PlannedAction& a) {
  const FaultSpec& f = scenario_.faults.at(a.fault);
  const auto it = handlers().find(f.action);
  if (it == handlers().end()) throw std::logic_error("no nemesis for the fault " + f.action);
  Json params = Json::object();
  if (f.duration) params["duration_ms"] = f.duration->resolve_ms(timing_);
  (this->*(it->second))(a, f, params);
}

void NemesisDriver::record_fault(const FaultSpec& f, const char* phase, Json params) {
  Json rec = {
      {"type", "fault"}, {"action", f.action}, {"phase", phase}, {"params", std::move(params)}};
  if (!f.worker.empty()) rec["worker"] = f.worker;
  loop_.record(std::move(rec));
}

// ---------------------------------------------------------------- processes

void NemesisDriver::pause(const PlannedAction& a, const FaultSpec& f, Json& params) {
  WorkerSlot& s = workers_.slot(f.worker);
  if (a.kind == Kind::kFaultBegin) {
    if (!s.alive()) {
      loop_.note("pause of " + s.name + " not applied: it is not running");
      return;
    }
    record_fault(f, "begin", params);
    s.proc->signal(SIGSTOP);
    s.paused = true;
    paused_[a.fault] = s.name;
    return;
  }
  if (paused_.erase(a.fault) == 0) return;
  if (s.proc) s.proc->signal(SIGCONT);
  s.paused = false;
  record_fault(f, "end", params);
}

void NemesisDriver::kill(const PlannedAction& a, const FaultSpec& f, Json& params) {
  WorkerSlot& s = workers_.slot(f.worker);
  if (!s.alive()) {
    loop_.note("kill of " + s.name + " not applied: it is not running");
    return;
  }
  if (f.during_publish && s.ready) {
    workers_.track_publish(a.publish_id, s);
    params["publish_id"] = a.publish_id;
    // The op is written into the pipe, then the worker dies at once: the
    // publish may or may not have committed.
    workers_.send(s, {{"op", "publish"}, {"id", a.publish_id}, {"keys", a.keys}});
  }
  params["during_publish"] = f.during_publish;
  record_fault(f, "instant", params);
  workers_.kill(s);
  workers_.wait_gone(s, monotonic_ns() + kExitDeadline);
}

// A clean stop in the middle of the run (a deploy rolling one worker): the
// worker gets `stop`, finishes what it queued and exits. Later publishes go
// to the others; its exit is expected.
void NemesisDriver::stop(const PlannedAction& /*a*/, const FaultSpec& f, Json& params) {
  WorkerSlot& s = workers_.slot(f.worker);
  if (!s.alive() || s.stop_sent) {
    loop_.note("stop of " + s.name + " not applied: it is not running");
    return;
  }
  if (s.paused && s.proc) {
    s.proc->signal(SIGCONT);
    s.paused = false;
  }
  record_fault(f, "instant", params);
  workers_.send(s, {{"op", "stop"}});
  s.stop_sent = true;
}

// A kill that is part of another fault: recorded with its reason (so that
// it is not counted as a fault of its own), then SIGKILL.
void NemesisDriver::kill_for(WorkerSlot& s, const std::string& reason) {
  loop_.record({{"type", "fault"},
                {"action", "kill"},
                {"worker", s.name},
                {"phase", "instant"},
                {"params", {{"reason", reason}}}});
  workers_.kill(s);
}

void NemesisDriver::restart(const PlannedAction& /*a*/, const FaultSpec& f, Json& params) {
  WorkerSlot& s = workers_.slot(f.worker);
  if (s.alive()) {
    kill_for(s, "restart of a running worker");
    workers_.wait_gone(s, monotonic_ns() + kExitDeadline);
  }
  record_fault(f, "instant", params);
  workers_.spawn_and_start(s);
}

void NemesisDriver::clock_step(const PlannedAction& /*a*/, const FaultSpec& f, Json& params) {
  WorkerSlot& s = workers_.slot(f.worker);
  params["offset_s"] = f.offset_s;
  params["offset"] = f.offset;
  record_fault(f, "instant", params);
  write_faketime_offset(s.faketime_file, f.offset_s);
}

void NemesisDriver::vfs_fault(const PlannedAction& a, const FaultSpec& f, Json& params) {
  WorkerSlot& s = workers_.slot(f.worker);
  const auto spec = s.spec->env.find("PJX_WORKER_FAULT");
  params["spec"] = spec != s.spec->env.end() ? spec->second : "";
  if (a.kind == Kind::kFaultBegin) {
    // Only a ready worker has its signal handling in place (pjx-worker
    // starts it before `ready`): SIGUSR1 would kill one still starting, as
    // after a restart or a power loss just before the window.
    if (!s.alive() || !s.ready) {
      loop_.note("vfs_fault on " + s.name + " not applied: it is " +
                 (s.alive() ? "still starting" : "not running"));
      return;
    }
    record_fault(f, "begin", params);
    s.proc->signal(SIGUSR1);  // pjx-worker arms its PJX_WORKER_FAULT (worker_fault.hpp)
    vfs_faults_[a.fault] = ArmedFault{s.name, s.proc->pid()};
    return;
  }
  const auto armed = vfs_faults_.find(a.fault);
  if (armed == vfs_faults_.end()) return;
  clear_vfs_fault(armed->second);
  vfs_faults_.erase(armed);
  record_fault(f, "end", params);
}

void NemesisDriver::clear_vfs_fault(const ArmedFault& armed) {
  WorkerSlot& s = workers_.slot(armed.worker);
  // Another incarnation (restarted inside the window) was never armed, and
  // may not handle the signal yet: SIGUSR2's default action would kill it.
  if (s.alive() && s.proc->pid() == armed.pid) s.proc->signal(SIGUSR2);  // clears it
}

// ---------------------------------------------------------------- Redis

void NemesisDriver::redis_restart(const PlannedAction& a, const FaultSpec& f, Json& params) {
  pjx::testing::RedisServer* server = redis_.server();
  if (server == nullptr) throw Abort{"skip", "redis_restart needs the harness's own redis-server"};
  try {
    if (a.kind == Kind::kFaultInstant) {
      record_fault(f, "instant", params);
      server->kill();  // a crash: every connection drops at once
      server->start();
      loop_.note("redis-server restarted (pid " + std::to_string(server->pid()) + ")");
    } else if (a.kind == Kind::kFaultBegin) {
      record_fault(f, "begin", params);
      server->kill();  // the outage: every connection drops, publishes fail
      outages_[a.fault] = true;
    } else {
      if (outages_.erase(a.fault) == 0) return;
      server->start();
      params["pid"] = server->pid();
      record_fault(f, "end", params);
    }
  } catch (const pjx::testing::RedisError& e) {
    throw Abort{"error", std::string("redis_restart fault: ") + e.what()};
  }
}

void NemesisDriver::client_kill(const PlannedAction& /*a*/, const FaultSpec& f, Json& params) {
  WorkerSlot& s = workers_.slot(f.worker);
  if (!s.alive()) {
    loop_.note("client_kill of " + s.name + " not applied: it is not running");
    return;
  }
  const std::string name = "pjx-sub-" + std::to_string(s.proc->pid());
  params["client_name"] = name;
  // Recorded once the kill is done: a publish that begins later can no
  // longer reach the old connection.
  try {
    params["killed"] = redis_.client().kill_clients_named(name);
  } catch (const pjx::testing::RedisError& e) {
    throw Abort{"error", std::string("client_kill fault: ") + e.what()};
  }
  record_fault(f, "instant", params);
}

// A silent server: SIGSTOP keeps every connection open and answers nothing,
// as a partition without RST or a peer whose host hangs would. Only the
// listener's health check (PING) can tell; TCP keepalive would take minutes.
void NemesisDriver::redis_pause(const PlannedAction& a, const FaultSpec& f, Json& params) {
  pjx::testing::RedisServer* server = redis_.server();
  if (server == nullptr) throw Abort{"skip", "redis_pause needs the harness's own redis-server"};
  if (a.kind == Kind::kFaultBegin) {
    server->pause();
    params["pid"] = server->pid();
    outages_[a.fault] = true;
    record_fault(f, "begin", params);
  } else if (a.kind == Kind::kFaultEnd) {
    if (outages_.erase(a.fault) == 0) return;
    // Recorded first: a publish acknowledged once the server answers again
    // must come after the window's end.
    record_fault(f, "end", params);
    server->resume();
  }
}

// A partition cuts hosts apart with nftables drop rules in each cut host's
// namespace (net_hosts.hpp, invariant 4): packets vanish, nobody is told,
// as when a switch or a middlebox fails. The links stay up. The harness's
// own command connection to redis-server is its unix socket, a file that no
// network namespace or rule stands in the way of, so the CLIENT KILL of
// abort_server_side always reaches the server, while the FIN or RST the
// server then sends the worker is dropped by the partition: the worker's
// connection is dead on the server's side and alive on its own, the case
// only a health check (or TCP keepalive, minutes later) can find.
//
// `begin` is recorded once the rules are in place (and the abort done), so
// that nothing recorded after it crossed the cut; `end` once they are gone.
void NemesisDriver::partition(const PlannedAction& a, const FaultSpec& f, Json& params) {
  if (hosts_ == nullptr) {
    throw Abort{"error", "partition fault without hosts: the scenario needs hosts = true"};
  }
  params["hosts"] = f.hosts;
  params["direction"] = f.direction;
  const std::string table = "pjx_partition_" + std::to_string(a.fault);
  if (a.kind == Kind::kFaultBegin) {
    const NetHosts::Direction d = f.direction == "in"    ? NetHosts::Direction::kIn
                                  : f.direction == "out" ? NetHosts::Direction::kOut
                                                         : NetHosts::Direction::kBoth;
    try {
      hosts_->partition(table, f.hosts, d);
    } catch (const std::exception& e) {
      throw Abort{"error", std::string("partition fault: ") + e.what()};
    }
    partitions_[a.fault] = true;
    if (f.abort_server_side) {
      Json aborted = Json::array();
      for (const std::string& h : f.hosts) {
        WorkerSlot& s = workers_.slot(h);
        if (!s.alive()) {
          loop_.note("abort_server_side for " + s.name + " not applied: it is not running");
          continue;
        }
        const std::string name = "pjx-sub-" + std::to_string(s.proc->pid());
        try {
          aborted.push_back({{"worker", s.name},
                             {"client_name", name},
                             {"killed", redis_.client().kill_clients_named(name)}});
        } catch (const pjx::testing::RedisError& e) {
          throw Abort{"error", std::string("partition fault, abort_server_side: ") + e.what()};
        }
      }
      params["aborted"] = std::move(aborted);
    }
    params["abort_server_side"] = f.abort_server_side;
    record_fault(f, "begin", params);
    return;
  }
  if (partitions_.erase(a.fault) == 0) return;
  if (const std::string err = hosts_->heal(table, f.hosts); !err.empty()) {
    throw Abort{"error", "partition fault, heal: " + err};
  }
  record_fault(f, "end", params);
}

void NemesisDriver::end_partitions() {
  for (const auto& [index, open] : std::map<std::size_t, bool>(partitions_)) {
    PlannedAction end;
    end.kind = Kind::kFaultEnd;
    end.fault = index;
    apply(end);
  }
}

// A failover (RunRedis's Sentinel setup): the primary is killed (SIGKILL:
// its host stays up, so every connection to it is reset at once) and the
// sentinels elect a leader that promotes the replica. The window runs from
// the kill to the first sweep of the sentinels (every kSweep, over their
// unix sockets) that finds one naming the replica; its end record carries
//   killed_t       when the primary was dead (reaped), after `begin`;
//   switch_ms      killed_t -> that sweep's start;
//   unswitched_t   the start of the last sweep in which every sentinel
//                  answered and none named the replica. No sentinel named
//                  it before then, and the old one was dead: a publish
//                  begun after the kill and answered before unswitched_t
//                  cannot have reached a primary (check reconnect).
// `duration` is how long the sentinels are given: a window still open then
// is an error of the run (an election that failed on a loaded machine),
// with the sentinels' logs.
void NemesisDriver::redis_failover(const PlannedAction& a, const FaultSpec& f, Json& params) {
  pjx::testing::RedisServer* primary = redis_.server();
  if (primary == nullptr || redis_.replica() == nullptr) {
    throw Abort{"error", "redis_failover needs the harness's Sentinel setup (RunRedis)"};
  }
  if (a.kind == Kind::kFaultBegin) {
    if (failed_over_ || failover_) {
      throw Abort{"error", "a second redis_failover: the replica was promoted already and no "
                           "replica is left; give the scenario one redis_failover"};
    }
    const std::string old_primary = redis_.primary_address();
    for (pjx::testing::RedisSentinel* s : redis_.sentinels()) {
      std::string named;
      try {
        named = s->primary_address();
      } catch (const pjx::testing::RedisError& e) {
        named = e.what();
      }
      if (named != old_primary) {
        throw Abort{"error", "before redis_failover, sentinel " + s->address() + " names " +
                                 named + ", not the primary " + old_primary +
                                 ": a failover of its own came first (down-after-milliseconds " +
                                 std::to_string(RunRedis::kDownAfter.count()) +
                                 " ms too short for this machine's load?)"};
      }
    }
    params["old_primary"] = old_primary;
    params["new_primary"] = redis_.replica_address();
    params["pid"] = primary->pid();
    params["down_after_ms"] = RunRedis::kDownAfter.count();
    // Recorded first: the workers notice the reset at once, and their flush
    // must come after the window's begin.
    record_fault(f, "begin", params);
    primary->kill();
    const std::int64_t now = monotonic_ns();  // it is dead (reaped) now
    failover_ = Failover{a.fault, now, now, 0};
    failover_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io());
    watch_failover();
    return;
  }
  if (!failover_ || failover_->fault != a.fault) return;  // ended by watch_failover()
  std::string logs;
  for (pjx::testing::RedisSentinel* s : redis_.sentinels()) {
    std::string log = s->log();
    if (log.size() > 1500) log = "..." + log.substr(log.size() - 1500);
    logs += "\nsentinel " + s->address() + ":\n" + log;
  }
  throw Abort{"error", "redis_failover: no sentinel named the replica " +
                           redis_.replica_address() + " within " +
                           std::to_string(static_cast<long long>(params.value("duration_ms", 0.0))) +
                           " ms of the primary's kill (" + std::to_string(failover_->sweeps) +
                           " sweeps): no failover; the end of their logs:" + logs};
}

void NemesisDriver::watch_failover() {
  constexpr auto kSweep = std::chrono::milliseconds(50);
  if (!failover_) return;
  const std::int64_t sweep_t = monotonic_ns();
  ++failover_->sweeps;
  const std::string replica = redis_.replica_address();
  std::string switched_by;
  bool all_answered = true;
  for (pjx::testing::RedisSentinel* s : redis_.sentinels()) {
    try {
      if (s->primary_address() == replica) {
        switched_by = s->address();
        break;
      }
    } catch (const pjx::testing::RedisError&) {
      // Not an answer: it may name the replica to a worker meanwhile, so
      // this sweep proves nothing about unswitched_t; the window's limit
      // decides whether the switch comes at all.
      all_answered = false;
    }
  }
  if (switched_by.empty()) {
    if (all_answered) failover_->unswitched_t = sweep_t;
    failover_timer_->expires_after(kSweep);
    failover_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec) watch_failover();
    });
    return;
  }
  const FaultSpec& f = scenario_.faults.at(failover_->fault);
  Json params = Json::object();
  if (f.duration) params["duration_ms"] = f.duration->resolve_ms(timing_);
  params["old_primary"] = redis_.primary_address();
  params["new_primary"] = replica;
  params["switched_by"] = switched_by;
  params["switch_ms"] = static_cast<double>(sweep_t - failover_->killed_t) / 1e6;
  params["unswitched_t"] = failover_->unswitched_t;
  params["killed_t"] = failover_->killed_t;
  params["sweeps"] = failover_->sweeps;
  redis_.set_promoted();
  failover_.reset();
  failed_over_ = true;
  record_fault(f, "end", params);
}

// ---------------------------------------------------------------- heal, teardown

void NemesisDriver::end_windows() {
  for (const auto& [index, name] : std::map<std::size_t, std::string>(paused_)) {
    PlannedAction end;
    end.kind = Kind::kFaultEnd;
    end.fault = index;
    end.candidates = {name};
    apply(end);
  }
  for (const auto& s : workers_.all()) {
    if (s->paused && s->proc) s->proc->signal(SIGCONT);
    s->paused = false;
  }
  for (const auto& [index, lock] : locks_) {
    lock->release();
    loop_.record(
        {{"type", "fault"}, {"action", "lock"}, {"phase", "end"}, {"params", Json::object()}});
  }
  locks_.clear();
  for (const auto& [index, bind] : readonly_) {
    const std::string err = bind->undo();
    if (!err.empty()) loop_.note(err);
    loop_.record({{"type", "fault"},
                  {"action", "readonly_dir"},
                  {"phase", "end"},
                  {"params", Json::object()}});
  }
  readonly_.clear();
  end_storage_faults();
  end_partitions();
}

void NemesisDriver::end_outages() {
  for (const auto& [index, open] : std::map<std::size_t, bool>(outages_)) {
    PlannedAction end;
    end.kind = Kind::kFaultEnd;
    end.fault = index;
    apply(end);
  }
}

void NemesisDriver::release_all() {
  for (const auto& s : workers_.all()) {
    if (s->proc && !s->proc->exited()) s->proc->signal(SIGCONT);
    s->paused = false;
  }
  for (auto& [index, lock] : locks_) lock->release();
  locks_.clear();
  for (auto& [index, bind] : readonly_) bind->undo();
  readonly_.clear();
  end_storage_faults();  // workers may need the space to stop cleanly
  if (hosts_ != nullptr) {  // workers may need Redis to stop cleanly
    for (const auto& [index, open] : partitions_) {
      const FaultSpec& f = scenario_.faults.at(index);
      hosts_->heal("pjx_partition_" + std::to_string(index), f.hosts);
    }
  }
  partitions_.clear();
  if (failover_timer_) failover_timer_->cancel();
  failover_.reset();
  if (pjx::testing::RedisServer* server = redis_.server(); server != nullptr && !outages_.empty()) {
    server->resume();  // a redis_pause window still open: the server must answer its stop
  }
}

}  // namespace pjx::harness
