// NetHosts: the "hosts" of a scenario with `hosts = true` (Redis only): each
// worker and the harness's redis-server on a network namespace of its own,
// joined by veth pairs to a bridge that lives in a namespace of its own too.
//
//   namespace (ip netns)       holds                      address
//   pjx-<tag>-br               bridge br0, one veth end   none (layer 2 only)
//                              per host: pjx<pid>-<label>
//   pjx-<tag>-redis            eth0 (the veth's peer), lo  198.51.100.2/24
//   pjx-<tag>-<server>         eth0, lo                    198.51.100.<3 + j>/24
//   pjx-<tag>-h<i>             eth0, lo                    198.51.100.<10 + i>/24
//
// (<tag> is the run owner's "<pid>-<start>", leftovers.hpp; h<i> is the
// i-th worker of the scenario; <server> the j-th of the extra server hosts,
// such as a failover scenario's "replica" and "sentinel".) 198.51.100.0/24 is TEST-NET-2 (RFC 5737),
// reserved for documentation: no real host has it.
//
// Invariants:
//  1. Nothing is made in the caller's (the root) network namespace: no
//     link, no address, no route. The namespaces have no route but their
//     /24 and no link to the root namespace, so no packet can leave them.
//  2. Every name carries the run's owner (leftovers.hpp), so a later run, or
//     `pjx-harness cleanup`, removes what a killed run left. The namespaces
//     are mounted (ip netns add) inside the run's private mount namespace
//     (mount_namespace.hpp), so they die with the run's last process even
//     before that: only the empty /run/netns entries can stay behind.
//  3. remove() (and the destructor) deletes every namespace this object
//     made; deleting a namespace deletes its links and nftables tables.
//  4. A partition is an nftables table in each cut host's namespace that
//     drops IP packets to (output) and/or from (input) the hosts outside the
//     cut: packets vanish silently, as on a real partition (no RST, no ICMP,
//     no carrier change, which taking the link down would show). nftables
//     in a network namespace works on this kernel; without nft partitions
//     are refused (the scenario is `skip`).
//
// Every namespace is set up with `ip` (iproute2), one `ip -batch` per
// namespace; nft runs in a host's namespace through `ip netns exec`.
// Processes join a host with setns(2) between fork and exec
// (Subprocess::Options::network_namespace), so the pid the harness signals
// (pause, kill) is the worker itself and no extra mount namespace of
// `ip netns exec` stands between them.
//
// Thread safety: none; use from the runner's thread.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "leftovers.hpp"

namespace pjx::harness {

class NetHosts {
 public:
  // The name of the redis-server's host.
  static constexpr const char* kRedisHost = "redis";

  // "" when hosts can be made here (root, `ip` installed), else the reason
  // and the fix. The namespaces themselves may still fail (unshare denied):
  // the constructor says so.
  static std::string unavailable();
  // "" when partitions can be made (`nft` installed), else the reason.
  static std::string partitions_unavailable();

  // Makes the bridge's namespace, one namespace per host (`kRedisHost`,
  // each of `servers` (at most 6; names of letters, not a worker's), then
  // each of `workers`, in order: worker i is h<i>) and the links. Throws
  // std::runtime_error naming the command and its output; what was made
  // until then is removed.
  NetHosts(const RunOwner& owner, const std::vector<std::string>& workers,
           const std::vector<std::string>& servers = {});
  ~NetHosts();
  NetHosts(const NetHosts&) = delete;
  NetHosts& operator=(const NetHosts&) = delete;

  // Deletes every namespace made (with their links and tables). Idempotent.
  // Returns "" or what could not be removed.
  std::string remove();

  bool has(const std::string& host) const { return hosts_.count(host) != 0; }
  // REQUIRES: has(host).
  const std::string& address(const std::string& host) const { return hosts_.at(host).address; }
  const std::string& netns(const std::string& host) const { return hosts_.at(host).netns; }
  // /run/netns/<netns>: what a process joins (setns).
  std::filesystem::path netns_path(const std::string& host) const;
  // Every namespace made, the bridge's first.
  std::vector<std::string> namespaces() const;
  // "w0 198.51.100.10 (pjx-...-h0), ..." for the history's notes.
  std::string describe() const;

  enum class Direction { kBoth, kIn, kOut };
  // Cuts the hosts of `cut` from every other host: in each, an nftables
  // table `id` drops IP packets to the others (kOut, kBoth) and from them
  // (kIn, kBoth). Throws std::runtime_error naming the host and nft's output.
  // REQUIRES: every name of `cut` has(); `id` letters, digits and '_'.
  void partition(const std::string& id, const std::vector<std::string>& cut, Direction d);
  // Removes table `id` from the hosts of `cut`. Returns "" or the errors.
  std::string heal(const std::string& id, const std::vector<std::string>& cut);

 private:
  struct Host {
    std::string netns;
    std::string address;
    std::string bridge_link;  // its veth end in the bridge's namespace
  };
  std::string bridge_netns_;
  std::map<std::string, Host> hosts_;
  std::vector<std::string> order_;  // host names in the order made
  std::vector<std::string> made_;   // namespaces that exist
};

}  // namespace pjx::harness
