// Error types of pjx-inval.
//
// ConfigError: a value the caller supplied (path, option, environment
// variable) cannot work. Thrown at construction, before anything is written.
// The message names the offending value and says how to fix it.
//
// BackendError: an operation on a correctly configured backend failed at
// run time (the database is locked past the busy timeout, an I/O error, the
// disk is full). The message names the database and the SQLite error; code()
// is the SQLite extended result code, or 0 when the failure did not come from
// SQLite. Nothing is partially written when a BackendError escapes publish().
#pragma once

#include <stdexcept>
#include <string>

namespace pjx {

class ConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class BackendError : public std::runtime_error {
 public:
  BackendError(const std::string& message, int code)
      : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace pjx
