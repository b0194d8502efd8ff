#include "temp_dir.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace pjx::testing {

namespace fs = std::filesystem;

fs::path temp_root() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? fs::path(tmp) : fs::path("/tmp");
}

fs::path make_temp_dir(const fs::path& parent, std::string_view prefix) {
  const std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
  std::string name = pattern;  // mkdtemp fills in the X's, also when it fails
  if (::mkdtemp(name.data()) == nullptr) {
    throw std::runtime_error("cannot create a directory from \"" + pattern +
                             "\": " + std::generic_category().message(errno));
  }
  return name;
}

TempDir::TempDir() : TempDir(temp_root(), "pjx-test-") {}

TempDir::TempDir(const fs::path& parent, std::string_view prefix)
    : path_(make_temp_dir(parent, prefix)) {}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace pjx::testing
