// Tests of MutantBackend: with default knobs it keeps the wire rules, and
// each defect breaks exactly the rule it names (so a harness checker that
// misses it is the checker's fault, not the mutant's).
#include "mutant_backend.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "inbox.hpp"
#include "temp_dir.hpp"
#include "pjx/errors.hpp"
#include "pjx/fault_vfs.hpp"

namespace pjx::harness {
namespace {

using namespace std::chrono_literals;
using pjx::testing::Inbox;
using pjx::testing::TempDir;

constexpr auto kDeadline = 10s;  // generous: a loaded 2-core machine

SqliteOptions fast_options(std::string channel = "pyjinhx:invalidate") {
  SqliteOptions options;
  options.channel = std::move(channel);
  options.poll_interval = Seconds(0.02);
  options.retention = Seconds(5.0);
  options.busy_timeout = 200ms;
  return options;
}

// The key sets a handler received once `n` arrived (or the deadline passed).
std::vector<KeySet> wait_for(Inbox& inbox, std::size_t n) {
  inbox.wait_for(n, kDeadline);
  return inbox.got();
}

std::int64_t count_rows(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM pjx_invalidation", -1, &stmt, nullptr),
            SQLITE_OK);
  std::int64_t n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

MutantKnobs knobs_of(std::string_view defect) {
  const Defect* d = find_defect(defect);
  EXPECT_NE(d, nullptr) << defect;
  return d != nullptr ? d->knobs : MutantKnobs{};
}

TEST(MutantDefects, ListsEveryDefectOnceAndFindsThemByName) {
  const std::vector<std::string> expected = {"ignore-channel", "replay-history", "deliver-own",
                                             "never-prune",    "drop-when-busy", "accept-memory",
                                             "skip-rows",      "deliver-late",
                                             "silent-wake-loss", "no-gap-detection",
                                             "ack-failed-publish", "outbox-claimed",
                                             "channel-like",
                                             "fail-publishes",
                                             "spurious-flush",   "crash-mid-run",
                                             "slow-poll",        "prune-late",
                                             "no-wal",           "scribble-on-stop",
                                             "ack-before-commit"};
  std::vector<std::string> names;
  for (const Defect& d : defects()) {
    names.emplace_back(d.name);
    EXPECT_EQ(find_defect(d.name), &d);
    EXPECT_FALSE(d.description.empty());
  }
  EXPECT_EQ(names, expected);
  EXPECT_EQ(find_defect("no-such-defect"), nullptr);
}

TEST(MutantPrivateDatabase, RecognisesMemoryAndTemporaryDatabases) {
  for (const char* path :
       {"", ":memory:", "file::memory:", "file::memory:?cache=shared",
        "FILE::memory:", "file:x.db?mode=memory", "file:x.db?cache=shared&mode=memory",
        "file:", "file:?mode=rwc", "file://localhost/?mode=memory"}) {
    EXPECT_TRUE(is_private_database(path)) << path;
  }
  for (const char* path : {"x.db", "./:memory:", "file:x.db", "file:/var/x.db?mode=rwc",
                           "file:///var/x.db", "file:x.db?mode=memoryx", "memory"}) {
    EXPECT_FALSE(is_private_database(path)) << path;
  }
}

TEST(MutantCorrect, DeliversOtherInstancesRowsOfItsChannelOnlyAndNeverItsOwn) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend listener(db, fast_options(), {});
  MutantBackend publisher(db, fast_options(), {});
  MutantBackend other_channel(db, fast_options("other"), {});
  Inbox inbox;
  Inbox other_inbox;
  listener.start(inbox.handler());
  other_channel.start(other_inbox.handler());

  listener.publish({"own"});
  publisher.publish({"b", "a"});
  other_channel.publish({"for-other"});
  MutantBackend other_publisher(db, fast_options("other"), {});
  other_publisher.publish({"other-2"});

