#include "runner.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <unistd.h>

#include "check/history.hpp"
#include "child_process.hpp"
#include "command_line.hpp"
#include "db_probe.hpp"
#include "event_loop.hpp"
#include "fuse_mount.hpp"
#include "nemesis.hpp"
#include "redis_server.hpp"
#include "timeline.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSecond = 1'000 * kMs;
constexpr std::int64_t kStartDeadline = 15 * kSecond;  // spawn to ready
constexpr std::int64_t kExitDeadline = 3 * kSecond;    // kill or fatal to exit
constexpr std::int64_t kWriteDeadline = 2 * kSecond;   // an op into a pipe
// A worker stopped (pause) in the middle of a commit holds the write lock
// until it is continued: wait that long for it.
constexpr int kLockAcquireMs = 10000;
// The size of the tmpfs a disk_full scenario runs on: room for the database
// and its WAL, small enough to fill in a few milliseconds.
constexpr std::uint64_t kDiskFullFsBytes = 8u << 20;

// The scenario cannot go on; `skip` (a facility is missing) or `error`.
struct Abort {
  std::string kind;
  std::string reason;
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  std::size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string defect_of(const std::vector<std::string>& argv) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--defect" && i + 1 < argv.size()) return argv[i + 1];
    if (argv[i].rfind("--defect=", 0) == 0) return argv[i].substr(9);
  }
  return "";
}

