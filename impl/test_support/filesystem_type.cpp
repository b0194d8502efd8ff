#include "filesystem_type.hpp"

#include <sys/vfs.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

namespace pjx::testing {
namespace {

namespace fs = std::filesystem;

// The type of the innermost mount of /proc/self/mounts holding `target`; ""
// when none does.
std::string mount_type(const std::string& target) {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, mount_point, type;
  std::string best_type;
  std::size_t best_len = 0;
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    if (!(fields >> device >> mount_point >> type)) continue;
    // Mount points escape spaces as \040.
    std::string mp;
    for (std::size_t i = 0; i < mount_point.size(); ++i) {
      if (mount_point[i] == '\\' && i + 3 < mount_point.size()) {
        mp += static_cast<char>(std::stoi(mount_point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        mp += mount_point[i];
      }
    }
    const bool inside =
        target == mp || mp == "/" ||
        (target.rfind(mp, 0) == 0 && target.size() > mp.size() && target[mp.size()] == '/');
    if (inside && mp.size() >= best_len) {
      best_len = mp.size();
      best_type = type;
    }
  }
  return best_type;
}

// The name of the statfs() magic number of `dir`, else the number in hex.
std::string magic_type(const fs::path& dir) {
  struct statfs info {};
  if (statfs(dir.c_str(), &info) != 0) return std::string("unknown (") + std::strerror(errno) + ")";
  const auto magic = static_cast<unsigned long>(info.f_type);
  struct Known {
    unsigned long magic;
    const char* name;
  };
  static constexpr Known kKnown[] = {
      {0xEF53UL, "ext2/3/4"},  {0x01021994UL, "tmpfs"},   {0x58465342UL, "xfs"},
      {0x9123683EUL, "btrfs"}, {0x794C7630UL, "overlay"}, {0x6969UL, "nfs"},
      {0xFF534D42UL, "cifs"},  {0xFE534D42UL, "smb2"},    {0x65735546UL, "fuse"},
      {0x2FC12FC1UL, "zfs"},   {0x01161970UL, "gfs2"},    {0x5346414FUL, "afs"},
      {0x858458F6UL, "ramfs"}, {0xF2F52010UL, "f2fs"},    {0x9FA0UL, "proc"},
  };
  for (const auto& known : kKnown) {
    if (known.magic == magic) return known.name;
  }
  char text[32];
  std::snprintf(text, sizeof text, "0x%lx", magic);
  return text;
}

}  // namespace

std::string filesystem_type(const fs::path& dir) {
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (std::string type = mount_type(real.string()); !type.empty()) return type;
  return magic_type(real);
}

}  // namespace pjx::testing
