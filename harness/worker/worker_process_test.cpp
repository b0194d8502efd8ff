// End-to-end tests of the pjx-worker executable over its stdin/stdout
// protocol, alone, with its defects, and against pyjinhx_worker.py driving
// upstream_worker.py (the upstream emulation) on one database file.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <tuple>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "temp_dir.hpp"
#include "pjx/invalidation_backend.hpp"

namespace pjx::harness {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ChildProcess;
using pjx::testing::TempDir;

constexpr auto kDeadline = 15s;                    // generous: a loaded 2-core machine
const std::string kEAcute = "\xc3\xa9";            // é
const std::string kGrinning = "\xf0\x9f\x98\x80";  // 😀 (outside the BMP)

ChildProcess::EnvChanges worker_env(const std::string& db) {
  return {{"PJX_INVALIDATION_DB", db},
          {"PJX_TRUTH_DB", db + ".truth"},
          {"PJX_POLL_INTERVAL", "0.02"},
          {"PJX_RETENTION", "5"},
          {"PJX_INVALIDATION_CHANNEL", std::nullopt},
          {"PJX_BUSY_TIMEOUT", std::nullopt},
          {"PJX_WORKER_DEFECT", std::nullopt},
          {"PJX_WORKER_FAULT", std::nullopt},
          {"PJX_WORKER_FAULT_ARMED", std::nullopt},
          {"REDIS_URL", std::nullopt}};
}

std::vector<std::string> cpp_worker(std::vector<std::string> args = {}) {
  args.insert(args.begin(), PJX_WORKER_EXE);
  return args;
}

bool have_python() {
  const std::string python = PJX_PYTHON3;
  return !python.empty() && ::access(python.c_str(), X_OK) == 0;
}

// The Python adapter with its default backend, the upstream emulation.
std::vector<std::string> upstream_worker() { return {PJX_PYTHON3, PJX_PYJINHX_WORKER_PY}; }

// Sends start and returns `ready` (null after a failure, recorded).
json start(ChildProcess& worker) {
  worker.send(json{{"op", "start"}});
  auto ready = worker.wait_event(
      [](const json& e) { return e["ev"] == "ready" || e["ev"] == "error" || e["ev"] == "fatal"; },
      kDeadline);
  EXPECT_TRUE(ready.has_value()) << "no answer to start";
  if (!ready) return nullptr;
  EXPECT_EQ((*ready)["ev"], "ready") << ready->dump();
  return *ready;
}

// Sends a publish and returns its answer (`published` or `error`).
json publish(ChildProcess& worker, std::int64_t id, const std::vector<std::string>& keys) {
  worker.send(json{{"op", "publish"}, {"id", id}, {"keys", keys}});
  auto answer = worker.wait_event(
      [id](const json& e) {
        return (e["ev"] == "published" || e["ev"] == "error") && e.value("id", -1) == id;
      },
      kDeadline);
  EXPECT_TRUE(answer.has_value()) << "no answer to publish " << id;
  return answer.value_or(nullptr);
}

KeySet received_keys(ChildProcess& worker) {
  auto received = worker.wait_ev("received", kDeadline);
  EXPECT_TRUE(received.has_value()) << "nothing received";
  return received ? (*received)["keys"].get<KeySet>() : KeySet{};
}

void stop(ChildProcess& worker) {
  worker.send(json{{"op", "stop"}});
  EXPECT_TRUE(worker.wait_ev("stopped", kDeadline).has_value());
  EXPECT_EQ(worker.wait_exit(kDeadline), 0);
}

// Exchanges keys between `a` and `b` in both directions; each side's first
// delivery must be the other's keys (never its own, published just before).
void expect_exchange(ChildProcess& a, ChildProcess& b, const std::vector<std::string>& a_keys,
                     const std::vector<std::string>& b_keys) {
  const json a_pub = publish(a, 1, a_keys);
  ASSERT_EQ(a_pub["ev"], "published") << a_pub.dump();
  EXPECT_GE(a_pub["t"].get<std::int64_t>(), a_pub["t_begin"].get<std::int64_t>());
  EXPECT_EQ(received_keys(b), KeySet(a_keys.begin(), a_keys.end()));
  const json b_pub = publish(b, 2, b_keys);
  ASSERT_EQ(b_pub["ev"], "published") << b_pub.dump();
  EXPECT_EQ(received_keys(a), KeySet(b_keys.begin(), b_keys.end()));
}

TEST(WorkerProcess, TwoWorkersOnOneFileDeliverEachOthersKeysButNotTheirOwn) {
  TempDir dir;
  const auto env = worker_env(dir.file("inval.db"));
  ChildProcess w0(cpp_worker(), env);
  ChildProcess w1(cpp_worker(), env);
  const json ready0 = start(w0);
  const json ready1 = start(w1);
  ASSERT_FALSE(ready0.is_null());
  ASSERT_FALSE(ready1.is_null());
  EXPECT_EQ(ready0["pid"], w0.pid());
  EXPECT_EQ(ready0["instance_id"].get<std::string>().size(), 32u);
  EXPECT_NE(ready0["instance_id"], ready1["instance_id"]);
  EXPECT_EQ(ready0["caps"],
            json({"stats", "flush", "rejects_memory", "reopen", "outbox", "wakes", "reads", "burst"}));
  EXPECT_EQ(ready0["protocol"], 2);
  EXPECT_TRUE(ready0["impl"].get<std::string>().starts_with("pjx-inval-cpp "));

  expect_exchange(w0, w1, {"user:1", "user:2"}, {"order:7"});

  w1.send(json{{"op", "stats"}, {"id", 9}});
  const auto stats = w1.wait_ev("stats", kDeadline);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ((*stats)["published"], 1);
  EXPECT_EQ((*stats)["queued"], 0);
  EXPECT_EQ((*stats)["outbox_depth"], 0);
  EXPECT_EQ((*stats)["outbox_dropped"], 0);
  EXPECT_GE((*stats)["rows_received"].get<int>(), 1);
  EXPECT_GT((*stats)["polls"].get<int>(), 0);
  EXPECT_TRUE((*stats)["listening"].get<bool>());
  EXPECT_EQ((*stats)["cache"]["remote_invalidations"], 1);
  for (const char* field : {"publish_failures", "poll_errors", "malformed_rows", "cursor", "lag",
                            "since_last_poll_ns", "last_error", "t"}) {
    EXPECT_TRUE(stats->contains(field)) << field;
  }
  stop(w0);
  stop(w1);
}

TEST(WorkerProcess, PrivateDatabasesAreFatalBeforeAnyOp) {
  for (const char* db : {":memory:", "", "file::memory:?cache=shared"}) {
    ChildProcess worker(cpp_worker(), worker_env(db));
    const auto fatal = worker.wait_ev("fatal", kDeadline);
    ASSERT_TRUE(fatal.has_value()) << "db \"" << db << "\"";
    EXPECT_FALSE((*fatal)["message"].get<std::string>().empty());
    const auto status = worker.wait_exit(kDeadline);
    EXPECT_EQ(status, 2) << "db \"" << db << "\" (stdin still open: it must not wait for ops)";
  }
}

TEST(WorkerProcess, BadConfigurationValueIsFatalNamingTheVariable) {
  TempDir dir;
  auto env = worker_env(dir.file("inval.db"));
  env["PJX_POLL_INTERVAL"] = "soon";
  ChildProcess worker(cpp_worker(), env);
  const auto fatal = worker.wait_ev("fatal", kDeadline);
  ASSERT_TRUE(fatal.has_value());
  EXPECT_NE((*fatal)["message"].get<std::string>().find("PJX_POLL_INTERVAL"), std::string::npos);
  EXPECT_EQ(worker.wait_exit(kDeadline), 2);
}

// PJX_WORKER_POWER_LOG: the worker records its writes (cap power_loss); a log
// it cannot open is fatal, naming the path. PJX_WORKER_CHECKPOINT_PAGES
// takes a page count only.
TEST(WorkerFault, PowerLossLogAndCheckpointPages) {
  TempDir dir;
  auto env = worker_env(dir.file("inval.db"));
  env["PJX_WORKER_POWER_LOG"] = dir.file("power.log");
  env["PJX_WORKER_CHECKPOINT_PAGES"] = "40";
  {
    ChildProcess worker(cpp_worker(), env);
    const json ready = start(worker);
    ASSERT_FALSE(ready.is_null());
    const auto caps = ready["caps"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(caps.begin(), caps.end(), "power_loss"), caps.end()) << ready.dump();
    worker.send({{"op", "publish"}, {"id", 1}, {"keys", {"k"}}});
    ASSERT_TRUE(worker.wait_ev("published", kDeadline).has_value());
  }
  EXPECT_GT(std::filesystem::file_size(dir.file("power.log")), 0u);
  for (const auto& [name, value, expected] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"PJX_WORKER_POWER_LOG", "/nonexistent-dir/power.log", "/nonexistent-dir/power.log"},
           {"PJX_WORKER_CHECKPOINT_PAGES", "lots", "PJX_WORKER_CHECKPOINT_PAGES=\"lots\""}}) {
    auto bad = worker_env(dir.file("inval.db"));
    bad[name] = value;
    ChildProcess worker(cpp_worker(), bad);
    const auto fatal = worker.wait_ev("fatal", kDeadline);
    ASSERT_TRUE(fatal.has_value()) << name;
    EXPECT_NE((*fatal)["message"].get<std::string>().find(expected), std::string::npos) << (*fatal).dump();
    EXPECT_EQ(worker.wait_exit(kDeadline), 2);
  }
}

