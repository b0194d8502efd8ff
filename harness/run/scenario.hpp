// Scenario: one conformance or reproduction scenario as read from its TOML
// file (the format is documented in scenarios/README.md).
//
// A scenario names the guarantee it tests in words, the checks that judge
// it, its workers (processes speaking harness/PROTOCOL.md), a workload of
// publishes and a list of faults, all timed relative to the start of the
// workload with durations that scale with the timing (duration.hpp).
//
// Loading validates everything that can be checked without running: types,
// unknown keys (rejected, with the key's name), unknown checks, fault
// actions, worker names referenced by publishes and faults, durations. Every
// error names the file and the line.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "duration.hpp"

namespace pjx::harness {

// A scenario file that cannot be used. what() is "FILE:LINE: message".
class ScenarioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WorkerSpec {
  std::string name;
  // Empty: the run's private channel. Otherwise a channel of its own, made
  // private to the run by prefixing the run's channel ("<run channel>:a").
  std::string channel;
  // Database path; "{dir}" stands for the scenario's run directory.
  // Default "{dir}/pjx.db".
  std::optional<std::string> db;
  std::map<std::string, std::string> env;  // applied after the harness's own variables
  bool expect_fatal = false;                // the configuration must be rejected
  std::string why;                          // why it must be rejected
  std::optional<Duration> start_at;         // started during the workload; else before it
  bool faketime = false;                    // started under libfaketime (implied by clock_step)
  // Started where it may open only this many inotify instances (0: none, as
  // when the per-user limit is exhausted), in a user namespace of its own so
  // that no other process is affected (nemesis.hpp). Empty: no limit.
  std::optional<int> inotify_instances;
  // Its own command line (split like a shell), for a fleet of several
  // implementations on one file; empty: the run's --worker-cmd.
  std::optional<std::string> cmd;
  int line = 0;
};

struct WorkloadSpec {
  int publishes = 0;
  Duration start;                     // when the first publish is sent
  std::optional<Duration> interval;   // between publishes (or `rate`)
  std::optional<double> rate;         // publishes per second
  std::vector<std::string> publishers;  // empty: every worker started before the workload
  int shared_keys = 1;                // random shared keys per publish besides e:<id>
  int key_space = 100;                // shared keys are drawn from this many per prefix
  int pad_bytes = 0;                  // > 0: one more key "pad:<id>:xxx..." of this many bytes
  // Publishes sent at the same moment, each from another publisher: the
  // `publishes` go out `together` at a time, `interval` (or 1 / rate)
  // apart. > 1 makes commits of several processes land while listeners are
  // reading the previous one.
  int together = 1;
};

// `[reads]`: what the application does with its data (protocol v2): reads
// through each worker's cache of a small key space ("k0", "k1", ...; "k0"
// is the hot key) mixed with writes (bump the key's version in the truth
// store, then invalidate it), plus fill-vs-invalidate races: a slow read on
// one worker, a write of its key ("race:<n>", written once) from another
// worker while the read's loader waits, then a read of the key on the first
// worker once the write must be visible. After the quiesce phase every worker
// reads every key back. Judged by the `stale_reads` check.
struct ReadsSpec {
  int ops = 0;                       // reads and writes, in all
  Duration start;                    // when the first op is sent
  Duration interval;                 // between ops
  int keys = 4;                      // k0 .. k(keys-1)
  int hot_percent = 50;              // share of ops on k0
  int write_percent = 25;            // share of ops that are writes
  std::vector<std::string> readers;  // empty: the default publishers
  std::vector<std::string> writers;  // empty: the readers
  int races = 0;
  Duration slow;                     // the racing read's loader pause
  int bursts = 0;                    // `burst` ops: publishes from several threads at once
  int burst_size = 4;
};

// One explicitly timed read (`[[read]]`) or write (`[[write]]`) of a
// truth-store key, for a scenario that needs one at a given moment (a key
// cached before a pause, written while the worker is paused).
struct DataOpSpec {
  bool write = false;
  Duration at;
  std::string worker;
  std::string key;
  std::vector<std::string> keys;  // write: the keys it invalidates (holds key); empty: {key}
  std::optional<Duration> slow;  // read: the loader's pause
  int line = 0;
};

// One explicitly timed publish.
struct PublishSpec {
  Duration at;
  std::string worker;  // empty: a random publisher
  std::vector<std::string> keys;  // besides e:<id>
  bool await = false;  // the timeline waits for its `published`/`error`
  int line = 0;
};

struct FaultSpec {
  std::string action;  // pause kill stop restart lock clock_step delete_db replace_db
                       // readonly_dir disk_full vfs_fault (and the redis ones)
  std::string worker;  // for pause, kill, stop, restart, clock_step
  Duration at;
  std::optional<Duration> duration;  // for pause, lock, readonly_dir, disk_full, vfs_fault
  bool during_publish = false;       // kill: send a publish, then kill at once
  bool sidecars = false;             // delete_db, replace_db: also unlink -wal and -shm
  double offset_s = 0;               // clock_step: seconds added to the wall clock
  std::string offset;                // clock_step: as written
  double keep = 0;                   // power_loss: share of the unsynced writes the disk keeps
  // partition: the hosts cut from the others (worker names, or "redis"),
  // the direction dropped ("both", "in": packets to the cut hosts, "out":
  // packets from them), and whether the redis-server's side of each cut
  // worker's subscription is aborted (CLIENT KILL) once the cut is made.
  std::vector<std::string> hosts;
  std::string direction = "both";
  bool abort_server_side = false;
  int line = 0;

