// The `keys_json` column: a JSON array of strings (WIRE.md).
//
// Writing (reference rule): compact JSON, keys sorted by the bytes of their
// UTF-8 encoding, non-ASCII written as UTF-8, only `"`, `\` and control
// characters escaped. Reading: any valid JSON, including upstream's
// `json.dumps` output (", " separators, \uXXXX escapes, surrogate pairs).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pjx/invalidation_backend.hpp"

namespace pjx::detail {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

// Encodes a key set. Throws std::invalid_argument naming the key (escaped)
// when a key is not valid UTF-8: upstream readers decode the column as UTF-8
// text and would fail on it.
std::string encode_keys(const KeySet& keys);

// Decodes a keys_json value. Returns nullopt when it is not JSON, not an
// array, or holds an element that is not a string; `why` then says which.
std::optional<KeySet> decode_keys(std::string_view json, std::string* why = nullptr);

// decode_keys with the full JSON parser only (a DOM): the reference the
// fast path below must agree with.
std::optional<KeySet> decode_keys_full(std::string_view json, std::string* why = nullptr);

// decode_keys' fast path, exposed for the fuzzer and tests: the keys of a
// JSON array of strings without escapes or control characters (valid UTF-8
// only), decoded without building a DOM; nullopt for anything else, which
// then says nothing about whether the text is valid.
std::optional<KeySet> decode_plain_keys(std::string_view json);

}  // namespace pjx::detail
