// Invariants I8 (gap_rule.hpp) and I9 (listener.hpp): a listener that finds unread rows
// pruned, or that stalled past retention while others committed, asks for a
// flush; one that keeps up never does.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>

#include "pjx/sqlite_backend.hpp"
#include "sqlite_backend_seams.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

class MissedInvalidationsTest : public ::testing::Test {
 protected:
  SqliteOptions options(const std::string& channel = "pyjinhx:invalidate") {
    SqliteOptions o;
    o.channel = channel;
    o.poll_interval = 5s;  // longer than the test: polls are explicit
    o.wake_on_change = false;
    o.retention = 5s;
    o.clock = clock_;
    o.on_warning = [this](const std::string& w) { warnings_.push_back(w); };
    return o;
  }
  void start(SqliteInvalidationBackend& listener) {
    listener.start([this](const KeySet& keys) { got_.push_back(keys); },
                   [this](FlushReason reason) { flushes_.push_back(reason); });
  }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'000'000.0);
  std::vector<KeySet> got_;
  std::vector<FlushReason> flushes_;
  std::vector<std::string> warnings_;
};

TEST_F(MissedInvalidationsTest, UnreadRowsPrunedBeforeThePollAreAGapAndFlushBeforeTheRest) {
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  publisher.publish({"a"});
  clock_->advance(10s);       // the listener is stalled past retention...
  publisher.publish({"b"});   // ...and this publish prunes "a"
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kGap});
  EXPECT_EQ(got_, std::vector<KeySet>{{"b"}});
  const auto stats = listener.stats();
  EXPECT_EQ(stats.gaps_detected, 1u);
  EXPECT_EQ(stats.missed_ids, 1u);
  EXPECT_EQ(stats.flushes, 1u);
  ASSERT_FALSE(warnings_.empty());
  EXPECT_NE(warnings_.back().find("pruned before this listener read them"), std::string::npos);
}

TEST_F(MissedInvalidationsTest, AGapIsSeenEvenWhenPruningEmptiedTheTable) {
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  publisher.publish({"a"});
  RawDb(db_).exec("DELETE FROM pjx_invalidation");  // as an upstream prune would
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kGap});
  EXPECT_TRUE(got_.empty());
}

TEST_F(MissedInvalidationsTest, AStallPastRetentionWithNewCommitsFlushes) {
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  clock_->advance(6s);
  publisher.publish({"fresh"});  // nothing old enough to prune: no gap
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kStall});
  EXPECT_EQ(got_, std::vector<KeySet>{{"fresh"}});
  EXPECT_EQ(listener.stats().stalls_detected, 1u);
}

TEST_F(MissedInvalidationsTest, AStallWithNoCommitsInBetweenIsNoAlarm) {
  SqliteInvalidationBackend listener(db_, options());
  start(listener);
  clock_->advance(60s);
  listener.poll_now();  // PRAGMA data_version: nobody committed, nothing was pruned
  EXPECT_TRUE(flushes_.empty());
}

TEST_F(MissedInvalidationsTest, OtherChannelsBeingPrunedIsNoAlarmForAListenerThatKeepsUp) {
  SqliteInvalidationBackend listener(db_, options("quiet-app")), busy(db_, options("busy-app"));
  start(listener);
  for (int i = 0; i < 40; ++i) {
    busy.publish({"k" + std::to_string(i)});
    clock_->advance(1s);  // rows of busy-app are pruned as they age past 5 s
    listener.poll_now();
  }
  EXPECT_TRUE(flushes_.empty());
  EXPECT_EQ(listener.stats().cursor, 40);  // moved past rows that were not its own
}

TEST_F(MissedInvalidationsTest, StartingAfterEverythingWasPrunedIsNoAlarm) {
  {
    SqliteInvalidationBackend early(db_, options());
    early.publish({"old"});
  }
  RawDb(db_).exec("DELETE FROM pjx_invalidation");
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  EXPECT_EQ(listener.stats().cursor, 1);  // seeded from sqlite_sequence
  publisher.publish({"new"});
  listener.poll_now();
  EXPECT_TRUE(flushes_.empty());
  EXPECT_EQ(got_, std::vector<KeySet>{{"new"}});
}

TEST_F(MissedInvalidationsTest, DetectionOffReproducesUpstreamSilentLoss) {
  SqliteOptions o = options();
  o.detect_gaps = false;
  SqliteInvalidationBackend listener(db_, o), publisher(db_, options());
  start(listener);
  publisher.publish({"a"});
  clock_->advance(10s);
  publisher.publish({"b"});
  listener.poll_now();
  EXPECT_TRUE(flushes_.empty());
  EXPECT_EQ(got_, std::vector<KeySet>{{"b"}});  // "a" is lost without a sign
  EXPECT_EQ(listener.stats().gaps_detected, 0u);
}

