// The outbox (invariant I10, outbox.hpp): a publish that cannot
// commit for a transient reason is queued, committed later in publish order
// and delivered; overflow throws; stop() drains and reports what it cannot
// commit. Also the background checkpoint (I11) and the bounded prune (I7).
// Lock holders are plain connections in BEGIN IMMEDIATE; waits for the
// background thread have generous deadlines and assert nothing about speed.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include "pjx/errors.hpp"
#include "pjx/fault_vfs.hpp"
#include "pjx/sqlite_backend.hpp"
#include "inbox.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using pjx::testing::eventually;
using pjx::testing::Inbox;
using pjx::testing::RawDb;
using pjx::testing::TempDir;
using pjx::testing::quiet_options;

// Collects warnings.
class Warnings {
 public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& message) {
      std::lock_guard lock(mu_);
      messages_.push_back(message);
    };
  }
  bool any_contains(const std::string& text) { return !first_containing(text).empty(); }
  std::string first_containing(const std::string& text) {
    std::lock_guard lock(mu_);
    for (const auto& m : messages_) {
      if (m.find(text) != std::string::npos) return m;
    }
    return {};
  }

 private:
  std::mutex mu_;
  std::vector<std::string> messages_;
};



// A publisher whose publishes give up on a held lock after 50 ms.
SqliteOptions publisher_options() {
  SqliteOptions o = quiet_options();
  o.busy_timeout = 50ms;
  return o;
}

std::string keys_in_id_order(const std::string& db) {
  return RawDb(db).scalar("SELECT group_concat(keys_json, ' ') FROM (SELECT keys_json FROM pjx_invalidation ORDER BY id)");
}

class OutboxTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
};

TEST_F(OutboxTest, APublishBlockedPastTheBusyTimeoutIsQueuedAndCommittedInOrderAfterTheLockIsReleased) {
  SqliteInvalidationBackend publisher(db_, publisher_options());
  SqliteInvalidationBackend listener(db_, quiet_options());
  Inbox inbox;
  publisher.publish({"first"});
  listener.start(inbox.handler());

  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  EXPECT_EQ(publisher.publish_result({"a"}), PublishResult::kQueued);
  // Behind the queued one, without trying the lock.
  EXPECT_EQ(publisher.publish_result({"b"}), PublishResult::kQueued);
  auto stats = publisher.stats();
  EXPECT_EQ(stats.queued, 2u);
  EXPECT_EQ(stats.outbox_depth, 2u);
  EXPECT_EQ(stats.publish_failures, 0u);
  EXPECT_NE(stats.last_error.find("queued in the outbox"), std::string::npos) << stats.last_error;
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"])");  // the holder's view: nothing written

  holder.exec("COMMIT");
  ASSERT_TRUE(eventually([&] { return publisher.stats().outbox_committed == 2; }));
  stats = publisher.stats();
  EXPECT_EQ(stats.outbox_depth, 0u);
  EXPECT_EQ(stats.outbox_dropped, 0u);
  EXPECT_EQ(stats.published, 1u);  // only "first" committed inside publish()
  // A publish after the outbox emptied commits directly, after the queued ones.
  EXPECT_EQ(publisher.publish_result({"c"}), PublishResult::kCommitted);
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"] ["a"] ["b"] ["c"])");

  listener.poll_now();
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"a"}, {"b"}, {"c"}}));
}

