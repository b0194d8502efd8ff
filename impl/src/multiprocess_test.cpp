// Several processes on one database file, as pyjinhx deploys it: children
// are forked before the parent starts any thread, and report over pipes.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <memory>
#include <set>

#include "child_process.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using pjx::testing::Child;
using pjx::testing::LinePipe;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

SqliteOptions fast(const std::string& channel = "pyjinhx:invalidate") {
  SqliteOptions o;
  o.channel = channel;
  o.poll_interval = 20ms;
  o.retention = 30s;
  o.on_warning = [](const std::string&) {};
  return o;
}

std::string join(const KeySet& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ",") + k;
  return out;
}

// A child that listens and reports "got <keys>" per delivery until "stop".
std::unique_ptr<Child> listener_child(const std::string& db, const std::string& channel) {
  return std::make_unique<Child>([db, channel](LinePipe& pipe) {
    SqliteInvalidationBackend backend(db, fast(channel));
    std::mutex mu;
    backend.start([&](const KeySet& keys) {
      std::lock_guard lock(mu);
      pipe.send("got " + join(keys));
    });
    {
      std::lock_guard lock(mu);
      pipe.send("ready");
    }
    while (auto line = pipe.receive(60s)) {
      if (*line == "stop") break;
    }
    backend.stop();
    return 0;
  });
}

// Reads lines until `want` "got" lines arrived or the deadline passed.
std::vector<std::string> collect(Child& child, std::size_t want, std::chrono::milliseconds deadline = 20s) {
  std::vector<std::string> got;
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (got.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto line = child.receive(left);
    if (!line) break;
    if (line->starts_with("got ")) got.push_back(line->substr(4));
  }
  return got;
}

TEST(MultiProcess, EveryListenerProcessReceivesEveryPublishExactlyOnceInOrder) {
  TempDir dir;
  const auto db = dir.file("pjx.db");
  std::vector<std::unique_ptr<Child>> children;
  for (int i = 0; i < 3; ++i) children.push_back(listener_child(db, "pyjinhx:invalidate"));
  for (auto& c : children) ASSERT_EQ(c->receive(20s), "ready");

  SqliteInvalidationBackend publisher(db, fast());
  std::vector<std::string> sent;
  for (int i = 0; i < 30; ++i) {
    publisher.publish({"e:" + std::to_string(100 + i), "user:1"});
    sent.push_back("e:" + std::to_string(100 + i) + ",user:1");
  }
  for (auto& c : children) {
    auto got = collect(*c, sent.size());
    EXPECT_EQ(got, sent);
    // Nothing more arrives: no duplicates.
    EXPECT_TRUE(collect(*c, 1, 200ms).empty());
    c->send("stop");
    EXPECT_EQ(c->wait(), 0);
  }
}

TEST(MultiProcess, ChannelsSeparateApplicationsSharingOneFile) {
  TempDir dir;
  const auto db = dir.file("pjx.db");
  auto app_a = listener_child(db, "app-a");
  auto app_b = listener_child(db, "app-b");
  ASSERT_EQ(app_a->receive(20s), "ready");
  ASSERT_EQ(app_b->receive(20s), "ready");
  SqliteInvalidationBackend pub_a(db, fast("app-a")), pub_b(db, fast("app-b"));
  pub_a.publish({"for-a"});
  pub_b.publish({"for-b"});
  EXPECT_EQ(collect(*app_a, 1), std::vector<std::string>{"for-a"});
  EXPECT_EQ(collect(*app_b, 1), std::vector<std::string>{"for-b"});
  EXPECT_TRUE(collect(*app_a, 1, 300ms).empty());
  EXPECT_TRUE(collect(*app_b, 1, 300ms).empty());
}

TEST(MultiProcess, APublisherKilledMidStreamLeavesAConsistentDatabaseAndSurvivorsWork) {
  TempDir dir;
  const auto db = dir.file("pjx.db");
  auto listener = listener_child(db, "pyjinhx:invalidate");
  ASSERT_EQ(listener->receive(20s), "ready");
  auto publisher = std::make_unique<Child>([db](LinePipe& pipe) {
    SqliteInvalidationBackend backend(db, fast());
    for (int i = 0;; ++i) {
      backend.publish({"p:" + std::to_string(i)});
      pipe.send("pub " + std::to_string(i));
    }
    return 0;
  });
  // Let it commit a few hundred publishes, then kill it mid-write.
  std::string last;
  for (int i = 0; i < 300; ++i) {
    auto line = publisher->receive(20s);
    ASSERT_TRUE(line);
    last = *line;
  }
  publisher->signal(SIGKILL);
  EXPECT_EQ(publisher->wait(), -SIGKILL);
  const int acknowledged = std::stoi(last.substr(4)) + 1;

  EXPECT_EQ(RawDb(db).scalar("PRAGMA integrity_check"), "ok");
  // Every publish the killed process had acknowledged reaches the survivor.
  auto got = collect(*listener, static_cast<std::size_t>(acknowledged));
  ASSERT_GE(got.size(), static_cast<std::size_t>(acknowledged));
  for (int i = 0; i < acknowledged; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "p:" + std::to_string(i));
  // And the survivors keep working.
  SqliteInvalidationBackend after(db, fast());
  after.publish({"after-the-kill"});
  bool seen = false;
  for (int i = 0; i < 1000 && !seen; ++i) {
    auto more = collect(*listener, 1, 5s);
    if (more.empty()) break;
    seen = more[0] == "after-the-kill";
  }
  EXPECT_TRUE(seen);
}

TEST(MultiProcess, ManyProcessesCreatingOneNewFileAtOnceAllSucceed) {
  // Switching a new file to WAL can answer SQLITE_BUSY without consulting
  // the busy handler; every process must still get a working backend.
  TempDir dir;
  for (int round = 0; round < 5; ++round) {
    const auto db = dir.file("new-" + std::to_string(round) + ".db");
    std::vector<std::unique_ptr<Child>> children;
    for (int i = 0; i < 6; ++i) {
      children.push_back(std::make_unique<Child>([db, i](LinePipe& pipe) {
        if (pipe.receive(20s) != "go") return 3;
        SqliteInvalidationBackend backend(db, fast());
        backend.start([](const KeySet&) {});
        backend.publish({"from-" + std::to_string(i)});
        pipe.send("ok");
        return 0;
      }));
    }
    for (auto& c : children) c->send("go");
    for (auto& c : children) {
      EXPECT_EQ(c->receive(30s), "ok");
      EXPECT_EQ(c->wait(), 0);
    }
    EXPECT_EQ(RawDb(db).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "6");
  }
}

}  // namespace
}  // namespace pjx