  // Rows are delivered in id order: the first delivery being {a, b} shows
  // its own earlier row was skipped; {c} being the next shows the other
  // channel's rows (written between them) were skipped too.
  ASSERT_FALSE(wait_for(inbox, 1).empty());
  EXPECT_EQ(wait_for(inbox, 1).front(), (KeySet{"a", "b"}));
  publisher.publish({"c"});
  EXPECT_EQ(wait_for(inbox, 2), (std::vector<KeySet>{{"a", "b"}, {"c"}}));
  EXPECT_EQ(wait_for(other_inbox, 1), (std::vector<KeySet>{{"other-2"}}));

  const SqliteStats stats = listener.stats();
  EXPECT_EQ(stats.published, 1u);
  EXPECT_EQ(stats.rows_received, 2u);
  EXPECT_EQ(stats.keys_delivered, 3u);
  EXPECT_TRUE(stats.listening);
  EXPECT_GT(stats.polls, 0u);
  EXPECT_EQ(listener.instance_id().size(), 32u);
  EXPECT_NE(listener.instance_id(), publisher.instance_id());
}

TEST(MutantIgnoreChannel, DeliversRowsOfOtherChannels) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend mutant(db, fast_options("mine"), knobs_of("ignore-channel"));
  MutantBackend publisher(db, fast_options("theirs"), {});
  Inbox inbox;
  mutant.start(inbox.handler());
  publisher.publish({"theirs:1"});
  EXPECT_EQ(wait_for(inbox, 1), (std::vector<KeySet>{{"theirs:1"}}));
}

TEST(MutantReplayHistory, ReplaysRowsWrittenBeforeStart) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend publisher(db, fast_options(), {});
  publisher.publish({"old"});
  MutantBackend mutant(db, fast_options(), knobs_of("replay-history"));
  MutantBackend correct(db, fast_options(), {});
  Inbox mutant_inbox;
  Inbox correct_inbox;
  mutant.start(mutant_inbox.handler());
  correct.start(correct_inbox.handler());
  publisher.publish({"new"});
  EXPECT_EQ(wait_for(mutant_inbox, 2), (std::vector<KeySet>{{"old"}, {"new"}}));
  EXPECT_EQ(wait_for(correct_inbox, 1), (std::vector<KeySet>{{"new"}}));
}

TEST(MutantDeliverOwn, DeliversItsOwnRows) {
  TempDir dir;
  MutantBackend mutant(dir.file("inval.db"), fast_options(), knobs_of("deliver-own"));
  Inbox inbox;
  mutant.start(inbox.handler());
  mutant.publish({"mine"});
  EXPECT_EQ(wait_for(inbox, 1), (std::vector<KeySet>{{"mine"}}));
}

TEST(MutantNeverPrune, KeepsRowsOlderThanRetentionWhereACorrectOnePrunes) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend mutant(db, fast_options(), knobs_of("never-prune"));
  mutant.publish({"first"});
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw,
                           "INSERT INTO pjx_invalidation (instance_id, channel, keys_json, "
                           "created_at) VALUES ('0', 'pyjinhx:invalidate', '[\"ancient\"]', 1.0)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
  }
  mutant.publish({"second"});
  EXPECT_EQ(count_rows(db), 3);
  MutantBackend correct(db, fast_options(), {});
  correct.publish({"third"});
  EXPECT_EQ(count_rows(db), 3) << "the ancient row is pruned, the new one added";
}

TEST(MutantSkipRows, SilentlySkipsEveryThirdRow) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend mutant(db, fast_options(), knobs_of("skip-rows"));
  MutantBackend publisher(db, fast_options(), {});
  Inbox inbox;
  mutant.start(inbox.handler());
  for (const char* key : {"k1", "k2", "k3", "k4"}) publisher.publish({key});
  EXPECT_EQ(wait_for(inbox, 3), (std::vector<KeySet>{{"k1"}, {"k2"}, {"k4"}}));
  EXPECT_EQ(mutant.stats().malformed_rows, 0u) << "the skip is silent";
}