TEST_F(OutboxTest, PublishesFromManyThreadsWhileTheOutboxDrainsKeepEachThreadsOrder) {
  SqliteInvalidationBackend publisher(db_, publisher_options());
  publisher.publish({"setup"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  ASSERT_EQ(publisher.publish_result({"t0:0"}), PublishResult::kQueued);
  std::vector<std::thread> threads;
  for (int t = 1; t <= 3; ++t) {
    threads.emplace_back([&publisher, t] {
      for (int i = 0; i < 20; ++i) publisher.publish({"t" + std::to_string(t) + ":" + std::to_string(i)});
    });
  }
  std::this_thread::sleep_for(20ms);  // some go to the outbox, some after it drained (either way)
  holder.exec("COMMIT");
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(eventually([&] { return publisher.stats().outbox_depth == 0; }));
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.published + stats.outbox_committed, 62u);
  EXPECT_EQ(stats.queued, stats.outbox_committed);
  // Per thread, ids follow publish order.
  RawDb raw(db_);
  for (int t = 1; t <= 3; ++t) {
    const auto rows = raw.query("SELECT keys_json FROM pjx_invalidation WHERE keys_json LIKE ?1 ORDER BY id",
                                {"[\"t" + std::to_string(t) + ":%"});
    ASSERT_EQ(rows.size(), 20u);
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(rows[static_cast<std::size_t>(i)][0], "[\"t" + std::to_string(t) + ":" + std::to_string(i) + "\"]");
    }
  }
}

TEST_F(OutboxTest, AFullOutboxThrowsNamingTheCapacityAndCountsIt) {
  SqliteOptions o = publisher_options();
  o.outbox_capacity = 2;
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  EXPECT_EQ(publisher.publish_result({"a"}), PublishResult::kQueued);
  EXPECT_EQ(publisher.publish_result({"b"}), PublishResult::kQueued);
  try {
    publisher.publish({"c"});
    FAIL() << "a third event fitted into an outbox of 2";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("outbox_capacity 2"), std::string::npos) << e.what();
  }
  auto stats = publisher.stats();
  EXPECT_EQ(stats.outbox_overflows, 1u);
  EXPECT_EQ(stats.publish_failures, 1u);
  EXPECT_EQ(stats.outbox_depth, 2u);
  holder.exec("COMMIT");
  publisher.stop();  // drains
  stats = publisher.stats();
  EXPECT_EQ(stats.outbox_committed, 2u);
  EXPECT_EQ(stats.outbox_depth, 0u);
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"] ["a"] ["b"])");  // never "c"
}

TEST_F(OutboxTest, StopDrainsTheOutboxOnceTheLockIsReleased) {
  SqliteOptions o = publisher_options();
  o.outbox_drain_timeout = 20s;
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  auto holder = std::make_unique<RawDb>(db_);
  holder->exec("BEGIN IMMEDIATE");
  ASSERT_EQ(publisher.publish_result({"a"}), PublishResult::kQueued);
  ASSERT_EQ(publisher.publish_result({"b"}), PublishResult::kQueued);
  std::thread release([&] {
    std::this_thread::sleep_for(100ms);  // stop() is (most likely) draining by now; passes either way
    holder->exec("COMMIT");
  });
  publisher.stop();
  release.join();
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.outbox_committed, 2u);
  EXPECT_EQ(stats.outbox_dropped, 0u);
  EXPECT_EQ(stats.outbox_depth, 0u);
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"] ["a"] ["b"])");
}

TEST_F(OutboxTest, TheDestructorDrainsTheOutbox) {
  {
    SqliteOptions o = publisher_options();
    o.outbox_drain_timeout = 20s;
    SqliteInvalidationBackend publisher(db_, o);
    publisher.publish({"first"});
    RawDb holder(db_);
    holder.exec("BEGIN IMMEDIATE");
    ASSERT_EQ(publisher.publish_result({"a"}), PublishResult::kQueued);
    holder.exec("COMMIT");
  }
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"] ["a"])");
}

TEST_F(OutboxTest, StopWithTheLockStillHeldReportsTheDroppedEvents) {
  Warnings warnings;
  SqliteOptions o = publisher_options();
  o.outbox_drain_timeout = 100ms;
  o.on_warning = warnings.sink();
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  ASSERT_EQ(publisher.publish_result({"a"}), PublishResult::kQueued);
  ASSERT_EQ(publisher.publish_result({"b"}), PublishResult::kQueued);
  publisher.stop();
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.outbox_dropped, 2u);
  EXPECT_EQ(stats.outbox_committed, 0u);
  EXPECT_EQ(stats.outbox_depth, 0u);
  EXPECT_EQ(stats.queued, stats.outbox_committed + stats.outbox_dropped + stats.outbox_depth);
  EXPECT_NE(stats.last_error.find("dropped at stop"), std::string::npos) << stats.last_error;
  EXPECT_TRUE(warnings.any_contains("2 queued publish(es)")) << "no warning about the drop";
  holder.exec("COMMIT");
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"])");
  // The backend keeps working after stop().
  EXPECT_EQ(publisher.publish_result({"after"}), PublishResult::kCommitted);
}

