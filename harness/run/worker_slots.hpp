// Workers: the worker processes of one run, and what the runner knows of
// each from the protocol (harness/PROTOCOL.md).
//
// A WorkerSlot is one worker of the scenario across its incarnations: a
// restart retires the process and spawns a new one in the same slot. The
// state of the current incarnation (ready, caps, fatal, deliveries
// received) is rebuilt from its stdout lines; output of an earlier
// incarnation is recorded in the history but never updates that state.
// Every line a worker writes and every op sent to it is recorded.
//
// The publishes and reads in flight (sent, not yet answered) are kept here,
// since the answers arrive on the workers' stdout.
//
// Thread safety: none; the RunLoop's thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "run_loop.hpp"
#include "runner.hpp"
#include "scenario.hpp"
#include "subprocess.hpp"

namespace pjx::harness {

inline constexpr std::int64_t kStartDeadline = 15 * kSecond;  // spawn to ready
inline constexpr std::int64_t kExitDeadline = 3 * kSecond;    // kill or fatal to exit
inline constexpr std::int64_t kWriteDeadline = 2 * kSecond;   // an op into a pipe

struct WorkerSlot {
  const WorkerSpec* spec = nullptr;
  std::string name;
  std::string channel;
  std::string db;
  std::map<std::string, std::string> env;          // what the harness sets (recorded in meta)
  // Its host's network namespace (net_hosts.hpp), joined at every spawn;
  // empty: the harness's own.
  std::filesystem::path network_namespace;
  std::filesystem::path faketime_file;             // empty: no libfaketime
  std::unique_ptr<pjx::testing::Subprocess> proc;  // the current incarnation
  std::vector<std::unique_ptr<pjx::testing::Subprocess>> retired;
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
  bool killed = false;  // by the nemesis or the teardown
  bool stop_sent = false;
  bool stopped = false;
  bool stats_answered = false;
  std::set<std::int64_t> received;  // publish ids delivered to this incarnation

  bool alive() const { return proc && !proc->exited() && !killed; }
  bool has_cap(const std::string& cap) const {
    return std::find(caps.begin(), caps.end(), cap) != caps.end();
  }
  bool can_publish() const {
    return alive() && ready && !paused && !stop_sent && !spec->expect_fatal;
  }
  // Speaks protocol v2's read and write (ready.caps has "reads").
  bool can_read() const { return can_publish() && has_cap("reads"); }
};

// A publish (or write) sent and the incarnation it was sent to.
struct PublishState {
  std::string worker;
  std::string channel;
  const pjx::testing::Subprocess* proc = nullptr;
  bool answered = false;
  bool committed = false;
  std::int64_t t_begin = 0;
};

struct ReadState {
  std::string worker;
  const pjx::testing::Subprocess* proc = nullptr;
  bool answered = false;
};

// Where a run's workers find their database, channel and clocks.
struct SlotSettings {
  std::filesystem::path run_dir;
  std::string channel;          // the run's channel; a worker's own is "<channel>:<name>"
  std::filesystem::path truth;  // the [reads] truth store
  std::filesystem::path libfaketime;
  bool redis = false;  // REDIS_URL comes later (RunRedis::start)
};

// The power-loss log every worker of a run with a power_loss fault records
// into (PJX_WORKER_POWER_LOG): beside the run directory, like the faketime
// files, so that a full or read-only run directory cannot stop it.
std::filesystem::path power_log_path(const std::filesystem::path& run_dir);

class Workers {
 public:
  Workers(RunLoop& loop, const RunOptions& options, const Scenario& scenario, const Timing& timing);

  // Adds a slot for each of the scenario's workers, its environment set
  // from `settings` (nothing is started).
  void prepare(const SlotSettings& settings);

  WorkerSlot& slot(const std::string& name);
  const std::vector<std::unique_ptr<WorkerSlot>>& all() const { return slots_; }

  // Starts a new incarnation of `s` (the previous one is retired). Throws
  // Abort when the process cannot be started.
  void spawn(WorkerSlot& s);
  // spawn() and send `start`, without waiting for `ready`.
  void spawn_and_start(WorkerSlot& s);
  // Records and writes one op; waits (kWriteDeadline) until it is written.
  void send(WorkerSlot& s, Json op);
  void kill(WorkerSlot& s);
  // Waits for the exit of the current incarnation and the rest of its output.
  bool wait_gone(WorkerSlot& s, std::int64_t deadline_ns);
  // The start phase: every worker without start_at, `start` answered.
  // Throws Abort ("error" for a worker that is not ready, "skip" for one
  // that lacks a capability the scenario requires).
  void start_initial();

  // Sent ops awaiting their answer: by publish id, by read id.
  std::map<std::int64_t, PublishState>& publishes() { return publishes_; }
  std::map<std::int64_t, ReadState>& reads() { return reads_; }
  void track_publish(std::int64_t id, const WorkerSlot& s);
  void track_read(std::int64_t id, const WorkerSlot& s);
  // Every publish (read) sent to a still-running incarnation is answered.
  bool publishes_answered(std::int64_t deadline_ns);
  bool reads_answered(std::int64_t deadline_ns);

  // After the teardown every exit is expected.
  void mark_torn_down() { torn_down_ = true; }
  std::filesystem::path stderr_file(const WorkerSlot& s) const;

 private:
  void on_line(WorkerSlot& s, pjx::testing::Subprocess* p, const std::string& line);
  void on_event(WorkerSlot& s, const Json& ev, std::int64_t t);
  void on_exit(WorkerSlot& s, pjx::testing::Subprocess* p, int status);
  void configure(WorkerSlot& s, const WorkerSpec& spec, const SlotSettings& settings) const;
  void start_rejected(const std::vector<WorkerSlot*>& starting);
  void start_one_by_one(const std::vector<WorkerSlot*>& starting);
  void require_ready(const std::vector<WorkerSlot*>& starting) const;
  void require_caps(const std::vector<WorkerSlot*>& starting) const;
  template <class Ops>
  bool all_answered(const Ops& ops, std::int64_t deadline_ns);

  RunLoop& loop_;
  const RunOptions& options_;
  const Scenario& scenario_;
  const Timing& timing_;
  std::vector<std::unique_ptr<WorkerSlot>> slots_;
  std::map<std::int64_t, PublishState> publishes_;
  std::map<std::int64_t, ReadState> reads_;
  bool torn_down_ = false;
};

// "killed by signal 9", "exit status 3".
std::string describe_status(int status);

// `text` with every `from` replaced by `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

}  // namespace pjx::harness
