#include "pjx/reports/report.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

#include "test_util.hpp"

namespace pjx::reports {
namespace {

namespace fs = std::filesystem;
using testing::count_of;
using testing::read_file;
using testing::TempDir;
using testing::testdata;
using testing::write_file;

const std::vector<std::string> kOutputs = {
    "index.html",
    "summary.md",
    "junit.xml",
    "results.json",
    "histories/latency-within-poll-interval.history.jsonl",
    "histories/stall-longer-than-retention.history.jsonl",
    "histories/no-lost-invalidations-under-faults.history.jsonl"};

std::vector<fs::path> both_inputs() {
  return {testdata() / "results.json", testdata() / "bench.json"};
}

TEST(WriteReport, WritesEveryOutputAndCopiesHistoriesByteForByte) {
  TempDir out;
  write_report(both_inputs(), out.path());
  for (const std::string& name : kOutputs) {
    ASSERT_TRUE(fs::exists(out.path() / name)) << name;
    EXPECT_GT(fs::file_size(out.path() / name), 0u) << name;
  }
  EXPECT_EQ(read_file(out.path() / "histories/stall-longer-than-retention.history.jsonl"),
            read_file(testdata() / "histories/stall-longer-than-retention.history.jsonl"));
}

TEST(WriteReport, IsDeterministic) {
  TempDir a;
  TempDir b;
  write_report(both_inputs(), a.path());
  write_report(both_inputs(), b.path() / "nested" / "dir");
  for (const std::string& name : kOutputs) {
    EXPECT_EQ(read_file(a.path() / name), read_file(b.path() / "nested" / "dir" / name)) << name;
  }
}

TEST(WriteReport, ReRenderingTheReportsOwnResultsGivesTheSamePages) {
  TempDir first;
  TempDir second;
  write_report({testdata() / "results.json"}, first.path());
  write_report({first.path() / "results.json"}, second.path());
  for (const std::string& name : kOutputs) {
    EXPECT_EQ(read_file(first.path() / name), read_file(second.path() / name)) << name;
  }
}

TEST(WriteReport, MergesSeveralInputsIntoOneResultsArray) {
  TempDir out;
  write_report(both_inputs(), out.path());
  const auto merged = nlohmann::json::parse(read_file(out.path() / "results.json"));
  ASSERT_TRUE(merged.is_array());
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[1].at("kind"), "bench");
  EXPECT_EQ(merged[0].at("scenarios")[1].at("history"),
            "histories/stall-longer-than-retention.history.jsonl");
}

TEST(WriteReport, GivesCollidingHistoryNamesDistinctFiles) {
  TempDir in;
  TempDir out;
  const std::string history = R"({"type":"meta","t":1})"
                              "\n";
  write_file(in.path() / "a/h/s.history.jsonl", history);
  write_file(in.path() / "b/h/s.history.jsonl", history + R"({"type":"note","t":2})"
                                                   "\n");
  const std::string results =
      R"({"scenarios":[{"name":"s","verdict":"pass","history":"h/s.history.jsonl"}]})";
  write_file(in.path() / "a/results.json", results);
  write_file(in.path() / "b/results.json", results);
  write_report({in.path() / "a/results.json", in.path() / "b/results.json"}, out.path());
  EXPECT_EQ(read_file(out.path() / "histories/s.history.jsonl"), read_file(in.path() / "a/h/s.history.jsonl"));
  EXPECT_EQ(read_file(out.path() / "histories/2-s.history.jsonl"), read_file(in.path() / "b/h/s.history.jsonl"));
}

TEST(Junit, CountsVerdictsAndCarriesTheEvidence) {
  TempDir out;
  write_report({testdata() / "results.json"}, out.path());
  const std::string xml = read_file(out.path() / "junit.xml");
  EXPECT_EQ(count_of(xml, "<testsuite "), 1u);
  EXPECT_EQ(count_of(xml, "<testcase "), 5u);
  EXPECT_EQ(count_of(xml, "classname=\"pjx.conformance\""), 5u);
  EXPECT_NE(xml.find("tests=\"5\" failures=\"1\" errors=\"1\" skipped=\"1\""), std::string::npos);
  EXPECT_EQ(count_of(xml, "<failure "), 1u);
  EXPECT_EQ(count_of(xml, "<error "), 1u);
  EXPECT_EQ(count_of(xml, "<skipped "), 1u);
  EXPECT_NE(xml.find("name=\"no-lost-invalidations-under-faults\" time=\"7.000\""),
            std::string::npos);
  EXPECT_NE(xml.find("w2 never received e:15 (published by w0 at 4.80 s) and did not flush"),
            std::string::npos);
  EXPECT_NE(xml.find("<skipped message=\"worker &#39;python3 -m pyjinhx_worker&#39; does not "
                     "list capability &#39;flush&#39;\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("REPRODUCED"), std::string::npos);
}

TEST(Junit, HasOneSuitePerResultsDocument) {
  TempDir out;
  write_report(both_inputs(), out.path());
  const std::string xml = read_file(out.path() / "junit.xml");
  EXPECT_EQ(count_of(xml, "<testsuite "), 2u);
  EXPECT_GT(count_of(xml, "classname=\"pjx.bench\""), 0u);
}

TEST(Summary, HasTheVerdictTableAndKeyFigures) {
  TempDir out;
  write_report({testdata() / "results.json"}, out.path());
  const std::string md = read_file(out.path() / "summary.md");
  EXPECT_NE(md.find("| Scenario | Guarantee | Verdict | Measured | Bound | Rerun |\n|---|---|"),
            std::string::npos);
  EXPECT_EQ(count_of(md, "\n| latency-within-poll-interval |"), 2u);  // verdicts + latency
  EXPECT_NE(md.find("| p50 ms | p99 ms | max ms | poll_interval ms |"), std::string::npos);
  EXPECT_NE(md.find("| stall-longer-than-retention | \U0001F501 reproduced | 3000 | 1000 | 4 |"),
            std::string::npos);
  EXPECT_NE(md.find("`pjx-harness run scenarios/conformance/latency.toml --seed 1 --timing quick`"),
            std::string::npos);
}

TEST(Html, HasTheVerdictTableAndThePlots) {
  TempDir out;
  write_report(both_inputs(), out.path());
  const std::string html = read_file(out.path() / "index.html");
  EXPECT_EQ(count_of(html, "<table id=\"verdicts\">"), 1u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot histogram\""), 1u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot cdf\""), 1u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot timeline\""), 2u);  // the stall and the faults
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-latency-modes\""), 1u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-latency-workers\""), 4u);  // p50, p99 x 2 polls
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-latency-poll\""), 3u);     // per worker count
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-throughput\""), 1u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-commit-latency\""), 1u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-growth\""), 2u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-idle-cpu\""), 1u);
  EXPECT_NE(html.find("poll_interval 50 ms"), std::string::npos);
  EXPECT_NE(html.find("pause window"), std::string::npos);
  EXPECT_NE(html.find("stale, never closed"), std::string::npos);
}

