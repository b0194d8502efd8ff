// Line-level codec of the pjx-worker protocol (harness/PROTOCOL.md): parses
// one line of ops written by the harness and formats one line of events
// written by a worker.
//
// Contract: parse_line() never throws; anything that is not a JSON object
// with a string "op" comes back as a BadLine whose message says what is
// wrong. format_event() never throws and always returns exactly one line of
// valid UTF-8 JSON ending in '\n' (bytes that are not UTF-8 are replaced by
// U+FFFD, so an error message quoting a raw path cannot break the stream).
//
// Thread safety: every function is reentrant; no shared state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "pjx/invalidation_backend.hpp"

namespace pjx::harness {

// One op read from the harness.
struct Op {
  std::string name;                // the "op" field
  std::optional<std::int64_t> id;  // the "id" field, when it is a (64-bit) integer
  std::string id_error;            // set when "id" is present but not such an integer
  nlohmann::json fields;           // the whole object, for op-specific fields
};

// A line that is not an op at all.
struct BadLine {
  std::string message;
};

using ParsedLine = std::variant<Op, BadLine>;

// Parses one line, without its '\n' (a trailing '\r' is tolerated).
ParsedLine parse_line(std::string_view line);

// True for a line of only whitespace, which workers ignore.
bool is_blank(std::string_view line);

// Reads the "keys" field of `fields`: it must be an array of strings.
// Duplicates collapse. Throws std::invalid_argument naming the problem.
KeySet parse_keys(const nlohmann::json& fields);

// An event object {"ev": ev} with "t" when `t` is given.
nlohmann::json make_event(std::string_view ev, std::optional<std::int64_t> t = std::nullopt);

// Serialises `event` as one line terminated by '\n' (UTF-8, not ASCII-escaped).
std::string format_event(const nlohmann::json& event);

// CLOCK_MONOTONIC now, in integer nanoseconds: the `t` of every event.
std::int64_t monotonic_ns() noexcept;

}  // namespace pjx::harness
