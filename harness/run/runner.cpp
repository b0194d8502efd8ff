// The runner composes one scenario run from its parts (runner.hpp lists the
// phases): the event loop and history (run_loop.hpp), the workers
// (worker_slots.hpp), the workload (workload_driver.hpp), the nemesis
// (nemesis_driver.hpp), the Redis server (run_redis.hpp) and the result
// assembly (run_record.hpp).
#include "runner.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "command_line.hpp"
#include "db_probe.hpp"
#include "fuse_mount.hpp"
#include "host_lag.hpp"
#include "nemesis.hpp"
#include "nemesis_driver.hpp"
#include "net_hosts.hpp"
#include "progress.hpp"
#include "run_loop.hpp"
#include "run_record.hpp"
#include "run_redis.hpp"
#include "timeline.hpp"
#include "worker_slots.hpp"
#include "workload_driver.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

// Where a scenario runs, made fresh: <dir>/<name>/ (emptied), the history
// folder, and the truth store beside the run directory, not in it (a
// disk_full or readonly_dir fault on the run directory must not reach the
// application's data). Worker stderr files of an earlier run into the same
// folder are removed.
struct RunPaths {
  fs::path run_dir;
  fs::path db;
  fs::path truth;
  fs::path history;

  RunPaths(const Scenario& scenario, const RunOptions& options)
      : run_dir(options.dir / scenario.name),
        db(run_dir / "pjx.db"),
        truth(options.dir / (scenario.name + ".truth.db")),
        history(options.history_dir / (scenario.name + ".history.jsonl")) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(truth.string() + suffix, ec);
    fs::remove_all(run_dir, ec);
    fs::create_directories(run_dir);
    fs::create_directories(options.history_dir);
    for (const auto& entry : fs::directory_iterator(options.history_dir, ec)) {
      const std::string fname = entry.path().filename().string();
      if (fname.rfind(scenario.name + ".", 0) == 0 && entry.path().extension() == ".stderr") {
        fs::remove(entry.path(), ec);
      }
    }
  }
};

bool needs_faketime(const Scenario& scenario) {
  for (const WorkerSpec& w : scenario.workers) {
    if (w.faketime) return true;
  }
  for (const FaultSpec& f : scenario.faults) {
    if (f.action == "clock_step") return true;
  }
  return false;
}

class Runner {
 public:
  Runner(const Scenario& scenario, const RunOptions& options, Timing timing)
      : scenario_(scenario),
        options_(options),
        timing_(std::move(timing)),
        paths_(scenario, options),
        loop_(paths_.history),
        workers_(loop_, options_, scenario_, timing_),
        workload_(loop_, workers_, timing_),
        nemesis_(loop_, workers_, scenario_, timing_, paths_.run_dir, redis_, options_.seed) {}

  ScenarioResult run();

 private:
  void prepare();
  void make_hosts();
  void check_host() const;
  void mount_filesystems();  // [[mount]]: before the files and the workers
  void setup();
  void run_timeline();
  void heal();
  void probe_rows();
  void quiesce();
  void check_probes();
  void probe_redis_clients();
  void probe_sidecars();
  void ask_stats();
  void teardown();
  void record_host_lag();

  const Scenario& scenario_;
  const RunOptions& options_;
  const Timing timing_;
  const bool redis_backend_ = options_.backend == "redis";
  const std::string channel_ = "pjx-test:" + options_.run_id;
  fs::path libfaketime_;
  RunPaths paths_;
  // hosts = true: the network namespaces, removed after every process in
  // them is gone (declared before the workers and the server).
  std::unique_ptr<NetHosts> hosts_;
  // Declared before everything that owns a process: destroyed last.
  RunLoop loop_;
  Workers workers_;
  RunRedis redis_;
  WorkloadDriver workload_;
  NemesisDriver nemesis_;
  std::vector<PlannedAction> plan_;
  std::vector<std::unique_ptr<FuseMount>> fuse_mounts_;  // [[mount]] fs = "fuse", for the run
  // From the workers' start to the check phase: the host's own stalls, which
  // the timing checks subtract (host_lag.hpp).
  HostLagProbe host_lag_;
};

