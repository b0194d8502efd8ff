// The listener's reads (snapshot_reader.hpp, I2 and I3) on a real file,
// written as other publishers would write it.
#include "snapshot_reader.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "db_path.hpp"
#include "event_log.hpp"
#include "pjx/errors.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx::detail {
namespace {

using pjx::testing::RawDb;
using pjx::testing::TempDir;

const std::string kChannel = "c";
const std::string kMe = std::string(32, 'a');
const std::string kOther = std::string(32, 'b');

class SnapshotReaderTest : public ::testing::Test {
 protected:
  SnapshotReaderTest() : log_(check_db_path(db_), db_, std::chrono::milliseconds(5000), &busy_waits_) {}

  // A read from `from` with nothing remembered: it always reads.
  std::optional<Snapshot> read_fresh(std::int64_t from) {
    ChangeMark mark;
    return read_snapshot(log_, from, mark, kChannel, kMe);
  }

  std::vector<std::int64_t> ids(const std::vector<LogRow>& rows) {
    std::vector<std::int64_t> out;
    for (const auto& row : rows) out.push_back(row.id);
    return out;
  }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
  std::atomic<std::uint64_t> busy_waits_{0};
  EventLog log_;  // creates the file and its schema
  RawDb raw_{db_};
};

TEST_F(SnapshotReaderTest, TheSeedOfANewFileIsZero) { EXPECT_EQ(read_seed(log_).top, 0); }

TEST_F(SnapshotReaderTest, TheSeedIsTheHighestIdOfEveryChannelAndInstance) {
  raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  raw_.insert_row(kMe, "elsewhere", R"(["b"])", 1.0);
  EXPECT_EQ(read_seed(log_).top, 2);
}

TEST_F(SnapshotReaderTest, TheSeedIsTheHighestIdIssuedEvenWhenPruningEmptiedTheTable) {
  for (int i = 0; i < 3; ++i) raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  raw_.exec("DELETE FROM pjx_invalidation");
  EXPECT_EQ(read_seed(log_).top, 3);
}

TEST_F(SnapshotReaderTest, NothingCommittedSinceTheSeedReadsAsNothingWithoutATransaction) {
  raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  Seed seed = read_seed(log_);
  ASSERT_TRUE(seed.mark.header.has_value()) << "a WAL database on the default VFS has a WAL-index header";
  ChangeMark mark = seed.mark;
  Unchanged how = Unchanged::kDataVersion;
  EXPECT_FALSE(read_snapshot(log_, seed.top, mark, kChannel, kMe, &how).has_value());
  EXPECT_EQ(how, Unchanged::kHeader);
  raw_.insert_row(kOther, kChannel, R"(["b"])", 1.0);
  const auto snapshot = read_snapshot(log_, seed.top, mark, kChannel, kMe);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(ids(snapshot->rows), (std::vector<std::int64_t>{2}));
  EXPECT_NE(mark.data_version, seed.mark.data_version);
  EXPECT_NE(mark.header, seed.mark.header);
  how = Unchanged::kDataVersion;
  EXPECT_FALSE(read_snapshot(log_, seed.top, mark, kChannel, kMe, &how).has_value());
  EXPECT_EQ(how, Unchanged::kHeader);
}

TEST_F(SnapshotReaderTest, EveryCommitMovesTheHeaderEvenOneThatChangesNoRowOfOurs) {
  ChangeMark mark = read_seed(log_).mark;
  raw_.exec("CREATE TABLE unrelated (x)");  // a commit by another connection
  ASSERT_TRUE(read_snapshot(log_, 0, mark, kChannel, kMe).has_value()) << "the header moved: it reads";
  raw_.exec("INSERT INTO unrelated VALUES (1)");
  EXPECT_TRUE(read_snapshot(log_, 0, mark, kChannel, kMe).has_value());
  raw_.exec("PRAGMA wal_checkpoint(TRUNCATE)");  // the WAL starts over: new salts, mxFrame 0
  raw_.exec("INSERT INTO unrelated VALUES (2)");
  EXPECT_TRUE(read_snapshot(log_, 0, mark, kChannel, kMe).has_value());
}

// Runs `commit` once, on another connection, when `log`'s read transaction
// is about to end (its COMMIT starts): a commit that lands after the
// snapshot was taken and before the poll is done with it.
class CommitAtEndOfRead {
 public:
  CommitAtEndOfRead(EventLog& log, std::function<void()> commit)
      : db_(log.connection().raw()), commit_(std::move(commit)) {
    sqlite3_trace_v2(db_, SQLITE_TRACE_STMT, &CommitAtEndOfRead::on_statement, this);
  }
  ~CommitAtEndOfRead() { sqlite3_trace_v2(db_, 0, nullptr, nullptr); }
  CommitAtEndOfRead(const CommitAtEndOfRead&) = delete;
  CommitAtEndOfRead& operator=(const CommitAtEndOfRead&) = delete;
  bool fired() const { return fired_; }

 private:
  static int on_statement(unsigned /*type*/, void* self, void* /*stmt*/, void* sql) {
    auto* hook = static_cast<CommitAtEndOfRead*>(self);
    if (!hook->fired_ && std::string_view(static_cast<const char*>(sql)) == "COMMIT") {
      hook->fired_ = true;
      hook->commit_();
    }
    return 0;
  }

