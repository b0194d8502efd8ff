// Showing user-supplied text in error messages exactly as it was given.
#pragma once

#include <string>
#include <string_view>

namespace pjx::detail {

// `value` with quotes and backslashes escaped and control bytes as \xNN (a
// NUL would otherwise end what(), a newline would split a log line).
inline std::string escaped(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

// escaped(value) in double quotes.
inline std::string quoted(std::string_view value) { return '"' + escaped(value) + '"'; }

// escaped(value), cut after `limit` bytes with a note of the whole size, for
// messages that show a payload of any length (a 1,000-key event).
inline std::string abbreviated(std::string_view value, std::size_t limit) {
  if (value.size() <= limit) return escaped(value);
  return escaped(value.substr(0, limit)) + "... (" + std::to_string(value.size()) + " bytes in all)";
}

}  // namespace pjx::detail
