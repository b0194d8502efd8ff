#include "backend_context.hpp"

#include <cstdio>
#include <random>
#include <utility>

namespace pjx::detail {
namespace {

std::string new_instance_id() {
  std::random_device rd;
  std::uint64_t hi = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  std::uint64_t lo = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return text;
}

// The options first (their messages name the option), then the path.
DbLocation checked_location(const std::string& db_path, const SqliteOptions& options) {
  validate(options);
  return check_db_path(db_path, options.filesystem_type, options.allow_network_filesystem);
}

}  // namespace

BackendContext::BackendContext(std::string path, SqliteOptions opts)
    : db_path(std::move(path)),
      options(std::move(opts)),
      clock(options.clock ? options.clock : Clock::system()),
      instance_id(new_instance_id()),
      location(checked_location(db_path, options)),
      warnings(options.on_warning) {}

void BackendContext::record_error(const std::string& message) {
  std::lock_guard lock(error_mu_);
  last_error_ = message;
}

std::string BackendContext::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

std::string seconds_text(Seconds s) {
  char text[64];
  std::snprintf(text, sizeof text, "%g s", s.count());
  return text;
}

}  // namespace pjx::detail