void Runner::mount_filesystems() {
  for (const MountSpec& m : scenario_.mounts) {
    if (const std::string why = FuseMount::unavailable(); !why.empty()) throw Abort{"skip", why};
    const fs::path path = replace_all(m.path, "{dir}", paths_.run_dir.string());
    try {
      fuse_mounts_.push_back(std::make_unique<FuseMount>(
          loop_.io(), path.string() + ".backing", path,
          paths_.run_dir / (path.filename().string() + ".bindfs.log")));
    } catch (const std::exception& e) {
      throw Abort{"error", std::string("[[mount]]: ") + e.what()};
    }
    loop_.note("mounted a FUSE mirror (bindfs) of " + path.string() + ".backing on " + path.string());
  }
}

// Before the meta record: the plan, the worker slots, the Redis server.
void Runner::prepare() {
  if (needs_faketime(scenario_)) libfaketime_ = find_libfaketime();
  workers_.prepare({paths_.run_dir, channel_, paths_.truth, libfaketime_, redis_backend_});
  plan_ = plan_timeline(scenario_, timing_, options_.seed);
  split_command_line(options_.worker_cmd);  // a bad --worker-cmd is an error of the run
  if (redis_backend_) {
    make_hosts();
    redis_.start(scenario_, options_, paths_.run_dir, workers_, hosts_.get());
  }
}

// hosts = true: a network namespace per worker and one for redis-server
// (net_hosts.hpp); `skip` where they cannot be made. Not with --redis-url:
// redis_.start() refuses that.
void Runner::make_hosts() {
  if (!scenario_.hosts || !options_.redis_url.empty()) return;
  if (std::string why = NetHosts::unavailable(); !why.empty()) throw Abort{"skip", why};
  const bool partitions = std::any_of(scenario_.faults.begin(), scenario_.faults.end(),
                                      [](const FaultSpec& f) { return f.action == "partition"; });
  if (std::string why = NetHosts::partitions_unavailable(); partitions && !why.empty()) {
    throw Abort{"skip", why};
  }
  std::vector<std::string> names;
  for (const WorkerSpec& w : scenario_.workers) names.push_back(w.name);
  try {
    hosts_ = std::make_unique<NetHosts>(RunOwner::self(), names, RunRedis::server_hosts(scenario_));
  } catch (const std::exception& e) {
    throw Abort{"skip", std::string("hosts (network namespaces) cannot be made here: ") + e.what()};
  }
  for (const auto& s : workers_.all()) s->network_namespace = hosts_->netns_path(s->name);
  nemesis_.set_hosts(hosts_.get());
}

// What the host must offer for this scenario: else `skip`.
void Runner::check_host() const {
  if (std::any_of(scenario_.workers.begin(), scenario_.workers.end(),
                  [](const WorkerSpec& w) { return w.inotify_instances.has_value(); })) {
    if (std::string why = inotify_limit_unavailable(); !why.empty()) throw Abort{"skip", why};
  }
  if (needs_faketime(scenario_) && libfaketime_.empty()) {
    throw Abort{"skip",
                "clock_step needs libfaketime (Debian: apt-get install libfaketime), "
                "which is not installed under /usr/lib/*/faketime/"};
  }
}

