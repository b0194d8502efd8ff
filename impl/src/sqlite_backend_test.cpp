// Behaviour of SqliteInvalidationBackend against WIRE.md, one rule per test.
// Most tests poll explicitly (poll_now) with a long poll_interval and a
// ManualClock, so that nothing depends on sleeping.
#include "pjx/sqlite_backend.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <regex>
#include <thread>

#include "pjx/errors.hpp"
#include "inbox.hpp"
#include "sqlite_backend_seams.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using pjx::testing::eventually;
using pjx::testing::Inbox;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

// Options for explicit polling: the poll thread would wait an hour, and no
// change notification wakes it.
SqliteOptions manual_options(std::shared_ptr<ManualClock> clock = nullptr) {
  SqliteOptions o;
  o.wake_on_change = false;
  o.poll_interval = 3600s;
  o.retention = 7200s;
  o.clock = std::move(clock);
  o.on_warning = [](const std::string&) {};
  return o;
}

class SqliteBackendTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
};

TEST_F(SqliteBackendTest, ConstructorCreatesNoFile) {
  SqliteInvalidationBackend backend(db_);
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(SqliteBackendTest, EmptyPublishWritesNothingAndCreatesNoFile) {
  SqliteInvalidationBackend backend(db_);
  backend.publish({});
  EXPECT_FALSE(std::filesystem::exists(db_));
  EXPECT_EQ(backend.stats().published, 0u);
}

TEST_F(SqliteBackendTest, PublishWritesOneRowAsTheWireFormatSays) {
  auto clock = std::make_shared<ManualClock>(1'700'000'123.25);
  SqliteInvalidationBackend backend(db_, manual_options(clock));
  backend.publish({"user:2", "user:1", "order:9"});
  RawDb raw(db_);
  const auto rows = raw.query("SELECT id, instance_id, channel, keys_json, created_at FROM pjx_invalidation");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "1");
  EXPECT_EQ(rows[0][1], backend.instance_id());
  EXPECT_EQ(rows[0][2], "pyjinhx:invalidate");
  EXPECT_EQ(rows[0][3], R"(["order:9","user:1","user:2"])");
  EXPECT_DOUBLE_EQ(std::stod(rows[0][4]), 1'700'000'123.25);
  EXPECT_EQ(backend.stats().published, 1u);
}

TEST_F(SqliteBackendTest, InstanceIdIsAFreshUuid4In32LowercaseHexDigits) {
  SqliteInvalidationBackend a(db_), b(db_);
  const std::regex uuid4("[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}");
  EXPECT_TRUE(std::regex_match(a.instance_id(), uuid4)) << a.instance_id();
  EXPECT_NE(a.instance_id(), b.instance_id());
}

TEST_F(SqliteBackendTest, DatabaseIsInWalModeWithSidecarsAndTheWireSchema) {
  SqliteInvalidationBackend backend(db_, manual_options());
  backend.start([](const KeySet&) {});
  backend.publish({"a"});
  EXPECT_TRUE(std::filesystem::exists(db_ + "-wal"));
  EXPECT_TRUE(std::filesystem::exists(db_ + "-shm"));
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND name='ix_pjx_invalidation_created_at'"),
            "1");
  EXPECT_NE(raw.scalar("SELECT sql FROM sqlite_master WHERE name='pjx_invalidation'").find("AUTOINCREMENT"),
            std::string::npos);
  EXPECT_EQ(raw.scalar("SELECT seq FROM sqlite_sequence WHERE name='pjx_invalidation'"), "1");
}

TEST_F(SqliteBackendTest, PublishPrunesRowsOlderThanRetentionOfEveryChannel) {
  auto clock = std::make_shared<ManualClock>(1000.0);
  SqliteOptions o = manual_options(clock);
  o.poll_interval = 1s;
  o.retention = 5s;
  SqliteInvalidationBackend backend(db_, o);
  backend.publish({"old"});
  {
    RawDb raw(db_);
    raw.insert_row("0123456789abcdef0123456789abcdef", "another-app", R"(["x"])", 1000.0);
  }
  clock->advance(5s);  // exactly retention: created_at == now - retention is kept
  backend.publish({"mid"});
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM pjx_invalidation"), "3");
  clock->advance(1s);
  backend.publish({"new"});
  EXPECT_EQ(raw.scalar("SELECT group_concat(keys_json, ' ') FROM pjx_invalidation ORDER BY id"),
            R"(["mid"] ["new"])");
}

TEST_F(SqliteBackendTest, AWallClockStepForwardPrunesOtherPublishersUnreadRows) {
  // WIRE.md: pruning compares the publisher's wall clock with created_at
  // values written by others, so a step changes what is pruned.
  auto clock = std::make_shared<ManualClock>(1000.0);
  SqliteOptions o = manual_options(clock);
  o.poll_interval = 1s;
  o.retention = 5s;
  SqliteInvalidationBackend backend(db_, o);
  backend.publish({"a"});
  {
    RawDb raw(db_);
    raw.insert_row("0123456789abcdef0123456789abcdef", o.channel, R"(["theirs"])", 1001.0);
  }
  clock->step_wall(3600);
  backend.publish({"b"});
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("SELECT group_concat(keys_json) FROM pjx_invalidation"), R"(["b"])");
}

TEST_F(SqliteBackendTest, ListenerReceivesRowsOfOtherInstancesOnItsChannel) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  Inbox inbox;
  listener.start(inbox.handler());
  publisher.publish({"a", "b"});
  publisher.publish({"c"});
  EXPECT_EQ(listener.poll_now(), 2u);
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"a", "b"}, {"c"}}));
  const auto stats = listener.stats();
  EXPECT_EQ(stats.rows_received, 2u);
  EXPECT_EQ(stats.keys_delivered, 3u);
  EXPECT_EQ(stats.cursor, 2);
  EXPECT_EQ(stats.lag, 0);
}

