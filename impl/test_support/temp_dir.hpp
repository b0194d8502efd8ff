// Temporary directories of the project's tests and tools: make_temp_dir()
// is the one place that calls mkdtemp(), and TempDir a fresh directory
// removed with its contents when the object dies.
//
// Thread safety: functions without shared state; a TempDir is used by one
// thread.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace pjx::testing {

// $TMPDIR when set and not empty, else /tmp.
std::filesystem::path temp_root();

// Creates a fresh directory `<parent>/<prefix>XXXXXX` (mkdtemp: mode 0700,
// a name no other process got) and returns its path. Throws
// std::runtime_error naming the pattern and the system's reason.
std::filesystem::path make_temp_dir(const std::filesystem::path& parent, std::string_view prefix);

class TempDir {
 public:
  // Under temp_root(), named "pjx-test-XXXXXX".
  TempDir();
  // Under `parent`, named "<prefix>XXXXXX".
  TempDir(const std::filesystem::path& parent, std::string_view prefix);
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