TEST(WorkerFault, BadFaultSpecIsFatalNamingTheVariableAndThePart) {
  TempDir dir;
  for (const auto& [name, value, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"PJX_WORKER_FAULT", "kind=frobnicate", "unknown kind \"frobnicate\""},
           {"PJX_WORKER_FAULT", "kind=read,error=full", "does not apply"},
           {"PJX_WORKER_FAULT_ARMED", "maybe", "PJX_WORKER_FAULT_ARMED"}}) {
    auto env = worker_env(dir.file("inval.db"));
    env["PJX_WORKER_FAULT"] = "kind=write";
    env[name] = value;
    ChildProcess worker(cpp_worker(), env);
    const auto fatal = worker.wait_ev("fatal", kDeadline);
    ASSERT_TRUE(fatal.has_value()) << name << "=" << value;
    const std::string message = (*fatal)["message"].get<std::string>();
    EXPECT_NE(message.find(name), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(worker.wait_exit(kDeadline), 2);
  }
}

TEST(WorkerFault, SignalsArmAndClearTheFaultAndPublishesReportIt) {
  TempDir dir;
  auto env = worker_env(dir.file("inval.db"));
  env["PJX_WORKER_FAULT"] = "kind=write,nth=1,error=full,persistent=1";
  env["PJX_WORKER_FAULT_ARMED"] = "0";
  ChildProcess worker(cpp_worker(), env);
  ChildProcess listener(cpp_worker(), worker_env(dir.file("inval.db")));
  const json ready = start(worker);
  ASSERT_FALSE(ready.is_null());
  ASSERT_FALSE(start(listener).is_null());
  const auto caps = ready["caps"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(caps.begin(), caps.end(), "fault_vfs"), caps.end()) << ready.dump();
  EXPECT_EQ(publish(worker, 1, {"before"})["ev"], "published");
  EXPECT_EQ(received_keys(listener), KeySet{"before"});

  ::kill(worker.pid(), SIGUSR1);
  const auto armed = worker.wait_event(
      [](const json& e) { return e["ev"] == "warning" && e["message"].get<std::string>().find("fault armed") == 0; },
      kDeadline);
  ASSERT_TRUE(armed.has_value());
  // Either outcome is acceptable: an error naming the full disk, or
  // acknowledged (queued by the backend) and delivered once writes work.
  const json during = publish(worker, 2, {"during"});
  if (during["ev"] == "error") {
    EXPECT_NE(during.value("message", std::string()).find("full"), std::string::npos) << during.dump();
  }

  ::kill(worker.pid(), SIGUSR2);
  const auto cleared = worker.wait_event(
      [](const json& e) { return e["ev"] == "warning" && e["message"].get<std::string>().find("fault cleared") == 0; },
      kDeadline);
  ASSERT_TRUE(cleared.has_value());
  EXPECT_EQ(publish(worker, 3, {"after"})["ev"], "published");
  if (during["ev"] == "published") {
    EXPECT_EQ(received_keys(listener), KeySet{"during"});
  }
  EXPECT_EQ(received_keys(listener), KeySet{"after"});  // and never "during" after an error
  stop(worker);
  stop(listener);
}