TEST_F(SqliteBackendTest, ListenerNeverReceivesItsOwnRows) {
  SqliteInvalidationBackend backend(db_, manual_options());
  Inbox inbox;
  backend.start(inbox.handler());
  backend.publish({"mine"});
  EXPECT_EQ(backend.poll_now(), 0u);
  EXPECT_TRUE(inbox.got().empty());
}

TEST_F(SqliteBackendTest, ListenerIgnoresOtherChannels) {
  SqliteOptions other = manual_options();
  other.channel = "other-app";
  SqliteInvalidationBackend listener(db_, manual_options()), stranger(db_, other), friend_(db_, manual_options());
  Inbox inbox;
  listener.start(inbox.handler());
  stranger.publish({"theirs"});
  friend_.publish({"ours"});
  listener.poll_now();
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"ours"}}));
}

TEST_F(SqliteBackendTest, StartDoesNotReplayHistory) {
  SqliteInvalidationBackend publisher(db_, manual_options());
  publisher.publish({"before"});
  SqliteInvalidationBackend listener(db_, manual_options());
  Inbox inbox;
  listener.start(inbox.handler());
  EXPECT_EQ(listener.stats().cursor, 1);
  publisher.publish({"after"});
  listener.poll_now();
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"after"}}));
}

TEST_F(SqliteBackendTest, CursorIsSeededFromTheWholeTableNotOnlyItsChannel) {
  SqliteOptions other = manual_options();
  other.channel = "other";
  SqliteInvalidationBackend stranger(db_, other);
  stranger.publish({"x"});
  stranger.publish({"y"});
  SqliteInvalidationBackend listener(db_, manual_options());
  listener.start([](const KeySet&) {});
  EXPECT_EQ(listener.stats().cursor, 2);
}

TEST_F(SqliteBackendTest, APublishRightAfterStartReturnsIsDeliveredByThePollThread) {
  SqliteOptions fast;
  fast.poll_interval = 10ms;
  fast.retention = 60s;
  SqliteInvalidationBackend listener(db_, fast), publisher(db_, fast);
  Inbox inbox;
  listener.start(inbox.handler());
  publisher.publish({"right-after"});
  ASSERT_TRUE(inbox.wait_for(1));
  EXPECT_EQ(inbox.got().front(), KeySet({"right-after"}));
}

TEST_F(SqliteBackendTest, StartTwiceIsANoOpAndKeepsTheFirstHandler) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  Inbox first, second;
  listener.start(first.handler());
  publisher.publish({"a"});
  listener.start(second.handler());  // must not reseed the cursor past "a"
  listener.poll_now();
  EXPECT_EQ(first.got().size(), 1u);
  EXPECT_TRUE(second.got().empty());
}

TEST_F(SqliteBackendTest, StopIsIdempotentAndDoesNotWaitForThePollInterval) {
  SqliteInvalidationBackend listener(db_, manual_options());  // poll_interval 1 h
  listener.start([](const KeySet&) {});
  const auto begin = std::chrono::steady_clock::now();
  listener.stop();
  listener.stop();
  // Bound: far below the 1 h interval; generous for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  EXPECT_FALSE(listener.stats().listening);
  EXPECT_THROW(listener.poll_now(), std::logic_error);
}

TEST_F(SqliteBackendTest, StopFromInsideTheHandlerEndsTheThreadAfterThatCall) {
  SqliteOptions fast;
  fast.poll_interval = 10ms;
  fast.retention = 60s;
  SqliteInvalidationBackend listener(db_, fast), publisher(db_, fast);
  Inbox inbox;
  std::atomic<int> calls{0};
  auto record = inbox.handler();
  listener.start([&](const KeySet& keys) {
    ++calls;
    record(keys);
    listener.stop();
  });
  publisher.publish({"a"});
  publisher.publish({"b"});
  ASSERT_TRUE(inbox.wait_for(1));
  listener.stop();  // joins the thread that stopped itself
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(listener.stats().listening);
}

// poll_now() runs handlers on the caller's thread while it holds the poll
// lock: stop() from there must not join (the poll thread may be waiting for
// that lock), and a nested poll_now() must be refused, not deadlock.
TEST_F(SqliteBackendTest, StopAndPollNowFromAHandlerInsidePollNowDoNotDeadlock) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  bool nested_refused = false;
  int calls = 0;
  listener.start([&](const KeySet&) {
    ++calls;
    try {
      listener.poll_now();
    } catch (const std::logic_error&) {
      nested_refused = true;
    }
    listener.stop();  // only asks the poll thread to exit
  });
  publisher.publish({"a"});
  EXPECT_EQ(listener.poll_now(), 1u);
  EXPECT_TRUE(nested_refused);
  EXPECT_EQ(calls, 1);
  listener.stop();  // joins the poll thread
  EXPECT_FALSE(listener.stats().listening);
}

TEST_F(SqliteBackendTest, RestartAfterStopReseedsAndListensAgain) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  Inbox inbox;
  listener.start(inbox.handler());
  listener.stop();
  publisher.publish({"while-stopped"});
  listener.start(inbox.handler());
  publisher.publish({"after-restart"});
  listener.poll_now();
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"after-restart"}}));
}

