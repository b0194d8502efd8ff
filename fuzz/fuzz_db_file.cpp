// Fuzz target: the database opener fed mutated database files. The input is
// written as the database file in a private temporary directory, and
// SqliteInvalidationBackend is constructed on it, started, polled on demand,
// published to (by itself and by a second instance) and stopped.
//
// ConfigError (the file is not a usable database) and BackendError (an
// operation on it failed) are acceptable outcomes; a crash, a hang, a leak,
// undefined behaviour or any other exception is not. Per-input time is kept
// small: a 10 ms busy timeout, no change watch, and polls only on demand.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_support.hpp"
#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

// One directory per fuzzing process, removed at exit.
const fs::path& work_dir() {
  static const fs::path dir = [] {
    // Throws (and so aborts the fuzzer) when it cannot be made.
    fs::path made = pjx::testing::make_temp_dir(pjx::testing::temp_root(), "pjx-fuzz-db-");
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(work_dir(), ec);
    });
    return made;
  }();
  return dir;
}

pjx::SqliteOptions fuzz_options() {
  pjx::SqliteOptions o;
  o.poll_interval = std::chrono::hours(1);  // poll on demand only
  o.retention = std::chrono::hours(2);
  o.busy_timeout = std::chrono::milliseconds(10);
  o.wake_on_change = false;
  o.on_warning = [](const std::string&) {};
  return o;
}

void clean(const fs::path& db) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    fs::remove(db.string() + suffix, ec);
  }
}

void exercise(const std::string& path) {
  std::size_t delivered = 0;
  pjx::SqliteInvalidationBackend listener(path, fuzz_options());
  try {
    listener.start([&](const pjx::KeySet& keys) { delivered += keys.size(); },
                   [](pjx::FlushReason) {});
  } catch (const pjx::BackendError&) {
    // The listener could not start; publishing may still work or fail.
  }
  try {
    listener.publish({"fuzz:self"});
  } catch (const pjx::BackendError&) {
  }
  try {
    pjx::SqliteInvalidationBackend other(path, fuzz_options());
    other.publish({"fuzz:other", "fuzz:shared"});
  } catch (const pjx::BackendError&) {
  } catch (const pjx::ConfigError&) {
    // The first publish may have turned the file into something refused.
  }
  try {
    if (listener.stats().listening) (void)listener.poll_now();
  } catch (const pjx::BackendError&) {
  }
  const pjx::SqliteStats stats = listener.stats();
  PJX_FUZZ_CHECK(stats.keys_delivered == delivered, "stats count the keys the handler got");
  (void)stats.lag;
  listener.stop();
  PJX_FUZZ_CHECK(!listener.stats().listening, "stop() stops listening");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path db = work_dir() / "pjx.db";
  clean(db);
  {
    std::ofstream out(db, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
      std::perror("writing the database file");
      std::abort();
    }
  }
  try {
    exercise(db.string());
  } catch (const pjx::ConfigError&) {
    // Refused at construction: not a SQLite database, incompatible schema...
  } catch (const pjx::BackendError&) {
  }
  clean(db);
  return 0;
}
