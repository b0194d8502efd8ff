#include "nemesis.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <sqlite3.h>
#include <sys/mount.h>

#include "db_probe.hpp"

namespace pjx::harness {

namespace fs = std::filesystem;

DbWriteLock::DbWriteLock(const fs::path& db, int acquire_timeout_ms) {
  std::error_code ec;
  if (!fs::exists(db, ec)) {
    throw std::runtime_error("cannot lock \"" + db.string() + "\": the file does not exist");
  }
  const std::string uri = sqlite_uri(db, "");
  if (sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    release();
    throw std::runtime_error("cannot open \"" + db.string() + "\" to lock it: " + why);
  }
  sqlite3_busy_timeout(db_, acquire_timeout_ms);
  char* err = nullptr;
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    release();
    throw std::runtime_error("cannot take the write lock of \"" + db.string() + "\" within " +
                             std::to_string(acquire_timeout_ms) + " ms: " + why);
  }
}

DbWriteLock::~DbWriteLock() { release(); }

void DbWriteLock::release() {
  if (db_ == nullptr) return;
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

fs::path find_libfaketime() {
  std::error_code ec;
  fs::path plain;
  for (const char* root_name : {"/usr/lib", "/usr/local/lib"}) {
    const fs::path root(root_name);
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      const fs::path dir = entry.path() / "faketime";
      if (fs::exists(dir / "libfaketimeMT.so.1", ec)) return dir / "libfaketimeMT.so.1";
      if (plain.empty() && fs::exists(dir / "libfaketime.so.1", ec)) plain = dir / "libfaketime.so.1";
    }
    if (fs::exists(root / "faketime" / "libfaketimeMT.so.1", ec)) {
      return root / "faketime" / "libfaketimeMT.so.1";
    }
    if (plain.empty() && fs::exists(root / "faketime" / "libfaketime.so.1", ec)) {
      plain = root / "faketime" / "libfaketime.so.1";
    }
  }
  return plain;
}

void write_faketime_offset(const fs::path& file, double offset_s) {
  char text[64];
  if (offset_s == std::floor(offset_s)) {
    std::snprintf(text, sizeof text, "%+.0f\n", offset_s);
  } else {
    std::snprintf(text, sizeof text, "%+.3f\n", offset_s);
  }
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot write \"" + tmp.string() + "\"");
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    throw std::runtime_error("cannot rename \"" + tmp.string() + "\" to \"" + file.string() +
                             "\": " + ec.message());
  }
}

std::string delete_db(const fs::path& db, bool sidecars) {
  std::string done;
  std::vector<fs::path> files = {db};
  if (sidecars) {
    files.emplace_back(db.string() + "-wal");
    files.emplace_back(db.string() + "-shm");
  }
  for (const fs::path& file : files) {
    std::error_code ec;
    if (!done.empty()) done += "; ";
    if (fs::remove(file, ec)) {
      done += "unlinked " + file.string();
    } else if (ec) {
      done += "could not unlink " + file.string() + ": " + ec.message();
    } else {
      done += file.string() + " did not exist";
    }
  }
  return done;
}

std::string replace_db(const fs::path& db) {
  const fs::path tmp = db.string() + ".replacement";
  std::error_code ec;
  fs::remove(tmp, ec);
  sqlite3* handle = nullptr;
  const std::string uri = sqlite_uri(tmp, "");
  int rc = sqlite3_open_v2(uri.c_str(), &handle,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nullptr);
  if (rc == SQLITE_OK) {
    // Writing the header makes it a real (empty) database rather than a 0-byte file.
    rc = sqlite3_exec(handle, "PRAGMA user_version = 1", nullptr, nullptr, nullptr);
  }
  const std::string why = handle != nullptr ? sqlite3_errmsg(handle) : "out of memory";
  sqlite3_close_v2(handle);
  if (rc != SQLITE_OK) {
    throw std::runtime_error("cannot create the replacement database \"" + tmp.string() +
                             "\": " + why);
  }
  fs::rename(tmp, db, ec);
  if (ec) {
    throw std::runtime_error("cannot rename \"" + tmp.string() + "\" over \"" + db.string() +
                             "\": " + ec.message());
  }
  return "replaced " + db.string() + " with a new empty SQLite database";
}

ReadonlyBind::ReadonlyBind(const fs::path& dir) : dir_(dir) {
  if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    throw std::runtime_error("cannot bind-mount \"" + dir.string() +
                             "\" onto itself: " + std::generic_category().message(errno) +
                             " (needs root or CAP_SYS_ADMIN)");
  }
  mounted_ = true;
  if (::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
    const std::string why = std::generic_category().message(errno);
    undo();
    throw std::runtime_error("cannot remount \"" + dir.string() + "\" read-only: " + why);
  }
}

ReadonlyBind::~ReadonlyBind() { undo(); }

std::string ReadonlyBind::undo() {
  if (!mounted_) return "";
  if (::umount2(dir_.c_str(), 0) != 0) {
    const std::string why = std::generic_category().message(errno);
    // Busy (a file is open through the bind): detach it instead.
    if (::umount2(dir_.c_str(), MNT_DETACH) != 0) {
      return "cannot unmount \"" + dir_.string() + "\": " + why;
    }
  }
  mounted_ = false;
  return "";
}

}  // namespace pjx::harness
