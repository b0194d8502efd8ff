#include "check/history.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "check/history_builder_for_test.hpp"
#include "temp_dir.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

using pjx::testing::TempDir;

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The message of the std::runtime_error `fn` throws, or "" when it throws none.
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(HistoryWriter, WritesOneFlushedLinePerRecordAndKeepsThemInMemory) {
  TempDir dir;
  HistoryWriter writer(dir.path() / "h.jsonl");
  writer.append({{"type", "meta"}, {"t", 1}, {"scenario", "s"}});
  // Flushed: another reader sees the line before the writer goes away.
  EXPECT_EQ(read_file(dir.path() / "h.jsonl"), "{\"scenario\":\"s\",\"t\":1,\"type\":\"meta\"}\n");
  writer.append({{"type", "note"}, {"t", 2}, {"message", "hello"}});
  ASSERT_EQ(writer.records().size(), 2u);
  EXPECT_EQ(writer.records()[1]["message"], "hello");
  EXPECT_EQ(writer.path(), dir.path() / "h.jsonl");
}

TEST(HistoryWriter, TruncatesAnExistingFile) {
  TempDir dir;
  write_file(dir.path() / "h.jsonl", "old content\n");
  HistoryWriter writer(dir.path() / "h.jsonl");
  EXPECT_EQ(read_file(dir.path() / "h.jsonl"), "");
}

TEST(HistoryWriter, RejectsRecordsWithoutTypeOrIntegerTimeAndWritesNothing) {
  TempDir dir;
  HistoryWriter writer(dir.path() / "h.jsonl");
  EXPECT_THROW(writer.append({{"t", 1}}), std::invalid_argument);
  EXPECT_THROW(writer.append({{"type", "meta"}}), std::invalid_argument);
  EXPECT_THROW(writer.append({{"type", "meta"}, {"t", 1.5}}), std::invalid_argument);
  EXPECT_THROW(writer.append(Json::array({1, 2})), std::invalid_argument);
  EXPECT_TRUE(writer.records().empty());
  EXPECT_EQ(read_file(dir.path() / "h.jsonl"), "");
}

TEST(HistoryWriter, NamesThePathWhenItCannotCreateTheFile) {
  TempDir dir;
  const fs::path file = dir.path() / "missing-dir" / "h.jsonl";
  const std::string message = error_of([&] { HistoryWriter writer(file); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
}

TEST(HistoryWriter, RoundTripsThroughLoadHistory) {
  TempDir dir;
  const std::vector<Json> history = testing::HistoryBuilder({"fanout"})
                                        .start_workers({"w0", "w1"})
                                        .fan(100, "w0", 1, 20)
                                        .probe(200, "sidecars", {{"wal", true}, {"shm", true}})
                                        .fault(300, "clock_step", "instant")
                                        .finish(400)
                                        .build();
  {
    HistoryWriter writer(dir.path() / "h.jsonl");
    for (const Json& record : history) writer.append(record);
    EXPECT_EQ(writer.records(), history);
  }
  EXPECT_EQ(load_history(dir.path() / "h.jsonl"), history);
}

TEST(LoadHistory, IgnoresBlankLines) {
  TempDir dir;
  write_file(dir.path() / "h.jsonl",
             "{\"type\":\"meta\",\"t\":0}\n\n{\"type\":\"note\",\"t\":5,\"message\":\"m\"}\n\n");
  const auto records = load_history(dir.path() / "h.jsonl");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["t"], 5);
}

TEST(LoadHistory, NamesFileAndLineOfALineThatIsNotJson) {
  TempDir dir;
  const fs::path file = dir.path() / "h.jsonl";
  write_file(file, "{\"type\":\"meta\",\"t\":0}\n{\"type\":\"note\",\"t\":1}\n{\"type\":\"no");
  const std::string message = error_of([&] { load_history(file); });
  EXPECT_NE(message.find(file.string() + ":3:"), std::string::npos) << message;
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
}

TEST(LoadHistory, NamesFileAndLineOfARecordWithoutIntegerTime) {
  TempDir dir;
  const fs::path file = dir.path() / "h.jsonl";
  write_file(file, "{\"type\":\"meta\",\"t\":0}\n{\"type\":\"note\",\"t\":\"soon\"}\n");
  const std::string message = error_of([&] { load_history(file); });
  EXPECT_NE(message.find(file.string() + ":2:"), std::string::npos) << message;
  EXPECT_NE(message.find("integer \"t\""), std::string::npos) << message;
}

TEST(LoadHistory, RequiresMetaFirst) {
  TempDir dir;
  const fs::path file = dir.path() / "h.jsonl";
  write_file(file,
             "{\"type\":\"phase\",\"t\":0,\"name\":\"setup\"}\n{\"type\":\"meta\",\"t\":1}\n");
  const std::string message = error_of([&] { load_history(file); });
  EXPECT_NE(message.find(file.string() + ":1:"), std::string::npos) << message;
  EXPECT_NE(message.find("\"meta\""), std::string::npos) << message;
}

TEST(LoadHistory, RejectsAnEmptyFileAndAMissingFile) {
  TempDir dir;
  write_file(dir.path() / "empty.jsonl", "\n");
  std::string message = error_of([&] { load_history(dir.path() / "empty.jsonl"); });
  EXPECT_NE(message.find("empty history"), std::string::npos) << message;
  message = error_of([&] { load_history(dir.path() / "absent.jsonl"); });
  EXPECT_NE(message.find("absent.jsonl"), std::string::npos) << message;
}

TEST(MonotonicNs, NeverGoesBackwards) {
  const std::int64_t a = monotonic_ns();
  const std::int64_t b = monotonic_ns();
  EXPECT_GT(a, 0);
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace pjx::harness
