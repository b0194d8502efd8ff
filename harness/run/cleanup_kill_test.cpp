// A killed harness leaves nothing behind (issue #24; leftovers.hpp,
// mount_namespace.hpp, die_with_parent in subprocess.hpp).
//
// For each fault scenario of scenarios/conformance/ (a file with a
// [[fault]], on its first backend), pjx-harness runs it three times and is
// killed with SIGKILL at a moment drawn from the seed ($PJX_CLEANUP_SEED,
// default 1; every draw is printed):
//
//   starting   0-600 ms after it was started (before, during or after its
//              own cleanup, namespace and first mounts)
//   in fault   0-100 ms after the first fault record (begin or instant) of
//              its history: inside the fault's window, while its mount,
//              lock, stopped worker or stopped redis-server is in place
//   later      0-150 ms after a phase record drawn among heal, quiesce and
//              teardown
//
// Each run is given, at random, a user folder (--dir, prepared with a file
// in it) or a temporary folder under a private $TMPDIR (sometimes with
// --keep). Before each run the test makes a network namespace and a veth
// pair named after a dead owner (leftovers.hpp). After each kill it checks:
//   1. every process of the run is gone within 10 s (the test is a child
//      subreaper, so an orphan would be reparented to it and seen);
//   2. no mount under the test's folder is in /proc/self/mountinfo;
//   3. the user folder is the same directory (device, inode, mode), still
//      writable, with its file intact;
//   4. once the next run has started (its first line is out): the dead
//      owner's namespace and link are gone, and so are the folder of the
//      killed run, unless --keep, and the network namespaces of its hosts
//      (hosts = true); a namespace of a live owner is kept.
// At the end of each scenario `pjx-harness cleanup` removes whatever a run
// killed before its own cleanup left.
//
// Needs root (mounts, network namespaces) and redis-server for the Redis
// scenarios; without root every test is skipped.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "leftovers.hpp"
#include "temp_dir.hpp"
#include "dead_owner_for_test.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

struct FaultScenario {
  std::string name;  // file stem
  fs::path file;
  std::string backend;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// For gtest's messages.
void PrintTo(const FaultScenario& s, std::ostream* os) { *os << s.name << " (" << s.backend << ")"; }

std::vector<FaultScenario> fault_scenarios() {
  std::vector<FaultScenario> out;
  const fs::path dir = fs::path(PJX_SOURCE_DIR) / "scenarios" / "conformance";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".toml") continue;
    const std::string text = read_file(entry.path());
    if (text.find("\n[[fault]]") == std::string::npos) continue;
    std::string backend = "sqlite";
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("backends", 0) == 0 && line.find("sqlite") == std::string::npos) {
        backend = "redis";
      }
    }
    out.push_back({entry.path().stem().string(), entry.path(), backend});
  }
  std::sort(out.begin(), out.end(),
            [](const FaultScenario& a, const FaultScenario& b) { return a.name < b.name; });
  return out;
}

std::uint64_t seed() {
  const char* env = std::getenv("PJX_CLEANUP_SEED");
  return env != nullptr && *env != '\0' ? std::strtoull(env, nullptr, 10) : 1;
}

bool shell(const std::string& command) { return std::system(command.c_str()) == 0; }

using testing::dead_owner;

bool netns_exists(const std::string& name) { return fs::exists(fs::path("/run/netns") / name); }
bool link_exists(const std::string& name) { return fs::exists(fs::path("/sys/class/net") / name); }

// The lines of /proc/self/mountinfo that mention `dir`.
std::vector<std::string> mounts_mentioning(const fs::path& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.find(dir.string()) != std::string::npos) out.push_back(line);
  }
  return out;
}

// Children of this process (orphans of the run are reparented here).
std::vector<std::string> my_children() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string stat = read_file(entry.path() / "stat");
    const std::size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 1));
    std::string state;
    long ppid = 0;
    fields >> state >> ppid;
    if (ppid == ::getpid()) {
      out.push_back(stat.substr(0, paren + 1) + " " + state);
    }
  }
  return out;
}

enum class Moment { kStarting, kInFault, kLater };

const char* moment_name(Moment m) {
  switch (m) {
    case Moment::kStarting:
      return "starting";
    case Moment::kInFault:
      return "in fault";
    case Moment::kLater:
      return "later";
  }
  return "?";
}