TEST(Html, ABenchOnlyPageLeadsWithTheSummaryAndHasNoVerdicts) {
  TempDir out;
  write_report({testdata() / "bench.json"}, out.path());
  const std::string html = read_file(out.path() / "index.html");
  EXPECT_EQ(html.find("id=\"verdicts\""), std::string::npos);
  EXPECT_EQ(html.find("No conformance results"), std::string::npos);
  EXPECT_EQ(count_of(html, "<tr class=\"run"), 37u);  // one summary row per run
  EXPECT_EQ(count_of(html, "<tr class=\"run worst\">"), 1u);
  EXPECT_EQ(count_of(html, "<tr class=\"run problem\">"), 1u);  // 2 deliveries missing
  EXPECT_NE(html.find("<dt>load before</dt><dd>0.40 0.35 0.30 (1, 5, 15 min)</dd>"),
            std::string::npos);
  EXPECT_NE(html.find("<dt>host stalls</dt><dd>2 (longest 104.2 ms, 121.5 ms in all)</dd>"),
            std::string::npos);
  EXPECT_LT(html.find("id=\"bench-summary-latency\""), html.find("<svg"));
  EXPECT_EQ(html.find("key = "), std::string::npos);  // no key = value blobs
}

TEST(Html, AConformanceOnlyPageHasNoBenchSections) {
  TempDir out;
  write_report({testdata() / "results.json"}, out.path());
  const std::string html = read_file(out.path() / "index.html");
  EXPECT_EQ(html.find("class=\"bench"), std::string::npos);
  EXPECT_EQ(html.find("class=\"plot bench"), std::string::npos);
  EXPECT_EQ(html.find("Benchmark"), std::string::npos);
}

