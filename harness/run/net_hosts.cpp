#include "net_hosts.hpp"

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "subprocess.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNetnsDir = "/run/netns";
constexpr const char* kPrefix = "198.51.100.";  // TEST-NET-2, RFC 5737
constexpr int kRedisOctet = 2;
constexpr int kFirstWorkerOctet = 10;
constexpr int kCommandTimeoutMs = 10000;

// Runs `argv` with `input` on its stdin. Returns "" when it exits 0, else
// its output (stdout and stderr) and exit status. The shell is there only
// to merge stderr into the output run_for_output() reads and to report the
// status, which run_for_output() would otherwise swallow.
std::string run(const std::vector<std::string>& argv, const std::string& input) {
  std::vector<std::string> sh = {
      "sh", "-c", "input=$1; shift; printf '%s' \"$input\" | \"$@\" 2>&1; echo \"pjx-status $?\"",
      "sh", input};
  sh.insert(sh.end(), argv.begin(), argv.end());
  std::string command;
  for (const std::string& a : argv) command += (command.empty() ? "" : " ") + a;
  const std::optional<std::string> out = pjx::testing::run_for_output(sh, kCommandTimeoutMs);
  if (!out) return "`" + command + "` did not finish within 10 s";
  const std::size_t status = out->rfind("pjx-status ");
  if (status == std::string::npos) return "`" + command + "` printed no status";
  if (out->compare(status, std::string::npos, "pjx-status 0\n") == 0) return "";
  std::string text = out->substr(0, status);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return "`" + command + "` failed (exit " + out->substr(status + 11, out->size() - status - 12) +
         "): " + text;
}

// One ip command per line, run by one `ip -batch`, in `netns` when given.
std::string ip_batch(const std::string& netns, const std::vector<std::string>& lines) {
  std::string input;
  for (const std::string& l : lines) input += l + "\n";
  std::vector<std::string> argv = {"ip"};
  if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
  argv.insert(argv.end(), {"-batch", "-"});
  return run(argv, input);
}

}  // namespace

std::string NetHosts::unavailable() {
  if (::geteuid() != 0) {
    return "hosts (network namespaces) need root: `ip netns add` needs CAP_SYS_ADMIN, and the "
           "harness is not running as root";
  }
  if (pjx::testing::Subprocess::find_program("ip").empty()) {
    return "hosts (network namespaces) need `ip` (Debian: apt-get install iproute2), which is "
           "not in PATH";
  }
  return "";
}

std::string NetHosts::partitions_unavailable() {
  if (pjx::testing::Subprocess::find_program("nft").empty()) {
    return "partition faults drop packets with nftables and need `nft` (Debian: apt-get "
           "install nftables, or scripts/install-deps.sh), which is not in PATH";
  }
  return "";
}

