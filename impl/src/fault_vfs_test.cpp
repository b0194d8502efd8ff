// FaultVfs itself: the spec format, counting, once and persistent faults,
// clear(), and that a database used through the shim works like one used
// through the default VFS (WAL included).
#include "pjx/fault_vfs.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"
#include "child_process.hpp"
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

TEST(FaultVfs, AReadonlyOpenFaultOpensTheFileReadOnlyAsAReadOnlyMountWould) {
  FaultVfs& vfs = FaultVfs::install("pjx-fault-test-ro");
  testing::TempDir dir;
  // Kept open: a read-only open can use the -wal and -shm files only if
  // they exist (it cannot create them).
  Db setup(dir.file("a.db"), nullptr);
  ASSERT_EQ(setup.text("PRAGMA journal_mode=WAL"), "wal");
  ASSERT_EQ(setup.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)"), SQLITE_OK);
  vfs.arm(FaultSpec{FaultKind::kOpen, 1, FaultError::kReadonly, true});
  {
    Db readonly(dir.file("a.db"), vfs.name().c_str());
    ASSERT_EQ(readonly.open_rc(), SQLITE_OK);
    EXPECT_EQ(readonly.text("SELECT group_concat(x) FROM t"), "1");  // reads work
    EXPECT_EQ(readonly.exec("INSERT INTO t VALUES (2)") & 0xFF, SQLITE_READONLY);
    EXPECT_GE(vfs.faults_injected(), 1u);
    vfs.clear();
    // Like a connection opened through a read-only mount: it stays read-only
    // after the mount is writable again.
    EXPECT_EQ(readonly.exec("INSERT INTO t VALUES (2)") & 0xFF, SQLITE_READONLY);
  }
  Db writable(dir.file("a.db"), vfs.name().c_str());
  EXPECT_EQ(writable.exec("INSERT INTO t VALUES (3)"), SQLITE_OK);
  EXPECT_EQ(writable.text("SELECT group_concat(x) FROM t"), "1,3");
  const FaultSpec parsed = parse_fault_spec("kind=open,error=readonly,persistent=1");
  EXPECT_EQ(parsed.error, FaultError::kReadonly);
  EXPECT_EQ(to_string(parsed), "kind=open,nth=1,error=readonly,persistent=1");
  EXPECT_THROW(parse_fault_spec("kind=write,error=readonly"), std::invalid_argument);
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

// ---------------------------------------------------------------- power loss

// In a child: opens `db` through a shim recording into `log`, runs `sql`,
// then dies at once (nothing closed, nothing checkpointed), as every
// process on a host does when its power goes. Returns the child's status.
int run_then_lose_power(const std::string& db, const std::string& log, const std::string& sql) {
  testing::Child child([&](testing::LinePipe&) {
    FaultVfs& vfs = FaultVfs::install("pjx-power-loss-test");
    vfs.record_unsynced(log);
    Db d(db, vfs.name().c_str());
    if (d.open_rc() != SQLITE_OK || d.exec(sql) != SQLITE_OK) return 3;
    std::_Exit(0);
  });
  return child.wait();
}

std::string inserts(int from, int to) {
  std::string sql;
  for (int i = from; i <= to; ++i) sql += "INSERT INTO t VALUES (" + std::to_string(i) + ");";
  return sql;
}

// synchronous=NORMAL in WAL mode syncs the WAL only when it checkpoints:
// commits after the last checkpoint may be lost, and the file stays whole.
TEST(PowerLoss, NormalKeepsWhatTheLastCheckpointSyncedAndTheFileStaysWhole) {
  testing::TempDir dir;
  const std::string db = dir.file("a.db"), log = dir.file("power.log");
  ASSERT_EQ(run_then_lose_power(db, log,
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(x);" +
                                    inserts(1, 5) + "PRAGMA wal_checkpoint(TRUNCATE);" + inserts(6, 10)),
            0);
  {
    Db before(db, nullptr);  // what the OS still holds: every commit
    EXPECT_EQ(before.text("SELECT COUNT(*) FROM t"), "10");
  }
  // (That connection found no other user and closed cleanly, checkpointing:
  // undo its changes too by replaying the run.)
  std::filesystem::remove(db);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
  std::filesystem::remove(log);
  ASSERT_EQ(run_then_lose_power(db, log,
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(x);" +
                                    inserts(1, 5) + "PRAGMA wal_checkpoint(TRUNCATE);" + inserts(6, 10)),
            0);
  const UnsyncedRollback r = roll_back_unsynced(log);
  EXPECT_GT(r.records, 0u);
  EXPECT_GE(r.changes_undone, 5u);  // at least one WAL frame per lost commit
  EXPECT_GT(r.bytes_undone + r.changes_undone, 0u);
  EXPECT_GT(r.last_sync_ns, 0);
  Db after(db, nullptr);
  EXPECT_EQ(after.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(after.text("SELECT COUNT(*) FROM t"), "5");
  EXPECT_EQ(after.text("SELECT MAX(x) FROM t"), "5");
}

// synchronous=FULL syncs the WAL at every commit: nothing committed is lost.
TEST(PowerLoss, FullKeepsEveryCommit) {
  testing::TempDir dir;
  const std::string db = dir.file("a.db"), log = dir.file("power.log");
  ASSERT_EQ(run_then_lose_power(db, log,
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(x);" +
                                    inserts(1, 10)),
            0);
  const UnsyncedRollback r = roll_back_unsynced(log);
  EXPECT_EQ(r.changes_undone, 0u);
  Db after(db, nullptr);
  EXPECT_EQ(after.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(after.text("SELECT COUNT(*) FROM t"), "10");
}

// synchronous=OFF never syncs: a power loss may take everything, even the
// table, and what is left is still a valid (empty) database.
TEST(PowerLoss, OffMayLoseEverythingButLeavesAValidFile) {
  testing::TempDir dir;
  const std::string db = dir.file("a.db"), log = dir.file("power.log");
  ASSERT_EQ(run_then_lose_power(db, log,
                                "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL; CREATE TABLE t(x);" +
                                    inserts(1, 10)),
            0);
  const UnsyncedRollback r = roll_back_unsynced(log);
  EXPECT_GT(r.changes_undone, 0u);
  EXPECT_EQ(r.last_sync_ns, 0);
  Db after(db, nullptr);
  EXPECT_EQ(after.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(after.text("SELECT COUNT(*) FROM sqlite_master"), "0");
}

TEST(PowerLoss, ABadLogIsAnErrorNamingItAndATornTailIsANote) {
  testing::TempDir dir;
  const std::string log = dir.file("power.log");
  EXPECT_THROW(
      {
        try {
          roll_back_unsynced(dir.file("missing.log"));
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("missing.log"), std::string::npos) << e.what();
          throw;
        }
      },
      std::runtime_error);
  {
    std::ofstream out(log, std::ios::binary);
    out << "this is not a power-loss log, it is text";
  }
  EXPECT_THROW(roll_back_unsynced(log), std::runtime_error);
  // A real log with its last record cut short.
  const std::string db = dir.file("a.db"), real_log = dir.file("real.log");
  ASSERT_EQ(run_then_lose_power(db, real_log, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);" + inserts(1, 3)), 0);
  const auto size = std::filesystem::file_size(real_log);
  std::filesystem::resize_file(real_log, size - 3);
  const UnsyncedRollback r = roll_back_unsynced(real_log);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("torn"), std::string::npos) << r.notes[0];
}

TEST(PowerLoss, RecordUnsyncedNamesALogItCannotOpen) {
  FaultVfs& vfs = FaultVfs::install("pjx-power-loss-open-test");
  try {
    vfs.record_unsynced("/nonexistent-dir/power.log");
    ADD_FAILURE() << "accepted an unopenable log";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/power.log"), std::string::npos) << e.what();
  }
  EXPECT_EQ(vfs.recording(), "");
}

// Integrity after a power loss that kept a random half of the unsynced
// changes, once per seed, each on a copy of what the child left; returns
// how many seeds left a database that fails integrity_check (or cannot be
// read at all).
int corrupted_seeds(const std::string& synchronous, int seeds) {
  testing::TempDir dir;
  const std::string db = dir.file("a.db"), log = dir.file("power.log");
  // Small checkpoints, so that the WAL is copied into the database and
  // restarted from its beginning many times.
  std::string sql = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + synchronous +
                    "; PRAGMA wal_autocheckpoint=4; CREATE TABLE t(x, pad);";
  for (int i = 1; i <= 60; ++i) sql += "INSERT INTO t VALUES (" + std::to_string(i) + ", randomblob(600));";
  EXPECT_EQ(run_then_lose_power(db, log, sql), 0);
  int corrupted = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    const std::filesystem::path copy = dir.path() / ("seed-" + std::to_string(seed));
    std::filesystem::create_directory(copy);
    for (const char* name : {"a.db", "a.db-wal", "power.log"}) {
      if (std::filesystem::exists(dir.path() / name)) std::filesystem::copy_file(dir.path() / name, copy / name);
    }
    // The log names the original files: rewrite the copies by rolling back
    // in place of them (the same paths, swapped in and out).
    const std::filesystem::path keep_db = dir.path() / "orig.db", keep_wal = dir.path() / "orig.db-wal";
    std::filesystem::rename(db, keep_db);
    if (std::filesystem::exists(db + "-wal")) std::filesystem::rename(db + "-wal", keep_wal);
    std::filesystem::copy_file(copy / "a.db", db);
    if (std::filesystem::exists(copy / "a.db-wal")) std::filesystem::copy_file(copy / "a.db-wal", db + "-wal");
    std::filesystem::remove(db + "-shm");
    roll_back_unsynced((copy / "power.log").string(), PowerLossModel{0.5, static_cast<std::uint64_t>(seed)});
    {
      Db after(db, nullptr);
      if (after.text("PRAGMA integrity_check") != "ok") ++corrupted;
    }
    std::filesystem::remove(db);
    std::filesystem::remove(db + "-wal");
    std::filesystem::remove(db + "-shm");
    std::filesystem::rename(keep_db, db);
    if (std::filesystem::exists(keep_wal)) std::filesystem::rename(keep_wal, db + "-wal");
  }
  std::printf("synchronous=%s: %d of %d power losses left a corrupt database\n", synchronous.c_str(), corrupted,
              seeds);
  return corrupted;
}

// NORMAL survives a disk that kept any subset of what it was not asked to
// sync: SQLite checkpoints only after syncing the WAL, and restarts the WAL
// only after syncing the database.
TEST(PowerLoss, NormalSurvivesADiskThatKeptAnySubsetOfItsUnsyncedWrites) {
  EXPECT_EQ(corrupted_seeds("NORMAL", 20), 0);
}

// OFF does not: with some checkpoint writes kept and others lost, the
// database is corrupted for some seeds. (This is what makes the `keep`
// model worth having: dropping every unsynced write cannot tell OFF from
// NORMAL.)
TEST(PowerLoss, OffIsCorruptedBySomeSubsets) {
  EXPECT_GT(corrupted_seeds("OFF", 20), 0);
}

}  // namespace
}  // namespace pjx