TEST(Html, RendersABenchFileWrittenBeforeWakeModes) {
  TempDir out;
  write_report({testdata() / "bench-old.json"}, out.path());
  const std::string html = read_file(out.path() / "index.html");
  EXPECT_EQ(count_of(html, "<tr class=\"run"), 14u);
  EXPECT_EQ(count_of(html, "<svg class=\"plot bench-latency-workers\""), 2u);
  EXPECT_NE(html.find("data-series=\"SQLite\""), std::string::npos);
  // p99 / poll computed from p99_ms and poll_interval_ms when the file lacks it.
  EXPECT_NE(html.find("\u25B2 worst</span> 1.45<"), std::string::npos);
}

TEST(Html, IsSelfContained) {
  TempDir out;
  write_report(both_inputs(), out.path());
  const std::string html = read_file(out.path() / "index.html");
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
}

// Inputs crafted to break out of every context the renderers write into.
class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string evil = "<script>alert(1)</script> & \"q\" 'a' | `tick` ]]>";
    nlohmann::json history_meta = {
        {"type", "meta"}, {"t", 1000}, {"workers", {{{"name", "<b>w0</b>"}}}}};
    nlohmann::json fault = {{"type", "fault"},       {"t", 2000},
                            {"action", "pause"},     {"phase", "instant"},
                            {"worker", "<b>w0</b>"}, {"params", {{"x", evil}}}};
    write_file(in_.path() / "h.jsonl", history_meta.dump() + "\n" + fault.dump() + "\n");
    nlohmann::json check = {{"name", evil},
                            {"verdict", "fail"},
                            {"measured", evil},
                            {"bound", "<= 5 ms"},
                            {"summary", evil},
                            {"evidence", {evil, "line1\nline2"}},
                            {"details", {{"latencies_ms", {1, 2, 3}}}}};
    nlohmann::json results = {{"tool", evil},
                              {"command", evil},
                              {"machine", {{"hostname", evil}}},
                              {"scenarios",
                               {{{"name", evil},
                                 {"verdict", "fail"},
                                 {"guarantee", evil},
                                 {"rerun", evil},
                                 {"history", "h.jsonl"},
                                 {"metrics", {{evil, evil}}},
                                 {"checks", {check}}},
                                {{"name", "skipped & <i>"}, {"verdict", "skip"}, {"note", evil}}}}};
    write_file(in_.path() / "results.json", results.dump());
    write_report({in_.path() / "results.json"}, out_.path());
  }

  TempDir in_;
  TempDir out_;
};

TEST_F(Hostile, HtmlEscapesEveryInputText) {
  const std::string html = read_file(out_.path() / "index.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>w0"), std::string::npos);
  EXPECT_EQ(html.find("<i>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39;"),
            std::string::npos);
  EXPECT_NE(html.find("skipped &amp; &lt;i&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;w0&lt;/b&gt;"), std::string::npos);  // the timeline lane
}

