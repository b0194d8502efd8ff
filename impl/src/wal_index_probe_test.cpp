// The WAL-index header probe (wal_index_probe.hpp) on real files, and the
// listener's use of it: a poll it answers takes no lock, and a probe that
// cannot answer leaves the poll to PRAGMA data_version.
#include "wal_index_probe.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <string>

#include "db_path.hpp"
#include "event_log.hpp"
#include "inbox.hpp"
#include "pjx/errors.hpp"
#include "pjx/fault_vfs.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx::detail {
namespace {

using namespace std::chrono_literals;
using pjx::testing::Inbox;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

class WalIndexProbeTest : public ::testing::Test {
 protected:
  EventLog open_log(const std::string& vfs = {}) {
    return EventLog(check_db_path(db_), db_, std::chrono::milliseconds(5000), &busy_waits_, vfs);
  }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
  std::atomic<std::uint64_t> busy_waits_{0};
};

TEST_F(WalIndexProbeTest, ReadsAnInitialisedVersion3007000HeaderInBothCopies) {
  EventLog log = open_log();
  const auto header = log.wal_index().read();
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->words[0], WalIndexProbe::kVersion);
  EXPECT_EQ(header->words[12], WalIndexProbe::kVersion) << "the second copy starts at byte 48";
  for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(header->words[i], header->words[12 + i]) << "word " << i;
}

TEST_F(WalIndexProbeTest, ReadingDoesNotMoveItAndEveryCommitByAnyConnectionDoes) {
  EventLog log = open_log();
  RawDb raw(db_);
  const auto before = log.wal_index().read();
  ASSERT_TRUE(before.has_value());
  raw.query("SELECT COUNT(*) FROM pjx_invalidation");
  EXPECT_EQ(log.wal_index().read(), before) << "a read transaction is not a commit";
  raw.insert_row(std::string(32, 'b'), "c", R"(["k"])", 1.0);
  const auto after_insert = log.wal_index().read();
  EXPECT_NE(after_insert, before);
  log.connection().exec("CREATE TABLE own_commit (x)");
  EXPECT_NE(log.wal_index().read(), after_insert) << "the probe's own connection's commits count too";
}

TEST_F(WalIndexProbeTest, AnInMemoryDatabaseHasNoHeaderToRead) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  WalIndexProbe probe(db);
  EXPECT_FALSE(probe.read().has_value());
  sqlite3_close(db);
}

TEST_F(WalIndexProbeTest, AFailedMapAnswersNothingAndIsRetried) {
  FaultVfs& vfs = FaultVfs::install();
  EventLog log = open_log(vfs.name());
  vfs.arm(FaultSpec{FaultKind::kShmMap, 1, FaultError::kIo, false});
  EXPECT_FALSE(log.wal_index().read().has_value());
  vfs.clear();
  EXPECT_TRUE(log.wal_index().read().has_value());
}

// The point of the probe: a poll that finds nothing takes no -shm lock. With
// every shm lock failing, idle polls still succeed; the first commit makes
// the poll read, which then fails, and succeeds once the locks work again.
TEST_F(WalIndexProbeTest, AnIdlePollTakesNoLockAndACommitStillMakesItRead) {
  FaultVfs& vfs = FaultVfs::install();
  SqliteOptions options;
  options.vfs = vfs.name();
  options.wake_on_change = false;
  options.poll_interval = 3600s;  // polled by poll_now() only
  options.retention = 7200s;
  SqliteInvalidationBackend listener(db_, options);
  Inbox inbox;
  listener.start(inbox.handler());
  vfs.arm(FaultSpec{FaultKind::kShmLock, 1, FaultError::kIo, true});
  listener.poll_now();
  listener.poll_now();
  auto stats = listener.stats();
  EXPECT_EQ(stats.poll_errors, 0u);
  EXPECT_EQ(stats.header_skips, 2u);
  {
    RawDb raw(db_);  // the default VFS: no fault
    raw.insert_row(std::string(32, 'b'), options.channel, R"(["k"])", 1.0e10);
  }
  EXPECT_THROW(listener.poll_now(), BackendError);
  vfs.clear();
  listener.poll_now();
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"k"}}));
  listener.stop();
}

}  // namespace
}  // namespace pjx::detail
