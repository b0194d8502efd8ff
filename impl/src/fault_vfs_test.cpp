// FaultVfs itself: the spec format, counting, once and persistent faults,
// clear(), and that a database used through the shim works like one used
// through the default VFS (WAL included).
#include "pjx/fault_vfs.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"

namespace pjx {
namespace {

// A connection opened through a named VFS.
class Db {
 public:
  Db(const std::string& path, const char* vfs) {
    rc_ = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    sqlite3_extended_result_codes(db_, 1);
  }
  ~Db() { sqlite3_close_v2(db_); }
  int open_rc() const { return rc_; }
  // Returns the extended result code of running `sql`.
  int exec(const std::string& sql) {
    sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    return sqlite3_extended_errcode(db_);
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(stmt, 0);
      out = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_OK;
};

TEST(FaultSpecFormat, ParsesEveryFieldAndPrintsItBack) {
  const FaultSpec spec = parse_fault_spec("kind=write,nth=5,error=full,persistent=1");
  EXPECT_EQ(spec.kind, FaultKind::kWrite);
  EXPECT_EQ(spec.nth, 5u);
  EXPECT_EQ(spec.error, FaultError::kFull);
  EXPECT_TRUE(spec.persistent);
  EXPECT_EQ(to_string(spec), "kind=write,nth=5,error=full,persistent=1");
  EXPECT_EQ(to_string(parse_fault_spec(to_string(spec))), to_string(spec));
}

TEST(FaultSpecFormat, DefaultsToTheFirstCallOnceWithTheKindsIoError) {
  const FaultSpec spec = parse_fault_spec("kind=shm_lock");
  EXPECT_EQ(spec.kind, FaultKind::kShmLock);
  EXPECT_EQ(spec.nth, 1u);
  EXPECT_EQ(spec.error, FaultError::kIo);
  EXPECT_FALSE(spec.persistent);
  EXPECT_EQ(fault_result_code(spec.kind, spec.error), SQLITE_IOERR_SHMLOCK);
}

TEST(FaultSpecFormat, RejectsBadSpecsNamingThePart) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"nth=2", "kind is required"},
      {"kind=frobnicate", "unknown kind \"frobnicate\""},
      {"kind=write,error=oops", "unknown error \"oops\""},
      {"kind=write,nth=0", "nth \"0\""},
      {"kind=write,nth=-1", "nth \"-1\""},
      {"kind=write,nth=2x", "nth \"2x\""},
      {"kind=write,persistent=yes", "persistent \"yes\""},
      {"kind=write,colour=red", "unknown key \"colour\""},
      {"kind=write,kind=read", "kind given twice"},
      {"kind=write,", "trailing ','"},
      {"kind=write nth=2", "unknown kind \"write nth"},
      {"kind", "is not key=value"},
      {"kind=read,error=full", "error full does not apply to kind read"},
      {"kind=write,error=busy", "error busy does not apply to kind write"},
      {"kind=lock,error=cantopen", "error cantopen does not apply to kind lock"},
  };
  for (const auto& [text, expected] : bad) {
    try {
      parse_fault_spec(text);
      ADD_FAILURE() << "accepted \"" << text << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("expected kind="), std::string::npos) << e.what();
    }
  }
}

TEST(FaultVfs, InstallIsIdempotentAndNeverTheDefault) {
  FaultVfs& a = FaultVfs::install("pjx-fault-test-a");
  FaultVfs& b = FaultVfs::install("pjx-fault-test-a");
  EXPECT_EQ(&a, &b);
  EXPECT_NE(sqlite3_vfs_find(nullptr), sqlite3_vfs_find("pjx-fault-test-a"));
  EXPECT_THROW(FaultVfs::install(""), std::invalid_argument);
  EXPECT_THROW(FaultVfs::install("unix"), std::invalid_argument);  // someone else's VFS
}

TEST(FaultVfs, PassesEverythingThroughWhenDisarmedInWalMode) {
  FaultVfs& vfs = FaultVfs::install("pjx-fault-test-b");
  vfs.clear();
  vfs.reset_counters();
  testing::TempDir dir;
  {
    Db db(dir.file("a.db"), vfs.name().c_str());
    ASSERT_EQ(db.open_rc(), SQLITE_OK);
    EXPECT_EQ(db.text("PRAGMA journal_mode=WAL"), "wal");
    EXPECT_EQ(db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)"), SQLITE_OK);
    Db other(dir.file("a.db"), nullptr);  // the default VFS sees the same data
    EXPECT_EQ(other.text("SELECT SUM(x) FROM t"), "3");
  }
  EXPECT_GT(vfs.calls(FaultKind::kOpen), 0u);
  EXPECT_GT(vfs.calls(FaultKind::kWrite), 0u);
  EXPECT_GT(vfs.calls(FaultKind::kRead), 0u);
  EXPECT_GT(vfs.calls(FaultKind::kShmMap), 0u);
  EXPECT_GT(vfs.calls(FaultKind::kShmLock), 0u);
  EXPECT_GT(vfs.calls(FaultKind::kLock), 0u);
  EXPECT_EQ(vfs.faults_injected(), 0u);
  vfs.reset_counters();
  EXPECT_EQ(vfs.calls(FaultKind::kWrite), 0u);
}