TEST(WorkerProcess, UnknownOpsBadLinesAndBadKeysAreErrorsThatDoNotEndTheWorker) {
  TempDir dir;
  ChildProcess worker(cpp_worker(), worker_env(dir.file("inval.db")));
  ASSERT_FALSE(start(worker).is_null());

  worker.send(json{{"op", "frobnicate"}, {"id", 7}});
  auto unsupported = worker.wait_ev("error", kDeadline);
  ASSERT_TRUE(unsupported.has_value());
  EXPECT_EQ((*unsupported)["id"], 7);
  EXPECT_EQ((*unsupported)["op"], "frobnicate");
  EXPECT_EQ((*unsupported)["unsupported"], true);

  worker.send_line("this is not json");
  auto bad = worker.wait_ev("error", kDeadline);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ((*bad)["bad_line"], true);
  EXPECT_FALSE(bad->contains("id"));

  worker.send_line(R"({"op":"publish","id":3,"keys":"user:1"})");
  auto bad_keys = worker.wait_ev("error", kDeadline);
  ASSERT_TRUE(bad_keys.has_value());
  EXPECT_EQ((*bad_keys)["id"], 3);
  EXPECT_FALSE(bad_keys->contains("bad_line"));

  worker.send_line(R"({"op":"publish","keys":["a"]})");
  auto no_id = worker.wait_ev("error", kDeadline);
  ASSERT_TRUE(no_id.has_value());
  EXPECT_NE((*no_id)["message"].get<std::string>().find("id"), std::string::npos);

  const json empty = publish(worker, 4, {});
  EXPECT_EQ(empty["ev"], "published") << "an empty key set is a no-op that succeeds";

  worker.send(json{{"op", "ping"}, {"id", 5}});
  auto pong = worker.wait_ev("pong", kDeadline);
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ((*pong)["id"], 5);
  stop(worker);
}