TEST_F(SqliteBackendTest, DestructorStopsThePollThread) {
  Inbox inbox;
  {
    SqliteOptions fast;
    fast.poll_interval = 5ms;
    fast.retention = 60s;
    SqliteInvalidationBackend listener(db_, fast);
    listener.start(inbox.handler());
  }
  SqliteInvalidationBackend publisher(db_, manual_options());
  publisher.publish({"after-destruction"});
  std::this_thread::sleep_for(50ms);  // a live thread would have polled ~10 times
  EXPECT_TRUE(inbox.got().empty());
}

TEST_F(SqliteBackendTest, MalformedRowsAreSkippedCountedAndWarnedAboutOnce) {
  SqliteOptions o = manual_options();
  std::vector<std::string> warnings;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  SqliteInvalidationBackend listener(db_, o);
  Inbox inbox;
  listener.start(inbox.handler());
  {
    RawDb raw(db_);
    const std::string other = "0123456789abcdef0123456789abcdef";
    raw.insert_row(other, o.channel, "not json", 1.0);
    raw.insert_row(other, o.channel, R"({"a": 1})", 1.0);
    raw.insert_row(other, o.channel, R"(["a", 2])", 1.0);
    raw.insert_row(other, o.channel, "[7E036854775807]", 1.0);  // a number past a double
    raw.insert_row(other, o.channel, R"(["good"])", 1.0);
  }
  EXPECT_EQ(listener.poll_now(), 1u);
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"good"}}));
  const auto stats = listener.stats();
  EXPECT_EQ(stats.malformed_rows, 4u);
  EXPECT_EQ(stats.cursor, 5);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("row 1"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("not valid JSON"), std::string::npos) << warnings[0];
}

TEST_F(SqliteBackendTest, AThrowingHandlerDoesNotLoseTheRestOfItsBatch) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  std::vector<KeySet> got;
  listener.start([&](const KeySet& keys) {
    got.push_back(keys);
    if (keys.count("boom")) throw std::runtime_error("handler failed");
  });
  publisher.publish({"boom"});
  publisher.publish({"after"});
  EXPECT_EQ(listener.poll_now(), 2u);
  EXPECT_EQ(got, (std::vector<KeySet>{{"boom"}, {"after"}}));
  EXPECT_EQ(listener.stats().handler_errors, 1u);
}

TEST_F(SqliteBackendTest, AThrowingHandlerAsksForAFlushSinceItsKeysWereNotApplied) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  std::vector<KeySet> got;
  std::vector<FlushReason> flushes;
  listener.start(
      [&](const KeySet& keys) {
        got.push_back(keys);
        if (keys.count("boom")) throw std::runtime_error("handler failed");
      },
      [&](FlushReason reason) { flushes.push_back(reason); });
  publisher.publish({"fine"});
  publisher.publish({"boom"});
  publisher.publish({"after"});
  EXPECT_EQ(listener.poll_now(), 3u);
  EXPECT_EQ(got, (std::vector<KeySet>{{"fine"}, {"boom"}, {"after"}}));
  EXPECT_EQ(flushes, std::vector<FlushReason>{FlushReason::kHandlerError});
  const auto stats = listener.stats();
  EXPECT_EQ(stats.handler_errors, 1u);
  EXPECT_EQ(stats.flushes, 1u);
  EXPECT_STREQ(to_string(FlushReason::kHandlerError), "handler_error");
}

// I2: the seed and the data version come from one snapshot, so a commit that
// lands between the two reads is delivered by the first poll.
TEST_F(SqliteBackendTest, StartRaceWithACommitBetweenSeedAndVersionLosesNoRow) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  publisher.publish({"before-start"});
  Inbox inbox;
  detail::set_start_seed_hook([&] { publisher.publish({"between"}); });
  listener.start(inbox.handler());
  detail::set_start_seed_hook({});
  listener.poll_now();
  EXPECT_EQ(inbox.got(), std::vector<KeySet>{{"between"}});
  EXPECT_EQ(listener.stats().cursor, 2);
}

// The interface's rule: no handler runs after stop() returns, also when the
// handler runs inside poll_now() on another thread.
TEST_F(SqliteBackendTest, StopWaitsForAHandlerRunningInPollNowOnAnotherThread) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  std::atomic<bool> stop_returned{false};
  std::atomic<bool> handler_ran_after_stop{false};
  listener.start([&](const KeySet&) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    if (stop_returned.load()) handler_ran_after_stop = true;
  });
  publisher.publish({"a"});
  std::thread poller([&] { listener.poll_now(); });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  std::thread stopper([&] {
    listener.stop();
    stop_returned = true;
  });
  // stop() must still be waiting for the handler (a bounded wait for
  // something that must not happen).
  EXPECT_FALSE(eventually([&] { return stop_returned.load(); }, 200ms));
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  stopper.join();
  poller.join();
  EXPECT_TRUE(stop_returned.load());
  EXPECT_FALSE(handler_ran_after_stop.load());
}

TEST_F(SqliteBackendTest, APollNowThatStartsAfterStopRunsNoHandler) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  int calls = 0;
  listener.start([&](const KeySet&) { ++calls; });
  publisher.publish({"a"});
  listener.stop();
  EXPECT_THROW(listener.poll_now(), std::logic_error);
  EXPECT_EQ(calls, 0);
}

