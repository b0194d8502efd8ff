// Fuzz target: the pjx-worker protocol line codec (harness/worker/protocol.hpp),
// which reads every line the harness (or a person) writes to a worker.
//
// Properties, on every input (one line; the input is cut at the first '\n'):
//   * parse_line never throws; a BadLine has a message;
//   * an Op's fields re-serialise with format_event as exactly one line of
//     valid UTF-8 that parses back to an Op with the same name and id;
//   * parse_keys either returns or throws std::invalid_argument;
//   * format_event of an event quoting the raw input (as an error message
//     quoting a path would) is one line of valid JSON.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_support.hpp"
#include "protocol.hpp"

namespace {

using pjx::harness::BadLine;
using pjx::harness::Op;

void check_one_line(const std::string& line) {
  PJX_FUZZ_CHECK(!line.empty() && line.back() == '\n', "an event line ends in newline");
  PJX_FUZZ_CHECK(line.find('\n') == line.size() - 1, "an event is exactly one line");
  const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  PJX_FUZZ_CHECK(!parsed.is_discarded(), "an event line is valid JSON (so valid UTF-8)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  if (const auto nl = line.find('\n'); nl != std::string_view::npos) line = line.substr(0, nl);

  (void)pjx::harness::is_blank(line);
  const pjx::harness::ParsedLine parsed = pjx::harness::parse_line(line);
  if (const auto* bad = std::get_if<BadLine>(&parsed)) {
    PJX_FUZZ_CHECK(!bad->message.empty(), "a BadLine says what is wrong");
  } else {
    const Op& op = std::get<Op>(parsed);
    PJX_FUZZ_CHECK(line.find('\0') == std::string_view::npos,
                   "a line holding a NUL byte is a BadLine (the parser would stop there)");
    PJX_FUZZ_CHECK(!(op.id && !op.id_error.empty()), "an id is either read or refused");
    const std::string again = pjx::harness::format_event(op.fields);
    check_one_line(again);
    const pjx::harness::ParsedLine reparsed =
        pjx::harness::parse_line(std::string_view(again).substr(0, again.size() - 1));
    const Op* op2 = std::get_if<Op>(&reparsed);
    PJX_FUZZ_CHECK(op2 != nullptr, "a re-serialised op parses");
    PJX_FUZZ_CHECK(op2->name == op.name && op2->id == op.id && op2->id_error == op.id_error,
                   "a re-serialised op keeps its name and id");
    try {
      const pjx::KeySet keys = pjx::harness::parse_keys(op.fields);
      (void)keys;
    } catch (const std::invalid_argument& e) {
      PJX_FUZZ_CHECK(std::string_view(e.what()).size() > 0, "a keys refusal says why");
    }
  }

  // An error event quoting arbitrary bytes (a raw path) stays one JSON line.
  nlohmann::json event = pjx::harness::make_event("error", 1);
  event["message"] = std::string(line);
  check_one_line(pjx::harness::format_event(event));
  return 0;
}
