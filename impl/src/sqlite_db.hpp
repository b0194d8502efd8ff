// Thin RAII wrappers over the SQLite C API, private to the library.
//
// Every failure throws BackendError carrying the extended result code and a
// message naming the database and the statement. Values are always bound
// (bind()); SQL text is compile-time constant. A Connection and its
// Statements are used by one thread at a time (opened with NOMUTEX).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pjx::detail {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, std::string_view sql, const std::string& db_name);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  // Steps once: true when a row is available, false when done.
  bool step();
  // Resets and clears bindings; ends the statement's implicit transaction.
  void reset() noexcept;

  std::int64_t column_int64(int col) const;
  double column_double(int col) const;
  std::string_view column_text(int col) const;
  bool column_is_null(int col) const;

 private:
  [[noreturn]] void fail(int rc, const char* what) const;
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
  std::string db_name_;
};

// Called with the number of retries so far; returns false to give up.
using BusyHandler = std::function<bool(int retries)>;

class Connection {
 public:
  // Opens read-write, creating the file if missing. Throws BackendError.
  // `vfs` names a registered sqlite3_vfs; empty means the default one.
  Connection(const std::string& open_name, bool uri, std::string display_name,
             const std::string& vfs = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Executes constant SQL with no results.
  void exec(std::string_view sql);
  Statement prepare(std::string_view sql);
  // Runs a statement expected to return one integer (PRAGMA data_version, COUNT).
  std::int64_t query_int64(std::string_view sql);
  std::string query_text(std::string_view sql);

  void set_busy_handler(BusyHandler handler);
  sqlite3* raw() const noexcept { return db_; }
  const std::string& name() const noexcept { return name_; }
  bool in_transaction() const noexcept;

 private:
  static int busy_trampoline(void* self, int retries);
  sqlite3* db_ = nullptr;
  std::string name_;
  BusyHandler busy_;
};

// Builds the message of a failed call: "<what> on <db>: <errmsg> (<code name>)".
std::string describe_error(sqlite3* db, int rc, std::string_view what, const std::string& db_name);

}  // namespace pjx::detail