// `url` with any password replaced by "***", for histories and messages.
std::string mask_url(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const std::size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string describe_status(int status) {
  if (status < 0) return "killed by signal " + std::to_string(-status);
  return "exit status " + std::to_string(status);
}

class Runner {
 public:
  Runner(const Scenario& scenario, const RunOptions& options, Timing timing)
      : scenario_(scenario), options_(options), timing_(std::move(timing)) {}

  ScenarioResult run();

 private:
  struct Slot {
    const WorkerSpec* spec = nullptr;
    std::string name;
    std::string channel;
    std::string db;
    std::map<std::string, std::string> env;  // what the harness sets (recorded in meta)
    fs::path faketime_file;                  // empty: no libfaketime
    std::unique_ptr<ChildProcess> proc;      // the current incarnation
    std::vector<std::unique_ptr<ChildProcess>> retired;
    int spawns = 0;
    // State of the current incarnation.
    bool start_sent = false;
    bool ready = false;
    std::int64_t ready_t = 0;
    std::vector<std::string> caps;
    bool fatal = false;
    std::string fatal_message;
    std::string start_error;  // `error` answering `start`
    bool paused = false;
    bool killed = false;     // by the nemesis or the teardown
    bool stop_sent = false;
    bool stopped = false;
    bool stats_answered = false;
    std::set<std::int64_t> received;  // publish ids delivered to this incarnation

    bool alive() const { return proc && !proc->exited() && !killed; }
    bool can_publish() const {
      return alive() && ready && !paused && !stop_sent && !spec->expect_fatal;
    }
    // Speaks protocol v2's read and write (ready.caps has "reads").
    bool can_read() const {
      return can_publish() && std::find(caps.begin(), caps.end(), "reads") != caps.end();
    }
  };
  struct ReadState {
    std::string worker;
    const ChildProcess* proc = nullptr;
    bool answered = false;
  };
  struct PublishState {
    std::string worker;
    std::string channel;
    const ChildProcess* proc = nullptr;  // the incarnation it was sent to
    bool answered = false;
    bool committed = false;
    std::int64_t t_begin = 0;
  };

  // History.
  void record(Json r);
  void phase(const std::string& name);
  void note(const std::string& message);
  void probe(const std::string& what, bool ok, Json value, Json detail = Json::object());

  // I/O: runs asio handlers on this thread until `done` or the deadline.
  bool pump_until(const std::function<bool()>& done, std::int64_t deadline);
  void pump_for(std::int64_t ns) { pump_until([] { return false; }, monotonic_ns() + ns); }

  // Workers.
  Slot& slot(const std::string& name);
  void prepare_slot(Slot& s, const WorkerSpec& spec);
  std::vector<std::string> worker_env(const Slot& s) const;
  void spawn(Slot& s);
  void send(Slot& s, Json op);
  void on_line(Slot& s, ChildProcess* p, std::string line);
  void on_exit(Slot& s, ChildProcess* p, int status);
  bool wait_gone(Slot& s, std::int64_t deadline);
  void kill_worker(Slot& s);

  // Phases.
  void mount_filesystems();  // [[mount]]: before the files and the workers
  void setup();
  void start_workers();
  void run_timeline();
  void do_publish(const PlannedAction& a);
  void do_read(const PlannedAction& a);
  void do_write(const PlannedAction& a);
  void do_burst(const PlannedAction& a);
  // The first of a's candidates that can_read(), else nullptr (noted).
  Slot* reader_for(const PlannedAction& a, const char* what);
  void do_fault(const PlannedAction& a);
  void heal();
  void quiesce();
  void read_back();
  bool reads_answered(std::int64_t deadline);
  void check_probes();
  void teardown();
  Json meta() const;

  const Scenario& scenario_;
  const RunOptions& options_;
  Timing timing_;

  // The io_context is declared first so that it is destroyed last: handlers
  // still queued in it refer to the processes below.
  boost::asio::io_context io_;
  std::unique_ptr<HistoryWriter> history_;
  fs::path run_dir_;
  fs::path db_path_;
  std::string channel_;
  fs::path libfaketime_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<PlannedAction> plan_;
  std::map<std::int64_t, PublishState> publishes_;
  std::map<std::int64_t, ReadState> reads_;
  std::int64_t next_read_back_id_ = 0;  // ids above every planned one
  fs::path truth_path_;                 // the truth store of [reads] (PJX_TRUTH_DB)
  std::int64_t workload_t0_ = 0;
  // Active fault windows, by fault index.
  std::map<std::size_t, std::unique_ptr<DbWriteLock>> locks_;
  std::map<std::size_t, std::unique_ptr<ReadonlyBind>> readonly_;
  // disk_full: the run directory's size-limited filesystem, mounted for the
  // whole run when the scenario has a disk_full fault (unmounted after the
  // teardown's integrity check, or by its destructor on any other exit),
  // and the filler file of each open window.
  std::unique_ptr<SizeLimitedFs> small_fs_;
  std::vector<std::unique_ptr<FuseMount>> fuse_mounts_;  // [[mount]] fs = "fuse", for the run
  std::map<std::size_t, fs::path> fillers_;
  // vfs_fault: open windows, fault index -> worker name.
  std::map<std::size_t, std::string> vfs_faults_;
  void end_storage_faults();
  std::map<std::size_t, std::string> paused_by_fault_;
  bool teardown_done_ = false;
  bool teardown_started_ = false;
  // Redis backend: the server the runner owns (null with --redis-url), a
  // command connection to a given server, the URL workers get.
  bool redis_ = false;
  std::unique_ptr<RedisServer> redis_server_;
  std::unique_ptr<RedisClient> redis_client_;
  std::string redis_url_;
  std::map<std::size_t, bool> outages_;  // redis_restart windows open, by fault index
  void start_redis();
  RedisClient& redis_client();
  // SIGINT/SIGTERM end the scenario through teardown (workers continued and
  // stopped, locks released, mounts undone) instead of killing the harness.
  boost::asio::signal_set signals_{io_, SIGINT, SIGTERM};
  bool interrupted_ = false;
  int interrupt_signal_ = 0;
};

// ---------------------------------------------------------------- history

void Runner::record(Json r) {
  if (!r.contains("t")) r["t"] = monotonic_ns();
  history_->append(std::move(r));
}

void Runner::phase(const std::string& name) { record({{"type", "phase"}, {"name", name}}); }

void Runner::note(const std::string& message) {
  record({{"type", "note"}, {"message", message}});
}

void Runner::probe(const std::string& what, bool ok, Json value, Json detail) {
  record({{"type", "probe"},
          {"what", what},
          {"ok", ok},
          {"value", std::move(value)},
          {"detail", std::move(detail)}});
}

// ---------------------------------------------------------------- I/O

bool Runner::pump_until(const std::function<bool()>& done, std::int64_t deadline) {
  const bool ok = harness::pump_until(io_, done, deadline, [this] { return interrupted_; });
  if (interrupted_ && !teardown_started_) {
    throw Abort{"error", "interrupted by a signal (SIGINT or SIGTERM)"};
  }
  return ok;
}

// ---------------------------------------------------------------- workers

Runner::Slot& Runner::slot(const std::string& name) {
  for (auto& s : slots_) {
    if (s->name == name) return *s;
  }
  throw std::logic_error("no worker slot " + name);
}

void Runner::prepare_slot(Slot& s, const WorkerSpec& spec) {
  s.spec = &spec;
  s.name = spec.name;
  s.channel = spec.channel.empty() ? channel_ : channel_ + ":" + spec.channel;
  const std::string dir = run_dir_.string();
  s.db = replace_all(spec.db.value_or("{dir}/pjx.db"), "{dir}", dir);
  s.env["PJX_INVALIDATION_CHANNEL"] = s.channel;
  if (redis_) {
    s.db.clear();  // REDIS_URL is set by start_redis() once the server's URL is known
  } else {
    s.env["PJX_INVALIDATION_DB"] = s.db;
    s.env["PJX_POLL_INTERVAL"] = format_seconds(timing_.poll_ms / 1000);
    s.env["PJX_RETENTION"] = format_seconds(timing_.retention_ms / 1000);
    s.env["PJX_BUSY_TIMEOUT"] = format_seconds(timing_.busy_timeout_ms / 1000);
  }
  s.env["PJX_WORKER_NAME"] = spec.name;
  if (scenario_.reads) s.env["PJX_TRUTH_DB"] = truth_path_.string();
  bool faketime = spec.faketime;
  for (const FaultSpec& f : scenario_.faults) {
    if (f.action == "clock_step" && f.worker == spec.name) faketime = true;
  }
  if (faketime) {
    // Beside the run directory, like the truth store: a full or read-only
    // run directory must not stop the harness from stepping a clock.
    s.faketime_file = options_.dir / (scenario_.name + "." + spec.name + ".faketime");
    const char* preload = std::getenv("LD_PRELOAD");
    s.env["LD_PRELOAD"] = libfaketime_.string() +
                          (preload != nullptr && *preload != '\0' ? ":" + std::string(preload) : "");
    s.env["FAKETIME_TIMESTAMP_FILE"] = s.faketime_file.string();
    s.env["FAKETIME_NO_CACHE"] = "1";
    s.env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1";
    s.env["DONT_FAKE_MONOTONIC"] = "1";  // the name older libfaketime reads
  }
  for (const auto& [k, v] : spec.env) s.env[k] = replace_all(v, "{dir}", dir);
}

std::vector<std::string> Runner::worker_env(const Slot& s) const {
  return worker_environment(s.env);
}

void Runner::spawn(Slot& s) {
  if (s.proc) s.retired.push_back(std::move(s.proc));
  s.start_sent = s.ready = s.fatal = s.paused = s.killed = false;
  s.stop_sent = s.stopped = s.stats_answered = false;
  s.ready_t = 0;
  s.caps.clear();
  s.fatal_message.clear();
  s.start_error.clear();
  s.received.clear();
  std::vector<std::string> argv = split_command_line(s.spec->cmd.value_or(options_.worker_cmd));
  if (s.spec->inotify_instances) {
    std::vector<std::string> prefix = inotify_limit_prefix(*s.spec->inotify_instances);
    argv.insert(argv.begin(), prefix.begin(), prefix.end());
  }
  const fs::path err = options_.history_dir / (scenario_.name + "." + s.name + ".stderr");
  Slot* sp = &s;
  // The handlers compare the process with the slot's current one, so that
  // output of an earlier incarnation never updates the current state.
  auto holder = std::make_shared<ChildProcess*>(nullptr);
  ChildProcess::Handlers handlers;
  handlers.on_line = [this, sp, holder](std::string line) { on_line(*sp, *holder, std::move(line)); };
  handlers.on_exit = [this, sp, holder](int status) { on_exit(*sp, *holder, status); };
  try {
    s.proc = ChildProcess::spawn(io_, argv, worker_env(s), err, std::move(handlers));
  } catch (const std::exception& e) {
    throw Abort{"error", std::string("worker ") + s.name + ": " + e.what()};
  }
  *holder = s.proc.get();
  ++s.spawns;
  record({{"type", "spawn"}, {"worker", s.name}, {"pid", s.proc->pid()}});
}

void Runner::send(Slot& s, Json op) {
  if (!s.proc || s.proc->exited() || s.proc->write_failed()) return;
  Json r = op;
  r["type"] = "op";
  r["worker"] = s.name;
  record(std::move(r));
  s.proc->write_line(op.dump());
  ChildProcess* p = s.proc.get();
  if (!pump_until([p] { return !p->writing() || p->write_failed() || p->exited(); },
                  monotonic_ns() + kWriteDeadline)) {
    note("the op to " + s.name + " could not be written within 2 s (it does not read stdin)");
  }
}

void Runner::on_line(Slot& s, ChildProcess* p, std::string line) {
  const std::int64_t rt = monotonic_ns();
  Json ev;
  try {
    ev = Json::parse(line);
  } catch (const Json::exception&) {
    ev = Json();
  }
  if (!ev.is_object() || !ev.contains("ev") || !ev["ev"].is_string()) {
    note(s.name + " wrote a line that is not a protocol event: " + line.substr(0, 300));
    return;
  }
  Json r = ev;
  r["type"] = "ev";
  r["worker"] = s.name;
  r["rt"] = rt;
  if (!ev.contains("t") || !ev["t"].is_number_integer()) r["t"] = rt;
  record(std::move(r));
  if (p != s.proc.get()) return;  // an earlier incarnation

  const std::string kind = ev["ev"].get<std::string>();
  auto integer = [&ev](const char* key, std::int64_t fallback) {
    const auto it = ev.find(key);
    return it != ev.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
  };
  const std::int64_t t = integer("t", rt);
  if (kind == "ready") {
    s.ready = true;
    s.ready_t = t;
    if (ev.contains("caps") && ev["caps"].is_array()) {
      for (const Json& c : ev["caps"]) {
        if (c.is_string()) s.caps.push_back(c.get<std::string>());
      }
    }
  } else if (kind == "fatal") {
    s.fatal = true;
    const auto message = ev.find("message");
    s.fatal_message = message != ev.end() && message->is_string() ? message->get<std::string>()
                                                                  : "(no message)";
  } else if (kind == "error" && !s.ready && s.start_sent && !ev.contains("id")) {
    const auto message = ev.find("message");
    s.start_error = message != ev.end() && message->is_string() ? message->get<std::string>()
                                                                : "(no message)";
  } else if (kind == "stopped") {
    s.stopped = true;
  } else if (kind == "stats") {
    s.stats_answered = true;
  } else if ((kind == "read_result" || kind == "error") && ev.contains("id") &&
             ev["id"].is_number_integer() && reads_.count(ev["id"].get<std::int64_t>()) != 0) {
    reads_[ev["id"].get<std::int64_t>()].answered = true;
  } else if ((kind == "published" || kind == "written" || kind == "error") && ev.contains("id") &&
             ev["id"].is_number_integer()) {
    auto it = publishes_.find(ev["id"].get<std::int64_t>());
    if (it != publishes_.end()) {
      it->second.answered = true;
      if (kind != "error") {
        it->second.committed = true;
        it->second.t_begin = integer("t_begin", t);
      }
    }
  } else if (kind == "received" && ev.contains("keys") && ev["keys"].is_array()) {
    for (const Json& k : ev["keys"]) {
      if (!k.is_string()) continue;
      const std::string key = k.get<std::string>();
      if (key.rfind("e:", 0) != 0) continue;
      try {
        s.received.insert(std::stoll(key.substr(2)));
      } catch (const std::exception&) {
      }
    }
  }
}

void Runner::on_exit(Slot& s, ChildProcess* p, int status) {
  const bool current = p == s.proc.get();
  // Expected: the harness ended it, or it had to reject its configuration.
  const bool expected =
      !current || s.killed || s.stop_sent || s.spec->expect_fatal || teardown_done_;
  record({{"type", "exit"},
          {"worker", s.name},
          {"pid", p->pid()},
          {"status", status},
          {"expected", expected}});
}

bool Runner::wait_gone(Slot& s, std::int64_t deadline) {
  if (!s.proc) return true;
  ChildProcess* p = s.proc.get();
  const bool exited = pump_until([p] { return p->exited(); }, deadline);
  // The rest of its output, if the pipe is not held open by a grandchild.
  pump_until([p] { return p->eof(); }, std::min(deadline, monotonic_ns() + 500 * kMs));
  return exited;
}

void Runner::kill_worker(Slot& s) {
  if (!s.proc || s.proc->exited()) return;
  s.killed = true;
  s.proc->signal(SIGKILL);
}

// ---------------------------------------------------------------- phases

Json Runner::meta() const {
  Json workers = Json::array();
  std::string defect;
  try {
    defect = defect_of(split_command_line(options_.worker_cmd));
  } catch (const std::invalid_argument&) {
    // Reported as the scenario's error.
  }
  for (const auto& s : slots_) {
    const std::string& cmd = s->spec->cmd.value_or(options_.worker_cmd);
    Json env = s->env;
    if (env.contains("REDIS_URL")) env["REDIS_URL"] = mask_url(env["REDIS_URL"].get<std::string>());
    Json w = {{"name", s->name},
              {"channel", s->channel},
              {"cmd", cmd},
              {"db", s->db},
              {"env", env},
              {"expect_fatal", s->spec->expect_fatal},
              {"faketime", !s->faketime_file.empty()}};
    if (!defect.empty()) w["defect"] = defect;
    if (!s->spec->why.empty()) w["why"] = s->spec->why;
    if (s->spec->start_at) w["start_at_ms"] = s->spec->start_at->resolve_ms(timing_);
    if (s->spec->inotify_instances) w["inotify_instances"] = *s->spec->inotify_instances;
    workers.push_back(std::move(w));
  }
  Json faults = Json::array();
  for (const FaultSpec& f : scenario_.faults) {
    Json j = {{"action", f.action}, {"at_ms", f.at.resolve_ms(timing_)}};
    if (!f.worker.empty()) j["worker"] = f.worker;
    if (f.duration) j["duration_ms"] = f.duration->resolve_ms(timing_);
    if (f.during_publish) j["during_publish"] = true;
    if (!f.offset.empty()) j["offset_s"] = f.offset_s;
    faults.push_back(std::move(j));
  }
  Json workload = Json::object();
  std::size_t publishes = 0;
  for (const PlannedAction& a : plan_) {
    if (a.kind == PlannedAction::Kind::kPublish) ++publishes;
  }
  workload["publishes"] = publishes;
  if (scenario_.workload) {
    if (scenario_.workload->interval) {
      workload["interval_ms"] = scenario_.workload->interval->resolve_ms(timing_);
    }
    if (scenario_.workload->rate) workload["rate_per_s"] = *scenario_.workload->rate;
    workload["shared_keys"] = scenario_.workload->shared_keys;
  }
  if (scenario_.reads) {
    std::size_t reads = 0, writes = 0, slow = 0, bursts = 0;
    for (const PlannedAction& a : plan_) {
      if (a.kind == PlannedAction::Kind::kRead) ++reads;
      if (a.kind == PlannedAction::Kind::kRead && a.slow_ms > 0) ++slow;
      if (a.kind == PlannedAction::Kind::kWrite) ++writes;
      if (a.kind == PlannedAction::Kind::kBurst) ++bursts;
    }
    workload["reads"] = {{"reads", reads},
                         {"writes", writes},
                         {"slow_reads", slow},
                         {"bursts", bursts},
                         {"keys", scenario_.reads->keys},
                         {"truth_db", truth_path_.string()}};
  }
  return {{"type", "meta"},
          {"scenario", scenario_.name},
          {"guarantee", scenario_.guarantee},
          {"file", display_path(scenario_.file)},
          {"seed", options_.seed},
          {"timing", timing_.name},
          {"params",
           {{"poll_interval_ms", timing_.poll_ms},
            {"retention_ms", timing_.retention_ms},
            {"busy_timeout_ms", timing_.busy_timeout_ms},
            {"channel", channel_}}},
          {"workers", workers},
          {"checks", scenario_.checks},
          {"check_params", scenario_.resolved_check_params(timing_)},
          {"expect", scenario_.expect},
          {"requires", scenario_.requires_caps},
          {"workload", workload},
          {"faults", faults},
          {"wall_start", wall_now()},
          {"harness_version", options_.harness_version},
          {"worker_cmd", options_.worker_cmd},
          {"worker_cmd_is_default", options_.worker_cmd_is_default},
          {"db_path", redis_ ? std::string() : db_path_.string()},
          {"backend", redis_ ? "redis" : "sqlite"},
          {"redis",
           redis_ ? Json{{"url", mask_url(redis_url_)},
                         {"owned", redis_server_ != nullptr},
                         {"version", redis_server_ ? redis_server_->version() : std::string()},
                         {"pubsub_limit", scenario_.redis_pubsub_limit}}
                  : Json()},
          {"run_id", options_.run_id}};
}

void Runner::mount_filesystems() {
  for (const MountSpec& m : scenario_.mounts) {
    if (const std::string why = FuseMount::unavailable(); !why.empty()) throw Abort{"skip", why};
    const fs::path path = replace_all(m.path, "{dir}", run_dir_.string());
    try {
      fuse_mounts_.push_back(std::make_unique<FuseMount>(io_, path.string() + ".backing", path,
                                                         run_dir_ / (path.filename().string() + ".bindfs.log")));
    } catch (const std::exception& e) {
      throw Abort{"error", std::string("[[mount]]: ") + e.what()};
    }
    note("mounted a FUSE mirror (bindfs) of " + path.string() + ".backing on " + path.string());
  }
}

void Runner::setup() {
  phase("setup");
  std::error_code ec;
  for (const FileSpec& f : scenario_.files) {
    const fs::path path = replace_all(f.path, "{dir}", run_dir_.string());
    fs::create_directories(path.parent_path(), ec);
    if (!f.link.empty()) {
      const fs::path target = replace_all(f.link, "{dir}", run_dir_.string());
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
  for (auto& s : slots_) {
    if (!s->faketime_file.empty()) write_faketime_offset(s->faketime_file, 0);
  }
}

void Runner::start_workers() {
  phase("start");
  std::vector<Slot*> starting;
  for (auto& s : slots_) {
    if (s->spec->start_at) continue;
    spawn(*s);
    starting.push_back(s.get());
  }
  // Workers that must be rejected all at once: each must answer by itself
  // (`fatal` and exit) or show that it accepted (`ready`, or an error).
  std::vector<Slot*> rejected;
  for (Slot* s : starting) {
    if (!s->spec->expect_fatal) continue;
    s->start_sent = true;
    send(*s, {{"op", "start"}});
    rejected.push_back(s);
  }
  pump_until(
      [&] {
        return std::all_of(rejected.begin(), rejected.end(), [](const Slot* s) {
          return s->ready || s->proc->exited() || (!s->start_error.empty() && !s->fatal);
        });
      },
      monotonic_ns() + kStartDeadline);
  // The others one at a time, each answered before the next: every cursor
  // is seeded before the workload, in file order, and a fresh database is
  // created by one worker rather than by several racing.
  for (Slot* s : starting) {
    if (s->spec->expect_fatal) continue;
    s->start_sent = true;
    send(*s, {{"op", "start"}});
    pump_until(
        [s] { return s->ready || s->fatal || !s->start_error.empty() || s->proc->exited(); },
        monotonic_ns() + kStartDeadline);
  }
  for (Slot* s : starting) {
    if (s->spec->expect_fatal) {
      if (!s->ready && !s->proc->exited() && s->start_error.empty()) {
        note(s->name + " neither became ready nor exited within 15 s");
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
                             (options_.history_dir / (scenario_.name + "." + s->name + ".stderr"))
                                 .string() +
                             ")"};
  }
  for (Slot* s : starting) {
    if (!s->ready) continue;
    for (const std::string& cap : scenario_.requires_caps) {
      if (std::find(s->caps.begin(), s->caps.end(), cap) == s->caps.end()) {
        std::string caps;
        for (const std::string& c : s->caps) caps += (caps.empty() ? "" : ", ") + c;
        throw Abort{"skip", "worker " + s->name + " lacks the capability \"" + cap +
                                "\" this scenario requires (its ready.caps: [" + caps + "])"};
      }
    }
  }
}

void Runner::run_timeline() {
  phase("workload");
  workload_t0_ = monotonic_ns();
  const ProgressTicker progress(io_, options_.progress, workload_t0_,
                                plan_.empty() ? 0 : plan_.back().at_ns,
                                [this] { return history_->records().size(); });
  for (const PlannedAction& a : plan_) {
    pump_until([] { return false; }, workload_t0_ + a.at_ns);
    switch (a.kind) {
      case PlannedAction::Kind::kPublish:
        do_publish(a);
        break;
      case PlannedAction::Kind::kRead:
        do_read(a);
        break;
      case PlannedAction::Kind::kWrite:
        do_write(a);
        break;
      case PlannedAction::Kind::kBurst:
        do_burst(a);
        break;
      case PlannedAction::Kind::kStartWorker: {
        Slot& s = slot(a.worker());
        if (s.proc && !s.proc->exited()) {  // a restart fault started it already
          note("late start of " + s.name + " not applied: it already runs");
          break;
        }
        spawn(s);
        s.start_sent = true;
        send(s, {{"op", "start"}});
        break;
      }
      default:
        do_fault(a);
        break;
    }
  }
}

void Runner::do_publish(const PlannedAction& a) {
  Slot* publisher = nullptr;
  for (const std::string& name : a.candidates) {
    Slot& s = slot(name);
    if (s.can_publish()) {
      publisher = &s;
      break;
    }
  }
  if (publisher == nullptr) {
    std::string names;
    for (const std::string& n : a.candidates) names += (names.empty() ? "" : ", ") + n;
    note("publish " + std::to_string(a.publish_id) + " not sent: none of " + names +
         " could publish (not ready, paused, killed or stopped)");
    return;
  }
  publishes_[a.publish_id] =
      PublishState{publisher->name, publisher->channel, publisher->proc.get()};
  send(*publisher, {{"op", "publish"}, {"id", a.publish_id}, {"keys", a.keys}});
  if (a.await) {
    const std::int64_t id = a.publish_id;
    Slot* p = publisher;
    if (!pump_until([&] { return publishes_[id].answered || !p->alive(); },
                    monotonic_ns() +
                        static_cast<std::int64_t>(timing_.busy_timeout_ms * 1e6) +
                        2 * kSecond)) {
      note("publish " + std::to_string(id) + " was not answered in time; the timeline goes on");
    }
  }
}

Runner::Slot* Runner::reader_for(const PlannedAction& a, const char* what) {
  for (const std::string& name : a.candidates) {
    Slot& s = slot(name);
    if (s.can_read()) return &s;
  }
  std::string names;
  for (const std::string& n : a.candidates) names += (names.empty() ? "" : ", ") + n;
  note(std::string(what) + " " + std::to_string(a.publish_id) + " not sent: none of " + names +
       " could take it (not ready, paused, killed, stopped, or no \"reads\" capability)");
  return nullptr;
}

void Runner::do_read(const PlannedAction& a) {
  Slot* s = reader_for(a, "read");
  if (s == nullptr) return;
  reads_[a.publish_id] = ReadState{s->name, s->proc.get()};
  Json op = {{"op", "read"}, {"id", a.publish_id}, {"key", a.key}};
  if (a.slow_ms > 0) op["slow_ms"] = a.slow_ms;
  send(*s, std::move(op));
}

void Runner::do_write(const PlannedAction& a) {
  Slot* s = reader_for(a, "write");
  if (s == nullptr) return;
  publishes_[a.publish_id] = PublishState{s->name, s->channel, s->proc.get()};
  send(*s, {{"op", "write"}, {"id", a.publish_id}, {"key", a.key}, {"keys", a.keys}});
}

void Runner::do_burst(const PlannedAction& a) {
  Slot* s = nullptr;
  for (const std::string& name : a.candidates) {
    Slot& c = slot(name);
    if (c.can_publish() && std::find(c.caps.begin(), c.caps.end(), "burst") != c.caps.end()) {
      s = &c;
      break;
    }
  }
  if (s == nullptr) {
    note("burst " + std::to_string(a.publish_id) +
         " not sent: no worker able to publish has the \"burst\" capability");
    return;
  }
  Json list = Json::array();
  for (const PlannedAction::BurstPublish& b : a.burst) {
    publishes_[b.id] = PublishState{s->name, s->channel, s->proc.get()};
    list.push_back({{"id", b.id}, {"keys", b.keys}});
  }
  send(*s, {{"op", "burst"}, {"id", a.publish_id}, {"publishes", std::move(list)}});
}

bool Runner::reads_answered(std::int64_t deadline) {
  return pump_until(
      [&] {
        for (const auto& [id, r] : reads_) {
          const Slot& s = slot(r.worker);
          if (!r.answered && s.alive() && s.proc.get() == r.proc) return false;
        }
        return true;
      },
      deadline);
}

// After quiesce every invalidation has arrived: each worker that reads reads
// every key of the workload back, so a cache that kept a stale entry (a
// missed key set, a flush not applied) shows it here at the latest.
void Runner::read_back() {
  if (!scenario_.reads) return;
  phase("read_back");
  std::set<std::string> keys;
  for (const PlannedAction& a : plan_) {
    if (a.kind == PlannedAction::Kind::kRead || a.kind == PlannedAction::Kind::kWrite) {
      keys.insert(a.key);
    }
  }
  for (auto& s : slots_) {
    if (!s->can_read()) continue;
    for (const std::string& key : keys) {
      const std::int64_t id = ++next_read_back_id_;
      reads_[id] = ReadState{s->name, s->proc.get()};
      send(*s, {{"op", "read"}, {"id", id}, {"key", key}});
    }
  }
  if (!reads_answered(monotonic_ns() + 5 * kSecond)) {
    note("read_back: some reads were not answered within 5 s");
  }
}

void Runner::do_fault(const PlannedAction& a) {
  const FaultSpec& f = scenario_.faults[a.fault];
  using Kind = PlannedAction::Kind;
  Json rec = {{"type", "fault"}, {"action", f.action}};
  if (!f.worker.empty()) rec["worker"] = f.worker;
  Json params = Json::object();
  if (f.duration) params["duration_ms"] = f.duration->resolve_ms(timing_);

  if (f.action == "pause") {
    Slot& s = slot(f.worker);
    if (a.kind == Kind::kFaultBegin) {
      if (!s.alive()) {
        note("pause of " + s.name + " not applied: it is not running");
        return;
      }
      rec["phase"] = "begin";
      rec["params"] = params;
      record(rec);
      s.proc->signal(SIGSTOP);
      s.paused = true;
      paused_by_fault_[a.fault] = s.name;
    } else {
      if (paused_by_fault_.erase(a.fault) == 0) return;
      if (s.proc) s.proc->signal(SIGCONT);
      s.paused = false;
      rec["phase"] = "end";
      rec["params"] = params;
      record(rec);
    }
  } else if (f.action == "kill") {
    Slot& s = slot(f.worker);
    if (!s.alive()) {
      note("kill of " + s.name + " not applied: it is not running");
      return;
    }
    if (f.during_publish && s.ready) {
      publishes_[a.publish_id] = PublishState{s.name, s.channel, s.proc.get()};
      params["publish_id"] = a.publish_id;
      // The op is written into the pipe, then the worker dies at once: the
      // publish may or may not have committed.
      send(s, {{"op", "publish"}, {"id", a.publish_id}, {"keys", a.keys}});
    }
    params["during_publish"] = f.during_publish;
    rec["phase"] = "instant";
    rec["params"] = params;
    record(rec);
    kill_worker(s);
    wait_gone(s, monotonic_ns() + kExitDeadline);
  } else if (f.action == "stop") {
    // A clean stop in the middle of the run (a deploy rolling one worker):
    // the worker gets `stop`, finishes what it queued and exits. Later
    // publishes go to the others; its exit is expected.
    Slot& s = slot(f.worker);
    if (!s.alive() || s.stop_sent) {
      note("stop of " + s.name + " not applied: it is not running");
      return;
    }
    if (s.paused && s.proc) {
      s.proc->signal(SIGCONT);
      s.paused = false;
    }
    rec["phase"] = "instant";
    rec["params"] = params;
    record(rec);
    send(s, {{"op", "stop"}});
    s.stop_sent = true;
  } else if (f.action == "restart") {
    Slot& s = slot(f.worker);
    if (s.alive()) {
      Json kill = {{"type", "fault"}, {"action", "kill"}, {"worker", s.name}, {"phase", "instant"},
                   {"params", {{"reason", "restart of a running worker"}}}};
      record(kill);
      kill_worker(s);
      wait_gone(s, monotonic_ns() + kExitDeadline);
    }
    rec["phase"] = "instant";
    rec["params"] = params;
    record(rec);
    spawn(s);
    s.start_sent = true;
    send(s, {{"op", "start"}});
  } else if (f.action == "lock") {
    if (a.kind == Kind::kFaultBegin) {
      params["busy_timeout_ms"] = timing_.busy_timeout_ms;
      try {
        auto lock = std::make_unique<DbWriteLock>(db_path_, kLockAcquireMs);
        rec["phase"] = "begin";
        rec["params"] = params;
        record(rec);
        locks_[a.fault] = std::move(lock);
      } catch (const std::exception& e) {
        throw Abort{"error", std::string("lock fault: ") + e.what()};
      }
    } else {
      auto it = locks_.find(a.fault);
      if (it == locks_.end()) return;
      it->second->release();
      locks_.erase(it);
      rec["phase"] = "end";
      rec["params"] = params;
      record(rec);
    }
  } else if (f.action == "clock_step") {
    Slot& s = slot(f.worker);
    params["offset_s"] = f.offset_s;
    params["offset"] = f.offset;
    rec["phase"] = "instant";
    rec["params"] = params;
    record(rec);
    write_faketime_offset(s.faketime_file, f.offset_s);
  } else if (f.action == "delete_db") {
    rec["phase"] = "instant";
    params["sidecars"] = f.sidecars;
    params["detail"] = delete_db(db_path_, f.sidecars);
    rec["params"] = params;
    record(rec);
  } else if (f.action == "snapshot_db" || f.action == "restore_db") {
    rec["phase"] = "instant";
    const fs::path snapshot = run_dir_ / "pjx.snapshot.db";
    try {
      params["detail"] = f.action == "snapshot_db" ? snapshot_db(db_path_, snapshot)
                                                   : restore_db(db_path_, snapshot);
    } catch (const std::exception& e) {
      throw Abort{"error", f.action + " fault: " + e.what()};
    }
    rec["params"] = params;
    record(rec);
  } else if (f.action == "replace_db") {
    rec["phase"] = "instant";
    try {
      params["sidecars"] = f.sidecars;
      params["detail"] = replace_db(db_path_, f.sidecars);
    } catch (const std::exception& e) {
      throw Abort{"error", std::string("replace_db fault: ") + e.what()};
    }
    rec["params"] = params;
    record(rec);
  } else if (f.action == "redis_restart") {
    if (!redis_server_) throw Abort{"skip", "redis_restart needs the harness's own redis-server"};
    try {
      if (a.kind == Kind::kFaultInstant) {
        rec["phase"] = "instant";
        rec["params"] = params;
        record(rec);
        redis_server_->restart();
        note("redis-server restarted (pid " + std::to_string(redis_server_->pid()) + ")");
      } else if (a.kind == Kind::kFaultBegin) {
        rec["phase"] = "begin";
        rec["params"] = params;
        record(rec);
        redis_server_->kill();  // the outage: every connection drops, publishes fail
        outages_[a.fault] = true;
      } else {
        if (outages_.erase(a.fault) == 0) return;
        redis_server_->start();
        params["pid"] = redis_server_->pid();
        rec["phase"] = "end";
        rec["params"] = params;
        record(rec);
      }
    } catch (const RedisError& e) {
      throw Abort{"error", std::string("redis_restart fault: ") + e.what()};
    }
  } else if (f.action == "client_kill") {
    Slot& s = slot(f.worker);
    if (!s.alive()) {
      note("client_kill of " + s.name + " not applied: it is not running");
      return;
    }
    const std::string name = "pjx-sub-" + std::to_string(s.proc->pid());
    params["client_name"] = name;
    // Recorded once the kill is done: a publish that begins later can no
    // longer reach the old connection.
    try {
      params["killed"] = redis_client().kill_clients_named(name);
    } catch (const RedisError& e) {
      throw Abort{"error", std::string("client_kill fault: ") + e.what()};
    }
    rec["phase"] = "instant";
    rec["params"] = params;
    record(rec);
  } else if (f.action == "readonly_dir") {
    if (a.kind == Kind::kFaultBegin) {
      try {
        auto bind = std::make_unique<ReadonlyBind>(run_dir_);
        rec["phase"] = "begin";
        params["dir"] = run_dir_.string();
        rec["params"] = params;
        record(rec);
        readonly_[a.fault] = std::move(bind);
      } catch (const std::exception& e) {
        throw Abort{"skip", std::string("readonly_dir needs a read-only bind mount: ") + e.what()};
      }
    } else {
      auto it = readonly_.find(a.fault);
      if (it == readonly_.end()) return;
      const std::string err = it->second->undo();
      readonly_.erase(it);
      if (!err.empty()) note(err);
      rec["phase"] = "end";
      rec["params"] = params;
      record(rec);
    }
  } else if (f.action == "disk_full") {
    if (a.kind == Kind::kFaultBegin) {
      const fs::path filler = run_dir_ / ("disk-full-" + std::to_string(a.fault) + ".filler");
      FillResult filled;
      try {
        filled = fill_filesystem(filler);
      } catch (const std::exception& e) {
        throw Abort{"error", std::string("disk_full fault: ") + e.what()};
      }
      fillers_[a.fault] = filler;
      params["dir"] = run_dir_.string();
      params["fs_bytes"] = kDiskFullFsBytes;
      params["filler_bytes"] = filled.written;
      params["free_bytes_before"] = filled.free_before;
      params["free_bytes_after"] = filled.free_after;
      rec["phase"] = "begin";
      rec["params"] = params;
      record(rec);
    } else {
      auto it = fillers_.find(a.fault);
      if (it == fillers_.end()) return;
      std::error_code ec;
      fs::remove(it->second, ec);
      fillers_.erase(it);
      if (ec) note("cannot remove the disk_full filler: " + ec.message());
      try {
        params["free_bytes"] = free_bytes(run_dir_);
      } catch (const std::exception& e) {
        note(e.what());
      }
      rec["phase"] = "end";
      rec["params"] = params;
      record(rec);
    }
  } else if (f.action == "vfs_fault") {
    Slot& s = slot(f.worker);
    params["spec"] = s.spec->env.count("PJX_WORKER_FAULT") ? s.spec->env.at("PJX_WORKER_FAULT") : "";
    if (a.kind == Kind::kFaultBegin) {
      if (!s.alive()) {
        note("vfs_fault on " + s.name + " not applied: it is not running");
        return;
      }
      rec["phase"] = "begin";
      rec["params"] = params;
      record(rec);
      s.proc->signal(SIGUSR1);  // pjx-worker arms its PJX_WORKER_FAULT (worker_fault.hpp)
      vfs_faults_[a.fault] = s.name;
    } else {
      if (vfs_faults_.erase(a.fault) == 0) return;
      if (s.alive()) s.proc->signal(SIGUSR2);  // clears it
      rec["phase"] = "end";
      rec["params"] = params;
      record(rec);
    }
  }
}

void Runner::end_storage_faults() {
  for (const auto& [index, filler] : fillers_) {
    std::error_code ec;
    fs::remove(filler, ec);
    record({{"type", "fault"}, {"action", "disk_full"}, {"phase", "end"}, {"params", Json::object()}});
  }
  fillers_.clear();
  for (const auto& [index, name] : vfs_faults_) {
    Slot& s = slot(name);
    if (s.alive()) s.proc->signal(SIGUSR2);
    record({{"type", "fault"}, {"action", "vfs_fault"}, {"worker", name}, {"phase", "end"},
            {"params", Json::object()}});
  }
  vfs_faults_.clear();
}

void Runner::heal() {
  phase("heal");
  // End every window still open, in fault order.
  for (const auto& [index, name] : std::map<std::size_t, std::string>(paused_by_fault_)) {
    PlannedAction end;
    end.kind = PlannedAction::Kind::kFaultEnd;
    end.fault = index;
    end.candidates = {name};
    do_fault(end);
  }
  for (auto& s : slots_) {
    if (s->paused && s->proc) s->proc->signal(SIGCONT);
    s->paused = false;
  }
  for (const auto& [index, lock] : locks_) {
    lock->release();
    record({{"type", "fault"}, {"action", "lock"}, {"phase", "end"}, {"params", Json::object()}});
  }
  locks_.clear();
  for (const auto& [index, bind] : readonly_) {
    const std::string err = bind->undo();
    if (!err.empty()) note(err);
    record({{"type", "fault"},
            {"action", "readonly_dir"},
            {"phase", "end"},
            {"params", Json::object()}});
  }
  readonly_.clear();
  end_storage_faults();

  // Every publish sent to a live worker gets its answer.
  const std::int64_t deadline =
      monotonic_ns() + static_cast<std::int64_t>(timing_.busy_timeout_ms * 1e6) + 2 * kSecond;
  auto all_answered = [&] {
    for (const auto& [id, p] : publishes_) {
      const Slot& s = slot(p.worker);
      if (!p.answered && s.alive() && s.proc.get() == p.proc) return false;
    }
    return true;
  };
  if (!pump_until(all_answered, deadline)) {
    note("some publishes were not answered within busy_timeout + 2 s");
  }
  if (!reads_answered(deadline)) note("some reads were not answered within busy_timeout + 2 s");
  for (const auto& [index, open] : std::map<std::size_t, bool>(outages_)) {
    PlannedAction end;
    end.kind = PlannedAction::Kind::kFaultEnd;
    end.fault = index;
    do_fault(end);
  }
  if (redis_) return;  // no database: no rows to probe
  // What is left in the log right after the workload (for the pruning check).
  const DbInspection db = inspect_db(db_path_);
  Json value = {{"count", db.total_rows}};
  value["oldest_age_ms"] =
      db.oldest_created_at ? Json((db.inspected_at - *db.oldest_created_at) * 1000) : Json();
  value["newest_age_ms"] =
      db.newest_created_at ? Json((db.inspected_at - *db.newest_created_at) * 1000) : Json();
  probe("rows", db.error.empty(), value, db.error.empty() ? Json::object()
                                                           : Json{{"error", db.error}});
}

void Runner::quiesce() {
  phase("quiesce");
  const std::int64_t timeout =
      scenario_.quiesce_timeout ? scenario_.quiesce_timeout->resolve_ns(timing_)
                                : static_cast<std::int64_t>(timing_.poll_ms * 1e6) + 2 * kSecond;
  auto delivered = [&] {
    for (const auto& [id, p] : publishes_) {
      if (!p.committed) continue;
      for (const auto& s : slots_) {
        if (s->name == p.worker || s->channel != p.channel || !s->alive() || !s->ready ||
            s->spec->expect_fatal || s->ready_t >= p.t_begin) {
          continue;
        }
        if (s->received.count(id) == 0) return false;
      }
    }
    return true;
  };
  if (!pump_until(delivered, monotonic_ns() + timeout)) {
    note("quiesce: not every delivery arrived within " + std::to_string(timeout / kMs) + " ms");
  }
  // Late, duplicate or misdirected deliveries show up within a poll or two.
  pump_for(2 * static_cast<std::int64_t>(timing_.poll_ms * 1e6) + 50 * kMs);
}

void Runner::check_probes() {
  phase("check");
  if (redis_) {
    // Who is connected now: each worker should hold pjx-pub-<pid> and pjx-sub-<pid>.
    try {
      Json names = Json::array();
      for (const RedisClientInfo& c : redis_client().client_list()) {
        if (!c.name.empty()) names.push_back(c.name);
      }
      probe("redis_clients", true, names);
    } catch (const std::exception& e) {
      probe("redis_clients", false, Json(), {{"error", e.what()}});
    }
  } else {
    const DbInspection db = inspect_db(db_path_);
    probe("journal_mode", db.journal_mode == "wal", db.journal_mode,
          db.error.empty() ? Json::object() : Json{{"error", db.error}});
    const bool wal = db.wal_size.has_value();
    const bool shm = db.shm_size.has_value();
    probe("sidecars", wal && shm, {{"wal", wal}, {"shm", shm}},
          {{"wal_bytes", db.wal_size ? Json(*db.wal_size) : Json()},
           {"shm_bytes", db.shm_size ? Json(*db.shm_size) : Json()}});
  }
  // Counters, from workers that offer them.
  std::vector<Slot*> asked;
  for (auto& s : slots_) {
    if (s->alive() && s->ready &&
        std::find(s->caps.begin(), s->caps.end(), "stats") != s->caps.end()) {
      s->stats_answered = false;
      send(*s, {{"op", "stats"}});
      asked.push_back(s.get());
    }
  }
  pump_until(
      [&] {
        return std::all_of(asked.begin(), asked.end(),
                           [](const Slot* s) { return s->stats_answered || !s->alive(); });
      },
      monotonic_ns() + 2 * kSecond);
}

void Runner::teardown() {
  teardown_started_ = true;
  phase("teardown");
  // Nothing may stay stopped, locked or mounted.
  for (auto& s : slots_) {
    if (s->proc && !s->proc->exited()) s->proc->signal(SIGCONT);
    s->paused = false;
  }
  for (auto& [index, lock] : locks_) lock->release();
  locks_.clear();
  for (auto& [index, bind] : readonly_) bind->undo();
  readonly_.clear();
  end_storage_faults();  // workers may need the space to stop cleanly

  for (auto& s : slots_) {
    if (s->proc && !s->proc->exited() && !s->killed) {
      send(*s, {{"op", "stop"}});
      s->stop_sent = true;
    }
  }
  const std::int64_t deadline =
      monotonic_ns() + 5 * kSecond + 2 * static_cast<std::int64_t>(timing_.poll_ms * 1e6);
  pump_until(
      [&] {
        return std::all_of(slots_.begin(), slots_.end(),
                           [](const auto& s) { return !s->proc || s->proc->exited(); });
      },
      deadline);
  for (auto& s : slots_) {
    if (s->proc && !s->proc->exited()) {
      note(s->name + " did not exit after `stop`; killing it");
      kill_worker(*s);
    }
  }
  for (auto& s : slots_) wait_gone(*s, monotonic_ns() + kExitDeadline);
  teardown_done_ = true;
  if (redis_) {
    redis_client_.reset();
    if (redis_server_) redis_server_->stop();
    return;
  }
  const std::string integrity = integrity_check(db_path_);
  probe("integrity", integrity == "ok", integrity);
}

void Runner::start_redis() {
  bool needs_own = !scenario_.redis_pubsub_limit.empty();
  for (const FaultSpec& f : scenario_.faults) {
    if (f.action == "redis_restart") needs_own = true;
  }
  for (const WorkerSpec& w : scenario_.workers) {
    for (const auto& [k, v] : w.env) {
      if (v.find("{redis_unix_url}") != std::string::npos) needs_own = true;
    }
  }
  if (!options_.redis_url.empty()) {
    if (needs_own) {
      throw Abort{"skip",
                  "not runnable against an external server (--redis-url): its faults restart "
                  "or reconfigure redis-server (redis_restart, pubsub_limit), which needs the "
                  "harness's own server (leave out --redis-url)"};
    }
    redis_url_ = options_.redis_url;
  } else {
    RedisServerOptions o;
    o.dir = run_dir_ / "redis";
    if (!scenario_.redis_pubsub_limit.empty()) o.pubsub_limit = scenario_.redis_pubsub_limit;
    try {
      redis_server_ = std::make_unique<RedisServer>(o);
    } catch (const std::exception& e) {
      throw Abort{"error", std::string("cannot start redis-server for the Redis backend: ") +
                               e.what()};
    }
    redis_url_ = redis_server_->url();
  }
  for (auto& s : slots_) s->env["REDIS_URL"] = redis_url_;
  // Environment overrides of the scenario come last, as for SQLite;
  // "{redis_unix_url}" is the own server's unix socket (unix:///...).
  for (auto& s : slots_) {
    for (const auto& [k, v] : s->spec->env) {
      s->env[k] = replace_all(replace_all(v, "{dir}", run_dir_.string()), "{redis_unix_url}",
                              redis_server_ ? redis_server_->unix_url() : std::string());
    }
  }
}

RedisClient& Runner::redis_client() {
  if (redis_server_) return redis_server_->client();
  if (!redis_client_) redis_client_ = std::make_unique<RedisClient>(RedisEndpoint::from_url(redis_url_));
  return *redis_client_;
}

ScenarioResult Runner::run() {
  const auto wall_start = std::chrono::steady_clock::now();
  ScenarioResult result;
  result.name = scenario_.name;
  result.file = display_path(scenario_.file);
  result.guarantee = scenario_.guarantee;
  result.expect = scenario_.expect;
  result.timing = timing_.name;
  result.seed = options_.seed;
  result.rerun = rerun_command(result.file, options_, timing_.name);

  run_dir_ = options_.dir / scenario_.name;
  db_path_ = run_dir_ / "pjx.db";
  // Beside the run directory, not in it: a disk_full or readonly_dir fault on
  // the run directory must not reach the application's data.
  truth_path_ = options_.dir / (scenario_.name + ".truth.db");
  channel_ = "pjx-test:" + options_.run_id;
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(truth_path_.string() + suffix, ec);
  fs::remove_all(run_dir_, ec);
  fs::create_directories(run_dir_);
  fs::create_directories(options_.history_dir);
  history_ = std::make_unique<HistoryWriter>(options_.history_dir /
                                             (scenario_.name + ".history.jsonl"));
  result.history = history_->path();
  for (const auto& entry : fs::directory_iterator(options_.history_dir, ec)) {
    const std::string fname = entry.path().filename().string();
    if (fname.rfind(scenario_.name + ".", 0) == 0 && entry.path().extension() == ".stderr") {
      fs::remove(entry.path(), ec);  // from an earlier run into the same folder
    }
  }

  signals_.async_wait([this](const boost::system::error_code& error, int signal) {
    if (error) return;
    interrupted_ = true;
    interrupt_signal_ = signal;
  });
  std::optional<Abort> abort;
  bool needs_faketime = false;
  for (const WorkerSpec& w : scenario_.workers) {
    if (w.faketime) needs_faketime = true;
  }
  for (const FaultSpec& f : scenario_.faults) {
    if (f.action == "clock_step") needs_faketime = true;
  }
  if (needs_faketime) libfaketime_ = find_libfaketime();
  redis_ = options_.backend == "redis";
  if (redis_) result.name = "redis/" + scenario_.name;
  result.backend = redis_ ? "redis" : "sqlite";
  for (const WorkerSpec& w : scenario_.workers) {
    slots_.push_back(std::make_unique<Slot>());
    prepare_slot(*slots_.back(), w);
  }
  try {
    plan_ = plan_timeline(scenario_, timing_, options_.seed);
    for (const PlannedAction& a : plan_) {
      next_read_back_id_ = std::max(next_read_back_id_, a.publish_id);
      for (const PlannedAction::BurstPublish& b : a.burst) {
        next_read_back_id_ = std::max(next_read_back_id_, b.id);
      }
    }
    split_command_line(options_.worker_cmd);  // a bad --worker-cmd is an error of the run
    if (redis_) start_redis();
  } catch (const Abort& a) {
    abort = a;
  } catch (const std::exception& e) {
    abort = Abort{"error", e.what()};
  }
  record(meta());
  try {
    if (abort) throw *abort;
    if (std::any_of(scenario_.workers.begin(), scenario_.workers.end(),
                    [](const WorkerSpec& w) { return w.inotify_instances.has_value(); })) {
      if (std::string why = inotify_limit_unavailable(); !why.empty()) throw Abort{"skip", why};
    }
    if (needs_faketime && libfaketime_.empty()) {
      throw Abort{"skip",
                  "clock_step needs libfaketime (Debian: apt-get install libfaketime), "
                  "which is not installed under /usr/lib/*/faketime/"};
    }
    if (std::any_of(scenario_.faults.begin(), scenario_.faults.end(),
                    [](const FaultSpec& f) { return f.action == "disk_full"; })) {
      try {
        small_fs_ = std::make_unique<SizeLimitedFs>(run_dir_, kDiskFullFsBytes);
      } catch (const std::exception& e) {
        throw Abort{"error", std::string("disk_full: ") + e.what()};
      }
      note("mounted a " + std::to_string(kDiskFullFsBytes >> 20) + " MiB tmpfs on " + run_dir_.string() +
           " for disk_full");
    }
    mount_filesystems();
    setup();
    start_workers();
    run_timeline();
    heal();
    quiesce();
    read_back();
    check_probes();
  } catch (const Abort& a) {
    abort = a;
  } catch (const std::exception& e) {
    abort = Abort{"error", e.what()};
  }
  if (abort) record({{"type", abort->kind}, {"reason", abort->reason}});
  try {
    teardown();
  } catch (const std::exception& e) {
    record({{"type", "error"}, {"reason", std::string("teardown: ") + e.what()}});
  }
  for (auto& m : fuse_mounts_) {  // after the teardown: a worker may have had a file there
    if (const std::string err = m->undo(); !err.empty()) note(err);
  }
  fuse_mounts_.clear();
  if (small_fs_) {  // after the teardown's integrity check: the database lives on it
    if (const std::string err = small_fs_->undo(); !err.empty()) note(err);
    small_fs_.reset();
  }
  signals_.cancel();
  result.interrupted = interrupted_;
  result.interrupt_signal = interrupt_signal_;
  result.verdict = judge(history_->records());
  result.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace

std::string display_path(const fs::path& path) {
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  if (ec) return path.string();
  const fs::path abs = fs::absolute(path, ec).lexically_normal();
  const fs::path rel = abs.lexically_relative(cwd);
  if (!rel.empty() && rel.native().rfind("..", 0) != 0) return rel.string();
  return abs.string();
}

std::string rerun_command(const std::string& file, const RunOptions& options,
                          const std::string& timing) {
  std::string cmd = "pjx-harness run " + quote_word(file) + " --seed " +
                    std::to_string(options.seed) + " --timing " + timing;
  if (!options.worker_cmd_is_default) cmd += " --worker-cmd " + quote_word(options.worker_cmd);
  if (options.backend != "sqlite") cmd += " --backend " + options.backend;
  if (!options.redis_url.empty()) cmd += " --redis-url " + quote_word(mask_url(options.redis_url));
  return cmd;
}

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
