// Background checkpoints (checkpointer.hpp, I11), run here on the test's
// thread.
#include "checkpointer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "backend_context.hpp"
#include "event_writer.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx::detail {
namespace {

using pjx::testing::RawDb;
using pjx::testing::TempDir;

class CheckpointerTest : public ::testing::Test {
 protected:
  SqliteOptions options() {
    SqliteOptions o = pjx::testing::quiet_options();
    o.on_warning = [this](const std::string& w) { warnings_.push_back(w); };
    return o;
  }
  void publish(BackendContext& ctx, int commits) {
    EventWriter writer(ctx, [] {});
    auto locked = writer.lock();
    locked.ensure_open();
    const std::string_view event[] = {R"(["k"])"};
    for (int i = 0; i < commits; ++i) locked.commit(event);
  }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
  std::vector<std::string> warnings_;
};

TEST_F(CheckpointerTest, ACheckpointCopiesTheWholeWalBackSoTheNextCommitStartsItOver) {
  BackendContext ctx(db_, options());
  RawDb reader(db_);  // keeps the file open, as other workers do
  publish(ctx, 50);
  Checkpointer checkpointer(ctx);
  checkpointer.run();
  EXPECT_EQ(ctx.counters.checkpoints.load(), 1u);
  EXPECT_EQ(ctx.counters.checkpoints_busy.load(), 0u);
  EXPECT_FALSE(checkpointer.resting());
  EXPECT_EQ(reader.scalar("SELECT COUNT(*) FROM pjx_invalidation"), "50");
  publish(ctx, 1);
  const auto wal = reader.query("PRAGMA wal_checkpoint(PASSIVE)");  // busy, frames in the WAL, copied
  ASSERT_EQ(wal.size(), 1u);
  EXPECT_LE(std::stoi(wal[0][1]), 4) << "the commit after the checkpoint started the WAL over";
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(CheckpointerTest, AReaderOfOldFramesMakesItGiveUpAndRest) {
  BackendContext ctx(db_, options());
  publish(ctx, 5);
  RawDb reader(db_);
  reader.exec("BEGIN");
  reader.scalar("SELECT COUNT(*) FROM pjx_invalidation");  // holds a snapshot of the WAL
  publish(ctx, 5);
  Checkpointer checkpointer(ctx);
  checkpointer.run();
  reader.exec("COMMIT");
  EXPECT_EQ(ctx.counters.checkpoints.load(), 0u);
  EXPECT_EQ(ctx.counters.checkpoints_busy.load(), 1u);
  EXPECT_TRUE(checkpointer.resting());
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(CheckpointerTest, NoFileAtThePathIsNothingToCheckpoint) {
  BackendContext ctx(db_, options());
  Checkpointer checkpointer(ctx);
  checkpointer.run();
  EXPECT_FALSE(std::filesystem::exists(db_));
  EXPECT_EQ(ctx.counters.checkpoints.load() + ctx.counters.checkpoints_busy.load(), 0u);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(CheckpointerTest, AReplacedFileIsCheckpointedThroughANewConnection) {
  BackendContext ctx(db_, options());
  publish(ctx, 3);
  Checkpointer checkpointer(ctx);
  checkpointer.run();
  {
    BackendContext other(dir_.file("new.db"), options());
    publish(other, 3);
  }
  std::filesystem::remove(db_ + "-wal");
  std::filesystem::remove(db_ + "-shm");
  std::filesystem::rename(dir_.file("new.db"), db_);
  publish(ctx, 3);
  checkpointer.run();
  checkpointer.close();
  EXPECT_EQ(ctx.counters.checkpoints.load(), 2u);
  EXPECT_EQ(RawDb(db_).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "6");
}

}  // namespace
}  // namespace pjx::detail
