#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace pjx::testing {
namespace {

namespace fs = std::filesystem;

TEST(TempDir, IsAPrivateFreshFolderRemovedWithItsContents) {
  fs::path kept;
  {
    TempDir a;
    TempDir b;
    EXPECT_NE(a.path(), b.path());
    EXPECT_EQ(a.path().parent_path(), temp_root());
    EXPECT_EQ(a.path().filename().string().rfind("pjx-test-", 0), 0u);
    struct stat info {};
    ASSERT_EQ(::stat(a.path().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    fs::create_directories(a.path() / "sub");
    std::ofstream(a.file("sub/x")) << "x";
    kept = a.path();
  }
  EXPECT_FALSE(fs::exists(kept));
}

TEST(TempDir, UnderAGivenParentWithAPrefix) {
  TempDir parent;
  TempDir child(parent.path(), "pjx-bench-");
  EXPECT_EQ(child.path().parent_path(), parent.path());
  EXPECT_EQ(child.path().filename().string().rfind("pjx-bench-", 0), 0u);
}

TEST(TempDir, AMissingParentIsAnErrorNamingThePattern) {
  TempDir parent;
  try {
    TempDir child(parent.path() / "missing", "x-");
    FAIL() << "made a folder in a missing parent";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find((parent.path() / "missing" / "x-XXXXXX").string()),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace pjx::testing
