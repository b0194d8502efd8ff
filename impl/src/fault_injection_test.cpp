// Fault simulation below SQLite, in the style of SQLite's
// test/malloc_common.tcl: for every kind of VFS call x every error SQLite
// can meet there x {once, persistent}, fail the 1st, 2nd, 3rd, ... call of
// that kind during a publish + poll workload, until a run injects no fault.
//
// Each run: a clean backend creates the database and a clean reference
// listener R starts; then the fault is armed and a publisher P and a
// listener L are built on the fault VFS (building or starting may fail: a
// reported failure), P publishes a few unique keys, L polls. Then the fault
// is cleared and every acceptable outcome is checked:
//   * no crash and no hang (a watchdog aborts a run that takes 60 s);
//   * every publish either returned (acknowledged: committed at once, or
//     queued by the backend and committed later) and is then delivered,
//     exactly once, to R and to L (when L was listening before it), or
//     threw BackendError and is delivered to nobody;
//   * after the clear, P and L (rebuilt if they could not be built under
//     the fault) work: a fresh publish returns and is delivered to R and L,
//     and L's poll thread is still listening;
//   * PRAGMA integrity_check is "ok" through a clean connection.
// A second workload starts without a database: the publisher's first
// publish creates the file, the WAL and the schema through the fault VFS;
// it is judged from the table (acknowledged keys in exactly one row, failed
// keys in none) and integrity_check.
//
// Bounds: the number of calls of each kind in one clean workload is
// measured first (up to the clear); N runs over 1..4 and then doubles past
// that count, so each (kind, error, mode) takes at most about 10 runs.
// Persistent `busy` on shm_lock is left out: SQLite retries a busy WAL read
// lock about 100 times over about 10 s before giving up (SQLITE_PROTOCOL),
// so such a run only measures that wait; the once variant covers the path.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/fault_vfs.hpp"
#include "pjx/sqlite_backend.hpp"
#include "inbox.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using testing::Inbox;

constexpr int kPublishes = 3;
constexpr auto kDeliveryWait = 10s;   // for a delivery that must come
constexpr auto kCommitGlance = 50ms;  // for an acknowledged publish to show at R before the next
constexpr auto kRunWatchdog = 60s;

SqliteOptions options_for(const std::string& vfs) {
  SqliteOptions options;
  options.vfs = vfs;
  options.poll_interval = 20ms;
  options.retention = 30s;  // nothing is pruned during a run
  options.busy_timeout = 100ms;
  options.on_warning = [](const std::string&) {};
  return options;
}

// A listener: a backend and what it received.
struct Listener {
  Inbox inbox;
  std::unique_ptr<SqliteInvalidationBackend> backend;
  bool listening = false;

  // Builds and starts; returns the error text, or "" when it worked.
  std::string open(const std::string& path, const SqliteOptions& options) {
    try {
      if (!backend) backend = std::make_unique<SqliteInvalidationBackend>(path, options);
      backend->start([this](const KeySet& keys) { inbox.on_keys(keys); });
      listening = true;
      return "";
    } catch (const BackendError& e) {
      return e.what();
    } catch (const ConfigError& e) {
      return e.what();
    }
  }
};

struct RunResult {
  std::uint64_t faults = 0;
  int acked = 0;           // publishes acknowledged under the fault
  int failed = 0;          // publishes that threw BackendError under the fault
  int not_built = 0;       // backends that could not be built or started under the fault
  // Calls of each kind from the start of the run to the clear: what a fault
  // armed in this run can hit.
  std::map<FaultKind, std::uint64_t> calls_until_clear;
  std::vector<std::string> failures;  // empty: every outcome was acceptable
  std::string log;                    // what happened, for failure messages
};

// Records the calls of each kind since the run's start (the counters are
// reset when a run starts).
void snapshot_calls(const FaultVfs& vfs, RunResult& result) {
  for (int k = 0; k < kFaultKindCount; ++k) {
    result.calls_until_clear[static_cast<FaultKind>(k)] = vfs.calls(static_cast<FaultKind>(k));
  }
}

