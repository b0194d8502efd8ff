// Group commit (invariant I13, publisher.hpp): threads that publish
// while another thread's commit is under way share the next commit, and each
// still gets its own event's outcome. A lock holder (a plain connection in
// BEGIN IMMEDIATE) keeps the first publisher inside its commit while the
// others arrive; waits have generous deadlines and assert nothing about speed.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using pjx::testing::eventually;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

SqliteOptions options_with_busy_timeout(std::chrono::milliseconds busy_timeout, std::size_t outbox_capacity) {
  SqliteOptions o;
  o.wake_on_change = false;
  o.poll_interval = 3600s;
  o.retention = 7200s;
  o.busy_timeout = busy_timeout;
  o.outbox_capacity = outbox_capacity;
  o.on_warning = [](const std::string&) {};
  return o;
}

// Runs `first` publishing "lead" until it waits for the holder's lock, then
// `followers` threads publishing "f<i>" (each started before the lock is
// released), then releases the lock `hold` after the followers started.
// `publish` runs in each thread and returns what the test wants to keep of
// its outcome.
template <typename Outcome, typename Publish>
std::vector<Outcome> publish_behind_a_held_lock(SqliteInvalidationBackend& publisher, RawDb& holder,
                                                int followers, std::chrono::milliseconds hold, Publish publish) {
  holder.exec("BEGIN IMMEDIATE");
  std::vector<Outcome> outcomes(static_cast<std::size_t>(followers) + 1);
  std::vector<std::thread> threads;
  const auto waits_before = publisher.stats().busy_waits;
  threads.emplace_back([&] { outcomes[0] = publish(std::string("lead")); });
  // The leader is inside its commit, waiting for the lock, once it has
  // waited.
  EXPECT_TRUE(eventually([&] { return publisher.stats().busy_waits > waits_before; }));
  std::atomic<int> started{0};
  for (int i = 1; i <= followers; ++i) {
    threads.emplace_back([&, i] {
      started.fetch_add(1);
      outcomes[static_cast<std::size_t>(i)] = publish("f" + std::to_string(i));
    });
  }
  EXPECT_TRUE(eventually([&] { return started.load() == followers; }));
  // Lets the followers reach the group queue; a late one only makes a
  // smaller group, which the assertions allow.
  std::this_thread::sleep_for(hold);
  holder.exec("COMMIT");
  for (auto& t : threads) t.join();
  return outcomes;
}

class GroupCommitTest : public ::testing::Test {
 protected:
  // A publisher that has created the file, and a connection to hold its
  // write lock.
  SqliteInvalidationBackend& make_publisher(std::chrono::milliseconds busy_timeout, std::size_t outbox_capacity) {
    publisher_.emplace(db_, options_with_busy_timeout(busy_timeout, outbox_capacity));
    publisher_->publish({"setup"});
    holder_.emplace(db_);
    return *publisher_;
  }
  RawDb& lock_holder() { return *holder_; }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
  std::optional<SqliteInvalidationBackend> publisher_;
  std::optional<RawDb> holder_;
};