// The background thread warns about a dropped event; a sink that stops the
// backend from there must not make that thread join itself.
TEST_F(SqliteBackendTest, AWarningSinkThatCallsStopOnTheBackgroundThreadDoesNotJoinItself) {
  SqliteOptions o = manual_options();
  o.busy_timeout = 20ms;
  std::atomic<SqliteInvalidationBackend*> self{nullptr};
  std::atomic<bool> stopped_from_sink{false};
  o.on_warning = [&](const std::string& w) {
    if (w.find("dropped") != std::string::npos && self.load() != nullptr) {
      self.load()->stop();
      stopped_from_sink = true;
    }
  };
  SqliteInvalidationBackend backend(db_, o);
  self = &backend;
  backend.start([](const KeySet&) {});
  {
    RawDb holder(db_);
    holder.exec("BEGIN IMMEDIATE");
    ASSERT_EQ(backend.publish_result({"k"}), PublishResult::kQueued);
    // No id is left: the retry fails for good and drops the event.
    holder.exec(
        "INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES ('pjx_invalidation', "
        "9223372036854775807)");
    holder.exec("COMMIT");
  }
  ASSERT_TRUE(eventually([&] { return stopped_from_sink.load(); }));
  EXPECT_FALSE(backend.stats().listening);
  EXPECT_EQ(backend.stats().outbox_dropped, 1u);
  self = nullptr;
}

TEST_F(SqliteBackendTest, AFailedStartLeavesNoWatchCountedAsActive) {
  SqliteOptions o = manual_options();
  o.wake_on_change = true;
  SqliteInvalidationBackend listener(db_, o);
  listener.start([](const KeySet&) {});
  listener.stop();
  RawDb(db_).exec("ALTER TABLE pjx_invalidation RENAME TO pjx_moved_away");
  EXPECT_THROW(listener.start([](const KeySet&) {}), BackendError);
  const auto stats = listener.stats();
  EXPECT_FALSE(stats.listening);
  EXPECT_FALSE(stats.wake_active);
  EXPECT_EQ(stats.wake_mode, WakeMode::kPolling);
}

TEST_F(SqliteBackendTest, AFailedPollIsCountedAndRetriedAtTheNextPoll) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  Inbox inbox;
  listener.start(inbox.handler());
  RawDb raw(db_);
  raw.exec("ALTER TABLE pjx_invalidation RENAME TO pjx_moved_away");
  raw.exec("CREATE TABLE marker (x)");  // changes data_version so the poll runs its query
  EXPECT_THROW(listener.poll_now(), BackendError);
  raw.exec("ALTER TABLE pjx_moved_away RENAME TO pjx_invalidation");
  auto stats = listener.stats();
  EXPECT_EQ(stats.poll_errors, 1u);
  EXPECT_NE(stats.last_error.find("pjx_invalidation"), std::string::npos) << stats.last_error;
  publisher.publish({"recovered"});
  listener.poll_now();
  EXPECT_EQ(inbox.got(), (std::vector<KeySet>{{"recovered"}}));
}

TEST_F(SqliteBackendTest, AnIdlePollIsAnsweredByTheWalIndexHeaderAlone) {
  SqliteInvalidationBackend listener(db_, manual_options());
  listener.start([](const KeySet&) {});
  listener.poll_now();
  listener.poll_now();
  listener.poll_now();
  const auto stats = listener.stats();
  EXPECT_EQ(stats.polls, 0u);  // nobody committed since start(): no query ran
  EXPECT_EQ(stats.skipped_polls, 3u);
  EXPECT_EQ(stats.header_skips, 3u);  // nor a read transaction
  ASSERT_TRUE(stats.since_last_poll.has_value());
}

TEST_F(SqliteBackendTest, ACommitThatChangesNoRowOfOursIsReadOnceThenSkippedAgain) {
  SqliteInvalidationBackend listener(db_, manual_options());
  listener.start([](const KeySet&) {});
  RawDb(db_).exec("CREATE TABLE marker (x)");  // moves the header and data_version
  listener.poll_now();
  listener.poll_now();
  const auto stats = listener.stats();
  EXPECT_EQ(stats.polls, 1u);
  EXPECT_EQ(stats.skipped_polls, 1u);
  EXPECT_EQ(stats.header_skips, 1u);
}

TEST_F(SqliteBackendTest, APublishBlockedPastTheBusyTimeoutThrowsAndWritesNothingWithoutAnOutbox) {
  SqliteOptions o = manual_options();
  o.busy_timeout = 50ms;
  o.outbox_capacity = 0;  // with an outbox it is queued instead: outbox_test.cpp
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  try {
    publisher.publish({"blocked"});
    FAIL() << "publish succeeded while another connection held the write lock";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.code() & 0xFF, 5 /* SQLITE_BUSY */);
    EXPECT_NE(std::string(e.what()).find("busy_timeout 50 ms"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(db_), std::string::npos) << e.what();
  }
  holder.exec("COMMIT");
  auto stats = publisher.stats();
  EXPECT_EQ(stats.publish_failures, 1u);
  EXPECT_GE(stats.busy_waits, 1u);
  publisher.publish({"after"});
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("SELECT group_concat(keys_json, ' ') FROM pjx_invalidation"), R"(["first"] ["after"])");
}

