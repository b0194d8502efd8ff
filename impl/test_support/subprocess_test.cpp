#include "subprocess.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "temp_dir.hpp"

namespace pjx::testing {
namespace {

namespace fs = std::filesystem;

class SubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }

  // Runs the io_context until `done` or 10 s.
  bool run_until(const std::function<bool()>& done) {
    return run_io_until(io_, done, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  }

  boost::asio::io_context io_;
  TempDir tmp_;
  const fs::path dir_ = tmp_.path();
  std::vector<std::string> lines_;
  int status_ = 999;
  bool exited_ = false;

  Subprocess::Handlers handlers() {
    return {[this](std::string l) { lines_.push_back(std::move(l)); }, nullptr,
            [this](int s) {
              status_ = s;
              exited_ = true;
            }};
  }
};

TEST_F(SubprocessTest, PassesExactlyTheGivenEnvironmentAndReportsTheExitCode) {
  auto p = Subprocess::spawn(io_, {"sh", "-c", "echo \"$PJX_X|$HOME\"; echo oops >&2; exit 3"},
                             {"PATH=/usr/bin:/bin", "PJX_X=hello world"}, dir_ / "err", handlers());
  ASSERT_TRUE(run_until([&] { return exited_ && p->eof(); }));
  EXPECT_EQ(lines_, std::vector<std::string>{"hello world|"});
  EXPECT_EQ(status_, 3);
  std::ifstream err(dir_ / "err");
  std::string text;
  std::getline(err, text);
  EXPECT_EQ(text, "oops");
}

TEST_F(SubprocessTest, WritesLinesToStdinInOrder) {
  auto p = Subprocess::spawn(io_, {"cat"}, {"PATH=/usr/bin:/bin"}, dir_ / "err", handlers());
  p->write_line("one");
  p->write_line("{\"op\":\"two\"}");
  ASSERT_TRUE(run_until([&] { return lines_.size() == 2; }));
  EXPECT_EQ(lines_, (std::vector<std::string>{"one", "{\"op\":\"two\"}"}));
  EXPECT_FALSE(p->writing());
  EXPECT_TRUE(p->signal(SIGKILL));
  ASSERT_TRUE(run_until([&] { return exited_; }));
  EXPECT_EQ(status_, -SIGKILL);
  EXPECT_FALSE(p->signal(SIGKILL));  // gone: never signals a recycled pid
}

TEST_F(SubprocessTest, ClosingStdinAfterQueuedLinesEndsTheChildsInput) {
  auto p = Subprocess::spawn(io_, {"cat"}, {"PATH=/usr/bin:/bin"}, dir_ / "err", handlers());
  p->write_line("last");
  p->close_stdin();
  p->write_line("dropped");  // after the close
  ASSERT_TRUE(run_until([&] { return exited_ && p->eof(); }));
  EXPECT_EQ(lines_, std::vector<std::string>{"last"});
  EXPECT_EQ(status_, 0);  // cat read end of input and exited
}

TEST_F(SubprocessTest, AStoppedChildIsKilledAndReaped) {
  auto p =
      Subprocess::spawn(io_, {"sleep", "60"}, {"PATH=/usr/bin:/bin"}, dir_ / "err", handlers());
  ASSERT_TRUE(p->signal(SIGSTOP));
  ASSERT_TRUE(p->signal(SIGKILL));
  ASSERT_TRUE(run_until([&] { return exited_; }));
  EXPECT_EQ(status_, -SIGKILL);
}

TEST_F(SubprocessTest, DestroyingARunningChildKillsIt) {
  int pid = 0;
  {
    auto p =
        Subprocess::spawn(io_, {"sleep", "60"}, {"PATH=/usr/bin:/bin"}, dir_ / "err", handlers());
    pid = p->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: no such process (or not ours any more)
}

TEST_F(SubprocessTest, AMissingProgramIsAClearError) {
  try {
    Subprocess::spawn(io_, {"no-such-program-pjx"}, {"PATH=/usr/bin:/bin"}, dir_ / "err",
                      handlers());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-program-pjx"), std::string::npos);
  }
}

TEST_F(SubprocessTest, AServerWritesItsOutputToAFileInASessionOfItsOwn) {
  auto p = Subprocess::spawn(
      io_, {"sh", "-c", "echo out; echo err >&2; cut -d' ' -f6 /proc/$$/stat"},
      {"PATH=/usr/bin:/bin"}, {Subprocess::Options::Stdio::kFile, dir_ / "out", true}, handlers());
  ASSERT_TRUE(run_until([&] { return exited_; }));
  EXPECT_EQ(status_, 0);
  EXPECT_TRUE(p->eof());
  EXPECT_TRUE(lines_.empty());
  std::ifstream out(dir_ / "out");
  std::string first, second, sid;
  std::getline(out, first);
  std::getline(out, second);
  std::getline(out, sid);
  EXPECT_EQ(first, "out");
  EXPECT_EQ(second, "err");
  EXPECT_EQ(std::stoi(sid), p->pid());  // setsid: it leads its own session
}

TEST(RunForOutput, ReturnsStdoutOrNothing) {
  EXPECT_EQ(run_for_output({"sh", "-c", "echo hi"}, 5000), "hi\n");
  EXPECT_FALSE(run_for_output({"sh", "-c", "exit 1"}, 5000).has_value());
  EXPECT_FALSE(run_for_output({"sleep", "10"}, 200).has_value());
}

}  // namespace
}  // namespace pjx::testing