// One run of the workload with `spec` armed (none: a clean run).
RunResult run_workload(FaultVfs& vfs, const std::optional<FaultSpec>& spec) {
  RunResult result;
  std::ostringstream log;
  auto fail = [&result](const std::string& what) { result.failures.push_back(what); };
  testing::TempDir dir;
  const std::string path = dir.file("pjx.db");
  const SqliteOptions clean = options_for("");
  const SqliteOptions faulty = options_for(vfs.name());

  {
    SqliteInvalidationBackend setup(path, clean);  // creates the file, WAL, the schema
    setup.publish({"setup"});
  }
  Listener reference;
  if (const auto err = reference.open(path, clean); !err.empty()) {
    fail("the clean reference listener did not start: " + err);
    return result;
  }

  if (spec) vfs.arm(*spec);
  const std::uint64_t faults_before = vfs.faults_injected();

  std::unique_ptr<SqliteInvalidationBackend> publisher;
  try {
    publisher = std::make_unique<SqliteInvalidationBackend>(path, faulty);
  } catch (const BackendError& e) {
    log << "publisher not built: " << e.what() << "\n";
    ++result.not_built;
  } catch (const ConfigError& e) {
    log << "publisher not built (ConfigError): " << e.what() << "\n";
    ++result.not_built;
  }
  Listener listener;
  if (const auto err = listener.open(path, faulty); !err.empty()) {
    log << "listener not started: " << err << "\n";
    ++result.not_built;
  }

  std::vector<std::string> acked, failed;
  std::map<std::string, bool> listener_was_listening;
  for (int i = 1; i <= kPublishes && publisher; ++i) {
    const std::string key = "e:" + std::to_string(i);
    listener_was_listening[key] = listener.listening;
    try {
      publisher->publish({key});
      acked.push_back(key);
      reference.inbox.wait_for_keys({key}, kCommitGlance);  // let it show (or be queued) before the next
    } catch (const BackendError& e) {
      failed.push_back(key);
      log << key << " failed: " << e.what() << "\n";
    } catch (const std::exception& e) {
      fail(key + ": publish threw something other than BackendError: " + e.what());
      failed.push_back(key);
    }
    if (listener.listening) {
      try {
        listener.backend->poll_now();
      } catch (const BackendError& e) {
        log << "poll after " << key << " failed: " << e.what() << "\n";
      }
    }
  }

  result.faults = vfs.faults_injected() - faults_before;
  snapshot_calls(vfs, result);
  vfs.clear();
  result.acked = static_cast<int>(acked.size());
  result.failed = static_cast<int>(failed.size());

  // After the fault: everything must work.
  if (!publisher) {
    try {
      publisher = std::make_unique<SqliteInvalidationBackend>(path, faulty);
    } catch (const std::exception& e) {
      fail(std::string("the publisher cannot be built after the fault cleared: ") + e.what());
    }
  }
  if (!listener.listening) {
    if (const auto err = listener.open(path, faulty); !err.empty()) {
      fail("the listener cannot start after the fault cleared: " + err);
    }
  }
  const std::string fresh = "e:fresh";
  if (publisher) {
    try {
      publisher->publish({fresh});
      acked.push_back(fresh);
      listener_was_listening[fresh] = listener.listening;
    } catch (const std::exception& e) {
      fail(std::string("a publish after the fault cleared threw: ") + e.what());
    }
  }

  std::vector<std::string> for_listener;
  for (const auto& key : acked) {
    if (listener_was_listening[key]) for_listener.push_back(key);
  }
  if (!reference.inbox.wait_for_keys(acked, std::chrono::duration_cast<std::chrono::milliseconds>(kDeliveryWait))) {
    fail("an acknowledged publish never reached the clean reference listener");
  }
  if (listener.listening &&
      !listener.inbox.wait_for_keys(for_listener, std::chrono::duration_cast<std::chrono::milliseconds>(kDeliveryWait))) {
    fail("an acknowledged publish never reached the listener on the fault VFS (poll thread dead or stuck?)");
  }
  for (const auto& key : acked) {
    const int r = reference.inbox.count(key);
    if (r != 1) fail(key + " (acknowledged) reached the reference listener " + std::to_string(r) + " times");
    if (listener_was_listening[key]) {
      const int l = listener.inbox.count(key);
      if (l != 1) fail(key + " (acknowledged) reached the listener " + std::to_string(l) + " times");
    }
  }
  for (const auto& key : failed) {
    if (const int r = reference.inbox.count(key); r != 0) {
      fail(key + " was reported as failed but was committed: the reference listener received it " +
           std::to_string(r) + " time(s)");
    }
  }
  if (listener.backend && !listener.backend->stats().listening) fail("the listener's poll thread is not listening");

  listener.backend.reset();
  publisher.reset();
  reference.backend.reset();
  try {
    testing::RawDb raw(path);
    const std::string integrity = raw.scalar("PRAGMA integrity_check");
    if (integrity != "ok") fail("PRAGMA integrity_check: " + integrity);
  } catch (const std::exception& e) {
    fail(std::string("integrity check could not run: ") + e.what());
  }
  log << "acked " << acked.size() << ", failed " << failed.size() << ", faults " << result.faults;
  result.log = log.str();
  return result;
}

