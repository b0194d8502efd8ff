#include "file_identity.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <string>

#include "backend_context.hpp"
#include "event_log.hpp"
#include "pjx/errors.hpp"
#include "sqlite_backend_seams.hpp"

namespace pjx::detail {
namespace {

std::unique_ptr<EventLog> open_log(BackendContext& ctx, const std::atomic<std::int64_t>* give_up) {
  auto log = std::make_unique<EventLog>(ctx.location, ctx.db_path, ctx.options.busy_timeout,
                                        &ctx.counters.busy_waits, ctx.options.vfs, give_up);
  run_after_open_hook();
  return log;
}

}  // namespace

std::optional<FileId> file_at(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

std::optional<FileId> file_at_path(const BackendContext& ctx) { return file_at(ctx.location.file); }

std::unique_ptr<EventLog> open_current(BackendContext& ctx, std::optional<FileId>* identity,
                                       const std::atomic<std::int64_t>* give_up) {
  for (int attempt = 1;; ++attempt) {
    const auto before = file_at_path(ctx);
    auto log = open_log(ctx, give_up);
    const auto after = file_at_path(ctx);
    if (before && before == after) {
      *identity = after;
      return log;
    }
    if (attempt == kOpenAttempts) {
      throw BackendError(
          "the database file \"" + ctx.db_path + "\" was replaced or deleted while it was being opened, " +
              std::to_string(kOpenAttempts) +
              " times in a row; stop whatever keeps replacing it (replace the database only "
              "while no worker opens it, in one rename with its -wal and -shm)",
          SQLITE_BUSY);
    }
  }
}

}  // namespace pjx::detail
