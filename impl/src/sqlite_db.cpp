#include "sqlite_db.hpp"

#include <utility>

#include "pjx/errors.hpp"

namespace pjx::detail {

std::string describe_error(sqlite3* db, int rc, std::string_view what, const std::string& db_name) {
  std::string message(what);
  message += " on \"" + db_name + "\": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  message += " (";
  message += sqlite3_errstr(rc);
  message += ", code " + std::to_string(rc) + ")";
  return message;
}

Statement::Statement(sqlite3* db, std::string_view sql, const std::string& db_name)
    : db_(db), db_name_(db_name) {
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    throw BackendError(describe_error(db, rc, "preparing \"" + std::string(sql) + "\"", db_name),
                       sqlite3_extended_errcode(db));
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_(other.db_),
      db_name_(std::move(other.db_name_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
    db_name_ = std::move(other.db_name_);
  }
  return *this;
}

void Statement::fail(int rc, const char* what) const {
  const int code = sqlite3_extended_errcode(db_);
  std::string message = describe_error(db_, rc, what, db_name_);
  if (const char* sql = sqlite3_sql(stmt_)) message += " in \"" + std::string(sql) + "\"";
  throw BackendError(message, code != 0 ? code : rc);
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (const int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) fail(rc, "binding");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (const int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK) fail(rc, "binding");
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(rc, "binding");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Reset here so the failed statement does not hold its read transaction.
  sqlite3_reset(stmt_);
  fail(rc, "running a statement");
}

void Statement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::column_double(int col) const { return sqlite3_column_double(stmt_, col); }

std::string_view Statement::column_text(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(size)};
}

bool Statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Connection::Connection(const std::string& open_name, bool uri, std::string display_name,
                       const std::string& vfs)
    : name_(std::move(display_name)) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (uri) flags |= SQLITE_OPEN_URI;
  const int rc = sqlite3_open_v2(open_name.c_str(), &db_, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string message = describe_error(db_, rc, "opening the database", name_);
    const int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw BackendError(message, code);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Connection::~Connection() { sqlite3_close_v2(db_); }

void Connection::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) {
    throw BackendError(describe_error(db_, rc, "running \"" + text + "\"", name_),
                       sqlite3_extended_errcode(db_));
  }
}

Statement Connection::prepare(std::string_view sql) { return Statement(db_, sql, name_); }

std::int64_t Connection::query_int64(std::string_view sql) {
  Statement stmt = prepare(sql);
  return stmt.step() ? stmt.column_int64(0) : 0;
}

std::string Connection::query_text(std::string_view sql) {
  Statement stmt = prepare(sql);
  return stmt.step() ? std::string(stmt.column_text(0)) : std::string();
}

void Connection::set_busy_handler(BusyHandler handler) {
  busy_ = std::move(handler);
  sqlite3_busy_handler(db_, busy_ ? &Connection::busy_trampoline : nullptr, this);
}

int Connection::busy_trampoline(void* self, int retries) {
  return static_cast<Connection*>(self)->busy_(retries) ? 1 : 0;
}

bool Connection::in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace pjx::detail