TEST_F(SqliteBackendTest, CreatedAtIsReadAfterTheWriteLockIsTaken) {
  // A publish that waited for the lock must not stamp its row with the time
  // it started waiting: another publisher's prune would delete it unread.
  auto clock = std::make_shared<ManualClock>(1000.0);
  SqliteOptions o = manual_options(clock);
  o.busy_timeout = 10s;
  SqliteInvalidationBackend publisher(db_, o);
  publisher.publish({"first"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  std::thread waiting([&] { publisher.publish({"waited"}); });
  std::this_thread::sleep_for(100ms);  // let it block on the lock (the test holds either way)
  clock->advance(60s);                 // time passes while the lock is held
  holder.exec("COMMIT");
  waiting.join();
  EXPECT_DOUBLE_EQ(std::stod(RawDb(db_).scalar("SELECT created_at FROM pjx_invalidation WHERE keys_json = ?1",
                                               {R"(["waited"])"})),
                   1060.0);
}

TEST_F(SqliteBackendTest, ANonUtf8KeyIsRejectedBeforeAnythingIsWritten) {
  SqliteInvalidationBackend publisher(db_, manual_options());
  EXPECT_THROW(publisher.publish({"ok", "\xFF"}), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(SqliteBackendTest, PublishIsSafeFromManyThreads) {
  SqliteInvalidationBackend publisher(db_, manual_options());
  constexpr int kThreads = 8, kEach = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) publisher.publish({"t" + std::to_string(t) + ":" + std::to_string(i)});
    });
  }
  for (auto& th : threads) th.join();
  RawDb raw(db_);
  EXPECT_EQ(raw.scalar("SELECT COUNT(DISTINCT keys_json) FROM pjx_invalidation"), std::to_string(kThreads * kEach));
  EXPECT_EQ(publisher.stats().published, static_cast<std::uint64_t>(kThreads * kEach));
}

TEST_F(SqliteBackendTest, LagCountsUnreadRowsOfItsChannelFromOthers) {
  SqliteInvalidationBackend listener(db_, manual_options()), publisher(db_, manual_options());
  listener.start([](const KeySet&) {});
  publisher.publish({"a"});
  publisher.publish({"b"});
  listener.publish({"own"});
  EXPECT_EQ(listener.stats().lag, 2);
  listener.poll_now();
  EXPECT_EQ(listener.stats().lag, 0);
}

// stats() runs its lag query on a connection of its own: a publish waiting
// up to busy_timeout for another process's write lock (holding the writer's lock all
// that time) does not hold it up.
TEST_F(SqliteBackendTest, StatsDoesNotWaitForAPublishBlockedOnAnotherProcesssWriteLock) {
  SqliteOptions o = manual_options();
  o.busy_timeout = 10s;
  o.outbox_capacity = 0;  // the blocked publish waits the whole busy_timeout, then throws
  SqliteInvalidationBackend backend(db_, o), other(db_, manual_options());
  backend.start([](const KeySet&) {});
  backend.publish({"first"});
  other.publish({"unread"});
  RawDb holder(db_);
  holder.exec("BEGIN IMMEDIATE");
  std::thread blocked([&] {
    try {
      backend.publish({"blocked"});
    } catch (const BackendError&) {  // only if the lock was held for the whole busy_timeout
    }
  });
  auto slowest = std::chrono::steady_clock::duration::zero();
  SqliteStats last;
  const auto timed_stats = [&] {
    const auto started = std::chrono::steady_clock::now();
    last = backend.stats();
    slowest = std::max(slowest, std::chrono::steady_clock::now() - started);
    return last;
  };
  // Every call is timed, also the one that finds the publish waiting.
  const bool waiting = eventually([&] { return timed_stats().busy_waits > 0; });
  timed_stats();
  holder.exec("ROLLBACK");
  blocked.join();
  ASSERT_TRUE(waiting);
  EXPECT_LT(slowest, 2s) << "stats() waited for the blocked publish";
  EXPECT_EQ(last.lag, 1) << last.last_error;
}

TEST_F(SqliteBackendTest, PollThreadDeliversConcurrentPublishesInOrderExactlyOnce) {
  SqliteOptions fast;
  fast.poll_interval = 5ms;
  fast.retention = 60s;
  SqliteInvalidationBackend listener(db_, fast), publisher(db_, fast);
  Inbox inbox;
  listener.start(inbox.handler());
  std::thread poker([&] {
    for (int i = 0; i < 50; ++i) listener.poll_now();  // races the poll thread
  });
  for (int i = 0; i < 200; ++i) publisher.publish({"k" + std::to_string(1000 + i)});
  poker.join();
  ASSERT_TRUE(inbox.wait_for(200));
  const auto got = inbox.got();
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(*got[static_cast<std::size_t>(i)].begin(), "k" + std::to_string(1000 + i));
}

// ---- Wake on change --------------------------------------------------------

SqliteOptions wake_options(bool wake, bool ring_doorbell = true) {
  SqliteOptions o;
  o.poll_interval = 60s;  // the timed poll cannot explain a delivery within the test
  o.retention = 120s;
  o.wake_on_change = wake;
  o.ring_doorbell = ring_doorbell;
  o.on_warning = [](const std::string&) {};
  return o;
}

// A publisher like upstream's: its commits show only in the -wal file.
SqliteOptions silent_publisher_options() { return wake_options(false, false); }

TEST_F(SqliteBackendTest, AChangeWakeDeliversWithoutWaitingForThePollInterval) {
  SqliteInvalidationBackend listener(db_, wake_options(true)), publisher(db_, silent_publisher_options());
  Inbox inbox;
  EXPECT_EQ(listener.stats().wake_mode, WakeMode::kPolling);  // not started
  listener.start(inbox.handler());
  EXPECT_TRUE(listener.stats().wake_active);
  EXPECT_EQ(listener.stats().wake_mode, WakeMode::kWrites);  // no doorbell heard
  publisher.publish({"woken"});
  ASSERT_TRUE(inbox.wait_for(1, 20s));
  const auto stats = listener.stats();
  EXPECT_GE(stats.wakes, 1u);
  EXPECT_EQ(stats.doorbell_wakes, 0u);
  EXPECT_EQ(stats.timed_polls, 0u);
  EXPECT_FALSE(std::filesystem::exists(db_ + "-notify"));
}

