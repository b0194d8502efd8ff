// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with its
// contents when the object dies.
#pragma once

#include <filesystem>
#include <string>

namespace pjx::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  // path() / name, as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace pjx::testing
