// The naming and cleanup rules of leftovers.hpp on folders of a test's own
// (no root needed). Real network namespaces and links: cleanup_kill_test.cpp.
#include "leftovers.hpp"
#include "dead_owner_for_test.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

using testing::dead_owner;

class LeftoversTest : public ::testing::Test {
 protected:
  void SetUp() override {
    places_.temp_roots = {dir_};
    places_.netns_dir = dir_ / "no-netns";
    places_.net_class_dir = dir_ / "no-net";
  }
  pjx::testing::TempDir tmp_{temp_root(), "pjx-leftovers-test-"};
  const fs::path dir_ = tmp_.path();
  CleanupPlaces places_;
};

TEST(LeftoverNames, CarryTheOwnerAndParseBack) {
  const RunOwner self = RunOwner::self();
  EXPECT_EQ(self.pid, ::getpid());
  const auto ns = parse_netns_name(netns_name(self, "host-a"));
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->kind, Leftover::Kind::kNetns);
  EXPECT_EQ(ns->pid, self.pid);
  EXPECT_EQ(ns->start_ticks, self.start_ticks);
  const auto link = parse_link_name(link_name(self, "a0"));
  ASSERT_TRUE(link);
  EXPECT_EQ(link->pid, self.pid);
  EXPECT_FALSE(link->start_ticks);
  const auto folder = parse_folder_name("pjx-harness-123-456789-aB3xYz");
  ASSERT_TRUE(folder);
  EXPECT_EQ(folder->pid, 123);
  EXPECT_EQ(folder->start_ticks, 456789u);
  EXPECT_TRUE(parse_folder_name("pjx-redis-123-456789-aB3xYz"));
}

TEST(LeftoverNames, IgnoreNamesWithoutAnOwner) {
  EXPECT_FALSE(parse_folder_name("pjx-harness-aB3xYz"));  // an older harness's
  EXPECT_FALSE(parse_folder_name("pjx-harness-12-x-aB3xYz"));
  EXPECT_FALSE(parse_folder_name("pjx-redis-test-aB3xYz"));
  EXPECT_FALSE(parse_netns_name("pjx-test"));
  EXPECT_FALSE(parse_netns_name("other-1-2-x"));
  EXPECT_FALSE(parse_link_name("eth0"));
  EXPECT_FALSE(parse_link_name("pjxprobe0"));
  EXPECT_FALSE(parse_link_name("pjx12-"));
}

TEST(LeftoverNames, LinkNamesFitIfnamsiz) {
  RunOwner owner;
  owner.pid = 4194304;  // the largest pid_max
  EXPECT_EQ(link_name(owner, "a12"), "pjx4194304-a12");
  EXPECT_THROW(link_name(owner, "abcdef"), std::invalid_argument);
  EXPECT_THROW(link_name(owner, "a b"), std::invalid_argument);
  EXPECT_THROW(netns_name(owner, ""), std::invalid_argument);
}

TEST(LeftoverOwner, IsAliveOnlyWithTheSameStartTime) {
  const RunOwner self = RunOwner::self();
  EXPECT_TRUE(owner_alive(self.pid, self.start_ticks));
  EXPECT_TRUE(owner_alive(self.pid, std::nullopt));
  EXPECT_FALSE(owner_alive(self.pid, self.start_ticks + 1));  // a recycled pid
  const RunOwner dead = dead_owner();
  EXPECT_FALSE(owner_alive(dead.pid, dead.start_ticks));
}

TEST_F(LeftoversTest, RemovesTheFoldersOfDeadRunsOnly) {
  const fs::path mine = make_run_folder(dir_, "harness", false);
  const fs::path kept = make_run_folder(dir_, "harness", true);
  EXPECT_TRUE(fs::exists(kept / ".pjx-keep"));
  const RunOwner dead = dead_owner();
  const fs::path dead_dir = dir_ / ("pjx-harness-" + dead.tag() + "-Ab1234");
  const fs::path dead_keep = dir_ / ("pjx-redis-" + dead.tag() + "-Ab5678");
  const fs::path old_style = dir_ / "pjx-harness-Ab9012";
  for (const fs::path& d : {dead_dir, dead_keep, old_style}) fs::create_directories(d / "sub");
  std::ofstream(dead_dir / "sub" / "pjx.db") << "x";
  std::ofstream(dead_keep / ".pjx-keep") << "";
  const fs::path target = dir_ / "target";
  fs::create_directories(target);
  std::ofstream(target / "precious") << "x";
  fs::create_directory_symlink(target, dir_ / ("pjx-harness-" + dead.tag() + "-Ab3456"));

  const CleanupReport dry = remove_dead_runs(places_, true);
  EXPECT_EQ(dry.removed.size(), 2u);  // dead_dir and the symlink (refused when real)
  EXPECT_TRUE(fs::exists(dead_dir));

  const CleanupReport r = remove_dead_runs(places_, false);
  EXPECT_FALSE(fs::exists(dead_dir));
  EXPECT_TRUE(fs::exists(dead_keep));   // --keep
  EXPECT_TRUE(fs::exists(mine));        // its owner (this test) is alive
  EXPECT_TRUE(fs::exists(kept));
  EXPECT_TRUE(fs::exists(old_style));   // no owner in the name
  EXPECT_TRUE(fs::exists(target / "precious"));
  ASSERT_EQ(r.removed.size(), 1u);
  EXPECT_EQ(r.removed[0], "removed folder " + dead_dir.string());
  ASSERT_EQ(r.failed.size(), 1u);  // the symlink, left alone
  EXPECT_NE(r.failed[0].find("symlink"), std::string::npos);
  EXPECT_EQ(r.kept.size(), 3u);
}

}  // namespace
}  // namespace pjx::harness