TEST_F(GroupCommitTest, PublishesArrivingDuringACommitShareTheNextOneAndEachIsCommitted) {
  SqliteInvalidationBackend& publisher = make_publisher(5000ms, 1024);
  RawDb& holder = lock_holder();
  const std::string& db = db_;
  const auto outcomes = publish_behind_a_held_lock<PublishResult>(
      publisher, holder, 6, 100ms, [&](const std::string& key) { return publisher.publish_result({key}); });
  for (const PublishResult r : outcomes) EXPECT_EQ(r, PublishResult::kCommitted);

  const auto stats = publisher.stats();
  EXPECT_EQ(stats.published, 8u);
  // "setup", "lead" alone, then the followers in fewer commits than events.
  EXPECT_LT(stats.publish_commits, stats.published);
  EXPECT_GE(stats.publish_commits, 3u);
  EXPECT_EQ(stats.publish_failures, 0u);

  // One row per event, every key once; a group's rows share one created_at.
  RawDb raw(db);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM pjx_invalidation"), "8");
  EXPECT_EQ(raw.scalar("SELECT COUNT(DISTINCT keys_json) FROM pjx_invalidation"), "8");
  EXPECT_EQ(raw.scalar("SELECT COUNT(DISTINCT created_at) FROM pjx_invalidation"),
            std::to_string(stats.publish_commits));
  EXPECT_EQ(raw.scalar("SELECT keys_json FROM pjx_invalidation ORDER BY id LIMIT 1 OFFSET 1"), R"(["lead"])");

  // A listener started before the next publishes gets each of them.
  SqliteInvalidationBackend listener(db, options_with_busy_timeout(5000ms, 1024));
  std::vector<KeySet> got;
  listener.start([&got](const KeySet& keys) { got.push_back(keys); });
  const auto again = publish_behind_a_held_lock<PublishResult>(
      publisher, holder, 3, 100ms, [&](const std::string& key) { return publisher.publish_result({key}); });
  for (const PublishResult r : again) EXPECT_EQ(r, PublishResult::kCommitted);
  listener.poll_now();
  listener.stop();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.front(), KeySet{"lead"});
}

TEST_F(GroupCommitTest, AGroupThatCannotCommitFailsEveryPublishInItWithTheCause) {
  // No outbox: a lock held past busy_timeout fails the publish. The lock is
  // held 1 s after the followers started: the leader gives up after 200 ms,
  // then the followers, queued meanwhile, fail together 200 ms later.
  SqliteInvalidationBackend& publisher = make_publisher(200ms, 0);
  RawDb& holder = lock_holder();
  const std::string& db = db_;
  struct Thrown {
    bool threw = false;
    int code = 0;
    std::string message;
  };
  const auto outcomes = publish_behind_a_held_lock<Thrown>(publisher, holder, 4, 1000ms, [&](const std::string& key) {
    Thrown t;
    try {
      publisher.publish({key});
    } catch (const BackendError& e) {
      t = Thrown{true, e.code(), e.what()};
    }
    return t;
  });
  std::size_t grouped = 0;
  for (const Thrown& t : outcomes) {
    ASSERT_TRUE(t.threw);
    EXPECT_EQ(t.code & 0xFF, SQLITE_BUSY) << t.message;
    EXPECT_NE(t.message.find("busy_timeout 200 ms"), std::string::npos) << t.message;
    if (t.message.find("group commit of") != std::string::npos) ++grouped;
  }
  EXPECT_EQ(outcomes[0].message.find("group commit of"), std::string::npos) << outcomes[0].message;  // alone
  EXPECT_GE(grouped, 2u);  // the followers shared a failed commit
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.publish_failures, outcomes.size());
  EXPECT_EQ(stats.published, 1u);
  EXPECT_EQ(RawDb(db).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "1");  // "setup" only
}

TEST_F(GroupCommitTest, ThreadsPublishingTogetherLoseNothingAndKeepEachThreadsOrder) {
  SqliteInvalidationBackend& publisher = make_publisher(5000ms, 1024);
  const std::string& db = db_;
  constexpr int kThreads = 4;
  constexpr int kEach = 150;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&publisher, t] {
      for (int i = 0; i < kEach; ++i) {
        EXPECT_EQ(publisher.publish_result({"t" + std::to_string(t) + ":" + std::to_string(i)}),
                  PublishResult::kCommitted);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.published, static_cast<std::uint64_t>(kThreads * kEach) + 1);  // and "setup"
  EXPECT_LE(stats.publish_commits, stats.published);
  RawDb raw(db);
  for (int t = 0; t < kThreads; ++t) {
    const auto rows = raw.query("SELECT keys_json FROM pjx_invalidation WHERE keys_json LIKE ?1 ORDER BY id",
                                {"[\"t" + std::to_string(t) + ":%"});
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(kEach));
    for (int i = 0; i < kEach; ++i) {
      EXPECT_EQ(rows[static_cast<std::size_t>(i)][0], "[\"t" + std::to_string(t) + ":" + std::to_string(i) + "\"]");
    }
  }
}

}  // namespace
}  // namespace pjx
