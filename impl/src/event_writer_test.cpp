// The publisher's connection and its write transaction (event_writer.hpp,
// I7 and the publisher's side of I9).
#include "event_writer.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "backend_context.hpp"
#include "pjx/errors.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx::detail {
namespace {

using namespace std::chrono_literals;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

class EventWriterTest : public ::testing::Test {
 protected:
  SqliteOptions options() {
    SqliteOptions o = pjx::testing::quiet_options();
    o.channel = "c";
    o.retention = 10s;
    o.poll_interval = 1s;
    o.prune_limit = 2;
    o.clock = clock_;
    return o;
  }
  void commit(EventWriter& writer, std::initializer_list<std::string_view> events) {
    auto locked = writer.lock();
    locked.ensure_open();
    locked.commit(std::span<const std::string_view>(events.begin(), events.size()));
  }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1000.0);
};

TEST_F(EventWriterTest, ACommitWritesOneRowPerEventStampedWithOneTimeAfterTheLock) {
  BackendContext ctx(db_, options());
  EventWriter writer(ctx, [] {});
  commit(writer, {R"(["a"])", R"(["b"])"});
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("SELECT group_concat(keys_json, ' ') FROM pjx_invalidation ORDER BY id"), R"(["a"] ["b"])");
  EXPECT_EQ(raw.scalar("SELECT COUNT(DISTINCT created_at) FROM pjx_invalidation"), "1");
  EXPECT_EQ(raw.scalar("SELECT created_at FROM pjx_invalidation LIMIT 1"), "1000.0");
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM pjx_invalidation WHERE instance_id = ?1 AND channel = 'c'",
                       {ctx.instance_id}),
            "2");
}

TEST_F(EventWriterTest, ACommitPrunesAtMostPruneLimitExpiredRowsOldestFirst) {
  BackendContext ctx(db_, options());
  EventWriter writer(ctx, [] {});
  for (int i = 0; i < 5; ++i) {
    commit(writer, {R"(["old"])"});
    clock_->advance(1s);
  }
  clock_->advance(20s);  // all five expired
  commit(writer, {R"(["new"])"});
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("SELECT group_concat(id, ' ') FROM pjx_invalidation ORDER BY id"), "3 4 5 6");
  EXPECT_EQ(ctx.counters.rows_pruned.load(), 2u);
}

TEST_F(EventWriterTest, AFailedCommitWritesNothing) {
  SqliteOptions o = options();
  o.busy_timeout = 50ms;
  BackendContext ctx(db_, o);
  EventWriter writer(ctx, [] {});
  commit(writer, {R"(["first"])"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  auto locked = writer.lock();
  try {
    const std::string_view events[] = {R"(["a"])", R"(["b"])"};
    locked.commit(events);
    FAIL() << "expected BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.code() & 0xFF, SQLITE_BUSY);
    EXPECT_TRUE(locked.retryable(e.code()));
  }
  holder.exec("ROLLBACK");
  EXPECT_EQ(RawDb(db_).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "1");
}

TEST_F(EventWriterTest, TransientFailuresAreRetryableOthersAreNot) {
  BackendContext ctx(db_, options());
  EventWriter writer(ctx, [] {});
  commit(writer, {R"(["a"])"});
  auto locked = writer.lock();
  EXPECT_TRUE(locked.retryable(SQLITE_BUSY));
  EXPECT_TRUE(locked.retryable(SQLITE_IOERR_WRITE));
  EXPECT_TRUE(locked.retryable(SQLITE_FULL));
  EXPECT_TRUE(locked.retryable(SQLITE_READONLY_DBMOVED));
  EXPECT_FALSE(locked.retryable(SQLITE_READONLY));
  EXPECT_FALSE(locked.retryable(SQLITE_CORRUPT));
}

TEST_F(EventWriterTest, AFullDiskIsRetryableButRunningOutOfIdsIsNot) {
  BackendContext ctx(db_, options());
  EventWriter writer(ctx, [] {});
  commit(writer, {R"(["a"])"});
  RawDb(db_).exec("UPDATE sqlite_sequence SET seq = " + std::to_string(std::numeric_limits<std::int64_t>::max()) +
                  " WHERE name = 'pjx_invalidation'");
  auto locked = writer.lock();
  try {
    const std::string_view events[] = {R"(["b"])"};
    locked.commit(events);
    FAIL() << "expected BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.code() & 0xFF, SQLITE_FULL);
    EXPECT_FALSE(locked.retryable(e.code()));
  }
}

TEST_F(EventWriterTest, ACommitAfterTheFileWasReplacedGoesToTheNewFile) {
  BackendContext ctx(db_, options());
  EventWriter writer(ctx, [] {});
  commit(writer, {R"(["old"])"});
  {
    BackendContext other(dir_.file("new.db"), options());
    EventWriter other_writer(other, [] {});
    commit(other_writer, {R"(["in-the-new-file"])"});
  }
  // Replaced with its sidecars, as a clean replacement is (listener.hpp, I9).
  std::filesystem::remove(db_ + "-wal");
  std::filesystem::remove(db_ + "-shm");
  std::filesystem::rename(dir_.file("new.db"), db_);
  commit(writer, {R"(["mine"])"});
  EXPECT_EQ(RawDb(db_).scalar("SELECT group_concat(keys_json, ' ') FROM pjx_invalidation ORDER BY id"),
            R"(["in-the-new-file"] ["mine"])");
}

TEST_F(EventWriterTest, TheWalHookAsksForACheckpointOnceTheWalHoldsCheckpointPages) {
  SqliteOptions o = options();
  o.checkpoint_pages = 3;
  BackendContext ctx(db_, o);
  int asked = 0;
  EventWriter writer(ctx, [&asked] { ++asked; });
  commit(writer, {R"(["a"])"});
  const int after_first = asked;
  for (int i = 0; i < 10; ++i) commit(writer, {R"(["b"])"});
  EXPECT_GT(asked, after_first);
}

TEST_F(EventWriterTest, WithoutCheckpointPagesTheWalHookIsNeverCalled) {
  SqliteOptions o = options();
  o.checkpoint_pages = 0;
  BackendContext ctx(db_, o);
  int asked = 0;
  EventWriter writer(ctx, [&asked] { ++asked; });
  for (int i = 0; i < 10; ++i) commit(writer, {R"(["a"])"});
  EXPECT_EQ(asked, 0);
}

}  // namespace
}  // namespace pjx::detail