// The same for a database that does not exist yet: the publisher's first
// publish creates the file, switches it to WAL and creates the schema, all
// through the fault VFS. Judged from the table itself (a clean connection):
// every acknowledged key is in exactly one row, no failed key is in any.
RunResult run_fresh_file_workload(FaultVfs& vfs, const std::optional<FaultSpec>& spec) {
  RunResult result;
  std::ostringstream log;
  auto fail = [&result](const std::string& what) { result.failures.push_back(what); };
  testing::TempDir dir;
  const std::string path = dir.file("pjx.db");
  const SqliteOptions faulty = options_for(vfs.name());

  if (spec) vfs.arm(*spec);
  const std::uint64_t faults_before = vfs.faults_injected();
  std::vector<std::string> acked, failed;
  {
    SqliteInvalidationBackend publisher(path, faulty);  // the file does not exist: nothing is opened
    for (int i = 1; i <= kPublishes; ++i) {
      const std::string key = "e:" + std::to_string(i);
      try {
        publisher.publish({key});
        acked.push_back(key);
      } catch (const BackendError& e) {
        failed.push_back(key);
        log << key << " failed: " << e.what() << "\n";
      } catch (const ConfigError& e) {
        // A run-time failure is a BackendError (errors.hpp); a ConfigError
        // here would also bypass the outbox.
        fail(key + ": publish threw ConfigError, not BackendError: " + std::string(e.what()));
        failed.push_back(key);
      } catch (const std::exception& e) {
        fail(key + ": publish threw something other than BackendError: " + e.what());
        failed.push_back(key);
      }
    }
    result.faults = vfs.faults_injected() - faults_before;
    snapshot_calls(vfs, result);
    vfs.clear();
    result.acked = static_cast<int>(acked.size());
    result.failed = static_cast<int>(failed.size());
    try {
      publisher.publish({"e:fresh"});
      acked.push_back("e:fresh");
    } catch (const std::exception& e) {
      fail(std::string("a publish after the fault cleared threw: ") + e.what());
    }
    // Let queued publishes (if the backend queues) reach the file: the fresh
    // one is committed after them.
    const auto deadline = std::chrono::steady_clock::now() + kDeliveryWait;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        testing::RawDb raw(path);
        if (raw.scalar("SELECT COUNT(*) FROM pjx_invalidation WHERE keys_json LIKE '%e:fresh%'") == "1") break;
      } catch (const std::exception&) {
        // not created yet
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  try {
    testing::RawDb raw(path);
    for (const auto& key : acked) {
      const std::string n =
          raw.scalar("SELECT COUNT(*) FROM pjx_invalidation WHERE keys_json = ?1", {"[\"" + key + "\"]"});
      if (n != "1") fail(key + " (acknowledged) is in " + n + " rows, expected 1");
    }
    for (const auto& key : failed) {
      const std::string n =
          raw.scalar("SELECT COUNT(*) FROM pjx_invalidation WHERE keys_json = ?1", {"[\"" + key + "\"]"});
      if (n != "0") fail(key + " was reported as failed but is in " + n + " row(s)");
    }
    const std::string integrity = raw.scalar("PRAGMA integrity_check");
    if (integrity != "ok") fail("PRAGMA integrity_check: " + integrity);
  } catch (const std::exception& e) {
    fail(std::string("the database cannot be read after the run: ") + e.what());
  }
  log << "acked " << acked.size() << ", failed " << failed.size() << ", faults " << result.faults;
  result.log = log.str();
  return result;
}

using Workload = RunResult (*)(FaultVfs&, const std::optional<FaultSpec>&);

// Runs with a watchdog: a run that does not finish in kRunWatchdog is a hang.
RunResult run_guarded(FaultVfs& vfs, const std::optional<FaultSpec>& spec, Workload workload = run_workload) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, kRunWatchdog, [&] { return done; })) {
      std::fprintf(stderr, "fault_injection_test: run with %s hung for %lld s\n",
                   spec ? to_string(*spec).c_str() : "no fault",
                   static_cast<long long>(std::chrono::seconds(kRunWatchdog).count()));
      std::abort();
    }
  });
  vfs.reset_counters();
  RunResult result = workload(vfs, spec);
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  return result;
}