TEST(WorkerProcess, EndOfInputStopsTheWorkerWithStatusZero) {
  TempDir dir;
  ChildProcess worker(cpp_worker(), worker_env(dir.file("inval.db")));
  ASSERT_FALSE(start(worker).is_null());
  worker.close_stdin();
  EXPECT_EQ(worker.wait_exit(kDeadline), 0);
}

std::int64_t count_rows(const std::string& db) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(raw, "SELECT COUNT(*) FROM pjx_invalidation", -1, &stmt, nullptr),
            SQLITE_OK);
  std::int64_t n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
  return n;
}

TEST(WorkerProcess, ALockedDatabaseQueuesThePublishWhileDropWhenBusyClaimsSuccess) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  auto env = worker_env(db);
  env["PJX_BUSY_TIMEOUT"] = "0.2";
  ChildProcess correct(cpp_worker(), env);
  ChildProcess dropping(cpp_worker({"--defect", "drop-when-busy"}), env);
  ASSERT_FALSE(start(correct).is_null());
  ASSERT_FALSE(start(dropping).is_null());

  sqlite3* lock = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &lock), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(lock, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const json queued = publish(correct, 1, {"queued"});
  const json dropped = publish(dropping, 2, {"dropped"});
  EXPECT_EQ(count_rows(db), 0) << "nothing can commit while the lock is held";
  sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(lock);

  // The library's worker says the event is only queued; the defect claims a commit.
  EXPECT_EQ(queued["ev"], "published") << queued.dump();
  EXPECT_EQ(queued.value("queued", false), true) << queued.dump();
  EXPECT_EQ(dropped["ev"], "published") << dropped.dump();
  EXPECT_FALSE(dropped.contains("queued")) << dropped.dump();
  stop(correct);  // drains the outbox: the lock is gone
  stop(dropping);
  EXPECT_EQ(count_rows(db), 1) << "the queued publish committed, the dropped one never did";
}

TEST(WorkerDefects, NoGapDetectionClaimsTheFlushCapabilityItLacks) {
  TempDir dir;
  ChildProcess worker(cpp_worker({"--defect", "no-gap-detection"}), worker_env(dir.file("inval.db")));
  const json ready = start(worker);
  ASSERT_FALSE(ready.is_null());
  EXPECT_EQ(ready["caps"], json({"stats", "rejects_memory", "flush", "reads", "burst"}));
  EXPECT_TRUE(ready["impl"].get<std::string>().ends_with("mutant:no-gap-detection"));
  stop(worker);
}

