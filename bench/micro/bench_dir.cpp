#include "bench_dir.hpp"

#include <sys/vfs.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace pjx::bench {

std::filesystem::path bench_base_dir() {
  if (const char* dir = std::getenv("PJX_BENCH_DIR"); dir != nullptr && *dir != '\0') return dir;
  return std::filesystem::temp_directory_path();
}

BenchDir::BenchDir() {
  const std::string pattern = (bench_base_dir() / "pjx-bench-XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error("cannot create a benchmark directory from \"" + pattern +
                             "\": " + std::strerror(errno) +
                             "; set PJX_BENCH_DIR to an existing writable directory");
  }
  path_ = buffer.data();
}

BenchDir::~BenchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string BenchDir::file(const std::string& name) const { return (path_ / name).string(); }

std::string filesystem_name(const std::filesystem::path& dir) {
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

}  // namespace pjx::bench