// Pruning goes by created_at, which need not follow id order (upstream reads
// its clock before waiting up to 5 s for the lock; a wall clock can step
// back): a hole can open between rows that are still there.
TEST_F(MissedInvalidationsTest, AHoleInTheMiddleOfTheUnreadIdsIsAGap) {
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  publisher.publish({"a"});
  publisher.publish({"b"});
  publisher.publish({"c"});
  RawDb(db_).exec("DELETE FROM pjx_invalidation WHERE id = 2");  // pruned out of id order
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kGap});
  EXPECT_EQ(got_, (std::vector<KeySet>{{"a"}, {"c"}}));
  EXPECT_EQ(listener.stats().missed_ids, 1u);
  EXPECT_EQ(listener.stats().cursor, 3);
}

// Invariant I14: ids that fall below the cursor (the file restored in place,
// the table and sqlite_sequence emptied) are a gap: flush, reseed at the top.

TEST_F(MissedInvalidationsTest, ARestoreInPlaceWithTheBackupApiIsAGapAndReseedsTheCursor) {
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  publisher.publish({"old"});
  RawDb(db_).back_up_to(dir_.file("backup.db"));
  for (const char* key : {"x", "y", "z"}) publisher.publish({key});
  listener.poll_now();
  ASSERT_EQ(listener.stats().cursor, 4);
  const auto inode_of = [this] {
    struct stat st {};
    return ::stat(db_.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  const auto inode = inode_of();
  RawDb(db_).restore_from(dir_.file("backup.db"));  // same file: ids start again after 1
  ASSERT_EQ(inode_of(), inode);
  publisher.publish({"after-restore"});  // id 2
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kGap});
  EXPECT_EQ(listener.stats().cursor, 2);
  EXPECT_EQ(listener.stats().reopens, 0u);  // the same file: nothing to reopen
  publisher.publish({"next"});              // id 3, below the old cursor
  listener.poll_now();
  ASSERT_FALSE(got_.empty());
  EXPECT_EQ(got_.back(), KeySet{"next"});
  EXPECT_EQ(flushes_.size(), 1u);
}

TEST_F(MissedInvalidationsTest, EmptyingTheTableAndItsSequenceIsAGapAndReseedsTheCursor) {
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  for (const char* key : {"a", "b", "c"}) publisher.publish({key});
  listener.poll_now();
  ASSERT_EQ(listener.stats().cursor, 3);
  RawDb(db_).exec("DELETE FROM pjx_invalidation; DELETE FROM sqlite_sequence");
  publisher.publish({"after-reset"});  // id 1
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kGap});
  EXPECT_EQ(listener.stats().cursor, 1);
  publisher.publish({"next"});  // id 2
  listener.poll_now();
  ASSERT_FALSE(got_.empty());
  EXPECT_EQ(got_.back(), KeySet{"next"});
  EXPECT_EQ(flushes_.size(), 1u);
}

// Invariant I9: a replaced or deleted database file is noticed, reopened,
// and the cache flushed.

TEST_F(MissedInvalidationsTest, AReplacedFileIsReopenedAndFlushesThenDeliversFromTheNewFile) {
  SqliteInvalidationBackend listener(db_, options());
  start(listener);
  {
    SqliteInvalidationBackend elsewhere(dir_.file("new.db"), options());
    elsewhere.publish({"in-the-new-file-before"});
  }
  // A clean replacement takes the old -wal/-shm away too: SQLite would
  // otherwise read the new file through the old file's WAL.
  std::filesystem::remove(db_ + "-wal");
  std::filesystem::remove(db_ + "-shm");
  std::filesystem::rename(dir_.file("new.db"), db_);
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kReplacedFile});
  // Rows already in the new file are delivered after the flush, not skipped.
  EXPECT_EQ(got_, std::vector<KeySet>{{"in-the-new-file-before"}});
  EXPECT_EQ(listener.stats().reopens, 1u);
  SqliteInvalidationBackend publisher(db_, options());
  publisher.publish({"after"});
  listener.poll_now();
  EXPECT_EQ(got_, (std::vector<KeySet>{{"in-the-new-file-before"}, {"after"}}));
  EXPECT_EQ(flushes_.size(), 1u);
}

TEST_F(MissedInvalidationsTest, ADeletedFileIsRecreatedAndFlushesAndOwnPublishesGoToTheNewFile) {
  SqliteInvalidationBackend listener(db_, options()), other(db_, options());
  start(listener);
  listener.publish({"before"});
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db_ + suffix);
  listener.poll_now();
  EXPECT_EQ(flushes_, std::vector<FlushReason>{FlushReason::kReplacedFile});
  EXPECT_TRUE(std::filesystem::exists(db_));
  listener.publish({"mine-after"});  // the writer was reopened too
  EXPECT_EQ(RawDb(db_).scalar("SELECT keys_json FROM pjx_invalidation"), R"(["mine-after"])");
}

