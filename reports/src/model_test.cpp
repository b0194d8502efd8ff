#include "model.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "test_util.hpp"

namespace pjx::reports {
namespace {

using testing::TempDir;
using testing::testdata;
using testing::write_file;

// Runs `f`, expecting a runtime_error whose message contains every part.
template <typename F>
void expect_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message: " << e.what() << "\nmissing: " << part;
    }
  }
}

const char* kMinimalHistory = R"({"type":"meta","t":100,"scenario":"s","workers":[]})"
                              "\n";

TEST(LoadResults, ReadsTheTestDataWithHistories) {
  const auto docs = load_results_file(testdata() / "results.json");
  ASSERT_EQ(docs.size(), 1u);
  const ResultsDoc& d = docs.front();
  EXPECT_FALSE(d.is_bench);
  EXPECT_EQ(d.tool, "pjx-harness");
  EXPECT_EQ(d.seed, "1");
  ASSERT_EQ(d.scenarios.size(), 5u);
  EXPECT_EQ(d.scenarios[0].verdict, Verdict::kPass);
  EXPECT_EQ(d.scenarios[1].verdict, Verdict::kReproduced);
  EXPECT_EQ(d.scenarios[2].verdict, Verdict::kFail);
  EXPECT_EQ(d.scenarios[3].verdict, Verdict::kSkip);
  EXPECT_EQ(d.scenarios[4].verdict, Verdict::kError);
  ASSERT_TRUE(d.scenarios[0].history);
  EXPECT_EQ(d.scenarios[0].history->records.front().at("type"), "meta");
  EXPECT_FALSE(d.scenarios[3].history);
  EXPECT_FALSE(d.scenarios[3].note.empty());
}

TEST(LoadResults, ReadsABenchDocument) {
  const auto docs = load_results_file(testdata() / "bench.json");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_TRUE(docs.front().is_bench);
  ASSERT_FALSE(docs.front().runs.empty());
  EXPECT_EQ(docs.front().runs.front().bench, "latency");
}

TEST(LoadResults, ReadsAnArrayOfDocuments) {
  TempDir dir;
  write_file(dir.path() / "merged.json",
             R"([{"scenarios":[]},{"kind":"bench","runs":[{"bench":"idle"}]}])");
  const auto docs = load_results_file(dir.path() / "merged.json");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_FALSE(docs[0].is_bench);
  EXPECT_TRUE(docs[1].is_bench);
}

TEST(LoadResults, NamesTheFileWhenItIsMissing) {
  TempDir dir;
  expect_error([&] { load_results_file(dir.path() / "nope.json"); }, {"nope.json", "cannot read"});
}

TEST(LoadResults, NamesTheFileWhenJsonIsInvalid) {
  TempDir dir;
  write_file(dir.path() / "bad.json", "{\"scenarios\": [");
  expect_error([&] { load_results_file(dir.path() / "bad.json"); }, {"bad.json", "not valid JSON"});
}

TEST(LoadResults, RejectsAnUnknownVerdictNamingTheScenario) {
  TempDir dir;
  write_file(dir.path() / "r.json", R"({"scenarios":[{"name":"s1","verdict":"maybe"}]})");
  expect_error([&] { load_results_file(dir.path() / "r.json"); },
               {"r.json", "scenario #1", "\"s1\"", "maybe", "pass, fail, skip, error, reproduced"});
}

TEST(LoadResults, RejectsAScenarioWithoutName) {
  TempDir dir;
  write_file(dir.path() / "r.json", R"({"scenarios":[{"verdict":"pass"}]})");
  expect_error([&] { load_results_file(dir.path() / "r.json"); }, {"r.json", "missing \"name\""});
}

TEST(LoadResults, RejectsAResultsFileWithoutScenarios) {
  TempDir dir;
  write_file(dir.path() / "r.json", R"({"tool":"pjx-harness"})");
  expect_error([&] { load_results_file(dir.path() / "r.json"); }, {"r.json", "\"scenarios\""});
}

TEST(LoadResults, NamesAMissingHistoryFile) {
  TempDir dir;
  write_file(dir.path() / "r.json",
             R"({"scenarios":[{"name":"s","verdict":"pass","history":"h/s.history.jsonl"}]})");
  expect_error([&] { load_results_file(dir.path() / "r.json"); },
               {"r.json", "\"s\"", "s.history.jsonl", "cannot read history"});
}

TEST(LoadResults, ResolvesHistoriesAgainstTheResultsFileDirectory) {
  TempDir dir;
  write_file(dir.path() / "run/h/s.history.jsonl", kMinimalHistory);
  write_file(dir.path() / "run/r.json",
             R"({"scenarios":[{"name":"s","verdict":"pass","history":"h/s.history.jsonl"}]})");
  const auto docs = load_results_file(dir.path() / "run/r.json");
  ASSERT_TRUE(docs.front().scenarios.front().history);
  EXPECT_EQ(docs.front().scenarios.front().history->bytes, kMinimalHistory);
}

TEST(LoadHistory, NamesTheLineOfABadRecord) {
  TempDir dir;
  write_file(dir.path() / "h.jsonl", std::string(kMinimalHistory) + "{\"type\":\"op\",\"t\":5}\n{oops\n");
  expect_error([&] { load_history(dir.path() / "h.jsonl"); }, {"h.jsonl", "line 3", "not valid JSON"});
}

TEST(LoadHistory, RequiresTypeAndIntegerTime) {
  TempDir dir;
  write_file(dir.path() / "h.jsonl", std::string(kMinimalHistory) + "{\"type\":\"op\"}\n");
  expect_error([&] { load_history(dir.path() / "h.jsonl"); }, {"h.jsonl", "line 2", "\"t\""});
}

TEST(LoadHistory, RequiresMetaFirst) {
  TempDir dir;
  write_file(dir.path() / "h.jsonl", "{\"type\":\"phase\",\"t\":1,\"name\":\"setup\"}\n");
  expect_error([&] { load_history(dir.path() / "h.jsonl"); }, {"h.jsonl", "line 1", "meta"});
}

TEST(LoadHistory, SkipsBlankLines) {
  TempDir dir;
  write_file(dir.path() / "h.jsonl", std::string(kMinimalHistory) + "\n\n{\"type\":\"note\",\"t\":7}\n");
  EXPECT_EQ(load_history(dir.path() / "h.jsonl").records.size(), 2u);
}

TEST(Verdicts, ParseTheFiveNamesAndNothingElse) {
  for (const char* name : {"pass", "fail", "skip", "error", "reproduced"}) {
    const auto v = parse_verdict(name);
    ASSERT_TRUE(v) << name;
    EXPECT_EQ(verdict_name(*v), name);
  }
  EXPECT_FALSE(parse_verdict("PASS"));
  EXPECT_FALSE(parse_verdict(""));
}

}  // namespace
}  // namespace pjx::reports
