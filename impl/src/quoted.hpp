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

}  // namespace pjx::detail