TEST_F(OutboxTest, ADisabledOutboxThrowsAsUpstreamDoes) {
  SqliteOptions o = publisher_options();
  o.outbox_capacity = 0;
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  EXPECT_THROW(publisher.publish({"blocked"}), BackendError);
  holder.exec("COMMIT");
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_EQ(stats.publish_failures, 1u);
}

TEST_F(OutboxTest, ANonTransientErrorThrowsInsteadOfQueueing) {
  SqliteInvalidationBackend publisher(db_, publisher_options());
  publisher.publish({"first"});
  RawDb(db_).exec(
      "CREATE TRIGGER refuse BEFORE INSERT ON pjx_invalidation BEGIN SELECT RAISE(ABORT, 'refused'); END");
  EXPECT_THROW(publisher.publish({"refused"}), BackendError);
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_EQ(stats.publish_failures, 1u);
}

TEST_F(OutboxTest, AQueuedEventThatMeetsANonTransientErrorIsDroppedWithAWarningAndTheNextOneCommits) {
  Warnings warnings;
  SqliteOptions o = publisher_options();
  o.on_warning = warnings.sink();
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  KeySet many;  // refused; its warning shows the keys abbreviated
  for (int i = 0; i < 500; ++i) many.insert("key-" + std::to_string(i));
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  ASSERT_EQ(publisher.publish_result(many), PublishResult::kQueued);
  ASSERT_EQ(publisher.publish_result({"fine"}), PublishResult::kQueued);
  // The lock holder refuses exactly the first queued event.
  holder.exec(
      "CREATE TRIGGER refuse BEFORE INSERT ON pjx_invalidation WHEN length(NEW.keys_json) > 1000 "
      "BEGIN SELECT RAISE(ABORT, 'refused'); END");
  holder.exec("COMMIT");
  ASSERT_TRUE(eventually([&] { return publisher.stats().outbox_depth == 0; }));
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.outbox_dropped, 1u);
  EXPECT_EQ(stats.outbox_committed, 1u);
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"] ["fine"])");
  const std::string warning = warnings.first_containing("was dropped");
  EXPECT_NE(warning.find("500 key(s) [\\\"key-0\\\""), std::string::npos) << warning;
  EXPECT_NE(warning.find("bytes in all)"), std::string::npos) << warning;
  EXPECT_LT(warning.size(), 1000u) << warning;
}

// A read-only mount (emulated by the fault VFS: SQLite opens the file
// read-only, as after EROFS) refuses every write of a connection opened
// through it, and stays that way after the mount is writable again.
TEST_F(OutboxTest, AQueuedEventThatMeetsAReadOnlyDatabaseStaysQueuedAndCommitsOnceItIsWritable) {
  FaultVfs& vfs = FaultVfs::install("pjx-outbox-readonly");
  vfs.clear();
  Warnings warnings;
  SqliteOptions o = publisher_options();
  o.vfs = vfs.name();
  o.on_warning = warnings.sink();
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  // An I/O error queues the event and makes the writer reopen its connection.
  vfs.arm(FaultSpec{FaultKind::kWrite, 1, FaultError::kIo, true});
  ASSERT_EQ(publisher.publish_result({"queued"}), PublishResult::kQueued);
  // ... which it now opens read-only, again and again.
  vfs.arm(FaultSpec{FaultKind::kOpen, 1, FaultError::kReadonly, true});
  const auto retries = publisher.stats().outbox_retries;
  ASSERT_TRUE(eventually([&] {
    return publisher.stats().outbox_retries >= retries + 3 && warnings.any_contains("readonly");
  })) << publisher.stats().last_error;
  auto stats = publisher.stats();
  EXPECT_EQ(stats.outbox_dropped, 0u) << stats.last_error;
  EXPECT_EQ(stats.outbox_depth, 1u);
  EXPECT_NE(warnings.first_containing("queued publishes wait").find("readonly"), std::string::npos);
  vfs.clear();  // the mount is writable again
  ASSERT_TRUE(eventually([&] { return publisher.stats().outbox_committed == 1; })) << publisher.stats().last_error;
  stats = publisher.stats();
  EXPECT_EQ(stats.outbox_dropped, 0u);
  EXPECT_EQ(stats.outbox_depth, 0u);
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"] ["queued"])");
}