void Runner::setup() {
  loop_.phase("setup");
  std::error_code ec;
  const std::string dir = paths_.run_dir.string();
  for (const FileSpec& f : scenario_.files) {
    const fs::path path = replace_all(f.path, "{dir}", dir);
    fs::create_directories(path.parent_path(), ec);
    if (!f.link.empty()) {
      const fs::path target = replace_all(f.link, "{dir}", dir);
      fs::create_symlink(target, path, ec);
      if (ec) {
        throw Abort{"error", "cannot make the symbolic link " + path.string() + " -> " +
                                 target.string() + ": " + ec.message()};
      }
      continue;
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << f.text;
    if (!out) throw Abort{"error", "cannot write the scenario's file " + path.string()};
  }
  for (const auto& s : workers_.all()) {
    if (!s->faketime_file.empty()) write_faketime_offset(s->faketime_file, 0);
  }
}

// The event loop of the workload: each planned action at its time.
void Runner::run_timeline() {
  loop_.phase("workload");
  const std::int64_t t0 = monotonic_ns();
  const ProgressTicker progress(loop_.io(), options_.progress, t0,
                                plan_.empty() ? 0 : plan_.back().at_ns,
                                [this] { return loop_.history().records().size(); });
  for (const PlannedAction& a : plan_) {
    loop_.pump_until([] { return false; }, t0 + a.at_ns);
    const bool fault = a.kind == PlannedAction::Kind::kFaultBegin ||
                       a.kind == PlannedAction::Kind::kFaultEnd ||
                       a.kind == PlannedAction::Kind::kFaultInstant;
    if (fault) {
      nemesis_.apply(a);
    } else {
      workload_.issue(a);
    }
  }
}

void Runner::heal() {
  loop_.phase("heal");
  nemesis_.end_windows();
  // Every publish and read sent to a live worker gets its answer.
  const std::int64_t deadline =
      monotonic_ns() + static_cast<std::int64_t>(timing_.busy_timeout_ms * 1e6) + 2 * kSecond;
  if (!workers_.publishes_answered(deadline)) {
    loop_.note("some publishes were not answered within busy_timeout + 2 s");
  }
  if (!workers_.reads_answered(deadline)) {
    loop_.note("some reads were not answered within busy_timeout + 2 s");
  }
  nemesis_.end_outages();
  if (!redis_backend_) probe_rows();  // Redis keeps no rows
}

// What is left in the log right after the workload (for the pruning check).
void Runner::probe_rows() {
  const DbInspection db = inspect_db(paths_.db);
  Json value = {{"count", db.total_rows}};
  value["oldest_age_ms"] =
      db.oldest_created_at ? Json((db.inspected_at - *db.oldest_created_at) * 1000) : Json();
  value["newest_age_ms"] =
      db.newest_created_at ? Json((db.inspected_at - *db.newest_created_at) * 1000) : Json();
  loop_.probe("rows", db.error.empty(), value,
              db.error.empty() ? Json::object() : Json{{"error", db.error}});
}

void Runner::quiesce() {
  loop_.phase("quiesce");
  const std::int64_t timeout = scenario_.quiesce_timeout
                                   ? scenario_.quiesce_timeout->resolve_ns(timing_)
                                   : static_cast<std::int64_t>(timing_.poll_ms * 1e6) + 2 * kSecond;
  auto delivered = [&] {
    for (const auto& [id, p] : workers_.publishes()) {
      if (!p.committed) continue;
      for (const auto& s : workers_.all()) {
        if (s->name == p.worker || s->channel != p.channel || !s->alive() || !s->ready ||
            s->spec->expect_fatal || s->ready_t >= p.t_begin) {
          continue;
        }
        if (s->received.count(id) == 0) return false;
      }
    }
    return true;
  };
  if (!loop_.pump_until(delivered, monotonic_ns() + timeout)) {
    loop_.note("quiesce: not every delivery arrived within " + std::to_string(timeout / kMs) +
               " ms");
  }
  // Late, duplicate or misdirected deliveries show up within a poll or two.
  loop_.pump_for(2 * static_cast<std::int64_t>(timing_.poll_ms * 1e6) + 50 * kMs);
}

void Runner::check_probes() {
  loop_.phase("check");
  if (redis_backend_) {
    probe_redis_clients();
  } else {
    probe_sidecars();
  }
  ask_stats();
}

// Who is connected now: each worker should hold pjx-pub-<pid> and pjx-sub-<pid>.
void Runner::probe_redis_clients() {
  try {
    Json names = Json::array();
    for (const pjx::testing::RedisClientInfo& c : redis_.client().client_list()) {
      if (!c.name.empty()) names.push_back(c.name);
    }
    loop_.probe("redis_clients", true, names);
  } catch (const std::exception& e) {
    loop_.probe("redis_clients", false, Json(), {{"error", e.what()}});
  }
}

void Runner::probe_sidecars() {
  const DbInspection db = inspect_db(paths_.db);
  loop_.probe("journal_mode", db.journal_mode == "wal", db.journal_mode,
              db.error.empty() ? Json::object() : Json{{"error", db.error}});
  const bool wal = db.wal_size.has_value();
  const bool shm = db.shm_size.has_value();
  loop_.probe("sidecars", wal && shm, {{"wal", wal}, {"shm", shm}},
              {{"wal_bytes", db.wal_size ? Json(*db.wal_size) : Json()},
               {"shm_bytes", db.shm_size ? Json(*db.shm_size) : Json()}});
}

// Counters, from workers that offer them.
void Runner::ask_stats() {
  std::vector<WorkerSlot*> asked;
  for (const auto& s : workers_.all()) {
    if (s->alive() && s->ready && s->has_cap("stats")) {
      s->stats_answered = false;
      workers_.send(*s, {{"op", "stats"}});
      asked.push_back(s.get());
    }
  }
  loop_.pump_until(
      [&] {
        return std::all_of(asked.begin(), asked.end(),
                           [](const WorkerSlot* s) { return s->stats_answered || !s->alive(); });
      },
      monotonic_ns() + 2 * kSecond);
}

void Runner::teardown() {
  loop_.begin_teardown();
  loop_.phase("teardown");
  nemesis_.release_all();  // nothing may stay stopped, locked or mounted
  for (const auto& s : workers_.all()) {
    if (s->proc && !s->proc->exited() && !s->killed) {
      workers_.send(*s, {{"op", "stop"}});
      s->stop_sent = true;
    }
  }
  const std::int64_t deadline =
      monotonic_ns() + 5 * kSecond + 2 * static_cast<std::int64_t>(timing_.poll_ms * 1e6);
  loop_.pump_until(
      [&] {
        return std::all_of(workers_.all().begin(), workers_.all().end(),
                           [](const auto& s) { return !s->proc || s->proc->exited(); });
      },
      deadline);
  for (const auto& s : workers_.all()) {
    if (s->proc && !s->proc->exited()) {
      loop_.note(s->name + " did not exit after `stop`; killing it");
      workers_.kill(*s);
    }
  }
  for (const auto& s : workers_.all()) workers_.wait_gone(*s, monotonic_ns() + kExitDeadline);
  workers_.mark_torn_down();
  if (redis_backend_) {
    redis_.stop();
    return;
  }
  const std::string integrity = integrity_check(paths_.db);
  loop_.probe("integrity", integrity == "ok", integrity);
}

// One `host_lag` record per stall the probe saw, written when it stops (so
// after the records of the time they cover; HISTORY.md).
void Runner::record_host_lag() {
  for (const HostLagWindow& w : host_lag_.stop()) {
    loop_.record({{"type", "host_lag"}, {"t", w.from}, {"t_end", w.to}, {"ms", w.ms()}});
  }
}

ScenarioResult Runner::run() {
  const auto started = std::chrono::steady_clock::now();
  ScenarioResult result = new_result(scenario_, options_, timing_);
  result.history = loop_.history().path();
  std::optional<Abort> abort;
  try {
    prepare();
  } catch (const Abort& a) {
    abort = a;
  } catch (const std::exception& e) {
    abort = Abort{"error", e.what()};
  }
  loop_.record(meta_record({scenario_, options_, timing_, workers_, plan_, channel_, paths_.db,
                            paths_.truth, redis_backend_ ? &redis_ : nullptr}));
  if (hosts_) loop_.note("hosts: " + hosts_->describe());
  try {
    if (abort) throw *abort;
    check_host();
    nemesis_.mount_small_fs_if_needed();
    mount_filesystems();
    setup();
    host_lag_.start();
    workers_.start_initial();
    run_timeline();
    heal();
    quiesce();
    if (scenario_.reads) {
      loop_.phase("read_back");
      workload_.read_back(plan_);
    }
    check_probes();
  } catch (const Abort& a) {
    abort = a;
  } catch (const std::exception& e) {
    abort = Abort{"error", e.what()};
  }
  record_host_lag();
  if (abort) loop_.record({{"type", abort->kind}, {"reason", abort->reason}});
  try {
    teardown();
  } catch (const std::exception& e) {
    loop_.record({{"type", "error"}, {"reason", std::string("teardown: ") + e.what()}});
  }
  for (auto& m : fuse_mounts_) {  // after the teardown: a worker may have had a file there
    if (const std::string err = m->undo(); !err.empty()) loop_.note(err);
  }
  fuse_mounts_.clear();
  nemesis_.unmount_small_fs();
  if (hosts_) {  // after the teardown: no process is left in them
    nemesis_.set_hosts(nullptr);
    if (const std::string err = hosts_->remove(); !err.empty()) {
      loop_.note("cannot remove the hosts' network namespaces: " + err);
    }
    hosts_.reset();
  }
  loop_.stop_catching_signals();
  result.interrupted = loop_.interrupted();
  result.interrupt_signal = loop_.interrupt_signal();
  finish_result(result, loop_.history().records(), started);
  return result;
}

}  // namespace

ScenarioResult run_scenario(const Scenario& scenario, const RunOptions& options) {
  Timing timing = Timing::quick();
  if (options.timing) {
    timing = Timing::named(*options.timing).value_or(Timing::quick());
  } else if (scenario.timing) {
    timing = Timing::named(*scenario.timing).value_or(Timing::quick());
  }
  const Scenario variant = scenario.for_backend(options.backend);
  Runner runner(variant, options, timing);
  return runner.run();
}

}  // namespace pjx::harness
