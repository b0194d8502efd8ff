// Fuzz target: the keys_json column codec (impl/src/keys_json.hpp).
//
// Properties, on every input:
//   * decode_keys never throws; when it refuses, it says why;
//   * its path without a DOM (decode_plain_keys) accepts only what the full
//     parser accepts, with the same keys;
//   * an accepted value re-encodes (its keys are valid UTF-8, since JSON text
//     is), decodes back to the same set, and the encoding is canonical:
//     encoding is a fixed point of decode-then-encode;
//   * the input split at NUL bytes into keys: encode_keys throws
//     std::invalid_argument exactly when a key is not valid UTF-8, and
//     otherwise round-trips;
//   * is_valid_utf8 agrees with nlohmann's JSON string parser on byte strings
//     that need no escaping.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "keys_json.hpp"

namespace {

void check_round_trip(const pjx::KeySet& keys) {
  const std::string encoded = pjx::detail::encode_keys(keys);
  std::string why;
  const auto back = pjx::detail::decode_keys(encoded, &why);
  PJX_FUZZ_CHECK(back.has_value(), "encode_keys output decodes");
  PJX_FUZZ_CHECK(*back == keys, "decode(encode(keys)) == keys");
  PJX_FUZZ_CHECK(pjx::detail::encode_keys(*back) == encoded, "encoding is canonical");
  // Upstream readers use json.loads: the text must be a JSON array of strings.
  const auto parsed = nlohmann::json::parse(encoded, nullptr, false);
  PJX_FUZZ_CHECK(parsed.is_array() && parsed.size() == keys.size(), "encoding is a JSON array");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // 1. The input as a keys_json column value.
  std::string why;
  const auto decoded = pjx::detail::decode_keys(input, &why);
  if (decoded) {
    for (const auto& key : *decoded) {
      PJX_FUZZ_CHECK(pjx::detail::is_valid_utf8(key), "decoded keys are valid UTF-8");
    }
    check_round_trip(*decoded);
    PJX_FUZZ_CHECK(input.find('\0') == std::string_view::npos,
                   "a value holding a NUL byte is refused (the parser would stop there)");
  } else {
    PJX_FUZZ_CHECK(!why.empty(), "a refusal says why");
  }

  // 1b. The path without a DOM takes only what the full parser takes, with
  // the same keys.
  if (const auto plain = pjx::detail::decode_plain_keys(input)) {
    PJX_FUZZ_CHECK(plain == pjx::detail::decode_keys_full(input),
                   "the plain path agrees with the full parser");
  }

  // 2. The input as raw keys (split at NUL bytes).
  pjx::KeySet raw;
  bool all_utf8 = true;
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= input.size(); ++i) {
    if (i == input.size() || input[i] == '\0') {
      const std::string key(input.substr(begin, i - begin));
      all_utf8 = all_utf8 && pjx::detail::is_valid_utf8(key);
      raw.insert(key);
      begin = i + 1;
    }
  }
  if (all_utf8) {
    check_round_trip(raw);
  } else {
    bool threw = false;
    try {
      (void)pjx::detail::encode_keys(raw);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    PJX_FUZZ_CHECK(threw, "encode_keys refuses a key that is not UTF-8");
  }

  // 3. Differential: is_valid_utf8 against nlohmann's string parser, on
  // bytes that a JSON string may hold unescaped.
  bool plain = true;
  for (const char ch : input) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\') plain = false;
  }
  if (plain) {
    const auto parsed = nlohmann::json::parse("\"" + std::string(input) + "\"", nullptr,
                                              /*allow_exceptions=*/false);
    PJX_FUZZ_CHECK(parsed.is_discarded() != pjx::detail::is_valid_utf8(input),
                   "is_valid_utf8 agrees with the JSON parser");
  }
  return 0;
}
