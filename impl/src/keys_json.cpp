#include "keys_json.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace pjx::detail {

bool is_valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

namespace {

std::string printable(std::string_view key) {
  std::string out;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

void append_escaped(std::string& out, std::string_view key) {
  out += '"';
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace

std::string encode_keys(const KeySet& keys) {
  std::string out = "[";
  std::size_t index = 0;
  for (const auto& key : keys) {
    if (!is_valid_utf8(key)) {
      throw std::invalid_argument("key #" + std::to_string(index) + " \"" + printable(key) +
                                  "\" is not valid UTF-8; keys are stored as JSON text that every "
                                  "worker (also upstream Python) must decode: pass UTF-8 strings");
    }
    if (index++ != 0) out += ',';
    append_escaped(out, key);
  }
  out += ']';
  return out;
}

namespace {

bool is_json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

// The plain case without a DOM: `[`, then strings of printable ASCII or
// UTF-8 without escapes separated by `,`, then `]`, with JSON whitespace
// anywhere between tokens. That is what our publishers (and upstream's for
// keys without non-ASCII or control characters) write. Anything else
// (escapes, control characters, invalid UTF-8, other JSON, malformed text)
// returns nullopt, and decode_keys hands it to the full parser, whose
// verdict and reasons stay the reference. The fuzzer (fuzz_keys_json)
// checks both paths agree.
std::optional<KeySet> decode_plain_keys(std::string_view json) {
  const char* p = json.data();
  const char* const end = p + json.size();
  const auto skip_space = [&] {
    while (p < end && is_json_space(*p)) ++p;
  };
  skip_space();
  if (p == end || *p != '[') return std::nullopt;
  ++p;
  skip_space();
  KeySet keys;
  if (p < end && *p == ']') {
    ++p;
  } else {
    for (;;) {
      if (p == end || *p != '"') return std::nullopt;
      const char* const start = ++p;
      bool ascii = true;
      while (p < end && *p != '"') {
        const auto c = static_cast<unsigned char>(*p);
        if (c < 0x20 || c == '\\') return std::nullopt;  // an escape or a raw control character
        ascii = ascii && c < 0x80;
        ++p;
      }
      if (p == end) return std::nullopt;
      const std::string_view key(start, static_cast<std::size_t>(p - start));
      if (!ascii && !is_valid_utf8(key)) return std::nullopt;
      ++p;
      skip_space();
      if (p == end || (*p != ',' && *p != ']')) return std::nullopt;
      const bool last = *p == ']';
      keys.emplace_hint(keys.end(), key);  // sorted input: appended in constant time
      ++p;
      if (last) break;
      skip_space();
    }
  }
  skip_space();
  if (p != end) return std::nullopt;
  return keys;
}

std::optional<KeySet> decode_keys(std::string_view json, std::string* why) {
  if (auto plain = decode_plain_keys(json)) return plain;
  return decode_keys_full(json, why);
}

std::optional<KeySet> decode_keys_full(std::string_view json, std::string* why) {
  // nlohmann::json stops reading at a NUL byte as if the input ended there,
  // which would accept `["a"]<NUL>anything` (upstream's json.loads refuses it).
  if (json.find('\0') != std::string_view::npos) {
    if (why) *why = "not valid JSON: it holds a NUL byte";
    return std::nullopt;
  }
  const auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    if (why) *why = "not valid JSON";
    return std::nullopt;
  }
  if (!parsed.is_array()) {
    if (why) *why = std::string("a JSON ") + parsed.type_name() + ", not an array";
    return std::nullopt;
  }
  KeySet keys;
  for (const auto& element : parsed) {
    if (!element.is_string()) {
      if (why) *why = std::string("an array holding a ") + element.type_name() + ", not only strings";
      return std::nullopt;
    }
    keys.insert(element.get<std::string>());
  }
  return keys;
}

}  // namespace pjx::detail