TEST_F(SqliteBackendTest, ADoorbellAfterEachCommitWakesTheListener) {
  SqliteInvalidationBackend listener(db_, wake_options(true)), publisher(db_, wake_options(false));
  Inbox inbox;
  listener.start(inbox.handler());
  for (int i = 0; i < 5; ++i) {
    publisher.publish({"rung" + std::to_string(i)});
    ASSERT_TRUE(inbox.wait_for(static_cast<std::size_t>(i + 1), 20s));
  }
  EXPECT_TRUE(std::filesystem::is_regular_file(db_ + "-notify"));
  EXPECT_EQ(std::filesystem::file_size(db_ + "-notify"), 0u);
  EXPECT_EQ(publisher.stats().doorbells, 5u);
  EXPECT_EQ(publisher.stats().doorbell_failures, 0u);
  EXPECT_TRUE(eventually([&] { return listener.stats().doorbell_wakes >= 1; }));  // bells unread in time coalesce
  EXPECT_EQ(listener.stats().timed_polls, 0u);
}

// A symlinked database path: SQLite puts -wal and -shm beside the link's
// target, so the change watch and the doorbell look there too (resolved once
// at construction). The timed poll (5 s) cannot explain a delivery within 2 s.
class SymlinkedPathTest : public SqliteBackendTest {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(dir_.path() / "data");
    std::filesystem::create_symlink("data/pjx.db", link_);
  }
  static SqliteOptions options(bool wake, bool ring_doorbell) {
    SqliteOptions o = wake_options(wake, ring_doorbell);
    o.poll_interval = 5s;
    return o;
  }

  std::string target_ = dir_.file("data/pjx.db");
  std::string link_ = dir_.file("link.db");
};

TEST_F(SymlinkedPathTest, AListenerOpenedThroughASymlinkIsWokenByCommitsThroughTheTarget) {
  SqliteInvalidationBackend silent(target_, options(false, false)),
      ringing(target_, options(false, true));
  silent.publish({"creates-the-file"});
  SqliteInvalidationBackend listener(link_, options(true, true));
  Inbox inbox;
  listener.start(inbox.handler());
  silent.publish({"by-its-wal-write"});
  ASSERT_TRUE(inbox.wait_for(1, 2s)) << "no -wal wake through the symlink";
  ringing.publish({"by-the-doorbell"});
  ASSERT_TRUE(inbox.wait_for(2, 2s)) << "no doorbell wake through the symlink";
  EXPECT_EQ(listener.stats().timed_polls, 0u);
}

TEST_F(SymlinkedPathTest, APublisherThroughASymlinkRingsTheDoorbellBesideTheTarget) {
  SqliteInvalidationBackend listener(target_, options(true, true)),
      publisher(link_, options(false, true));
  Inbox inbox;
  listener.start(inbox.handler());
  publisher.publish({"rung"});
  ASSERT_TRUE(inbox.wait_for(1, 2s));
  EXPECT_TRUE(std::filesystem::exists(target_ + "-notify"));
  EXPECT_TRUE(std::filesystem::exists(target_ + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(link_ + "-notify")));
}

// The replaced-file check (I9) follows the path as given, as every worker
// that opens it later does: a link pointed at another file is a replaced
// file, and a publish goes where the link points now.
TEST_F(SymlinkedPathTest, PointingTheSymlinkAtAnotherFileIsAReplacedFile) {
  SqliteInvalidationBackend listener(link_, manual_options());
  std::vector<FlushReason> flushes;
  Inbox inbox;
  listener.start(inbox.handler(), [&](FlushReason reason) { flushes.push_back(reason); });
  {
    SqliteInvalidationBackend elsewhere(dir_.file("data/other.db"), manual_options());
    elsewhere.publish({"in-the-other-file"});
  }
  std::filesystem::create_symlink("data/other.db", dir_.file("new-link"));
  std::filesystem::rename(dir_.file("new-link"), link_);
  listener.poll_now();
  EXPECT_EQ(flushes, std::vector<FlushReason>{FlushReason::kReplacedFile});
  EXPECT_EQ(inbox.got(), std::vector<KeySet>{{"in-the-other-file"}});
  listener.publish({"mine"});
  EXPECT_EQ(RawDb(dir_.file("data/other.db")).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "2");
}

TEST_F(SqliteBackendTest, AfterDoorbellsASilentPublisherIsFoundByTheTimedPollThenByItsWalWrites) {
  // Having heard a doorbell, the listener stops waking on -wal writes. A
  // publisher that never rings (upstream) is then found by the timed poll,
  // which tells the listener that such publishers are about: from then on
  // their -wal writes wake it again.
  SqliteOptions o = wake_options(true);
  o.poll_interval = 2s;
  SqliteInvalidationBackend listener(db_, o), ringing(db_, wake_options(false)),
      silent(db_, silent_publisher_options());
  Inbox inbox;
  listener.start(inbox.handler());
  ringing.publish({"rung"});
  ASSERT_TRUE(inbox.wait_for(1, 20s));
  // The -wal write may have delivered it before the doorbell was heard; the
  // listener counts a doorbell wake after it has reset its watch.
  ASSERT_TRUE(eventually([&] { return listener.stats().doorbell_wakes >= 1; }));
  EXPECT_EQ(listener.stats().wake_mode, WakeMode::kDoorbell);
  // A -wal wake that found the ringing commit not yet visible re-polls
  // 0.2 to 250 ms after it, and such a re-poll would find the silent
  // publish first. Publish once none can be pending: 300 ms without a poll
  // (the next timed poll is 2 s away).
  ASSERT_TRUE(eventually([&] {
    const auto since = listener.stats().since_last_poll;
    return since && *since > 300ms;
  }));
  const auto timed_before = listener.stats().timed_polls;
  silent.publish({"silent"});
  ASSERT_TRUE(inbox.wait_for(2, 20s));
  EXPECT_GT(listener.stats().timed_polls, timed_before) << "found by a wake while only doorbells should wake";
  // The listener resets its watch right after that poll.
  ASSERT_TRUE(eventually([&] { return listener.stats().wake_mode == WakeMode::kMixed; }));
  const auto wakes_before = listener.stats().wakes;
  for (int i = 0; i < 4; ++i) {
    silent.publish({"silent" + std::to_string(i)});
    ASSERT_TRUE(inbox.wait_for(static_cast<std::size_t>(i + 3), 20s)) << "silent publish " << i;
  }
  // A timed poll (every 2 s) may beat a write wake (1 ms after the write) to
  // one of them, hardly to three.
  EXPECT_GE(listener.stats().wakes - wakes_before, 3u);
}

