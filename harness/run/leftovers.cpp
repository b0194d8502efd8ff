#include "leftovers.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace pjx::harness {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKeepMarker = ".pjx-keep";
constexpr std::size_t kMaxLinkName = 15;  // IFNAMSIZ - 1

std::string errno_text(int err) { return std::generic_category().message(err); }

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool label_ok(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

std::uint64_t to_u64(std::string_view s) { return std::strtoull(std::string(s).c_str(), nullptr, 10); }

// "<pid>-<start>-<rest>" -> pid, start, rest; nullopt when it is not so.
std::optional<Leftover> parse_owned(std::string_view tail, std::string_view* rest) {
  const std::size_t a = tail.find('-');
  if (a == std::string_view::npos) return std::nullopt;
  const std::size_t b = tail.find('-', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  const std::string_view pid = tail.substr(0, a);
  const std::string_view start = tail.substr(a + 1, b - a - 1);
  if (!all_digits(pid) || !all_digits(start) || pid.size() > 9) return std::nullopt;
  Leftover l;
  l.pid = static_cast<pid_t>(to_u64(pid));
  l.start_ticks = to_u64(start);
  *rest = tail.substr(b + 1);
  if (l.pid <= 0) return std::nullopt;
  return l;
}

// Mount points of this mount namespace at or below `dir`.
std::vector<std::string> mounts_below(const fs::path& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  const std::string base = dir.string();
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    if (!(fields >> id >> parent >> devno >> root >> point)) continue;
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    std::string unescaped;
    for (std::size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        unescaped += static_cast<char>(std::strtol(point.substr(i + 1, 3).c_str(), nullptr, 8));
        i += 3;
      } else {
        unescaped += point[i];
      }
    }
    if (unescaped == base || unescaped.rfind(base + "/", 0) == 0) out.push_back(unescaped);
  }
  return out;
}

// Deletes the network link `name` of the caller's network namespace
// (RTM_DELLINK; a veth's peer goes with it). Returns "" or the reason.
std::string delete_link(const std::string& name) {
  const unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) return errno == ENODEV ? "" : "if_nametoindex: " + errno_text(errno);
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return "netlink socket: " + errno_text(errno);
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  request.header.nlmsg_type = RTM_DELLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.header.nlmsg_seq = 1;
  request.info.ifi_family = AF_UNSPEC;
  request.info.ifi_index = static_cast<int>(index);
  std::string result;
  if (::send(fd, &request, request.header.nlmsg_len, 0) < 0) {
    result = "netlink send: " + errno_text(errno);
  } else {
    alignas(nlmsghdr) char reply[4096];
    const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
    const auto* header = reinterpret_cast<const nlmsghdr*>(reply);
    if (n < 0) {
      result = "netlink recv: " + errno_text(errno);
    } else if (NLMSG_OK(header, static_cast<unsigned>(n)) && header->nlmsg_type == NLMSG_ERROR) {
      nlmsgerr err{};  // NLMSG_DATA is a C cast: copy the payload instead
      std::memcpy(&err, reply + NLMSG_HDRLEN, sizeof err);
      if (err.error != 0 && err.error != -ENODEV) result = "RTM_DELLINK: " + errno_text(-err.error);
    }
  }
  ::close(fd);
  return result;
}

