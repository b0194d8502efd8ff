#include "worker_slots.hpp"

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "command_line.hpp"
#include "duration.hpp"
#include "event_loop.hpp"
#include "nemesis.hpp"

namespace pjx::harness {

namespace fs = std::filesystem;

std::string describe_status(int status) {
  if (status < 0) return "killed by signal " + std::to_string(-status);
  return "exit status " + std::to_string(status);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  std::size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

Workers::Workers(RunLoop& loop, const RunOptions& options, const Scenario& scenario,
                 const Timing& timing)
    : loop_(loop), options_(options), scenario_(scenario), timing_(timing) {}

void Workers::prepare(const SlotSettings& settings) {
  for (const WorkerSpec& w : scenario_.workers) {
    slots_.push_back(std::make_unique<WorkerSlot>());
    configure(*slots_.back(), w, settings);
  }
}

std::filesystem::path power_log_path(const std::filesystem::path& run_dir) {
  return run_dir.parent_path() / (run_dir.filename().string() + ".power.log");
}

void Workers::configure(WorkerSlot& s, const WorkerSpec& spec, const SlotSettings& settings) const {
  s.spec = &spec;
  s.name = spec.name;
  s.channel = spec.channel.empty() ? settings.channel : settings.channel + ":" + spec.channel;
  const std::string dir = settings.run_dir.string();
  s.db = replace_all(spec.db.value_or("{dir}/pjx.db"), "{dir}", dir);
  s.env["PJX_INVALIDATION_CHANNEL"] = s.channel;
  if (settings.redis) {
    s.db.clear();  // REDIS_URL is set by RunRedis::start() once the server's URL is known
  } else {
    s.env["PJX_INVALIDATION_DB"] = s.db;
    s.env["PJX_POLL_INTERVAL"] = format_seconds(timing_.poll_ms / 1000);
    s.env["PJX_RETENTION"] = format_seconds(timing_.retention_ms / 1000);
    s.env["PJX_BUSY_TIMEOUT"] = format_seconds(timing_.busy_timeout_ms / 1000);
  }
  s.env["PJX_WORKER_NAME"] = spec.name;
  for (const FaultSpec& f : scenario_.faults) {
    if (f.action == "power_loss") s.env["PJX_WORKER_POWER_LOG"] = power_log_path(settings.run_dir).string();
  }
  if (scenario_.reads) s.env["PJX_TRUTH_DB"] = settings.truth.string();
  bool faketime = spec.faketime;
  for (const FaultSpec& f : scenario_.faults) {
    if (f.action == "clock_step" && f.worker == spec.name) faketime = true;
  }
  if (faketime) {
    // Beside the run directory, like the truth store: a full or read-only
    // run directory must not stop the harness from stepping a clock.
    s.faketime_file = settings.run_dir.parent_path() /
                      (settings.run_dir.filename().string() + "." + spec.name + ".faketime");
    const char* preload = std::getenv("LD_PRELOAD");
    s.env["LD_PRELOAD"] =
        settings.libfaketime.string() +
        (preload != nullptr && *preload != '\0' ? ":" + std::string(preload) : "");
    s.env["FAKETIME_TIMESTAMP_FILE"] = s.faketime_file.string();
    s.env["FAKETIME_NO_CACHE"] = "1";
    s.env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1";
    s.env["DONT_FAKE_MONOTONIC"] = "1";  // the name older libfaketime reads
  }
  for (const auto& [k, v] : spec.env) s.env[k] = replace_all(v, "{dir}", dir);
}

WorkerSlot& Workers::slot(const std::string& name) {
  for (auto& s : slots_) {
    if (s->name == name) return *s;
  }
  throw std::logic_error("no worker slot " + name);
}

fs::path Workers::stderr_file(const WorkerSlot& s) const {
  return options_.history_dir / (scenario_.name + "." + s.name + ".stderr");
}

void Workers::spawn(WorkerSlot& s) {
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
  WorkerSlot* sp = &s;
  // The handlers compare the process with the slot's current one, so that
  // output of an earlier incarnation never updates the current state.
  auto holder = std::make_shared<pjx::testing::Subprocess*>(nullptr);
  pjx::testing::Subprocess::Handlers handlers;
  handlers.on_line = [this, sp, holder](std::string line) { on_line(*sp, *holder, line); };
  handlers.on_exit = [this, sp, holder](int status) { on_exit(*sp, *holder, status); };
  try {
    pjx::testing::Subprocess::Options o{
        pjx::testing::Subprocess::Options::Stdio::kPipes, stderr_file(s), false};
    o.network_namespace = s.network_namespace;
    s.proc = pjx::testing::Subprocess::spawn(loop_.io(), argv, worker_environment(s.env), o,
                                             std::move(handlers));
  } catch (const std::exception& e) {
    throw Abort{"error", std::string("worker ") + s.name + ": " + e.what()};
  }
  *holder = s.proc.get();
  ++s.spawns;
  loop_.record({{"type", "spawn"}, {"worker", s.name}, {"pid", s.proc->pid()}});
}

void Workers::spawn_and_start(WorkerSlot& s) {
  spawn(s);
  s.start_sent = true;
  send(s, {{"op", "start"}});
}

void Workers::send(WorkerSlot& s, Json op) {
  if (!s.proc || s.proc->exited() || s.proc->write_failed()) return;
  Json r = op;
  r["type"] = "op";
  r["worker"] = s.name;
  loop_.record(std::move(r));
  s.proc->write_line(op.dump());
  pjx::testing::Subprocess* p = s.proc.get();
  if (!loop_.pump_until([p] { return !p->writing() || p->write_failed() || p->exited(); },
                        monotonic_ns() + kWriteDeadline)) {
    loop_.note("the op to " + s.name + " could not be written within 2 s (it does not read stdin)");
  }
}

void Workers::on_line(WorkerSlot& s, pjx::testing::Subprocess* p, const std::string& line) {
  const std::int64_t rt = monotonic_ns();
  Json ev;
  try {
    ev = Json::parse(line);
  } catch (const Json::exception&) {
    ev = Json();
  }
  if (!ev.is_object() || !ev.contains("ev") || !ev["ev"].is_string()) {
    loop_.note(s.name + " wrote a line that is not a protocol event: " + line.substr(0, 300));
    return;
  }
  Json r = ev;
  r["type"] = "ev";
  r["worker"] = s.name;
  r["rt"] = rt;
  if (!ev.contains("t") || !ev["t"].is_number_integer()) r["t"] = rt;
  loop_.record(std::move(r));
  if (p != s.proc.get()) return;  // an earlier incarnation
  const auto t = ev.find("t");
  on_event(s, ev, t != ev.end() && t->is_number_integer() ? t->get<std::int64_t>() : rt);
}

namespace {

std::string message_of(const Json& ev) {
  const auto message = ev.find("message");
  return message != ev.end() && message->is_string() ? message->get<std::string>() : "(no message)";
}

// The publish ids of the unique keys "e:<id>" among a delivery's keys.
void add_delivered_ids(const Json& keys, std::set<std::int64_t>& into) {
  for (const Json& k : keys) {
    if (!k.is_string()) continue;
    const std::string key = k.get<std::string>();
    if (key.rfind("e:", 0) != 0) continue;
    try {
      into.insert(std::stoll(key.substr(2)));
    } catch (const std::exception&) {
    }
  }
}

}  // namespace

void Workers::on_event(WorkerSlot& s, const Json& ev, std::int64_t t) {
  const std::string kind = ev["ev"].get<std::string>();
  const bool has_id = ev.contains("id") && ev["id"].is_number_integer();
  const std::int64_t id = has_id ? ev["id"].get<std::int64_t>() : 0;
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
    s.fatal_message = message_of(ev);
  } else if (kind == "error" && !s.ready && s.start_sent && !ev.contains("id")) {
    s.start_error = message_of(ev);
  } else if (kind == "stopped") {
    s.stopped = true;
  } else if (kind == "stats") {
    s.stats_answered = true;
  } else if ((kind == "read_result" || kind == "error") && has_id && reads_.count(id) != 0) {
    reads_[id].answered = true;
  } else if ((kind == "published" || kind == "written" || kind == "error") && has_id) {
    auto it = publishes_.find(id);
    if (it == publishes_.end()) return;
    it->second.answered = true;
    if (kind == "error") return;
    it->second.committed = true;
    const auto begin = ev.find("t_begin");
    it->second.t_begin =
        begin != ev.end() && begin->is_number_integer() ? begin->get<std::int64_t>() : t;
  } else if (kind == "received" && ev.contains("keys") && ev["keys"].is_array()) {
    add_delivered_ids(ev["keys"], s.received);
  }
}

void Workers::on_exit(WorkerSlot& s, pjx::testing::Subprocess* p, int status) {
  const bool current = p == s.proc.get();
  // Expected: the harness ended it, or it had to reject its configuration.
  const bool expected = !current || s.killed || s.stop_sent || s.spec->expect_fatal || torn_down_;
  loop_.record({{"type", "exit"},
                {"worker", s.name},
                {"pid", p->pid()},
                {"status", status},
                {"expected", expected}});
}

bool Workers::wait_gone(WorkerSlot& s, std::int64_t deadline_ns) {
  if (!s.proc) return true;
  pjx::testing::Subprocess* p = s.proc.get();
  const bool exited = loop_.pump_until([p] { return p->exited(); }, deadline_ns);
  // The rest of its output, if the pipe is not held open by a grandchild.
  loop_.pump_until([p] { return p->eof(); }, std::min(deadline_ns, monotonic_ns() + 500 * kMs));
  return exited;
}

void Workers::kill(WorkerSlot& s) {
  if (!s.proc || s.proc->exited()) return;
  s.killed = true;
  s.proc->signal(SIGKILL);
}

void Workers::track_publish(std::int64_t id, const WorkerSlot& s) {
  publishes_[id] = PublishState{s.name, s.channel, s.proc.get()};
}

void Workers::track_read(std::int64_t id, const WorkerSlot& s) {
  reads_[id] = ReadState{s.name, s.proc.get()};
}

template <class Ops>
bool Workers::all_answered(const Ops& ops, std::int64_t deadline_ns) {
  return loop_.pump_until(
      [&] {
        for (const auto& [id, op] : ops) {
          const WorkerSlot& s = slot(op.worker);
          if (!op.answered && s.alive() && s.proc.get() == op.proc) return false;
        }
        return true;
      },
      deadline_ns);
}

bool Workers::publishes_answered(std::int64_t deadline_ns) {
  return all_answered(publishes_, deadline_ns);
}

bool Workers::reads_answered(std::int64_t deadline_ns) { return all_answered(reads_, deadline_ns); }

}  // namespace pjx::harness
