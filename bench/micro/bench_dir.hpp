// BenchDir: a fresh directory for one benchmark's database files, removed
// with everything in it when the BenchDir is destroyed: the project's
// TempDir (impl/test_support/temp_dir.hpp), made under $PJX_BENCH_DIR when
// that is set (point it at a target host's filesystem: local disk, tmpfs, a
// network mount), else under $TMPDIR or /tmp. Throws std::runtime_error
// naming the directory and the fix when it cannot be created.
//
// Thread safety: a BenchDir is used by one thread; distinct objects are
// independent.
#pragma once

#include <filesystem>
#include <string>

#include "temp_dir.hpp"

namespace pjx::bench {

class BenchDir : public testing::TempDir {
 public:
  BenchDir();
};

// The directory BenchDir creates its directories in.
std::filesystem::path bench_base_dir();

}  // namespace pjx::bench