TEST(WorkerDefects, ListDefectsNamesEveryDefect) {
  ChildProcess lister(cpp_worker({"--list-defects"}), {});
  std::string all;
  while (auto line = lister.read_line(kDeadline)) all += *line + "\n";
  for (const char* name : {"ignore-channel", "replay-history", "deliver-own", "never-prune",
                           "drop-when-busy", "accept-memory", "skip-rows", "deliver-late",
                           "stale-fill", "flush-not-applied", "evict-wrong-key"}) {
    EXPECT_NE(all.find(name), std::string::npos) << name << " missing from:\n" << all;
  }
  EXPECT_EQ(lister.wait_exit(kDeadline), 0);
}

TEST(WorkerDefects, DeliverOwnFromTheCommandLineDeliversItsOwnKeys) {
  TempDir dir;
  ChildProcess worker(cpp_worker({"--defect", "deliver-own"}), worker_env(dir.file("inval.db")));
  const json ready = start(worker);
  ASSERT_FALSE(ready.is_null());
  EXPECT_NE(ready["impl"].get<std::string>().find("mutant:deliver-own"), std::string::npos);
  EXPECT_EQ(publish(worker, 1, {"mine"})["ev"], "published");
  EXPECT_EQ(received_keys(worker), KeySet{"mine"});
  stop(worker);
}

TEST(WorkerDefects, AcceptMemoryFromTheEnvironmentRunsOnAPrivateDatabase) {
  auto env = worker_env(":memory:");
  env["PJX_WORKER_DEFECT"] = "accept-memory";
  ChildProcess worker(cpp_worker(), env);
  const json ready = start(worker);
  ASSERT_FALSE(ready.is_null());
  for (const auto& cap : ready["caps"]) EXPECT_NE(cap, "rejects_memory");
  EXPECT_EQ(publish(worker, 1, {"k"})["ev"], "published");
  stop(worker);
}

TEST(WorkerDefects, OtherDefectsStillRejectMemoryAndAdvertiseIt) {
  ChildProcess rejecting(cpp_worker({"--defect=skip-rows"}), worker_env(":memory:"));
  EXPECT_TRUE(rejecting.wait_ev("fatal", kDeadline).has_value());
  EXPECT_EQ(rejecting.wait_exit(kDeadline), 2);

  TempDir dir;
  ChildProcess worker(cpp_worker({"--defect=skip-rows"}), worker_env(dir.file("inval.db")));
  const json ready = start(worker);
  ASSERT_FALSE(ready.is_null());
  EXPECT_EQ(ready["caps"], json({"stats", "rejects_memory", "reads", "burst"}));
  stop(worker);
}

TEST(WorkerDefects, UnknownDefectIsFatal) {
  TempDir dir;
  ChildProcess worker(cpp_worker({"--defect", "no-such-defect"}), worker_env(dir.file("inval.db")));
  const auto fatal = worker.wait_ev("fatal", kDeadline);
  ASSERT_TRUE(fatal.has_value());
  EXPECT_NE((*fatal)["message"].get<std::string>().find("--list-defects"), std::string::npos);
  EXPECT_EQ(worker.wait_exit(kDeadline), 2);
}

TEST(UpstreamInterop, CppAndUpstreamWorkersExchangeUnicodeKeysBothWays) {
  if (!have_python()) GTEST_SKIP() << "python3 not found at configure time";
  TempDir dir;
  const std::string db = dir.file("inval.db");
  ChildProcess cpp(cpp_worker(), worker_env(db));
  ChildProcess upstream(upstream_worker(), worker_env(db));
  ASSERT_FALSE(start(cpp).is_null());
  const json ready = start(upstream);
  ASSERT_FALSE(ready.is_null());
  EXPECT_EQ(ready["caps"], json({"reads", "burst"}));
  EXPECT_EQ(ready["protocol"], 2);
  EXPECT_EQ(ready["instance_id"].get<std::string>().size(), 32u);

  expect_exchange(cpp, upstream, {"caf" + kEAcute, "emoji:" + kGrinning, "plain"},
                  {kEAcute, kGrinning + "!", "z"});
  stop(cpp);
  stop(upstream);
}

