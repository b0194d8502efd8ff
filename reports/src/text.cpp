#include "text.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <system_error>

namespace pjx::reports {
namespace {

// Bytes XML 1.0 cannot carry, even as character references.
bool is_forbidden_xml_control(unsigned char c) {
  return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
}

}  // namespace

std::string html_escape(std::string_view text) { return xml_escape(text, false); }

std::string xml_escape(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_forbidden_xml_control(byte)) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";  // not &apos;, which HTML 4 lacks
        break;
      case '\t':
        out += attribute ? "&#9;" : "\t";
        break;
      case '\n':
        out += attribute ? "&#10;" : "\n";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string md_cell(std::string_view text) {
  static constexpr std::string_view kSpecial = "\\`*_[]<>|&#~!";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      out += ' ';
    } else if (kSpecial.find(c) != std::string_view::npos) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string md_code(std::string_view text, bool in_table) {
  std::string body;
  std::size_t longest_run = 0;
  std::size_t run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest_run = std::max(longest_run, run);
    if (c == '\n' || c == '\r' || c == '\t') {
      body += ' ';
    } else if (c == '|' && in_table) {
      body += "\\|";  // GFM removes the backslash before splitting cells, even in code spans
    } else {
      body += c;
    }
  }
  if (body.empty()) return "";
  const std::string fence(longest_run + 1, '`');
  // A space on each side keeps a leading or trailing backtick off the fence.
  const bool pad = body.front() == '`' || body.back() == '`';
  return fence + (pad ? " " : "") + body + (pad ? " " : "") + fence;
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) value = 0.0;  // drops the sign of -0
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc{}) return "?";
  return std::string(buf.data(), end);
}

std::string format_fixed(double value, int decimals) {
  if (!std::isfinite(value)) return format_number(value);
  std::array<char, 128> buf{};
  const auto [end, ec] =
      std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::fixed, decimals);
  if (ec != std::errc{}) return format_number(value);
  std::string out(buf.data(), end);
  // "-0", "-0.0", ... read as zero.
  if (out.front() == '-' && out.find_first_not_of("-0.") == std::string::npos) out.erase(0, 1);
  return out;
}

std::string format_significant(double value, int digits) {
  if (!std::isfinite(value)) return format_number(value);
  if (value == 0) return "0";
  const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  int decimals = std::max(0, digits - 1 - magnitude);
  // Rounding can carry into the next power of ten (0.9996 -> 1.00): one place fewer then.
  const double scaled = std::round(std::fabs(value) * std::pow(10.0, decimals));
  if (decimals > 0 && scaled >= std::pow(10.0, digits)) --decimals;
  return format_fixed(value, decimals);
}

std::string json_text(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "";
    case nlohmann::json::value_t::string:
      return value.get<std::string>();
    case nlohmann::json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case nlohmann::json::value_t::number_integer:
      return std::to_string(value.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return std::to_string(value.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float:
      return format_number(value.get<double>());
    default:
      return value.dump();
  }
}

}  // namespace pjx::reports