// Rule 3, then remove_all. Returns "" or the reason.
std::string remove_folder(const fs::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return errno == ENOENT ? "" : errno_text(errno);
  if (!S_ISDIR(st.st_mode)) return "not a directory (a symlink?); left alone";
  if (st.st_uid != ::geteuid()) {
    return "owned by uid " + std::to_string(st.st_uid) + ", not by this user; left alone";
  }
  if (const auto mounts = mounts_below(dir); !mounts.empty()) {
    return mounts.front() + " is mounted in it; unmount it (umount " + mounts.front() +
           "), then run pjx-harness cleanup again";
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ec ? ec.message() : "";
}

// Removes a network namespace name as `ip netns delete` does. "" or why not.
std::string remove_netns(const fs::path& entry) {
  if (::umount2(entry.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return "umount: " + errno_text(errno);
  }
  if (::unlink(entry.c_str()) != 0 && errno != ENOENT) return "unlink: " + errno_text(errno);
  return "";
}

std::string describe(const Leftover& l) {
  switch (l.kind) {
    case Leftover::Kind::kFolder:
      return "folder " + l.path.string();
    case Leftover::Kind::kNetns:
      return "network namespace " + l.name;
    case Leftover::Kind::kLink:
      return "network link " + l.name;
  }
  return l.name;
}

}  // namespace

RunOwner RunOwner::self() {
  RunOwner o;
  o.pid = ::getpid();
  const auto start = live_process_start(o.pid);
  if (!start) throw std::runtime_error("cannot read this process's start time from /proc/self/stat");
  o.start_ticks = *start;
  return o;
}

std::string RunOwner::tag() const { return std::to_string(pid) + "-" + std::to_string(start_ticks); }

std::optional<std::uint64_t> live_process_start(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so fields
  // are counted from the last ')'. State is field 3, starttime field 22.
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  std::string state;
  for (int n = 3; n <= 22 && fields >> field; ++n) {
    if (n == 3) state = field;
    if (n == 22) {
      if (state == "Z" || state == "X") return std::nullopt;
      return to_u64(field);
    }
  }
  return std::nullopt;
}

bool owner_alive(pid_t pid, std::optional<std::uint64_t> start_ticks) {
  const auto start = live_process_start(pid);
  if (!start) return false;
  return !start_ticks || *start == *start_ticks;
}

fs::path make_run_folder(const fs::path& root, std::string_view kind, bool keep) {
  const fs::path dir =
      pjx::testing::make_temp_dir(root, "pjx-" + std::string(kind) + "-" + RunOwner::self().tag() + "-");
  if (keep) {
    std::ofstream marker(dir / kKeepMarker);
    marker << "made with --keep: pjx-harness cleanup leaves this folder alone\n";
    if (!marker) throw std::runtime_error("cannot write " + (dir / kKeepMarker).string());
  }
  return dir;
}

std::string netns_name(const RunOwner& owner, std::string_view label) {
  if (!label_ok(label)) {
    throw std::invalid_argument("network namespace label \"" + std::string(label) +
                                "\" must be letters, digits and '-'");
  }
  return "pjx-" + owner.tag() + "-" + std::string(label);
}

std::string link_name(const RunOwner& owner, std::string_view label) {
  const std::string name = "pjx" + std::to_string(owner.pid) + "-" + std::string(label);
  if (!label_ok(label) || name.size() > kMaxLinkName) {
    throw std::invalid_argument("link name \"" + name + "\" must be at most " +
                                std::to_string(kMaxLinkName) +
                                " bytes with a label of letters, digits and '-'");
  }
  return name;
}

std::optional<Leftover> parse_folder_name(std::string_view name) {
  std::string_view tail;
  if (name.rfind("pjx-harness-", 0) == 0) {
    tail = name.substr(12);
  } else if (name.rfind("pjx-redis-", 0) == 0) {
    tail = name.substr(10);
  } else {
    return std::nullopt;
  }
  std::string_view rest;
  auto l = parse_owned(tail, &rest);
  if (!l || rest.size() != 6 || !label_ok(rest) || rest.find('-') != std::string_view::npos) {
    return std::nullopt;
  }
  l->kind = Leftover::Kind::kFolder;
  l->name = std::string(name);
  return l;
}

std::optional<Leftover> parse_netns_name(std::string_view name) {
  if (name.rfind("pjx-", 0) != 0) return std::nullopt;
  std::string_view rest;
  auto l = parse_owned(name.substr(4), &rest);
  if (!l || !label_ok(rest)) return std::nullopt;
  l->kind = Leftover::Kind::kNetns;
  l->name = std::string(name);
  return l;
}

std::optional<Leftover> parse_link_name(std::string_view name) {
  if (name.size() > kMaxLinkName || name.rfind("pjx", 0) != 0) return std::nullopt;
  const std::size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view pid = name.substr(3, dash - 3);
  if (!all_digits(pid) || pid.size() > 9 || !label_ok(name.substr(dash + 1))) return std::nullopt;
  Leftover l;
  l.kind = Leftover::Kind::kLink;
  l.name = std::string(name);
  l.pid = static_cast<pid_t>(to_u64(pid));
  if (l.pid <= 0) return std::nullopt;
  return l;
}

CleanupReport remove_dead_runs(const CleanupPlaces& places, bool dry_run) {
  CleanupReport report;
  std::vector<Leftover> found;
  std::error_code ec;
  for (const fs::path& root : places.temp_roots) {
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (auto l = parse_folder_name(entry.path().filename().string())) {
        l->path = entry.path();
        found.push_back(std::move(*l));
      }
    }
  }
  for (const auto& entry : fs::directory_iterator(places.netns_dir, ec)) {
    if (auto l = parse_netns_name(entry.path().filename().string())) {
      l->path = entry.path();
      found.push_back(std::move(*l));
    }
  }
  for (const auto& entry : fs::directory_iterator(places.net_class_dir, ec)) {
    if (auto l = parse_link_name(entry.path().filename().string())) found.push_back(std::move(*l));
  }

  for (const Leftover& l : found) {
    const std::string what = describe(l);
    if (owner_alive(l.pid, l.start_ticks)) {
      report.kept.push_back(what + ": its run (pid " + std::to_string(l.pid) + ") is running");
      continue;
    }
    if (l.kind == Leftover::Kind::kFolder && fs::exists(l.path / kKeepMarker, ec)) {
      report.kept.push_back(what + ": made with --keep");
      continue;
    }
    if (dry_run) {
      report.removed.push_back("would remove " + what);
      continue;
    }
    std::string why;
    switch (l.kind) {
      case Leftover::Kind::kFolder:
        why = remove_folder(l.path);
        break;
      case Leftover::Kind::kNetns:
        why = remove_netns(l.path);
        break;
      case Leftover::Kind::kLink:
        why = delete_link(l.name);
        break;
    }
    if (why.empty()) {
      report.removed.push_back("removed " + what);
    } else {
      report.failed.push_back(what + ": " + why);
    }
  }
  return report;
}

}  // namespace pjx::harness
