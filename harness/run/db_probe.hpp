// Read-only observations of an invalidation database: what `pjx-harness
// probe DB` prints and what the runner records as `probe` records.
//
// inspect_db() never writes: it opens the file with SQLITE_OPEN_READONLY
// ("mode=ro"), and, when neither the -wal nor the -shm sidecar exists (no
// process has the database open in WAL mode), as "immutable" so that SQLite
// does not create them; it is safe against a live deployment. Only
// integrity_check() opens read-write, for the harness's own test databases.
//
// Thread safety: functions without shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace pjx::harness {

struct DbInspection {
  std::filesystem::path path;
  bool exists = false;
  std::string error;         // why it could not be read; empty when it could
  std::string journal_mode;  // "wal", "delete", ... (from the file header when immutable)
  bool immutable = false;    // opened as immutable (no sidecars existed)
  bool has_table = false;    // pjx_invalidation exists
  std::vector<std::pair<std::string, std::int64_t>> channels;  // rows per channel, by name
  std::int64_t total_rows = 0;
  std::int64_t max_id = 0;
  std::optional<double> oldest_created_at;  // UNIX seconds
  std::optional<double> newest_created_at;
  std::optional<std::uintmax_t> wal_size;  // bytes; nullopt when the file is missing
  std::optional<std::uintmax_t> shm_size;
  double inspected_at = 0;  // wall clock (UNIX s) when the rows were read

  // {"path","exists","error","journal_mode","channels":{name:rows},"total_rows",
  //  "max_id","oldest_age_s","newest_age_s","wal_bytes","shm_bytes"}
  nlohmann::json to_json() const;
};

// Reads the database at `db` without writing. Never throws; failures are in
// `error`.
DbInspection inspect_db(const std::filesystem::path& db);

// PRAGMA integrity_check on a fresh read-write connection (no create).
// Returns "ok", the problems SQLite reports joined by "; ", or "missing"
// when the file does not exist, or "error: ..." when it cannot be opened.
std::string integrity_check(const std::filesystem::path& db);

// A URI for sqlite3_open_v2 with SQLITE_OPEN_URI: `path` made absolute with
// '%', '?' and '#' escaped, followed by `query` (e.g. "mode=ro").
std::string sqlite_uri(const std::filesystem::path& path, const std::string& query);

}  // namespace pjx::harness