  sqlite3* db_;
  std::function<void()> commit_;
  bool fired_ = false;
};

// The change mark is taken before the snapshot, never after it: row 2
// commits while the poll that reads row 1 still holds its snapshot, so that
// poll does not see it, and the next poll must not be skipped as
// "nothing committed". (A mark taken after the read would already cover
// row 2: mutation header-recorded-after-read, which this test fails every
// time; conformance's commit-during-poll needs scheduling to catch it.)
TEST_F(SnapshotReaderTest, ACommitThatLandsDuringAReadIsReadByTheNextPoll) {
  ChangeMark mark = read_seed(log_).mark;
  raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  std::optional<Snapshot> first;
  {
    CommitAtEndOfRead hook(log_, [&] { raw_.insert_row(kOther, kChannel, R"(["b"])", 2.0); });
    first = read_snapshot(log_, 0, mark, kChannel, kMe);
    ASSERT_TRUE(hook.fired());
  }
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(ids(first->rows), std::vector<std::int64_t>({1})) << "row 2 came after the snapshot";
  const std::optional<Snapshot> second = read_snapshot(log_, 1, mark, kChannel, kMe);
  ASSERT_TRUE(second.has_value()) << "row 2's commit was skipped as nothing new";
  EXPECT_EQ(ids(second->rows), std::vector<std::int64_t>({2}));
}

TEST_F(SnapshotReaderTest, WithoutAHeaderDataVersionAnswers) {
  ChangeMark mark = read_seed(log_).mark;
  mark.header.reset();  // as after a probe that could not answer
  Unchanged how = Unchanged::kHeader;
  EXPECT_FALSE(read_snapshot(log_, 0, mark, kChannel, kMe, &how).has_value());
  EXPECT_EQ(how, Unchanged::kDataVersion);
  EXPECT_TRUE(mark.header.has_value()) << "the read records the header it was made after";
}

TEST_F(SnapshotReaderTest, AFailedReadLeavesTheMarkAsItWas) {
  ChangeMark mark = read_seed(log_).mark;
  raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  raw_.exec("DROP TABLE pjx_invalidation");  // the next read's statements fail
  const ChangeMark before = mark;
  EXPECT_THROW(read_snapshot(log_, 0, mark, kChannel, kMe), BackendError);
  EXPECT_EQ(mark.header, before.header);
  EXPECT_EQ(mark.data_version, before.data_version);
  EXPECT_FALSE(log_.connection().in_transaction());
}

TEST_F(SnapshotReaderTest, ASnapshotHoldsTheChannelsRowsFromOthersInIdOrderAboveTheCursor) {
  raw_.insert_row(kOther, kChannel, R"(["below"])", 1.0);   // 1: at the cursor
  raw_.insert_row(kOther, kChannel, R"(["x"])", 1.0);       // 2
  raw_.insert_row(kMe, kChannel, R"(["mine"])", 1.0);       // 3: our own
  raw_.insert_row(kOther, "elsewhere", R"(["y"])", 1.0);    // 4: another channel
  raw_.insert_row(kOther, kChannel, R"(["z"])", 1.0);       // 5
  const auto snapshot = read_fresh(1);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(ids(snapshot->rows), (std::vector<std::int64_t>{2, 5}));
  EXPECT_EQ(snapshot->rows[0].keys_json, R"(["x"])");
  EXPECT_EQ(snapshot->top, 5);
  EXPECT_EQ(snapshot->present, 4) << "every row in (1, 5] counts, of any channel or instance";
}

TEST_F(SnapshotReaderTest, PrunedRowsAreMissingFromPresentButNotFromTop) {
  for (int i = 0; i < 6; ++i) raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  raw_.exec("DELETE FROM pjx_invalidation WHERE id IN (3, 6)");
  const auto snapshot = read_fresh(1);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->top, 6);
  EXPECT_EQ(snapshot->present, 3);
  EXPECT_EQ(ids(snapshot->rows), (std::vector<std::int64_t>{2, 4, 5}));
}

TEST_F(SnapshotReaderTest, ARestoredFileHasItsTopBelowTheCursor) {
  raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  const auto snapshot = read_fresh(10);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->top, 1);
  EXPECT_EQ(snapshot->present, 0);
  EXPECT_TRUE(snapshot->rows.empty());
}

TEST_F(SnapshotReaderTest, AReadTransactionAnErrorLeftOpenIsRolledBackFirst) {
  log_.begin_read.step();
  log_.begin_read.reset();
  ASSERT_TRUE(log_.connection().in_transaction());
  raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  const auto snapshot = read_fresh(0);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(ids(snapshot->rows), (std::vector<std::int64_t>{1}));
  EXPECT_FALSE(log_.connection().in_transaction());
}

TEST_F(SnapshotReaderTest, LagCountsTheChannelsRowsFromOthersAboveTheCursor) {
  raw_.insert_row(kOther, kChannel, R"(["a"])", 1.0);
  raw_.insert_row(kMe, kChannel, R"(["b"])", 1.0);
  raw_.insert_row(kOther, "elsewhere", R"(["c"])", 1.0);
  raw_.insert_row(kOther, kChannel, R"(["d"])", 1.0);
  EXPECT_EQ(count_lag(log_, 0, kChannel, kMe), 2);
  EXPECT_EQ(count_lag(log_, 1, kChannel, kMe), 1);
  EXPECT_EQ(count_lag(log_, 4, kChannel, kMe), 0);
}

}  // namespace
}  // namespace pjx::detail