  bool is_window() const { return duration.has_value(); }
};

// A file the runner writes before starting workers ("{dir}" allowed in path
// and link): `text` as its content, or, with `link`, a symbolic link to that
// path.
struct FileSpec {
  std::string path;
  std::string text;
  std::string link;
};

// A filesystem mounted on `path` ("{dir}" allowed) before the workers
// start and unmounted after the run: `fs = "fuse"`, a FUSE mirror (bindfs)
// of a folder beside it, where SQLite's locking is not a local
// filesystem's (fuse_mount.hpp).
struct MountSpec {
  std::string path;
  std::string fs;
  int line = 0;
};

// `[backend.<name>]`: how the scenario differs under one backend, where a
// guarantee differs by design (e.g. Redis delivers a publisher's own
// messages back to it). Unset fields keep the file's values.
struct BackendOverride {
  std::string why;  // required: the difference in words
  std::optional<std::vector<std::string>> checks;
  nlohmann::json check_params = nlohmann::json::object();  // per check, replaces that check's table
  std::optional<std::vector<std::string>> requires_caps;
  std::optional<Duration> quiesce_timeout;
  std::string pubsub_limit;  // redis: `client-output-buffer-limit pubsub` of the harness's server
};

inline constexpr const char* kBackendNames[] = {"sqlite", "redis"};

struct Scenario {
  std::filesystem::path file;
  std::string name;
  std::string guarantee;
  std::vector<std::string> checks;
  // check name -> parameters. A parameter whose name ends in "_ms" may be a
  // duration string; resolved_check_params() turns it into milliseconds.
  nlohmann::json check_params = nlohmann::json::object();
  std::string expect = "pass";  // "pass" or "reproduced"
  std::vector<std::string> requires_caps;
  std::optional<std::string> timing;  // the default timing for `run`
  std::vector<WorkerSpec> workers;
  std::optional<WorkloadSpec> workload;
  std::optional<ReadsSpec> reads;
  std::vector<DataOpSpec> data_ops;  // [[read]] and [[write]], file order
  std::vector<PublishSpec> publishes;
  std::vector<FaultSpec> faults;
  std::vector<FileSpec> files;
  std::vector<MountSpec> mounts;
  std::optional<Duration> quiesce_timeout;
  // The backends the scenario applies to (`backends`; default ["sqlite"]).
  std::vector<std::string> backends = {"sqlite"};
  std::map<std::string, BackendOverride> backend_overrides;  // [backend.<name>]
  // The backend this value was made for by for_backend(); "sqlite" as loaded.
  std::string backend = "sqlite";
  // Set by for_backend("redis") from [backend.redis].pubsub_limit; empty:
  // the server's default.
  std::string redis_pubsub_limit;
  // `hosts = true` (Redis only): every worker and the redis-server on a
  // network namespace of its own (net_hosts.hpp); needed by `partition`.
  bool hosts = false;

  bool applies_to(std::string_view backend_name) const;
  // The scenario as run against `backend_name`: the [backend.<name>] table
  // applied (checks, check_params per check, requires, quiesce_timeout).
  // REQUIRES: applies_to(backend_name).
  Scenario for_backend(const std::string& backend_name) const;

  const WorkerSpec* find_worker(std::string_view worker) const;
  // check_params with every duration string of a "*_ms" key in milliseconds.
  nlohmann::json resolved_check_params(const Timing& run_timing) const;
};

// The workers that publish when the scenario does not say: those started
// before the workload and not expected to be rejected, in file order.
std::vector<std::string> default_publishers(const Scenario& scenario);

// Parses a scenario. `source` names the file in messages; `known_checks`
// lists the check names accepted in `checks`. Throws ScenarioError.
Scenario parse_scenario(std::string_view toml_text, const std::string& source,
                        const std::vector<std::string>& known_checks);

// Reads and parses a file. Throws ScenarioError (also when it cannot be read).
Scenario load_scenario(const std::filesystem::path& file,
                       const std::vector<std::string>& known_checks);

}  // namespace pjx::harness
