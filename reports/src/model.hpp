// The report's view of its inputs: results documents (results.json,
// bench.json, a chaos run's summary.json) and the histories they name, loaded and validated against
// harness/HISTORY.md.
//
// Contract: loading either returns a complete model or throws
// std::runtime_error whose message starts with the offending file's path and
// says what is wrong. Optional fields that are absent read as empty; fields
// of the wrong type are errors. Types are plain values; no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pjx::reports {

// Ordered from best to worst; a scenario's verdict is the worst of its checks.
enum class Verdict { kPass, kReproduced, kSkip, kFail, kError };

std::string_view verdict_name(Verdict verdict);
std::optional<Verdict> parse_verdict(std::string_view name);

struct Check {
  std::string name;
  Verdict verdict = Verdict::kPass;
  std::string measured;
  std::string bound;
  std::string summary;
  std::vector<std::string> evidence;
  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json details = nlohmann::json::object();
};

// A history file: its exact bytes (copied into the report) and its records.
struct History {
  std::filesystem::path source;
  std::string bytes;
  std::vector<nlohmann::json> records;  // each an object with "type" and "t"
};

struct Scenario {
  std::string name;
  std::string file;
  std::string guarantee;
  Verdict verdict = Verdict::kPass;
  std::string expect;
  std::string rerun;
  std::string note;  // "note" or "reason": why a scenario was skipped or errored
  double duration_s = 0;
  nlohmann::json metrics = nlohmann::json::object();
  std::vector<Check> checks;
  std::shared_ptr<const History> history;  // null when the scenario names none
  std::string history_out;  // its path inside the report ("histories/x.jsonl"), set by the writer
};

struct BenchRun {
  std::string bench;  // "latency", "throughput", "idle", "growth", ...
  nlohmann::json params = nlohmann::json::object();
  nlohmann::json metrics = nlohmann::json::object();
  std::string load_before;  // /proc/loadavg's 1, 5, 15 min figures; empty in old files
  std::string load_after;
  // What the harness's host-lag probe saw during the runs: "2 (longest
  // 104.2 ms, 121.5 ms in all)"; empty in old files.
  std::string host_stalls;
  nlohmann::json series = nlohmann::json::array();  // growth: [s, db bytes, wal bytes] rows
};

// A `pjx-harness chaos` run, from its summary.json ("kind": "chaos"; see
// harness/README.md). Counts absent from the file read as 0.
struct ChaosEffect {
  std::string kind;  // the chaos fault kind: "pause", "power-loss", ...
  std::int64_t planned = 0;
  std::int64_t applied = 0;
  std::int64_t judged = 0;
  std::int64_t reached = 0;
  // Judged at least once and never reached the path it targets.
  bool never_reached() const { return judged > 0 && reached == 0; }
};

// One applied fault of the schedule; times are seconds of workload time,
// the epochs laid end to end.
struct ChaosWindow {
  std::int64_t epoch = 0;
  std::string kind;
  std::string worker;  // "" when the fault names none
  double begin_s = 0;
  double end_s = 0;             // == begin_s for an instant fault
  std::optional<bool> reached;  // nullopt: not judged
  bool instant() const { return end_s <= begin_s; }
};

// failing.toml or minimal.toml: where it is, its size, how to rerun it.
struct ChaosPlanFile {
  std::string plan;
  std::int64_t faults = 0;
  std::int64_t ops = 0;
  std::string rerun;
};

struct ChaosRun {
  std::int64_t epochs = 0;
  std::int64_t epochs_failed = 0;
  std::int64_t epochs_error = 0;
  std::int64_t publishes = 0;
  std::int64_t reads = 0;
  std::int64_t flushes = 0;
  std::vector<ChaosEffect> effects;                               // key order
  std::vector<std::pair<std::string, std::int64_t>> violations;  // of the reference, by check
  std::vector<std::pair<std::string, std::int64_t>> documented;  // "impl:check"
  // Checks that failed only because an epoch did not exercise what they
  // judge, by check (absent from older summaries: empty).
  std::vector<std::pair<std::string, std::int64_t>> not_exercised;
  std::vector<std::string> errors;
  std::vector<std::string> doublecheck_differences;
  std::vector<double> epoch_workload_s;
  std::vector<ChaosWindow> schedule;
  std::optional<ChaosPlanFile> failing;
  std::optional<ChaosPlanFile> minimal;

  std::int64_t violation_count() const;
  // The run's verdict: fail with violations of the reference, else error
  // when an epoch could not run or a doublecheck differed, else pass.
  Verdict verdict() const;
};

// One results document: a conformance run, a benchmark run or a chaos run.
struct ResultsDoc {
  nlohmann::json raw;  // the document as read
  bool is_bench = false;
  bool is_chaos = false;
  bool is_conformance() const { return !is_bench && !is_chaos; }
  std::string tool;
  std::string version;
  std::string command;
  std::string started_at;
  std::string commit;
  std::string worker_cmd;
  std::string backend;
  std::string timing;
  std::string seed;
  std::optional<double> duration_s;
  nlohmann::json machine = nlohmann::json::object();
  std::vector<Scenario> scenarios;  // conformance only
  std::vector<BenchRun> runs;       // bench only
  ChaosRun chaos;                   // chaos only
};

// Reads one results file: one document, or a JSON array of documents (the
// merged results.json of a report over several inputs). Histories are read
// from paths relative to the file's directory.
std::vector<ResultsDoc> load_results_file(const std::filesystem::path& path);

// The same for a results file's text; `path` names it in messages and is
// where history paths are relative to. Histories are read only when
// `read_histories`.
std::vector<ResultsDoc> parse_results(std::string_view text, const std::filesystem::path& path,
                                      bool read_histories);

// Reads one history JSONL file. Blank lines are ignored.
History load_history(const std::filesystem::path& path);

// Looks up a number at `key` in a JSON object; nullopt if absent or not a number.
std::optional<double> number_at(const nlohmann::json& object, std::string_view key);

// A record's timestamp in ns: `t`, or for `ev` records without `t`, `rt`.
std::optional<std::int64_t> record_time(const nlohmann::json& record);

}  // namespace pjx::reports