// Reads the records appended to the run's histories since the last call.
class HistoryTail {
 public:
  explicit HistoryTail(fs::path dir) : dir_(std::move(dir)) {}
  std::vector<Json> poll() {
    std::vector<Json> out;
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(dir_, ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.ends_with(".history.jsonl")) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::size_t& offset = offsets_[entry.path().string()];
      in.seekg(static_cast<std::streamoff>(offset));
      std::string line;
      while (std::getline(in, line) && !in.eof()) {  // whole lines only
        offset += line.size() + 1;
        const Json record = Json::parse(line, nullptr, false);
        if (!record.is_discarded()) out.push_back(record);
      }
    }
    return out;
  }

 private:
  fs::path dir_;
  std::map<std::string, std::size_t> offsets_;
};

struct Totals {
  int kills = 0;
  int in_fault = 0;
  int in_fault_inside_window = 0;
  int ended_before_kill = 0;
};
Totals totals;

class CleanupKillTest : public ::testing::TestWithParam<FaultScenario> {
 protected:
  static void SetUpTestSuite() {
    // Orphans of a killed harness come to this process, where they are seen.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  static void TearDownTestSuite() {
    std::cout << "cleanup kills: " << totals.kills << " (" << totals.in_fault
              << " in a fault, " << totals.in_fault_inside_window
              << " of them before the window closed; " << totals.ended_before_kill
              << " runs ended before their kill)\n";
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: mounts and network namespaces";
    base_dir_.emplace(temp_root(), "pjx-cleanup-test-");
    base_ = base_dir_->path();
    tmp_ = base_ / "tmp";
    user_dir_ = base_ / "srv-app-tmp";
    fs::create_directories(tmp_);
    fs::create_directories(user_dir_);
    ::chmod(user_dir_.c_str(), 0750);
    std::ofstream(user_dir_ / "deployed.txt") << "the application's own file\n";
    ASSERT_EQ(::stat(user_dir_.c_str(), &user_stat_), 0);
    live_netns_ = netns_name(RunOwner::self(), "live");
    ASSERT_TRUE(shell("ip netns add " + live_netns_));
  }

  void TearDown() override {
    if (base_.empty()) return;
    shell("ip netns delete " + live_netns_ + " 2>/dev/null");
    for (const std::string& ns : fake_netns_) shell("ip netns delete " + ns + " 2>/dev/null");
    for (const std::string& link : fake_links_) shell("ip link delete " + link + " 2>/dev/null");
    base_dir_.reset();
  }

  // Starts pjx-harness with `args`, stdout and stderr to `out`.
  pid_t launch(const std::vector<std::string>& args, const fs::path& out) {
    std::vector<std::string> argv = {PJX_HARNESS_EXE};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv;
    for (std::string& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    const std::string tmpdir = "TMPDIR=" + tmp_.string();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed test leaves no harness either
      if (::getppid() != parent) ::_exit(127);
      const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::putenv(const_cast<char*>(tmpdir.c_str()));
      ::execv(c_argv[0], c_argv.data());
      ::_exit(127);
    }
    return pid;
  }

  // Folders under $TMPDIR made by the run whose harness pid is `pid`.
  std::vector<fs::path> folders_of(pid_t pid) const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(tmp_, ec)) {
      const auto l = parse_folder_name(entry.path().filename().string());
      if (l && l->pid == pid) out.push_back(entry.path());
    }
    return out;
  }

  // The network namespaces (hosts = true) a run of `pid` made.
  static std::vector<std::string> netns_of(pid_t pid) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/run/netns", ec)) {
      const auto l = parse_netns_name(entry.path().filename().string());
      if (l && l->pid == pid) out.push_back(entry.path().filename().string());
    }
    return out;
  }

  void check_user_dir() {
    struct stat now {};
    ASSERT_EQ(::stat(user_dir_.c_str(), &now), 0);
    EXPECT_EQ(now.st_dev, user_stat_.st_dev) << user_dir_ << " is covered by a mount";
    EXPECT_EQ(now.st_ino, user_stat_.st_ino);
    EXPECT_EQ(now.st_mode, user_stat_.st_mode);
    EXPECT_EQ(now.st_uid, user_stat_.st_uid);
    EXPECT_EQ(read_file(user_dir_ / "deployed.txt"), "the application's own file\n");
    const fs::path probe = user_dir_ / "writable.probe";
    {
      std::ofstream out(probe);
      out << "x";
      EXPECT_TRUE(out.good()) << user_dir_ << " is not writable";
    }
    EXPECT_TRUE(fs::remove(probe));
  }

  // What must be gone (or kept) once a later run has started.
  struct Pending {
    std::vector<std::string> netns;
    std::vector<std::string> links;  // with the pid of their dead owner
    std::vector<pid_t> link_owners;
    std::vector<fs::path> folders;
    std::vector<fs::path> kept_folders;
  };

  void expect_cleaned(Pending& p, const std::string& when) {
    for (const std::string& ns : p.netns) {
      EXPECT_FALSE(netns_exists(ns)) << "namespace " << ns << " of a dead run still there " << when;
    }
    for (std::size_t i = 0; i < p.links.size(); ++i) {
      // A link names only a pid: a new process that got it keeps the link.
      if (link_exists(p.links[i]) && !owner_alive(p.link_owners[i], std::nullopt)) {
        ADD_FAILURE() << "link " << p.links[i] << " of a dead run still there " << when;
      }
    }
    for (const fs::path& f : p.folders) {
      EXPECT_FALSE(fs::exists(f)) << "folder " << f << " of a killed run still there " << when;
    }
    for (const fs::path& f : p.kept_folders) {
      EXPECT_TRUE(fs::exists(f)) << "folder " << f << " of a --keep run was removed " << when;
    }
    EXPECT_TRUE(netns_exists(live_netns_)) << "the namespace of a live owner was removed " << when;
    p.netns.clear();
    p.links.clear();
    p.link_owners.clear();
    p.folders.clear();
  }

  std::optional<pjx::testing::TempDir> base_dir_;
  fs::path base_;
  fs::path tmp_;
  fs::path user_dir_;
  struct stat user_stat_ {};
  std::string live_netns_;
  std::vector<std::string> fake_netns_;
  std::vector<std::string> fake_links_;
};