TEST(UpstreamInterop, UpstreamWritesSortedAsciiEscapedJsonAsUpstreamDoes) {
  if (!have_python()) GTEST_SKIP() << "python3 not found at configure time";
  TempDir dir;
  const std::string db = dir.file("inval.db");
  ChildProcess upstream(upstream_worker(), worker_env(db));
  ASSERT_FALSE(start(upstream).is_null());
  EXPECT_EQ(publish(upstream, 1, {"b", kGrinning, "a", kEAcute})["ev"], "published");
  stop(upstream);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT keys_json FROM pjx_invalidation", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  const std::string keys_json = text != nullptr ? text : "(NULL)";
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
  EXPECT_EQ(keys_json, R"(["a", "b", "\u00e9", "\ud83d\ude00"])");
}

TEST(UpstreamInterop, UpstreamAcceptsMemoryAndHasNoStats) {
  if (!have_python()) GTEST_SKIP() << "python3 not found at configure time";
  ChildProcess upstream(upstream_worker(), worker_env(":memory:"));
  ASSERT_FALSE(start(upstream).is_null());
  EXPECT_EQ(publish(upstream, 1, {"k"})["ev"], "published");
  upstream.send(json{{"op", "stats"}, {"id", 2}});
  const auto error = upstream.wait_ev("error", kDeadline);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ((*error)["unsupported"], true);
  EXPECT_EQ((*error)["id"], 2);
  stop(upstream);
}

// Protocol v2: read and write through the worker's cache and the truth store.

// Sends `op` (with "id" = id) and returns its answer: the event named
// `answer` or `error` with that id.
json ask(ChildProcess& worker, json op, std::int64_t id, const std::string& answer) {
  op["id"] = id;
  worker.send(op);
  auto event = worker.wait_event(
      [id, &answer](const json& e) {
        return (e["ev"] == answer || e["ev"] == "error") && e.value("id", -1) == id;
      },
      kDeadline);
  EXPECT_TRUE(event.has_value()) << "no answer to " << op.dump();
  return event.value_or(nullptr);
}

json read_op(ChildProcess& worker, std::int64_t id, const std::string& key, double slow_ms = 0) {
  json op = {{"op", "read"}, {"key", key}};
  if (slow_ms > 0) op["slow_ms"] = slow_ms;
  return ask(worker, op, id, "read_result");
}

json write_op(ChildProcess& worker, std::int64_t id, const std::string& key) {
  return ask(worker, {{"op", "write"}, {"key", key}}, id, "written");
}

// w0 writes, w1 reads: a version cached by w1 is evicted by the delivery of
// w0's write; a read before start, a missing key and a bad slow_ms are errors.
void expect_reads_follow_writes(const std::vector<std::string>& w0_cmd,
                                const std::vector<std::string>& w1_cmd) {
  TempDir dir;
  const auto env = worker_env(dir.file("inval.db"));
  ChildProcess w0(w0_cmd, env);
  ChildProcess w1(w1_cmd, env);
  EXPECT_EQ(read_op(w1, 1, "k")["ev"], "error") << "a read before start";
  ASSERT_FALSE(start(w0).is_null());
  ASSERT_FALSE(start(w1).is_null());

  json r = read_op(w1, 2, "k");
  ASSERT_EQ(r["ev"], "read_result") << r.dump();
  EXPECT_EQ(r["version"], 0);
  EXPECT_EQ(r["hit"], false);
  EXPECT_LE(r["t_begin"].get<std::int64_t>(), r["t"].get<std::int64_t>());
  r = read_op(w1, 3, "k");
  EXPECT_EQ(r["version"], 0);
  EXPECT_EQ(r["hit"], true) << "the second read is served from the cache";

  const json w = write_op(w0, 4, "k");
  ASSERT_EQ(w["ev"], "written") << w.dump();
  EXPECT_EQ(w["version"], 1);
  EXPECT_EQ(w["key"], "k");
  EXPECT_EQ(received_keys(w1), KeySet{"k"});
  r = read_op(w1, 5, "k");
  EXPECT_EQ(r["version"], 1) << r.dump();
  EXPECT_EQ(r["hit"], false);
  EXPECT_EQ(read_op(w0, 6, "k")["version"], 1) << "the writer reads its own write";

  EXPECT_EQ(ask(w1, {{"op", "read"}}, 7, "read_result")["ev"], "error");
  EXPECT_EQ(ask(w1, {{"op", "read"}, {"key", "k"}, {"slow_ms", -1}}, 8, "read_result")["ev"],
            "error");
  EXPECT_EQ(ask(w1, {{"op", "write"}, {"key", "a"}, {"keys", {"b"}}}, 9, "written")["ev"], "error")
      << "a write whose keys leave out its key";
  stop(w0);
  stop(w1);
}