// Sets or clears the immutable attribute (chattr +i), which stops even root
// from touching the file. Fails the test where the filesystem or the user
// cannot (CI runs as root on ext4).
void set_immutable(const std::string& path, bool on) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  int flags = 0;
  const bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
                  (flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL),
                   ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0);
  const int err = errno;
  ::close(fd);
  ASSERT_TRUE(ok) << "chattr " << (on ? "+i " : "-i ") << path << ": " << std::strerror(err)
                  << " (this test needs root and a filesystem with the immutable attribute, such as ext4)";
}

TEST_F(SqliteBackendTest, ADoorbellThatCannotBeRungIsWarnedAndCountedAndThePublishStands) {
  std::vector<std::string> warned;
  SqliteOptions o = wake_options(false);
  SqliteInvalidationBackend* self = nullptr;
  o.on_warning = [&](const std::string& m) {
    warned.push_back(m);
    // A sink may publish (an app that reports through its own events): the
    // doorbell is rung holding no lock and no group-commit role (I12, I13).
    if (warned.size() == 1 && self != nullptr) self->publish({"from the sink"});
  };
  SqliteInvalidationBackend publisher(db_, o), listener(db_, manual_options());
  self = &publisher;
  listener.start([](const KeySet&) {});
  publisher.publish({"creates the doorbell"});
  const std::string bell = db_ + "-notify";
  set_immutable(bell, true);
  if (::testing::Test::HasFatalFailure()) return;
  PublishResult result{};
  try {
    result = publisher.publish_result({"k"});
  } catch (...) {
    set_immutable(bell, false);  // or the temporary directory cannot be removed
    throw;
  }
  set_immutable(bell, false);
  EXPECT_EQ(result, PublishResult::kCommitted);
  EXPECT_EQ(listener.poll_now(), 3u);  // "k" and the sink's
  const auto stats = publisher.stats();
  EXPECT_EQ(stats.published, 3u);
  EXPECT_EQ(stats.doorbells, 1u);
  EXPECT_EQ(stats.doorbell_failures, 2u);
  ASSERT_EQ(warned.size(), 1u);  // the second failure is rate-limited
  EXPECT_NE(warned[0].find("cannot ring the doorbell"), std::string::npos) << warned[0];
  EXPECT_NE(warned[0].find(bell), std::string::npos) << warned[0];
  EXPECT_NE(warned[0].find("PJX_DOORBELL=0"), std::string::npos) << warned[0];
  publisher.publish({"rings again"});
  EXPECT_EQ(publisher.stats().doorbells, 2u);
}