FaultVfs& fault_vfs() { return FaultVfs::install("pjx-fault-injection-test"); }

// Calls of each kind in one clean workload, measured once.
const std::map<FaultKind, std::uint64_t>& clean_call_counts() {
  static const auto counts = [] {
    FaultVfs& vfs = fault_vfs();
    vfs.clear();
    vfs.reset_counters();
    const RunResult clean = run_guarded(vfs, std::nullopt);
    EXPECT_TRUE(clean.failures.empty()) << "a run without faults failed: " << clean.failures.front();
    return clean.calls_until_clear;
  }();
  return counts;
}

const std::map<FaultKind, std::uint64_t>& fresh_file_call_counts() {
  static const auto counts = [] {
    FaultVfs& vfs = fault_vfs();
    vfs.clear();
    vfs.reset_counters();
    const RunResult clean = run_guarded(vfs, std::nullopt, run_fresh_file_workload);
    EXPECT_TRUE(clean.failures.empty()) << "a run without faults failed: " << clean.failures.front();
    return clean.calls_until_clear;
  }();
  return counts;
}

struct Case {
  FaultKind kind;
  FaultError error;
  bool persistent;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(to_string(info.param.kind)) + "_" + std::string(to_string(info.param.error)) +
         (info.param.persistent ? "_persistent" : "_once");
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (int k = 0; k < kFaultKindCount; ++k) {
    for (const FaultError error : {FaultError::kIo, FaultError::kFull, FaultError::kCantOpen, FaultError::kBusy}) {
      const auto kind = static_cast<FaultKind>(k);
      if (!fault_applies(kind, error)) continue;
      for (const bool persistent : {false, true}) {
        if (persistent && kind == FaultKind::kShmLock && error == FaultError::kBusy) continue;  // see the top
        cases.push_back(Case{kind, error, persistent});
      }
    }
  }
  return cases;
}

class FaultInjection : public ::testing::TestWithParam<Case> {};

// The malloc_common.tcl loop: N = 1, 2, 3, ... until a run injects nothing.
void fault_loop(const Case& c, std::uint64_t expected_calls, Workload workload) {
  FaultVfs& vfs = fault_vfs();
  // N = 1..4, then doubling, until a run injects nothing (the
  // workload ran out of calls of this kind). The calls of one workload vary
  // a little with timing (polls), hence the margin before giving up.
  const std::uint64_t give_up_after = 2 * expected_calls + 16;
  std::uint64_t n = 1;
  int runs = 0, runs_with_faults = 0, acked = 0, failed = 0, not_built = 0;
  for (;;) {
    const FaultSpec spec{c.kind, n, c.error, c.persistent};
    const RunResult r = run_guarded(vfs, spec, workload);
    ++runs;
    acked += r.acked;
    failed += r.failed;
    not_built += r.not_built;
    for (const auto& failure : r.failures) {
      ADD_FAILURE() << to_string(spec) << ": " << failure << "\n" << r.log;
    }
    if (r.faults == 0) break;
    ++runs_with_faults;
    if (n > give_up_after) {
      ADD_FAILURE() << to_string(spec) << " still injected faults past " << give_up_after
                    << " calls; the clean workload made " << expected_calls;
      break;
    }
    n = n < 4 ? n + 1 : 2 * n;
  }
  // A case that never injected anything tests nothing: the workload must
  // make calls of every kind it is run for.
  if (expected_calls > 0) {
    EXPECT_GT(runs_with_faults, 0) << "no run injected a fault";
  }
  std::printf("%s %s %s: %d runs (%d with faults), publishes under faults: %d acknowledged, %d failed; "
              "%d backends not built or started under faults\n",
              std::string(to_string(c.kind)).c_str(), std::string(to_string(c.error)).c_str(),
              c.persistent ? "persistent" : "once", runs, runs_with_faults, acked, failed, not_built);
}

