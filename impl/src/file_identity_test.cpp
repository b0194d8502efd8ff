// File identity (file_identity.hpp, I9): which file is at the path, and a
// connection opened on exactly that file even while files are renamed onto
// the path.
#include "file_identity.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "backend_context.hpp"
#include "event_log.hpp"
#include "pjx/errors.hpp"
#include "sqlite_backend_seams.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx::detail {
namespace {

using pjx::testing::TempDir;
namespace fs = std::filesystem;

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

class FileIdentityTest : public ::testing::Test {
 protected:
  void TearDown() override { set_after_open_hook({}); }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
};

TEST_F(FileIdentityTest, NoFileAtThePathHasNoIdentity) { EXPECT_FALSE(file_at(db_).has_value()); }

TEST_F(FileIdentityTest, AFileKeepsItsIdentityAcrossWritesAndRenames) {
  write_file(db_, "one");
  const auto first = file_at(db_);
  ASSERT_TRUE(first.has_value());
  write_file(db_, "two, longer");
  EXPECT_EQ(file_at(db_), first);
  fs::rename(db_, dir_.file("moved.db"));
  EXPECT_FALSE(file_at(db_).has_value());
  EXPECT_EQ(file_at(dir_.file("moved.db")), first);
}

TEST_F(FileIdentityTest, AFileRenamedOntoThePathIsAnotherFile) {
  write_file(db_, "old");
  const auto old_file = file_at(db_);
  write_file(dir_.file("new.db"), "new");
  fs::rename(dir_.file("new.db"), db_);
  ASSERT_TRUE(file_at(db_).has_value());
  EXPECT_NE(file_at(db_), old_file);
}

TEST_F(FileIdentityTest, ASymlinkIsFollowedAtEveryLook) {
  write_file(dir_.file("a.db"), "a");
  write_file(dir_.file("b.db"), "b");
  fs::create_symlink(dir_.file("a.db"), db_);
  EXPECT_EQ(file_at(db_), file_at(dir_.file("a.db")));
  fs::remove(db_);
  fs::create_symlink(dir_.file("b.db"), db_);
  EXPECT_EQ(file_at(db_), file_at(dir_.file("b.db")));
}

TEST_F(FileIdentityTest, AnOpenCreatesTheFileAndRecordsItsIdentity) {
  BackendContext ctx(db_, pjx::testing::quiet_options());
  std::optional<FileId> identity;
  const auto log = open_current(ctx, &identity);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity, file_at_path(ctx));
}

TEST_F(FileIdentityTest, AnOpenDuringWhichAFileIsRenamedOntoThePathRecordsTheFileItEndsOn) {
  {
    BackendContext other(dir_.file("new.db"), pjx::testing::quiet_options());
    std::optional<FileId> ignored;
    open_current(other, &ignored)->connection().exec(
        "INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) "
        "VALUES ('x', 'c', '[\"in-the-new-file\"]', 0)");
  }
  BackendContext ctx(db_, pjx::testing::quiet_options());
  std::atomic<int> opens{0};
  set_after_open_hook([&] {
    if (opens.fetch_add(1) != 0) return;
    fs::remove(db_ + "-wal");
    fs::remove(db_ + "-shm");
    fs::rename(dir_.file("new.db"), db_);
  });
  std::optional<FileId> identity;
  const auto log = open_current(ctx, &identity);
  set_after_open_hook({});
  EXPECT_EQ(opens.load(), 2);
  EXPECT_EQ(identity, file_at_path(ctx));
  EXPECT_EQ(log->connection().query_int64("SELECT COUNT(*) FROM pjx_invalidation"), 1);
}

TEST_F(FileIdentityTest, AFileThatKeepsBeingReplacedDuringOpensIsABusyErrorNamingTheFix) {
  BackendContext ctx(db_, pjx::testing::quiet_options());
  std::atomic<int> opens{0};
  set_after_open_hook([&] {
    ++opens;
    // The next look at the path finds no file, and the next open another one.
    fs::remove(db_);
    fs::remove(db_ + "-wal");
    fs::remove(db_ + "-shm");
  });
  std::optional<FileId> identity;
  try {
    open_current(ctx, &identity);
    FAIL() << "expected BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.code(), SQLITE_BUSY);
    EXPECT_NE(std::string(e.what()).find("5 times in a row"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in one rename with its -wal and -shm"), std::string::npos) << e.what();
  }
  EXPECT_EQ(opens.load(), kOpenAttempts);
  EXPECT_FALSE(identity.has_value());
}

}  // namespace
}  // namespace pjx::detail
