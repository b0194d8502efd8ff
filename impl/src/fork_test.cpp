// Backends and LoadCaches built before fork() (gunicorn --preload) fail in
// the child with a message naming the fix, leave the parent's connections
// and threads alone, and the parent goes on (fork_guard.hpp).
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <memory>
#include <string>

#include "child_process.hpp"
#include "pjx/errors.hpp"
#include "pjx/load_cache.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using pjx::testing::Child;
using pjx::testing::LinePipe;
using pjx::testing::TempDir;
using pjx::testing::quiet_options;


// Runs `call` in the child; on anything but a BackendError that names fork()
// and the post_fork fix, reports it on `pipe` and returns 1.
template <typename F>
int expect_fork_error(LinePipe& pipe, const std::string& what, F&& call) {
  try {
    call();
  } catch (const BackendError& e) {
    const std::string message = e.what();
    if (message.find("after fork()") != std::string::npos &&
        message.find("post_fork") != std::string::npos) {
      return 0;
    }
    pipe.send(what + ": unclear message: " + message);
    return 1;
  } catch (const std::exception& e) {
    pipe.send(what + ": wrong exception: " + e.what());
    return 1;
  }
  pipe.send(what + ": no error");
  return 1;
}

// Lines the child sent, for the failure message.
std::string drain(Child& child) {
  std::string lines;
  while (auto line = child.receive(100ms)) lines += *line + "\n";
  return lines;
}

TEST(ForkedBackend, ASqliteBackendBuiltBeforeForkFailsInTheChildNamingTheFixAndTheParentGoesOn) {
  TempDir dir;
  const std::string db = dir.file("pjx.db");
  auto preloaded = std::make_unique<SqliteInvalidationBackend>(db, quiet_options());
  preloaded->publish({"before-fork"});     // its connection is open now
  preloaded->start([](const KeySet&) {});  // and its poll thread runs
  // Fork while that thread sleeps in ppoll(), as a preloading server forks
  // an idle master: a thread forked inside malloc() or SQLite would leave
  // its locks held in the child, where this test's own calls would hang
  // on them (seen under ASan).
  ASSERT_TRUE(pjx::testing::eventually([] { return pjx::testing::threads_in_syscall(SYS_ppoll) == 1; }))
      << "the poll thread never slept in ppoll()";
  Child child([&](LinePipe& pipe) {
    int failures = 0;
    failures += expect_fork_error(pipe, "publish", [&] { preloaded->publish({"from-child"}); });
    failures +=
        expect_fork_error(pipe, "publish_result", [&] { preloaded->publish_result({"x"}); });
    failures += expect_fork_error(pipe, "poll_now", [&] { preloaded->poll_now(); });
    preloaded->stop();  // the listener is the parent's: nothing to do, no join
    failures += expect_fork_error(pipe, "start", [&] { preloaded->start([](const KeySet&) {}); });
    if (preloaded->stats().last_error.find("fork") == std::string::npos) {
      pipe.send("stats: no fork in last_error");
      ++failures;
    }
    preloaded.reset();  // must neither join the parent's thread nor close its connection
    // The fix: a backend built in the child works.
    SqliteInvalidationBackend own(db, quiet_options());
    own.publish({"from-child-own-backend"});
    return failures;
  });
  const int code = child.wait();
  EXPECT_FALSE(child.timed_out()) << "the child hung: " << drain(child);
  EXPECT_EQ(code, 0) << drain(child);
  // The parent's backend is untouched.
  SqliteInvalidationBackend other(db, quiet_options());
  other.publish({"after-fork"});
  EXPECT_EQ(preloaded->poll_now(), 2u);  // the child's own row and this one
  preloaded->publish({"parent-still-publishes"});
  EXPECT_EQ(pjx::testing::RawDb(db).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "4");
}

TEST(ForkedBackend, ALoadCacheBuiltBeforeForkFailsInTheChildNamingTheFix) {
  TempDir dir;
  const std::string db = dir.file("pjx.db");
  auto cache =
      std::make_unique<LoadCache>(std::make_shared<SqliteInvalidationBackend>(db, quiet_options()));
  cache->request().load("c", "k", {"dep"}, [] { return std::any(1); });
  ASSERT_TRUE(pjx::testing::eventually([] { return pjx::testing::threads_in_syscall(SYS_ppoll) == 1; }))
      << "the cache's poll thread never slept in ppoll()";
  Child child([&](LinePipe& pipe) {
    int failures = 0;
    failures += expect_fork_error(pipe, "invalidate", [&] { cache->invalidate({"dep"}); });
    failures += expect_fork_error(pipe, "load", [&] {
      auto request = cache->request();
      request.load("c", "k", {"dep"}, [] { return std::any(2); });
    });
    cache.reset();  // stops nothing of the parent's
    return failures;
  });
  EXPECT_EQ(child.wait(), 0) << (child.timed_out() ? "the child hung: " : "") << drain(child);
  EXPECT_EQ(cache->invalidate({"dep"}), 1u);  // the parent's cache works as before
}

TEST(ForkedBackend, ARequestScopedLoadCacheWorksInAChild) {
  LoadCache cache;  // no backend: nothing shared, nothing to refuse
  Child child([&](LinePipe&) {
    auto request = cache.request();
    return std::any_cast<int>(request.load("c", "k", {"dep"}, [] { return std::any(7); })) == 7 ? 0
                                                                                                : 1;
  });
  EXPECT_EQ(child.wait(), 0);
}

}  // namespace
}  // namespace pjx