TEST_F(SqliteBackendTest, TheDoorbellFileTakesTheDatabasesPermissionBitsDespiteTheUmask) {
  {
    SqliteInvalidationBackend creator(db_, silent_publisher_options());
    creator.publish({"creates the database"});
  }
  ASSERT_EQ(::chmod(db_.c_str(), 0660), 0);
  const mode_t umask_before = ::umask(022);  // would make a plain create 0640
  SqliteInvalidationBackend publisher(db_, wake_options(false));
  publisher.publish({"creates the doorbell"});
  ::umask(umask_before);
  struct stat st {};
  ASSERT_EQ(::stat((db_ + "-notify").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(SqliteBackendTest, WithTheDoorbellOffNoFileIsCreated) {
  SqliteInvalidationBackend publisher(db_, silent_publisher_options());
  publisher.publish({"k"});
  EXPECT_FALSE(std::filesystem::exists(db_ + "-notify"));
  EXPECT_EQ(publisher.stats().doorbells, 0u);
}

TEST_F(SqliteBackendTest, WithoutWakesTheListenerWaitsForItsPollInterval) {
  SqliteInvalidationBackend listener(db_, wake_options(false)), publisher(db_, wake_options(false));
  Inbox inbox;
  listener.start(inbox.handler());
  publisher.publish({"waits"});
  EXPECT_FALSE(inbox.wait_for(1, 300ms));
  EXPECT_EQ(listener.stats().wakes, 0u);
  EXPECT_FALSE(listener.stats().wake_active);
  EXPECT_EQ(listener.stats().wake_mode, WakeMode::kPolling);
  EXPECT_STREQ(to_string(listener.stats().wake_mode), "polling");
}

TEST_F(SqliteBackendTest, WakesSurviveACheckpointThatResetsAndTruncatesTheWal) {
  SqliteInvalidationBackend listener(db_, wake_options(true)), publisher(db_, silent_publisher_options());
  Inbox inbox;
  listener.start(inbox.handler());
  publisher.publish({"one"});
  ASSERT_TRUE(inbox.wait_for(1, 20s));
  RawDb(db_).exec("PRAGMA wal_checkpoint(TRUNCATE)");
  publisher.publish({"two"});
  ASSERT_TRUE(inbox.wait_for(2, 20s));
  std::filesystem::remove(db_ + "-wal");  // nobody holds it open for writing now
  publisher.publish({"three"});
  ASSERT_TRUE(inbox.wait_for(3, 20s));
  EXPECT_EQ(listener.stats().timed_polls, 0u);
}

TEST_F(SqliteBackendTest, AnIdleListenerWithWakesOnlyRunsItsTimedPolls) {
  SqliteOptions o = wake_options(true);
  o.poll_interval = 100ms;
  SqliteInvalidationBackend listener(db_, o);
  listener.start([](const KeySet&) {});
  std::this_thread::sleep_for(550ms);  // about five intervals of idleness
  const auto stats = listener.stats();
  EXPECT_EQ(stats.wakes, 0u);
  EXPECT_EQ(stats.polls, 0u);  // every timed poll was answered by data_version
  EXPECT_LE(stats.timed_polls, 6u);
}

// ---- Rejected at construction -------------------------------------------

void expect_config_error(const std::function<void()>& construct, std::initializer_list<std::string> fragments) {
  try {
    construct();
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message: " << e.what() << "\nmissing: " << f;
    }
  }
}

TEST(SqliteBackendConfig, ConfigErrorIsAnInvalidArgument) {
  EXPECT_THROW(SqliteInvalidationBackend(":memory:"), std::invalid_argument);
}

TEST(SqliteBackendConfig, RejectsPrivateDatabases) {
  for (const char* path : {":memory:", "", "file::memory:", "file:x?mode=memory", "file:"}) {
    expect_config_error([&] { SqliteInvalidationBackend b(path); }, {"private", "pass the path of a file"});
  }
}

TEST(SqliteBackendConfig, RejectsBadOptionsNamingTheValue) {
  TempDir dir;
  const auto db = dir.file("pjx.db");
  auto with = [&](auto mutate) {
    SqliteOptions o;
    mutate(o);
    return [db, o] { SqliteInvalidationBackend b(db, o); };
  };
  expect_config_error(with([](SqliteOptions& o) { o.poll_interval = Seconds(0); }), {"poll_interval 0 s", "positive"});
  expect_config_error(with([](SqliteOptions& o) { o.poll_interval = Seconds(-1); }), {"poll_interval -1 s"});
  expect_config_error(with([](SqliteOptions& o) { o.poll_interval = Seconds(std::nan("")); }), {"poll_interval nan"});
  expect_config_error(with([](SqliteOptions& o) { o.retention = Seconds(std::numeric_limits<double>::infinity()); }),
                      {"retention inf", "finite"});
  expect_config_error(with([](SqliteOptions& o) { o.retention = Seconds(0.1); }),
                      {"retention 0.1 s is shorter than poll_interval 0.5 s"});
  expect_config_error(with([](SqliteOptions& o) { o.channel.clear(); }), {"channel \"\"", "pyjinhx:invalidate"});
  expect_config_error(with([](SqliteOptions& o) { o.busy_timeout = std::chrono::milliseconds(-1); }),
                      {"busy_timeout -1 ms"});
  EXPECT_FALSE(std::filesystem::exists(db));
}

TEST(SqliteBackendConfig, RejectsPathsThatCannotWork) {
  TempDir dir;
  expect_config_error([&] { SqliteInvalidationBackend b(dir.file("no/such/dir/x.db")); }, {"does not exist"});
  expect_config_error([&] { SqliteInvalidationBackend b(dir.path().string()); }, {"is a directory"});
}

TEST(SqliteBackendConfig, RejectsAFileThatIsNotASqliteDatabaseAndLeavesItAlone) {
  TempDir dir;
  const auto path = dir.file("notes.txt");
  const std::string content(4096, 'x');
  std::ofstream(path) << content;
  expect_config_error([&] { SqliteInvalidationBackend b(path); }, {"not a SQLite database", "notes.txt"});
  std::ifstream in(path);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, content);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(SqliteBackendConfig, RejectsAnIncompatibleEventTable) {
  TempDir dir;
  {
    const auto path = dir.file("text-created-at.db");
    RawDb(path).exec(
        "CREATE TABLE pjx_invalidation (id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, keys_json TEXT NOT NULL, created_at TEXT NOT NULL)");
    expect_config_error([&] { SqliteInvalidationBackend b(path); },
                        {"created_at is TEXT, expected REAL", "another file"});
  }
  {
    const auto path = dir.file("no-autoincrement.db");
    RawDb(path).exec(
        "CREATE TABLE pjx_invalidation (id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, keys_json TEXT NOT NULL, created_at REAL NOT NULL)");
    expect_config_error([&] { SqliteInvalidationBackend b(path); }, {"AUTOINCREMENT"});
  }
  {
    const auto path = dir.file("missing-column.db");
    RawDb(path).exec("CREATE TABLE pjx_invalidation (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT)");
    expect_config_error([&] { SqliteInvalidationBackend b(path); }, {"no column instance_id"});
  }
}

TEST(SqliteBackendConfig, AcceptsAnExistingCompatibleDatabaseAndItsRows) {
  TempDir dir;
  const auto path = dir.file("pjx.db");
  {
    SqliteInvalidationBackend first(path);
    first.publish({"a"});
  }
  SqliteInvalidationBackend second(path);
  second.publish({"b"});
  EXPECT_EQ(RawDb(path).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "2");
}

}  // namespace
}  // namespace pjx
