#include "db_path.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pjx/errors.hpp"
#include "temp_dir.hpp"

namespace pjx::detail {
namespace {

using pjx::testing::TempDir;

// Expects ConfigError whose message contains every fragment.
void expect_rejected(const std::string& path, std::initializer_list<std::string> fragments) {
  try {
    check_db_path(path);
    ADD_FAILURE() << "accepted \"" << path << "\"";
  } catch (const ConfigError& e) {
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "message: " << e.what() << "\nmissing: " << f;
    }
  }
}

TEST(DbPath, RejectsPrivateDatabasesNamingTheValueAndTheFix) {
  expect_rejected(":memory:", {"\":memory:\"", "private database", "pass the path of a file"});
  expect_rejected("", {"db_path \"\"", "temporary database", "pass the path of a file"});
  expect_rejected("file::memory:", {"file::memory:", "private"});
  expect_rejected("file::memory:?cache=shared", {"private"});
  expect_rejected("file:shared?mode=memory&cache=shared", {"mode=memory", "private"});
  expect_rejected("file:x.db?vfs=memdb", {"vfs=memdb"});
  expect_rejected("file:", {"temporary database"});
  expect_rejected("file:?cache=shared", {"temporary database"});
  expect_rejected("file:%3Amemory%3A", {"private"});
}

TEST(DbPath, RejectsReadOnlyAndRemoteUris) {
  TempDir dir;
  expect_rejected("file:" + dir.file("x.db") + "?mode=ro", {"mode=ro"});
  expect_rejected("file://otherhost/" + dir.file("x.db"), {"otherhost"});
}

TEST(DbPath, RejectsADirectoryAndSuggestsAFileInside) {
  TempDir dir;
  expect_rejected(dir.path().string(), {"is a directory", "pjx.db"});
}

TEST(DbPath, RejectsAMissingParentDirectory) {
  TempDir dir;
  expect_rejected(dir.file("missing/sub/x.db"), {"does not exist", "mkdir -p"});
}

TEST(DbPath, RejectsAParentThatIsAFile) {
  TempDir dir;
  std::ofstream(dir.file("plain")) << "x";
  expect_rejected(dir.file("plain/x.db"), {"not a directory"});
}

TEST(DbPath, AcceptsFilePathsAndFileUris) {
  TempDir dir;
  const auto plain = check_db_path(dir.file("a.db"));
  EXPECT_FALSE(plain.uri);
  EXPECT_FALSE(plain.exists);
  EXPECT_EQ(plain.file, dir.path() / "a.db");

  const auto uri = check_db_path("file://" + dir.file("b%20c.db") + "?cache=private");
  EXPECT_TRUE(uri.uri);
  EXPECT_EQ(uri.file, dir.path() / "b c.db");

  std::ofstream(dir.file("exists.db")) << "";
  EXPECT_TRUE(check_db_path(dir.file("exists.db")).exists);
}

TEST(DbPath, ARelativeNameUsesTheCurrentDirectory) {
  const auto loc = check_db_path("pjx-relative-test.db");
  EXPECT_EQ(loc.file, "pjx-relative-test.db");
}

TEST(DbPath, RefusesNetworkAndFuseFilesystemsUnlessAllowed) {
  TempDir dir;
  const auto nfs = [](const std::string&) -> std::int64_t { return 0x6969; };
  try {
    check_db_path(dir.file("x.db"), nfs);
    ADD_FAILURE() << "accepted a path on NFS";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("is on NFS"), std::string::npos) << message;
    EXPECT_NE(message.find("allow_network_filesystem"), std::string::npos) << message;
    EXPECT_NE(message.find("Redis"), std::string::npos) << message;
  }
  EXPECT_NO_THROW(check_db_path(dir.file("x.db"), nfs, /*allow_network_filesystem=*/true));
  for (std::int64_t magic : {0xFF534D42LL, 0xFE534D42LL, 0x65735546LL, 0x01021997LL}) {
    EXPECT_FALSE(unsafe_filesystem_name(magic).empty()) << std::hex << magic;
  }
}

// A symlinked file puts -wal and -shm beside its target: that directory is
// the one that must be writable and local, and the one to watch.
TEST(DbPath, ASymlinkedFileIsResolvedAndItsTargetsDirectoryChecked) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "data");
  std::filesystem::create_directory_symlink("data", dir.path() / "data-link");
  std::filesystem::create_symlink("data-link/pjx.db", dir.path() / "link.db");
  const auto loc = check_db_path(dir.file("link.db"));
  EXPECT_EQ(loc.file, dir.path() / "link.db");  // what is opened and checked for replacement
  EXPECT_EQ(loc.resolved, std::filesystem::canonical(dir.path()) / "data" / "pjx.db");
  const auto nfs_target = [&](const std::string& directory) -> std::int64_t {
    return std::filesystem::equivalent(directory, dir.path() / "data") ? 0x6969 : 0xEF53;
  };
  try {
    check_db_path(dir.file("link.db"), nfs_target);
    ADD_FAILURE() << "accepted a symlink to a file on NFS";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("is on NFS"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(
      check_db_path(dir.file("link.db"), nfs_target, /*allow_network_filesystem=*/true));
  std::filesystem::create_symlink("missing-dir/pjx.db", dir.path() / "dangling.db");
  expect_rejected(dir.file("dangling.db"), {"missing-dir", "does not exist"});
}

TEST(DbPath, LocalFilesystemsAreAccepted) {
  TempDir dir;
  for (std::int64_t magic : {0xEF53LL /* ext4 */, 0x01021994LL /* tmpfs */, 0x58465342LL /* xfs */,
                             0x9123683ELL /* btrfs */, 0x794C7630LL /* overlayfs */}) {
    EXPECT_EQ(unsafe_filesystem_name(magic), "");
    EXPECT_NO_THROW(check_db_path(dir.file("x.db"), [magic](const std::string&) { return magic; }));
  }
  EXPECT_GT(statfs_type(dir.path().string()), 0);  // the real probe reads something
}

}  // namespace
}  // namespace pjx::detail