TEST(FaultVfs, FailsTheNthCallOnceThenPassesAgain) {
  FaultVfs& vfs = FaultVfs::install("pjx-fault-test-c");
  testing::TempDir dir;
  Db db(dir.file("a.db"), vfs.name().c_str());
  ASSERT_EQ(db.text("PRAGMA journal_mode=WAL"), "wal");
  ASSERT_EQ(db.exec("CREATE TABLE t(x)"), SQLITE_OK);
  vfs.reset_counters();
  vfs.arm(FaultSpec{FaultKind::kWrite, 1, FaultError::kFull, false});
  ASSERT_TRUE(vfs.armed().has_value());
  EXPECT_EQ(db.exec("INSERT INTO t VALUES (1)") & 0xFF, SQLITE_FULL);
  EXPECT_EQ(vfs.faults_injected(), 1u);
  EXPECT_EQ(db.exec("INSERT INTO t VALUES (2)"), SQLITE_OK);  // once: the next write works
  EXPECT_EQ(vfs.faults_injected(), 1u);
  EXPECT_EQ(db.text("SELECT group_concat(x) FROM t"), "2");
  vfs.clear();
  EXPECT_FALSE(vfs.armed().has_value());
}

TEST(FaultVfs, PersistentFaultFailsEveryLaterCallUntilCleared) {
  FaultVfs& vfs = FaultVfs::install("pjx-fault-test-d");
  testing::TempDir dir;
  Db db(dir.file("a.db"), vfs.name().c_str());
  ASSERT_EQ(db.text("PRAGMA journal_mode=WAL"), "wal");
  ASSERT_EQ(db.exec("CREATE TABLE t(x)"), SQLITE_OK);
  vfs.reset_counters();
  vfs.arm(FaultSpec{FaultKind::kWrite, 1, FaultError::kIo, true});
  EXPECT_EQ(db.exec("INSERT INTO t VALUES (1)") & 0xFF, SQLITE_IOERR);
  EXPECT_EQ(db.exec("INSERT INTO t VALUES (2)") & 0xFF, SQLITE_IOERR);
  EXPECT_GE(vfs.faults_injected(), 2u);
  vfs.clear();
  EXPECT_EQ(db.exec("INSERT INTO t VALUES (3)"), SQLITE_OK);
  EXPECT_EQ(db.text("SELECT group_concat(x) FROM t"), "3");
  EXPECT_EQ(db.text("PRAGMA integrity_check"), "ok");
}

TEST(FaultVfs, OpenFaultsAreReportedByTheBackendAndItWorksAfterClear) {
  FaultVfs& vfs = FaultVfs::install("pjx-fault-test-e");
  testing::TempDir dir;
  SqliteOptions options;
  options.vfs = vfs.name();
  options.poll_interval = std::chrono::milliseconds(20);
  options.retention = std::chrono::seconds(5);
  options.on_warning = [](const std::string&) {};
  SqliteInvalidationBackend backend(dir.file("a.db"), options);
  vfs.arm(FaultSpec{FaultKind::kOpen, 1, FaultError::kCantOpen, true});
  EXPECT_ANY_THROW(backend.publish({"k"}));
  EXPECT_GE(vfs.faults_injected(), 1u);
  vfs.clear();
  EXPECT_NO_THROW(backend.publish({"k"}));
  EXPECT_EQ(backend.stats().published, 1u);
}

TEST(FaultVfs, CountsCallsFromManyThreads) {
  FaultVfs& vfs = FaultVfs::install("pjx-fault-test-f");
  testing::TempDir dir;
  {
    Db setup(dir.file("a.db"), nullptr);
    ASSERT_EQ(setup.text("PRAGMA journal_mode=WAL"), "wal");
    ASSERT_EQ(setup.exec("CREATE TABLE t(x)"), SQLITE_OK);
  }
  vfs.reset_counters();
  vfs.arm(FaultSpec{FaultKind::kShmLock, 7, FaultError::kBusy, false});
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&dir, &vfs] {
      Db db(dir.file("a.db"), vfs.name().c_str());
      for (int j = 0; j < 20; ++j) db.text("SELECT COUNT(*) FROM t");
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(vfs.faults_injected(), 1u);  // once: exactly one call failed
  EXPECT_GE(vfs.calls(FaultKind::kShmLock), 7u);
  vfs.clear();
}

}  // namespace
}  // namespace pjx
