#include "filesystem_type.hpp"

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace pjx::testing {
namespace {

TEST(FilesystemType, NamesTheInnermostMount) {
  EXPECT_EQ(filesystem_type("/proc/self"), "proc");
  EXPECT_EQ(filesystem_type("/proc"), "proc");
  TempDir dir;
  const std::string type = filesystem_type(dir.path());
  EXPECT_FALSE(type.empty());
  EXPECT_EQ(type.rfind("unknown", 0), std::string::npos) << type;
  EXPECT_EQ(filesystem_type(dir.path() / "not-yet-made"), type);  // the folder it would be in
}

}  // namespace
}  // namespace pjx::testing
