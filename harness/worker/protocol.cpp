// Line codec of the pjx-worker protocol: see protocol.hpp.
#include "protocol.hpp"

#include <time.h>

#include <limits>
#include <stdexcept>
#include <string>

namespace pjx::harness {

using nlohmann::json;

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

ParsedLine parse_line(std::string_view line) {
  // nlohmann::json stops reading at a NUL byte as if the input ended there,
  // which would accept `{"op":"stop"}<NUL>anything`: refuse it first.
  if (const std::size_t nul = line.find('\0'); nul != std::string_view::npos) {
    return BadLine{"not valid JSON: a NUL byte at byte " + std::to_string(nul) +
                   " (write it as \\u0000 inside a string)"};
  }
  json value;
  try {
    value = json::parse(line);
  } catch (const json::exception& e) {
    // parse_error, and also out_of_range for a number that overflows a
    // double (7E036854775807; found by fuzzing).
    return BadLine{std::string("not valid JSON: ") + e.what()};
  }
  if (!value.is_object()) {
    return BadLine{std::string("expected a JSON object with a string \"op\", got a ") +
                   value.type_name()};
  }
  const auto op_it = value.find("op");
  if (op_it == value.end()) return BadLine{"the object has no \"op\" field"};
  if (!op_it->is_string()) {
    return BadLine{std::string("\"op\" must be a string, got a ") + op_it->type_name()};
  }
  Op op;
  op.name = op_it->get<std::string>();
  if (const auto id_it = value.find("id"); id_it != value.end()) {
    if (id_it->is_number_unsigned()) {
      const auto id = id_it->get<std::uint64_t>();
      if (id > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        op.id_error = "\"id\" " + id_it->dump() + " does not fit a signed 64-bit integer";
      } else {
        op.id = static_cast<std::int64_t>(id);
      }
    } else if (id_it->is_number_integer()) {
      op.id = id_it->get<std::int64_t>();
    } else {
      op.id_error = "\"id\" must be an integer, got " + id_it->dump();
    }
  }
  op.fields = std::move(value);
  return op;
}

KeySet parse_keys(const json& fields) {
  const auto it = fields.find("keys");
  if (it == fields.end()) {
    throw std::invalid_argument("missing \"keys\": send an array of strings");
  }
  if (!it->is_array()) {
    throw std::invalid_argument("\"keys\" must be an array of strings, got a " +
                                std::string(it->type_name()));
  }
  KeySet keys;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& key = (*it)[i];
    if (!key.is_string()) {
      throw std::invalid_argument("\"keys\"[" + std::to_string(i) + "] must be a string, got " +
                                  key.dump());
    }
    keys.insert(key.get<std::string>());
  }
  return keys;
}

json make_event(std::string_view ev, std::optional<std::int64_t> t) {
  json event = json::object();
  event["ev"] = ev;
  if (t) event["t"] = *t;
  return event;
}

std::string format_event(const json& event) {
  std::string line = event.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
  line += '\n';
  return line;
}

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace pjx::harness