// I2 across stop() and start(): a file replaced while the listener was
// stopped is the file start() seeds from, so rows already in it are not
// replayed (and nothing is flushed: start() promises no history).
TEST_F(MissedInvalidationsTest, StartAfterStopDoesNotReplayAFileReplacedWhileStopped) {
  SqliteInvalidationBackend listener(db_, options());
  start(listener);
  listener.stop();
  {
    SqliteInvalidationBackend elsewhere(dir_.file("new.db"), options());
    elsewhere.publish({"in-the-new-file-before-start"});
  }
  std::filesystem::remove(db_ + "-wal");
  std::filesystem::remove(db_ + "-shm");
  std::filesystem::rename(dir_.file("new.db"), db_);
  start(listener);
  listener.poll_now();
  EXPECT_TRUE(got_.empty());
  EXPECT_TRUE(flushes_.empty());
  EXPECT_EQ(listener.stats().cursor, 1);
  SqliteInvalidationBackend publisher(db_, options());
  publisher.publish({"after"});
  listener.poll_now();
  EXPECT_EQ(got_, std::vector<KeySet>{{"after"}});
}

TEST_F(MissedInvalidationsTest, StartAfterStopDoesNotReplayAFileDeletedAndRecreatedWhileStopped) {
  SqliteInvalidationBackend listener(db_, options());
  start(listener);
  listener.publish({"old"});
  listener.stop();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db_ + suffix);
  SqliteInvalidationBackend publisher(db_, options());
  publisher.publish({"recreated-before-start"});
  start(listener);
  listener.poll_now();
  EXPECT_TRUE(got_.empty());
  EXPECT_TRUE(flushes_.empty());
  publisher.publish({"after"});
  listener.poll_now();
  EXPECT_EQ(got_, std::vector<KeySet>{{"after"}});
}

// I9 during an open: the file a connection has open is the one at the path
// both before and after the open. A file renamed onto the path while the
// connection was being opened (an open can wait up to busy_timeout while
// another process sets the file up) is not taken for the one it replaced.
class RenameDuringOpenTest : public MissedInvalidationsTest {
 protected:
  // The next open of a connection to db_, by any backend, has new.db
  // renamed onto db_ (with the old file's -wal and -shm removed, as a clean
  // replacement does) once SQLite has the old file open.
  void rename_new_file_during_the_next_open() {
    {
      SqliteInvalidationBackend elsewhere(dir_.file("new.db"), options());
      elsewhere.publish({"in-the-new-file"});
    }
    detail::set_after_open_hook([this] {
      if (renamed_.exchange(true)) return;
      std::filesystem::remove(db_ + "-wal");
      std::filesystem::remove(db_ + "-shm");
      std::filesystem::rename(dir_.file("new.db"), db_);
    });
  }
  void TearDown() override { detail::set_after_open_hook({}); }

  std::atomic<bool> renamed_{false};  // the hook is copied for each call
};

TEST_F(RenameDuringOpenTest, AListenerWhoseFileIsReplacedDuringItsOpenReadsTheNewFile) {
  {
    SqliteInvalidationBackend old_file(db_, options());
    old_file.publish({"old-1"});
    old_file.publish({"old-2"});
  }
  SqliteInvalidationBackend listener(db_, options());
  rename_new_file_during_the_next_open();
  start(listener);  // opens the listener's connection
  detail::set_after_open_hook({});
  EXPECT_EQ(listener.stats().cursor, 1);  // seeded from the new file (I2)
  SqliteInvalidationBackend publisher(db_, options());
  publisher.publish({"after"});
  listener.poll_now();
  EXPECT_EQ(got_, std::vector<KeySet>{{"after"}});
  EXPECT_TRUE(flushes_.empty());
}

TEST_F(RenameDuringOpenTest, APublishWhoseFileIsReplacedDuringItsOpenWritesToTheNewFile) {
  SqliteInvalidationBackend publisher(db_, options());  // no file yet: nothing opened
  rename_new_file_during_the_next_open();
  publisher.publish({"mine"});  // opens the publisher's connection, creating a file
  detail::set_after_open_hook({});
  EXPECT_EQ(RawDb(db_).scalar("SELECT group_concat(keys_json, ' ') FROM pjx_invalidation"),
            R"(["in-the-new-file"] ["mine"])");
}

TEST_F(MissedInvalidationsTest, AnUnchangedFileIsNeverReopened) {
  SqliteInvalidationBackend listener(db_, options()), publisher(db_, options());
  start(listener);
  for (int i = 0; i < 5; ++i) {
    publisher.publish({"k" + std::to_string(i)});
    listener.poll_now();
  }
  EXPECT_EQ(listener.stats().reopens, 0u);
  EXPECT_TRUE(flushes_.empty());
  EXPECT_EQ(got_.size(), 5u);
}

}  // namespace
}  // namespace pjx