TEST_F(OutboxTest, AQueuedEventThatCannotOpenTheDatabaseStaysQueuedAndCommitsOnceItCan) {
  FaultVfs& vfs = FaultVfs::install("pjx-outbox-readonly");
  vfs.clear();
  SqliteOptions o = publisher_options();
  o.vfs = vfs.name();
  o.on_warning = [](const std::string&) {};
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  vfs.arm(FaultSpec{FaultKind::kWrite, 1, FaultError::kIo, true});
  ASSERT_EQ(publisher.publish_result({"queued"}), PublishResult::kQueued);
  vfs.arm(FaultSpec{FaultKind::kOpen, 1, FaultError::kCantOpen, true});  // e.g. its directory is gone
  const auto retries = publisher.stats().outbox_retries;
  ASSERT_TRUE(eventually([&] { return publisher.stats().outbox_retries >= retries + 3; }));
  EXPECT_EQ(publisher.stats().outbox_dropped, 0u) << publisher.stats().last_error;
  vfs.clear();
  ASSERT_TRUE(eventually([&] { return publisher.stats().outbox_committed == 1; })) << publisher.stats().last_error;
  EXPECT_EQ(keys_in_id_order(db_), R"(["first"] ["queued"])");
}

TEST_F(OutboxTest, APublisherWhoseConnectionWasOpenedReadOnlyReopensItOnceTheFileIsWritable) {
  FaultVfs& vfs = FaultVfs::install("pjx-outbox-readonly");
  vfs.clear();
  // Another worker keeps the file open, so its -wal and -shm exist (a
  // read-only mount could not create them).
  SqliteInvalidationBackend other(db_, quiet_options());
  other.publish({"setup"});
  SqliteOptions o = publisher_options();
  o.vfs = vfs.name();
  vfs.arm(FaultSpec{FaultKind::kOpen, 1, FaultError::kReadonly, true});
  SqliteInvalidationBackend publisher(db_, o);
  try {
    publisher.publish({"refused"});  // a first attempt fails to its caller: nothing is lost
    FAIL() << "a publish through a read-only connection succeeded";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.code() & 0xFF, SQLITE_READONLY) << e.what();
    EXPECT_NE(std::string(e.what()).find("make it writable"), std::string::npos) << e.what();
  }
  EXPECT_EQ(publisher.stats().queued, 0u);
  vfs.clear();
  publisher.publish({"after"});
  EXPECT_EQ(keys_in_id_order(db_), R"(["setup"] ["after"])");
  EXPECT_EQ(publisher.stats().publish_failures, 1u);
}

TEST_F(OutboxTest, RejectsBadOutboxAndPruneOptions) {
  SqliteOptions o = quiet_options();
  o.outbox_drain_timeout = -1ms;
  EXPECT_THROW(SqliteInvalidationBackend(db_, o), ConfigError);
  o = quiet_options();
  o.prune_limit = 0;
  EXPECT_THROW(SqliteInvalidationBackend(db_, o), ConfigError);
}