TEST_P(CleanupKillTest, LeavesNothingBehindWhenKilled) {
  const FaultScenario& s = GetParam();
  std::mt19937_64 rng(seed() ^ std::hash<std::string>{}(s.name));
  const auto draw = [&rng](int below) { return static_cast<int>(rng() % static_cast<unsigned>(below)); };
  Pending pending;
  const Moment moments[] = {Moment::kStarting, Moment::kInFault, Moment::kLater};
  const char* const later_phases[] = {"heal", "quiesce", "teardown"};
  for (int k = 0; k < 3; ++k) {
    const Moment moment = moments[k];
    const bool user_dir = draw(2) == 0;
    const bool keep = !user_dir && draw(3) == 0;
    int delay_ms = 0;
    std::string phase;
    switch (moment) {
      case Moment::kStarting:
        delay_ms = draw(600);
        break;
      case Moment::kInFault:
        delay_ms = draw(100);
        break;
      case Moment::kLater:
        phase = later_phases[draw(3)];
        delay_ms = draw(150);
        break;
    }
    const std::string label = s.name + " #" + std::to_string(k) + " (" + moment_name(moment) +
                              (phase.empty() ? "" : " after " + phase) + " +" +
                              std::to_string(delay_ms) + " ms, " +
                              (user_dir ? "--dir" : keep ? "temporary --keep" : "temporary") + ")";
    SCOPED_TRACE(label);
    std::cout << "kill " << label << "\n" << std::flush;

    // A dead run's namespace and veth pair, for this run to remove.
    const RunOwner dead = dead_owner();
    const std::string ns = netns_name(dead, "kill" + std::to_string(k));
    const std::string link = link_name(dead, "a" + std::to_string(k));
    const std::string peer = link_name(dead, "b" + std::to_string(k));
    fake_netns_.push_back(ns);
    fake_links_.push_back(link);
    ASSERT_TRUE(shell("ip netns add " + ns));
    ASSERT_TRUE(shell("ip link add " + link + " type veth peer name " + peer));
    pending.netns.push_back(ns);
    pending.links.push_back(link);
    pending.link_owners.push_back(dead.pid);
    pending.links.push_back(peer);
    pending.link_owners.push_back(dead.pid);

    const fs::path out_dir = base_ / ("out-" + std::to_string(k));
    fs::create_directories(out_dir);
    std::vector<std::string> args = {"run", s.file.string(), "--timing", "quick", "--worker-cmd",
                                     PJX_WORKER_EXE, "--backend", s.backend, "--json",
                                     (out_dir / "results.json").string()};
    if (user_dir) {
      args.push_back("--dir");
      args.push_back(user_dir_.string());
    }
    if (keep) args.push_back("--keep");
    const fs::path output = out_dir / "stdout.txt";
    const pid_t harness = launch(args, output);
    ASSERT_GT(harness, 0);

    // Wait for the moment.
    HistoryTail history(out_dir / "histories");
    Json trigger;
    bool ended = false;
    int status = 0;
    const auto give_up = Clock::now() + std::chrono::seconds(60);
    if (moment != Moment::kStarting) {
      bool seen = false;
      while (!seen && Clock::now() < give_up) {
        for (const Json& r : history.poll()) {
          const std::string type = r.value("type", "");
          if (moment == Moment::kInFault && type == "fault" &&
              (r.value("phase", "") == "begin" || r.value("phase", "") == "instant")) {
            trigger = r;
            seen = true;
            break;
          }
          if (moment == Moment::kLater && type == "phase" && r.value("name", "") == phase) {
            trigger = r;
            seen = true;
            break;
          }
        }
        if (!seen && ::waitpid(harness, &status, WNOHANG) == harness) {
          ended = true;
          break;
        }
        if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ASSERT_TRUE(seen) << "the run never reached the moment; its output:\n" << read_file(output);
      // Reaching a record means the run is past its setup: it must be in
      // its own mount namespace by now.
      char own[64] = {};
      char its[64] = {};
      const ssize_t a = ::readlink("/proc/self/ns/mnt", own, sizeof own - 1);
      const ssize_t b =
          ::readlink(("/proc/" + std::to_string(harness) + "/ns/mnt").c_str(), its, sizeof its - 1);
      if (a > 0 && b > 0) {
        EXPECT_STRNE(own, its) << "the harness runs in the host's mount namespace";
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (!ended && ::waitpid(harness, &status, WNOHANG) == harness) ended = true;
    if (!ended) {
      ASSERT_EQ(::kill(harness, SIGKILL), 0);
      ASSERT_EQ(::waitpid(harness, &status, 0), harness);
      ++totals.kills;
    } else {
      ++totals.ended_before_kill;
      std::cout << "  the run ended before its kill\n";
    }
    if (moment == Moment::kInFault && !ended) {
      ++totals.in_fault;
      bool closed = trigger.value("phase", "") == "instant";
      for (const Json& r : history.poll()) {
        if (r.value("type", "") == "fault" && r.value("phase", "") == "end" &&
            r.value("action", "") == trigger.value("action", "") &&
            r.value("worker", "") == trigger.value("worker", "")) {
          closed = true;
        }
      }
      if (!closed) ++totals.in_fault_inside_window;
      std::cout << "  killed " << (closed ? "after" : "inside") << " the "
                << trigger.value("action", "") << " window\n";
    }

    // 1. Every process of the run is gone.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (;;) {
      const pid_t r = ::waitpid(-1, &status, WNOHANG);
      if (r > 0) continue;
      if (r < 0) break;  // ECHILD: none left
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::vector<std::string> survivors = my_children();
    EXPECT_TRUE(survivors.empty()) << "processes of the killed run still alive: "
                                   << ::testing::PrintToString(survivors);
    for (const std::string& line : survivors) {
      ::kill(static_cast<pid_t>(std::strtol(line.c_str(), nullptr, 10)), SIGKILL);
    }
    // 2. No mount of the run.
    const auto mounts = mounts_mentioning(base_);
    EXPECT_TRUE(mounts.empty()) << "mounts of the killed run: " << ::testing::PrintToString(mounts);
    // 3. The user's folder is as it was.
    check_user_dir();
    // 4. This run removed what runs before it left, if it got that far.
    const std::string text = read_file(output);
    if (text.find("pjx-harness: 1 scenario(s)") != std::string::npos) {
      expect_cleaned(pending, "after the next run started");
    }
    // --keep keeps the run folder; redis-server's socket folder goes anyway.
    for (const fs::path& f : folders_of(harness)) {
      const bool run_folder = f.filename().string().rfind("pjx-harness-", 0) == 0;
      (keep && run_folder ? pending.kept_folders : pending.folders).push_back(f);
    }
    // Its hosts' namespaces: only their /run/netns entries may be left (the
    // mounts were in its mount namespace); the next run removes them.
    for (const std::string& host_ns : netns_of(harness)) pending.netns.push_back(host_ns);
  }
  // What runs killed before their own cleanup left: on demand.
  const fs::path output = base_ / "cleanup.txt";
  const pid_t cleanup = launch({"cleanup", "--tmpdir", tmp_.string()}, output);
  int status = 0;
  ASSERT_EQ(::waitpid(cleanup, &status, 0), cleanup);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(output);
  expect_cleaned(pending, "after pjx-harness cleanup");
}

INSTANTIATE_TEST_SUITE_P(FaultScenarios, CleanupKillTest, ::testing::ValuesIn(fault_scenarios()),
                         [](const ::testing::TestParamInfo<FaultScenario>& param) {
                           std::string name = param.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace pjx::harness
