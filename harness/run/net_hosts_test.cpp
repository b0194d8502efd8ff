// NetHosts (net_hosts.hpp) on the real kernel: the namespaces and links it
// makes, that hosts reach each other over the bridge and nothing else, that
// a partition cuts them and a heal joins them again, and that remove()
// leaves nothing. Needs root and `ip` (and `nft` for the partition); skipped
// otherwise, saying why.
#include "net_hosts.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <thread>

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

// The names in `dir` that this process made: other runs on the machine may
// make and remove theirs meanwhile.
std::set<std::string> entries(const fs::path& dir) {
  const RunOwner self = RunOwner::self();
  const std::string netns_prefix = "pjx-" + self.tag() + "-";
  const std::string link_prefix = "pjx" + std::to_string(self.pid) + "-";
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(netns_prefix, 0) == 0 || name.rfind(link_prefix, 0) == 0) out.insert(name);
  }
  return out;
}

// Runs `body` on a thread of its own that joined `netns` first (a namespace
// is per thread), so the test process itself stays where it is.
template <typename Body>
void in_netns(const fs::path& netns, Body body) {
  std::thread t([&] {
    const int fd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << netns;
    ASSERT_EQ(::setns(fd, CLONE_NEWNET), 0) << netns;
    ::close(fd);
    body();
  });
  t.join();
}

sockaddr_in address_of(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// Whether a TCP connect from `from` to `ip`:`port` completes within
// `wait_ms`. Only a cut host makes it false: on a joined bridge the
// handshake takes microseconds.
bool connects(const fs::path& from, const std::string& ip, int port, int wait_ms) {
  bool ok = false;
  in_netns(from, [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    const sockaddr_in a = address_of(ip, port);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, wait_ms) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      ok = err == 0;
    }
    ::close(fd);
  });
  return ok;
}

class NetHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = NetHosts::unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(NetHostsTest, MakesLinkedHostsOutsideTheRootNamespaceAndRemovesThem) {
  const std::set<std::string> links_before = entries("/sys/class/net");
  const std::set<std::string> netns_before = entries("/run/netns");
  NetHosts hosts(RunOwner::self(), {"w0", "w1"});
  ASSERT_EQ(hosts.namespaces().size(), 4u);  // bridge, redis, w0, w1
  for (const std::string& ns : hosts.namespaces()) {
    EXPECT_TRUE(fs::exists(fs::path("/run/netns") / ns)) << ns;
    EXPECT_TRUE(parse_netns_name(ns)) << ns << " does not carry the run's owner";
  }
  EXPECT_EQ(hosts.address("redis"), "198.51.100.2");
  EXPECT_EQ(hosts.address("w1"), "198.51.100.11");
  EXPECT_EQ(entries("/sys/class/net"), links_before) << "a link was made in the root namespace";

  // A listener on the redis host; w0 reaches it, the root namespace cannot.
  int listener = -1;
  int port = 0;
  in_netns(hosts.netns_path("redis"), [&] {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = address_of(hosts.address("redis"), 0);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ASSERT_EQ(::listen(listener, 16), 0);
  });
  EXPECT_TRUE(connects(hosts.netns_path("w0"), hosts.address("redis"), port, 5000));
  EXPECT_FALSE(connects("/proc/self/ns/net", hosts.address("redis"), port, 300))
      << "the root namespace reached a host: traffic can leave the hosts";

  if (std::string why = NetHosts::partitions_unavailable(); why.empty()) {
    hosts.partition("pjx_test_cut", {"w0"}, NetHosts::Direction::kBoth);
    EXPECT_FALSE(connects(hosts.netns_path("w0"), hosts.address("redis"), port, 300))
        << "w0 reached redis through the partition";
    EXPECT_TRUE(connects(hosts.netns_path("w1"), hosts.address("redis"), port, 5000))
        << "the partition of w0 cut w1 too";
    EXPECT_EQ(hosts.heal("pjx_test_cut", {"w0"}), "");
    EXPECT_TRUE(connects(hosts.netns_path("w0"), hosts.address("redis"), port, 5000))
        << "w0 still cut after the heal";
    // One way: w0's packets out are dropped, so not even the SYN leaves.
    hosts.partition("pjx_test_out", {"w0"}, NetHosts::Direction::kOut);
    EXPECT_FALSE(connects(hosts.netns_path("w0"), hosts.address("redis"), port, 300));
    EXPECT_EQ(hosts.heal("pjx_test_out", {"w0"}), "");
  } else {
    std::cout << "partition not tested: " << why << "\n";
  }
  ::close(listener);

  EXPECT_EQ(hosts.remove(), "");
  EXPECT_EQ(hosts.remove(), "") << "remove() is idempotent";
  EXPECT_EQ(entries("/run/netns"), netns_before);
  EXPECT_EQ(entries("/sys/class/net"), links_before);
}

TEST_F(NetHostsTest, RemovesWhatItMadeWhenDestroyed) {
  const std::set<std::string> netns_before = entries("/run/netns");
  {
    NetHosts hosts(RunOwner::self(), {"w0"});
    EXPECT_EQ(entries("/run/netns").size(), netns_before.size() + 3);
  }
  EXPECT_EQ(entries("/run/netns"), netns_before);
}

}  // namespace
}  // namespace pjx::harness