TEST_F(OutboxTest, APruneDeletesAtMostPruneLimitRowsOldestFirst) {
  auto clock = std::make_shared<ManualClock>(1000.0);
  SqliteOptions o = quiet_options();
  o.clock = clock;
  o.retention = 10s;
  o.poll_interval = 1s;
  o.prune_limit = 3;
  SqliteInvalidationBackend publisher(db_, o);
  for (int i = 0; i < 8; ++i) {
    publisher.publish({"old" + std::to_string(i)});
    clock->advance(1ms);
  }
  clock->advance(60s);
  publisher.publish({"new0"});
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM pjx_invalidation"), "6");  // 8 + 1 - 3
  EXPECT_EQ(raw.scalar("SELECT MIN(keys_json) FROM pjx_invalidation WHERE keys_json LIKE '[\"old%'"),
            R"(["old3"])");
  publisher.publish({"new1"});
  publisher.publish({"new2"});
  EXPECT_EQ(raw.scalar("SELECT group_concat(keys_json, ' ') FROM (SELECT keys_json FROM pjx_invalidation ORDER BY id)"),
            R"(["new0"] ["new1"] ["new2"])");
  EXPECT_EQ(publisher.stats().rows_pruned, 8u);
}

TEST_F(OutboxTest, TheWalIsCheckpointedInTheBackgroundNotInsidePublish) {
  SqliteOptions o = quiet_options();
  o.checkpoint_pages = 20;
  SqliteInvalidationBackend publisher(db_, o);
  for (int i = 0; i < 200; ++i) publisher.publish({"k" + std::to_string(i)});
  ASSERT_TRUE(eventually([&] { return publisher.stats().checkpoints >= 1; }));
  publisher.stop();
  SqliteOptions upstream_like = quiet_options();
  upstream_like.checkpoint_pages = 0;  // SQLite's auto-checkpoint inside publish()
  SqliteInvalidationBackend inline_publisher(dir_.file("inline.db"), upstream_like);
  for (int i = 0; i < 200; ++i) inline_publisher.publish({"k" + std::to_string(i)});
  EXPECT_EQ(inline_publisher.stats().checkpoints, 0u);
}

// I11: with commits arriving back to back while a listener polls, a PASSIVE
// checkpoint never copies the whole WAL back, so the WAL never starts over
// and grows by every commit (tens of MB here). The background RESTART
// checkpoint lets it start over: the -wal file stays near
// journal_size_limit (4 MiB) on a quiet machine. The bound allows for a
// loaded one, where a preempted reader makes some checkpoints give up (each
// then rests 100 ms while the WAL grows); it is still a fifth of what the
// commits write without a restart (about 160 MB).
TEST_F(OutboxTest, TheWalStaysBoundedUnderBackToBackPublishesWhileAListenerPolls) {
  SqliteOptions o = quiet_options();
  o.checkpoint_pages = 50;
  SqliteInvalidationBackend publisher(db_, o);
  SqliteOptions lo = quiet_options();
  lo.poll_interval = std::chrono::milliseconds(1);
  SqliteInvalidationBackend listener(db_, lo);
  listener.start([](const KeySet&) {});
  const std::string wal = db_ + "-wal";
  const std::string padding(200, 'x');  // about 2 pages per commit with the index
  std::uintmax_t largest = 0;
  for (int i = 0; i < 12000; ++i) {
    publisher.publish({"k" + std::to_string(i) + padding});
    if (i % 100 == 0) {
      std::error_code ec;
      largest = std::max(largest, std::filesystem::file_size(wal, ec));
    }
  }
  listener.stop();
  const auto stats = publisher.stats();
  EXPECT_GE(stats.checkpoints, 1u);
  EXPECT_LT(largest, 32u << 20) << "the WAL grew to " << largest << " bytes over 12,000 commits ("
                               << stats.checkpoints << " complete checkpoints, " << stats.checkpoints_busy
                               << " gave up)";
}

TEST(PublishResultNames, AreStable) {
  EXPECT_STREQ(to_string(PublishResult::kCommitted), "committed");
  EXPECT_STREQ(to_string(PublishResult::kQueued), "queued");
}

}  // namespace
}  // namespace pjx