TEST(WorkerProtocolV2, ReadsFollowWritesThroughTheCacheAndTheTruthStore) {
  expect_reads_follow_writes(cpp_worker(), cpp_worker());
}

TEST(WorkerProtocolV2, TheUpstreamEmulationReadsAndWritesWithTheSameProtocol) {
  if (!have_python()) GTEST_SKIP() << "python3 not found at configure time";
  expect_reads_follow_writes(upstream_worker(), cpp_worker());
  expect_reads_follow_writes(cpp_worker(), upstream_worker());
}

TEST(WorkerProtocolV2, ASlowReadOverlappingARemoteWriteIsReturnedButNotCached) {
  for (const bool broken : {false, true}) {
    SCOPED_TRACE(broken ? "--defect stale-fill" : "reference");
    TempDir dir;
    const auto env = worker_env(dir.file("inval.db"));
    ChildProcess w0(cpp_worker(), env);
    ChildProcess w1(broken ? cpp_worker({"--defect", "stale-fill"}) : cpp_worker(), env);
    ASSERT_FALSE(start(w0).is_null());
    ASSERT_FALSE(start(w1).is_null());
    // w1's loader reads version 0, then waits 1 s; w0's write lands meanwhile.
    w1.send(json{{"op", "read"}, {"id", 1}, {"key", "k"}, {"slow_ms", 1000}});
    std::this_thread::sleep_for(200ms);
    ASSERT_EQ(write_op(w0, 2, "k")["ev"], "written");
    const auto slow = w1.wait_event([](const json& e) { return e["ev"] == "read_result"; },
                                    kDeadline);
    ASSERT_TRUE(slow.has_value());
    EXPECT_EQ((*slow)["version"], 0) << "the value read before the write";
    const json after = read_op(w1, 3, "k");
    EXPECT_EQ(after["version"], broken ? 0 : 1) << after.dump();
    EXPECT_EQ(after["hit"], broken);
    stop(w0);
    stop(w1);
  }
}

TEST(WorkerProtocolV2, ABurstAnswersEachPublishAndTheListenerGetsThemAll) {
  TempDir dir;
  const auto env = worker_env(dir.file("inval.db"));
  ChildProcess w0(cpp_worker(), env);
  ChildProcess w1(cpp_worker(), env);
  ASSERT_FALSE(start(w0).is_null());
  ASSERT_FALSE(start(w1).is_null());
  json list = json::array();
  for (int i = 0; i < 4; ++i) list.push_back({{"id", 10 + i}, {"keys", {"b:" + std::to_string(i)}}});
  w0.send(json{{"op", "burst"}, {"id", 1}, {"publishes", list}});
  const auto done = w0.wait_ev("burst_done", kDeadline);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ((*done)["publishes"], 4);
  KeySet got;
  for (int i = 0; i < 4; ++i) {
    for (const std::string& k : received_keys(w1)) got.insert(k);
  }
  EXPECT_EQ(got, (KeySet{"b:0", "b:1", "b:2", "b:3"}));
  EXPECT_EQ(ask(w0, {{"op", "burst"}, {"publishes", json::array()}}, 2, "burst_done")["ev"],
            "error");
  stop(w0);
  stop(w1);
}

TEST(WorkerProtocolV2, ReadsWithoutATruthStoreAreErrorsThatNameTheVariable) {
  TempDir dir;
  auto env = worker_env(dir.file("inval.db"));
  env["PJX_TRUTH_DB"] = std::nullopt;
  ChildProcess worker(cpp_worker(), env);
  ASSERT_FALSE(start(worker).is_null());
  const json r = read_op(worker, 1, "k");
  ASSERT_EQ(r["ev"], "error");
  EXPECT_NE(r["message"].get<std::string>().find("PJX_TRUTH_DB"), std::string::npos) << r.dump();
  stop(worker);
}

}  // namespace
}  // namespace pjx::harness