TEST_F(Hostile, JunitIsWellFormedEnoughToCarryTheText) {
  const std::string xml = read_file(out_.path() / "junit.xml");
  EXPECT_EQ(xml.find("<script"), std::string::npos);
  EXPECT_EQ(xml.find("]]>"), std::string::npos);
  EXPECT_NE(xml.find("name=\"&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; "
                     "&#39;a&#39;"),
            std::string::npos);
  EXPECT_NE(xml.find("name=\"skipped &amp; &lt;i&gt;\""), std::string::npos);
  // Every '<' starts markup we wrote; every '&' starts an entity.
  const std::regex stray_amp("&(?!(amp|lt|gt|quot|apos|#[0-9]+);)");
  EXPECT_FALSE(std::regex_search(xml, stray_amp));
}

// `md` without its code spans (whose text Markdown shows literally).
std::string without_code_spans(const std::string& md) {
  std::string out;
  std::size_t i = 0;
  while (i < md.size()) {
    if (md[i] == '\\' && i + 1 < md.size()) {  // an escaped character, such as \`
      out += md.substr(i, 2);
      i += 2;
      continue;
    }
    if (md[i] != '`') {
      out += md[i++];
      continue;
    }
    std::size_t n = 0;
    while (i + n < md.size() && md[i + n] == '`') ++n;
    const std::string fence(n, '`');
    std::size_t close = md.find(fence, i + n);
    while (close != std::string::npos && close + n < md.size() && md[close + n] == '`') {
      close = md.find(fence, close + n + 1);
    }
    if (close == std::string::npos) return out + md.substr(i);
    i = close + n;
  }
  return out;
}

TEST_F(Hostile, MarkdownKeepsTableCellsIntact) {
  const std::string md = read_file(out_.path() / "summary.md");
  // Outside code spans, every '<' is backslash-escaped.
  EXPECT_FALSE(std::regex_search(without_code_spans(md), std::regex(R"((^|[^\\])<)")));
  EXPECT_NE(md.find("\\<script\\>alert(1)\\</script\\> \\& \"q\" 'a' \\| \\`tick\\`"),
            std::string::npos);
  // The verdict table row of the hostile scenario has exactly the 7 unescaped
  // pipes of a 6-column row.
  const auto row_start = md.find("\n| \\<script");
  ASSERT_NE(row_start, std::string::npos);
  const std::string row = md.substr(row_start + 1, md.find('\n', row_start + 1) - row_start - 1);
  std::size_t pipes = 0;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i] == '|' && (i == 0 || row[i - 1] != '\\')) ++pipes;
  }
  EXPECT_EQ(pipes, 7u) << row;
}

TEST(WriteReport, ThrowsNamingTheBadFileAndWritesNothing) {
  TempDir in;
  TempDir out;
  write_file(in.path() / "broken.json", "{\"scenarios\": [ {\"name\": \"x\", \"verdict\": \"pass\"} ");
  try {
    write_report({testdata() / "results.json", in.path() / "broken.json"}, out.path() / "report");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out.path() / "report"));
}

TEST(WriteReport, RejectsAnEmptyInputList) {
  TempDir out;
  EXPECT_THROW(write_report({}, out.path()), std::runtime_error);
}

int run(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Cli, RendersAndReportsUsageAndInputErrorsByExitStatus) {
  TempDir out;
  const std::string exe = PJX_REPORT_EXE;
  const std::string results = (testdata() / "results.json").string();
  EXPECT_EQ(run(exe + " '" + results + "' -o '" + (out.path() / "r").string() + "'"), 0);
  EXPECT_TRUE(fs::exists(out.path() / "r/index.html"));
  EXPECT_EQ(run(exe + " '" + results + "'"), 2);                 // no -o
  EXPECT_EQ(run(exe + " -o '" + out.path().string() + "'"), 2);  // no input
  EXPECT_EQ(run(exe + " --bogus '" + results + "' -o x"), 2);
  EXPECT_EQ(
      run(exe + " '" + (out.path() / "missing.json").string() + "' -o '" + (out.path() / "r2").string() + "'"),
      1);
  EXPECT_EQ(run(exe + " --help"), 0);
}

}  // namespace
}  // namespace pjx::reports
