#include "bench_dir.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace pjx::bench {

std::filesystem::path bench_base_dir() {
  if (const char* dir = std::getenv("PJX_BENCH_DIR"); dir != nullptr && *dir != '\0') return dir;
  return testing::temp_root();
}

BenchDir::BenchDir() try : TempDir(bench_base_dir(), "pjx-bench-") {
} catch (const std::runtime_error& e) {
  throw std::runtime_error(std::string(e.what()) +
                           "; set PJX_BENCH_DIR to an existing writable directory");
}

}  // namespace pjx::bench