TEST(MutantDeliverLate, DeliversNoSoonerThanThreePollIntervalsAndATenthOfASecond) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend mutant(db, fast_options(), knobs_of("deliver-late"));
  MutantBackend publisher(db, fast_options(), {});
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::chrono::steady_clock::time_point> received_at;
  mutant.start([&](const KeySet&) {
    std::lock_guard lock(mu);
    received_at = std::chrono::steady_clock::now();
    cv.notify_all();
  });
  const auto committed = std::chrono::steady_clock::now();
  publisher.publish({"late"});
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kDeadline, [&] { return received_at.has_value(); }));
  EXPECT_GE(*received_at - committed, 3 * 20ms + 100ms);
}

// Holds the database's write lock while alive.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~WriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(MutantDropWhenBusy, ReturnsAsIfCommittedWhileACorrectOneThrows) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend mutant(db, fast_options(), knobs_of("drop-when-busy"));
  MutantBackend correct(db, fast_options(), {});
  mutant.publish({"before"});
  {
    WriteLock lock(db);
    EXPECT_NO_THROW(mutant.publish({"dropped"}));
    EXPECT_THROW(correct.publish({"refused"}), BackendError);
  }
  EXPECT_EQ(count_rows(db), 1);
  EXPECT_EQ(mutant.stats().published, 1u);
  EXPECT_EQ(mutant.stats().publish_failures, 0u);
  EXPECT_EQ(correct.stats().publish_failures, 1u);
}

TEST(MutantAckFailedPublish, ReturnsAsIfCommittedWhenTheCommitFailsWhileACorrectOneThrows) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  FaultVfs& vfs = FaultVfs::install("pjx-mutant-test-fault");
  SqliteOptions o = fast_options();
  o.vfs = vfs.name();
  MutantBackend mutant(db, o, knobs_of("ack-failed-publish"));
  MutantBackend correct(db, o, {});
  mutant.publish({"before"});
  vfs.arm(FaultSpec{FaultKind::kWrite, 1, FaultError::kIo, /*persistent=*/true});
  EXPECT_NO_THROW(mutant.publish({"lost"}));
  EXPECT_THROW(correct.publish({"refused"}), BackendError);
  vfs.clear();
  EXPECT_EQ(count_rows(db), 1);
  EXPECT_EQ(mutant.stats().published, 1u);
}

TEST(MutantMalformedRows, SkipsAndCountsRowsThatAreNotArraysOfStrings) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend mutant(db, fast_options(), {});
  Inbox inbox;
  mutant.start(inbox.handler());
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    for (const char* keys_json : {"not json", "{\"a\":1}", "[1]", "[\"ok\"]"}) {
      sqlite3_stmt* stmt = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(raw,
                                   "INSERT INTO pjx_invalidation (instance_id, channel, "
                                   "keys_json, created_at) VALUES ('x', 'pyjinhx:invalidate', "
                                   "?1, 1e12)",
                                   -1, &stmt, nullptr),
                SQLITE_OK);
      sqlite3_bind_text(stmt, 1, keys_json, -1, SQLITE_TRANSIENT);
      EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
      sqlite3_finalize(stmt);
    }
    sqlite3_close(raw);
  }
  EXPECT_EQ(wait_for(inbox, 1), (std::vector<KeySet>{{"ok"}}));
  EXPECT_EQ(mutant.stats().malformed_rows, 3u);
}

TEST(MutantStop, StopIsIdempotentAndNoHandlerRunsAfterIt) {
  TempDir dir;
  const std::string db = dir.file("inval.db");
  MutantBackend mutant(db, fast_options(), {});
  Inbox inbox;
  mutant.start(inbox.handler());
  mutant.stop();
  mutant.stop();
  EXPECT_FALSE(mutant.stats().listening);
}

}  // namespace
}  // namespace pjx::harness