NetHosts::NetHosts(const RunOwner& owner, const std::vector<std::string>& workers,
                   const std::vector<std::string>& servers) {
  bridge_netns_ = netns_name(owner, "br");
  hosts_[kRedisHost] = {netns_name(owner, "redis"), kPrefix + std::to_string(kRedisOctet),
                        link_name(owner, "r")};
  order_.push_back(kRedisHost);
  if (servers.size() > kFirstWorkerOctet - kRedisOctet - 2) {
    throw std::runtime_error("hosts: at most 6 server hosts besides redis");
  }
  for (std::size_t j = 0; j < servers.size(); ++j) {
    const std::string& name = servers[j];
    if (hosts_.count(name) != 0 ||
        std::find(workers.begin(), workers.end(), name) != workers.end()) {
      throw std::runtime_error("hosts: server host \"" + name + "\" is named twice");
    }
    hosts_[name] = {netns_name(owner, name),
                    kPrefix + std::to_string(kRedisOctet + 1 + static_cast<int>(j)),
                    link_name(owner, "r" + std::to_string(j + 1))};
    order_.push_back(name);
  }
  if (workers.size() > 200) throw std::runtime_error("hosts: at most 200 workers");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const std::string label = "h" + std::to_string(i);
    hosts_[workers[i]] = {netns_name(owner, label),
                          kPrefix + std::to_string(kFirstWorkerOctet + static_cast<int>(i)),
                          link_name(owner, label)};
    order_.push_back(workers[i]);
  }
  // The namespaces, one at a time so that made_ is exact when one fails.
  for (const std::string& ns : [&] {
         std::vector<std::string> all = {bridge_netns_};
         for (const std::string& h : order_) all.push_back(hosts_[h].netns);
         return all;
       }()) {
    if (std::string err = ip_batch("", {"netns add " + ns}); !err.empty()) {
      remove();
      throw std::runtime_error("cannot make the network namespace " + ns + ": " + err);
    }
    made_.push_back(ns);
  }
  // The bridge, and a veth pair per host with its peer made directly in the
  // host's namespace (invariant 1: nothing passes through the root one).
  std::vector<std::string> bridge = {"link set lo up", "link add br0 type bridge",
                                     "link set br0 up"};
  for (const std::string& h : order_) {
    const Host& host = hosts_[h];
    bridge.push_back("link add " + host.bridge_link + " type veth peer name eth0 netns " +
                     host.netns);
    bridge.push_back("link set " + host.bridge_link + " master br0 up");
  }
  if (std::string err = ip_batch(bridge_netns_, bridge); !err.empty()) {
    remove();
    throw std::runtime_error("cannot make the hosts' bridge: " + err);
  }
  for (const std::string& h : order_) {
    const Host& host = hosts_[h];
    if (std::string err = ip_batch(
            host.netns,
            {"link set lo up", "addr add " + host.address + "/24 dev eth0", "link set eth0 up"});
        !err.empty()) {
      remove();
      throw std::runtime_error("cannot give host " + h + " its address: " + err);
    }
  }
}

NetHosts::~NetHosts() { remove(); }

std::string NetHosts::remove() {
  std::string errors;
  // Hosts first, the bridge's namespace last.
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    if (std::string err = ip_batch("", {"netns delete " + *it}); !err.empty()) {
      errors += (errors.empty() ? "" : "; ") + err;
    }
  }
  made_.clear();
  return errors;
}

fs::path NetHosts::netns_path(const std::string& host) const {
  return fs::path(kNetnsDir) / netns(host);
}

std::vector<std::string> NetHosts::namespaces() const {
  std::vector<std::string> out = {bridge_netns_};
  for (const std::string& h : order_) out.push_back(hosts_.at(h).netns);
  return out;
}

std::string NetHosts::describe() const {
  std::string out;
  for (const std::string& h : order_) {
    const Host& host = hosts_.at(h);
    out += (out.empty() ? "" : ", ") + h + " " + host.address + " (" + host.netns + ")";
  }
  return out + "; bridge in " + bridge_netns_;
}

void NetHosts::partition(const std::string& id, const std::vector<std::string>& cut, Direction d) {
  std::string others;
  for (const std::string& h : order_) {
    if (std::find(cut.begin(), cut.end(), h) != cut.end()) continue;
    others += (others.empty() ? "" : ", ") + hosts_.at(h).address;
  }
  if (others.empty()) return;  // nothing outside the cut
  for (const std::string& h : cut) {
    std::string table = "table inet " + id + " {\n";
    if (d != Direction::kOut) {
      table += "  chain input { type filter hook input priority 0; policy accept; ip saddr { " +
               others + " } drop; }\n";
    }
    if (d != Direction::kIn) {
      table += "  chain output { type filter hook output priority 0; policy accept; ip daddr { " +
               others + " } drop; }\n";
    }
    table += "}\n";
    if (std::string err = run({"ip", "netns", "exec", hosts_.at(h).netns, "nft", "-f", "-"}, table);
        !err.empty()) {
      throw std::runtime_error("cannot cut host " + h + " off: " + err);
    }
  }
}

std::string NetHosts::heal(const std::string& id, const std::vector<std::string>& cut) {
  std::string errors;
  for (const std::string& h : cut) {
    if (std::string err = run(
            {"ip", "netns", "exec", hosts_.at(h).netns, "nft", "delete", "table", "inet", id}, "");
        !err.empty()) {
      errors += (errors.empty() ? "" : "; ") + err;
    }
  }
  return errors;
}

}  // namespace pjx::harness