TEST_P(FaultInjection, EveryPublishIsDeliveredOrReportedAndTheBackendRecovers) {
  const Case c = GetParam();
  fault_loop(c, clean_call_counts().at(c.kind), run_workload);
}

TEST_P(FaultInjection, CreatingTheDatabaseUnderFaultsCommitsOrReportsEveryPublish) {
  const Case c = GetParam();
  fault_loop(c, fresh_file_call_counts().at(c.kind), run_fresh_file_workload);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, FaultInjection, ::testing::ValuesIn(all_cases()), case_name);

TEST(FaultInjectionWorkload, MakesCallsOfEveryKindTheLoopsNeed) {
  const auto& counts = clean_call_counts();
  for (const FaultKind kind : {FaultKind::kOpen, FaultKind::kRead, FaultKind::kWrite, FaultKind::kLock,
                               FaultKind::kShmMap, FaultKind::kShmLock, FaultKind::kAccess, FaultKind::kFileSize}) {
    EXPECT_GT(counts.at(kind), 0u) << to_string(kind);
  }
  std::ostringstream line;
  for (const auto& [kind, count] : counts) line << to_string(kind) << "=" << count << " ";
  std::printf("calls in one clean workload: %s\n", line.str().c_str());
}

// A replaced file (I9) is flushed for even when the poll that noticed it
// fails after reopening: for each kind of call a poll makes, fail the 1st,
// 2nd, ... such call of the poll that first sees the new file, then poll
// again cleanly. The listener must flush for the replacement exactly once
// and read the new file's rows, whichever step failed (a flush decided
// before the failing read and dropped with its exception would leave the
// cache serving what the old file's last rows invalidated).
TEST(FaultInjectionReplacedFile, APollThatFailsAfterNoticingTheReplacementStillFlushes) {
  FaultVfs& vfs = FaultVfs::install();
  for (const FaultKind kind : {FaultKind::kOpen, FaultKind::kRead, FaultKind::kLock, FaultKind::kShmMap,
                               FaultKind::kShmLock, FaultKind::kFileSize, FaultKind::kAccess}) {
    int runs_with_faults = 0;
    for (std::uint64_t nth = 1; nth <= 64; ++nth) {
      SCOPED_TRACE(std::string(to_string(kind)) + " nth=" + std::to_string(nth));
      testing::TempDir dir;
      const std::string db = dir.file("events.db");
      SqliteOptions options = options_for(vfs.name());
      options.wake_on_change = false;
      options.poll_interval = 3600s;  // polled by poll_now() only
      options.retention = 7200s;
      SqliteInvalidationBackend listener(db, options);
      Inbox inbox;
      std::vector<FlushReason> flushes;
      listener.start(inbox.handler(), [&](FlushReason reason) { flushes.push_back(reason); });
      {
        SqliteInvalidationBackend elsewhere(dir.file("other.db"), options_for(""));
        elsewhere.publish({"in-the-new-file"});
      }  // closed: checkpointed, its -wal gone
      std::filesystem::remove(db + "-wal");
      std::filesystem::remove(db + "-shm");
      std::filesystem::rename(dir.file("other.db"), db);

      const std::uint64_t injected_before = vfs.faults_injected();
      vfs.arm(FaultSpec{kind, nth, FaultError::kIo, false});
      std::string failure;
      try {
        listener.poll_now();
      } catch (const BackendError& e) {
        failure = e.what();
      }
      vfs.clear();
      const bool faulted = vfs.faults_injected() > injected_before;
      for (int attempt = 0; attempt < 3 && inbox.got().empty(); ++attempt) {
        try {
          listener.poll_now();
        } catch (const BackendError&) {
        }
      }
      EXPECT_EQ(flushes, std::vector<FlushReason>{FlushReason::kReplacedFile}) << "first poll: " << failure;
      EXPECT_EQ(inbox.got(), std::vector<KeySet>{{"in-the-new-file"}}) << "first poll: " << failure;
      listener.stop();
      if (!faulted) break;  // the poll makes fewer than nth calls of this kind
      ++runs_with_faults;
    }
    if (kind == FaultKind::kRead || kind == FaultKind::kLock || kind == FaultKind::kShmLock) {
      EXPECT_GT(runs_with_faults, 0) << to_string(kind) << ": no run injected a fault";
    }
  }
}

}  // namespace
}  // namespace pjx
