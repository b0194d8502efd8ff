// History: the append-only record of one scenario run (harness/HISTORY.md).
//
// One JSON object per line, in the order the harness observed things. Every
// record has a string `type` and an integer `t` (CLOCK_MONOTONIC nanoseconds);
// the first record of a saved history is always `meta`. Checkers and reports
// read only histories, so a saved run can be re-checked later.
//
// Thread safety: HistoryWriter has one writer by design (the runner thread);
// it is not safe to call append() from several threads. load_history() and
// monotonic_ns() are safe to call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace pjx::harness {

using Json = nlohmann::json;

// CLOCK_MONOTONIC in nanoseconds: the clock of every `t` in a history, shared
// by all processes of one host.
std::int64_t monotonic_ns();

// Writes a history file as the run goes: each append() writes one line and
// flushes, so a crash of the harness leaves every record appended so far.
// The records are also kept in memory, in append order, for the checkers.
class HistoryWriter {
 public:
  // Creates `file` (truncating an existing one). Throws std::runtime_error
  // naming the path and the system's reason when it cannot be opened.
  explicit HistoryWriter(std::filesystem::path file);

  HistoryWriter(const HistoryWriter&) = delete;
  HistoryWriter& operator=(const HistoryWriter&) = delete;

  // REQUIRES: `record` is an object with a string "type" and an integer "t"
  // (else std::invalid_argument, and nothing is written). Throws
  // std::runtime_error naming the path if the line cannot be written; the
  // record is then not kept either. Strings that are not valid UTF-8 are
  // written with U+FFFD in place of the bad bytes (the in-memory record keeps
  // them as given).
  void append(Json record);

  const std::vector<Json>& records() const { return records_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  std::vector<Json> records_;
};

// Reads a saved history. Blank lines are ignored. Throws std::runtime_error
// naming the file and the line number for a line that is not a JSON object
// with a string "type" and an integer "t", when the first record is not
// `meta`, and when the file cannot be read or holds no record.
std::vector<Json> load_history(const std::filesystem::path& file);

}  // namespace pjx::harness
