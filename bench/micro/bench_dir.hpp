// BenchDir: a fresh directory for one benchmark's database files, removed
// with everything in it when the BenchDir is destroyed.
//
// It is created with mkdtemp() under $PJX_BENCH_DIR when that is set (point it
// at a target host's filesystem: local disk, tmpfs, a network mount), else
// under the system temporary directory ($TMPDIR or the platform default).
// Throws std::runtime_error naming the directory when it cannot be created.
//
// Thread safety: a BenchDir is used by one thread; distinct objects are
// independent.
#pragma once

#include <filesystem>
#include <string>

namespace pjx::bench {

class BenchDir {
 public:
  BenchDir();
  ~BenchDir();
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  // path() / name, as a string for the SQLite APIs.
  std::string file(const std::string& name) const;

 private:
  std::filesystem::path path_;
};

// The directory BenchDir creates its directories in.
std::filesystem::path bench_base_dir();

// The name of the filesystem type holding `dir` ("ext4", "tmpfs", "nfs", ...),
// or its magic number in hex when the type is not one this function knows.
std::string filesystem_name(const std::filesystem::path& dir);

}  // namespace pjx::bench
