// A chaos run's summary.json as a report input: the page's chaos section
// (schedule band, per-kind table, violations, shrunk reproducer, errors),
// summary.md, junit.xml, and byte-identical re-renders.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model.hpp"
#include "pjx/reports/report.hpp"
#include "test_util.hpp"

namespace pjx::reports {
namespace {

namespace fs = std::filesystem;
using namespace testing;  // pjx::reports::testing: TempDir, read_file, write_file, count_of, testdata

fs::path chaos_summary() { return testdata() / "chaos-summary.json"; }

TEST(ChaosModel, ReadsTheSummary) {
  const std::vector<ResultsDoc> docs = load_results_file(chaos_summary());
  ASSERT_EQ(docs.size(), 1u);
  const ResultsDoc& d = docs.front();
  EXPECT_TRUE(d.is_chaos);
  EXPECT_FALSE(d.is_bench);
  EXPECT_FALSE(d.is_conformance());
  EXPECT_EQ(d.seed, "3");
  const ChaosRun& c = d.chaos;
  EXPECT_EQ(c.epochs, 2);
  EXPECT_EQ(c.publishes, 410);
  ASSERT_EQ(c.effects.size(), 5u);
  EXPECT_EQ(c.effects[0].kind, "io");
  EXPECT_TRUE(c.effects[0].never_reached());
  EXPECT_FALSE(c.effects[4].never_reached());  // readonly: never judged
  ASSERT_EQ(c.schedule.size(), 8u);
  EXPECT_EQ(c.schedule[0].reached, std::nullopt);
  EXPECT_TRUE(c.schedule[1].instant());
  EXPECT_EQ(c.schedule[2].worker, "");
  EXPECT_EQ(c.schedule[3].reached, std::optional<bool>(false));
  EXPECT_EQ(c.violation_count(), 3);
  EXPECT_EQ(c.verdict(), Verdict::kFail);
  ASSERT_TRUE(c.minimal);
  EXPECT_EQ(c.minimal->faults, 2);
  EXPECT_EQ(c.failing->ops, 310);
}

TEST(ChaosModel, RejectsAScheduleEntryWithABadReached) {
  const std::string text =
      R"({"kind":"chaos","schedule":[{"epoch":0,"kind":"pause","begin_s":1,"end_s":2,"reached":"yes"}]})";
  try {
    parse_results(text, "summary.json", false);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("summary.json: schedule #1"), std::string::npos) << e.what();
  }
}

class ChaosReport : public ::testing::Test {
 protected:
  void SetUp() override { write_report({chaos_summary()}, out_.path()); }
  std::string file(const char* name) const { return read_file(out_.path() / name); }
  TempDir out_;
};

TEST_F(ChaosReport, ThePageHasTheHeaderLineAndTheScheduleBand) {
  const std::string html = file("index.html");
  EXPECT_NE(html.find("<h1>pjx-inval chaos report</h1>"), std::string::npos);
  EXPECT_NE(html.find("seed 3 \u00B7 2 epochs \u00B7 30 s of workload \u00B7 61.2 s \u00B7 410 publishes "
                      "\u00B7 355 reads \u00B7 12 flushes"),
            std::string::npos);
  EXPECT_NE(html.find("3 violations of the reference (stale_reads 1, staleness 2)"), std::string::npos);
  EXPECT_EQ(count_of(html, "<svg class=\"plot chaos-schedule\""), 1u);
  EXPECT_NE(html.find("data-faults=\"8\""), std::string::npos);
  // A bar per window, a tick per instant fault, each with its tooltip.
  EXPECT_NE(html.find("<title>io w0, epoch 0: 7.750 s to 8.250 s, did not reach its path</title>"),
            std::string::npos);
  EXPECT_NE(html.find("<title>kill w3, epoch 1: 19.000 s, reached its path</title>"), std::string::npos);
  EXPECT_NE(html.find("<title>lock, epoch 0: 5.000 s to 6.400 s, reached its path</title>"),
            std::string::npos);
  EXPECT_NE(html.find("<title>pause w1, epoch 0: 1.250 s to 2.100 s, not judged</title>"),
            std::string::npos);
  for (const char* legend : {"reached its path \u25CF", "did not reach its path \u2717", "not judged",
                             "instant fault (tick)", "epoch boundary"}) {
    EXPECT_NE(html.find(std::string(">") + legend + "</text>"), std::string::npos) << legend;
  }
  // No conformance or bench sections on a chaos page.
  EXPECT_EQ(html.find("id=\"verdicts\""), std::string::npos);
  EXPECT_EQ(html.find("class=\"plot bench"), std::string::npos);
}

TEST_F(ChaosReport, ThePageHasATableRowPerKindAndWarnsOfAKindThatNeverReachedItsPath) {
  const std::string html = file("index.html");
  EXPECT_EQ(count_of(html, "<table class=\"chaos-effects\">"), 1u);
  EXPECT_NE(html.find("<tr class=\"unreached\"><td>io</td><td class=\"num\">2</td><td class=\"num\">1"
                      "</td><td class=\"num\">1</td><td class=\"num\">0</td><td class=\"warn\">\u26A0 "
                      "never reached its path</td></tr>"),
            std::string::npos);
  EXPECT_EQ(count_of(html, "never reached its path"), 1u);  // not readonly, never judged
  EXPECT_NE(html.find("<td>readonly</td>"), std::string::npos);
  EXPECT_NE(html.find("\u2013 not judged"), std::string::npos);
}

TEST_F(ChaosReport, ThePageShowsViolationsTheShrunkReproducerAndErrors) {
  const std::string html = file("index.html");
  EXPECT_NE(html.find("<tr><td>staleness</td><td class=\"num\">2</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>python:staleness</td><td class=\"num\">1</td></tr>"), std::string::npos);
  const auto not_exercised = html.find("Checks an epoch did not exercise");
  ASSERT_NE(not_exercised, std::string::npos);
  EXPECT_NE(html.find("<tr><td>stale_reads</td><td class=\"num\">1</td></tr>", not_exercised), std::string::npos);
  const auto repro = html.find("<div class=\"chaos-repro\">");
  ASSERT_NE(repro, std::string::npos);
  const std::string block = html.substr(repro, html.find("</div>", repro) - repro);
  EXPECT_NE(block.find("<code>out/chaos/minimal.toml (2 faults, 40 ops)</code>"), std::string::npos);
  EXPECT_NE(block.find("<code>out/chaos/failing.toml (9 faults, 310 ops)</code>"), std::string::npos);
  EXPECT_NE(block.find("2 of 9 faults, 40 of 310 ops"), std::string::npos);
  EXPECT_NE(block.find("<code>pjx-harness run out/chaos/minimal.toml --timing quick --worker-cmd "
                       "&#39;pjx-worker --defect no-gap-detection&#39;</code>"),
            std::string::npos);
  EXPECT_NE(html.find("<ul class=\"chaos-errors\"><li>chaos-3-0: error: could not run: snapshot_db"),
            std::string::npos);
}

TEST_F(ChaosReport, RenderingTwiceGivesTheSameBytesAndTheCopyRendersTheSamePage) {
  TempDir again;
  TempDir from_copy;
  write_report({chaos_summary()}, again.path());
  write_report({out_.path() / "results.json"}, from_copy.path());
  for (const char* name : {"index.html", "summary.md", "junit.xml", "results.json"}) {
    EXPECT_EQ(file(name), read_file(again.path() / name)) << name;
    EXPECT_EQ(file(name), read_file(from_copy.path() / name)) << name;
  }
  EXPECT_EQ(nlohmann::json::parse(file("results.json")), nlohmann::json::parse(read_file(chaos_summary())));
}

TEST_F(ChaosReport, SummaryMarkdownHasTheVerdictAShortTableAndTheReproducer) {
  const std::string md = file("summary.md");
  EXPECT_NE(md.find("## Chaos\n"), std::string::npos);
  EXPECT_NE(md.find("\u274C fail **3 violations of the reference (stale\\_reads 1, staleness 2), 1 epoch "
                    "could not run; 1 documented failure of other implementations**"),
            std::string::npos);
  EXPECT_NE(md.find("| Fault kind | planned | applied | judged | reached | |\n|---|--:|--:|--:|--:|---|\n"),
            std::string::npos);
  EXPECT_NE(md.find("| io | 2 | 1 | 1 | 0 | \u26A0\uFE0F never reached its path |\n"), std::string::npos);
  EXPECT_NE(md.find("| readonly | 1 | 1 | 0 | 0 |  |\n"), std::string::npos);
  EXPECT_NE(md.find("- minimal plan: `out/chaos/minimal.toml` (2 of 9 faults, 40 of 310 ops)"),
            std::string::npos);
  EXPECT_NE(md.find("- rerun: `pjx-harness run out/chaos/minimal.toml"), std::string::npos);
  EXPECT_NE(md.find("- could not run: chaos-3-0"), std::string::npos);
}

TEST_F(ChaosReport, JunitHasOneChaosCaseFailingOnViolations) {
  const std::string xml = file("junit.xml");
  EXPECT_EQ(count_of(xml, "<testcase "), 1u);
  EXPECT_NE(xml.find("<testcase classname=\"pjx.chaos\" name=\"chaos seed 3\" time=\"61.250\">"),
            std::string::npos);
  EXPECT_NE(xml.find("tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\""), std::string::npos);
  EXPECT_NE(xml.find("<failure message=\"3 violations of the reference (stale_reads 1, staleness 2)"),
            std::string::npos);
  EXPECT_NE(xml.find("check staleness: 2\nfailing plan: out/chaos/failing.toml\nminimal plan: "
                     "out/chaos/minimal.toml (2 of 9 faults, 40 of 310 ops)\nrerun: pjx-harness run"),
            std::string::npos);
  EXPECT_NE(xml.find("io: planned 2, applied 1, judged 1, reached 0 (never reached its path)"),
            std::string::npos);
}

// A run without violations: the case passes, or errors when an epoch could not run.
std::string junit_of(const nlohmann::json& summary) {
  return junit_xml(summary.dump(), "summary.json");
}

TEST(ChaosJunit, PassesWithoutViolationsAndErrorsWhenAnEpochCouldNotRun) {
  nlohmann::json summary = {{"kind", "chaos"}, {"seed", 1}, {"epochs", 3}, {"violations", nlohmann::json::object()}};
  const std::string pass = junit_of(summary);
  EXPECT_NE(pass.find("tests=\"1\" failures=\"0\" errors=\"0\""), std::string::npos);
  EXPECT_EQ(pass.find("<failure"), std::string::npos);
  EXPECT_EQ(pass.find("<error"), std::string::npos);
  summary["errors"] = {"chaos-1-2: error: <worker> did not start"};
  summary["epochs_error"] = 1;
  const std::string error = junit_of(summary);
  EXPECT_NE(error.find("tests=\"1\" failures=\"0\" errors=\"1\""), std::string::npos);
  EXPECT_NE(error.find("<error message=\"0 violations of the reference, 1 epoch could not run\" "
                       "type=\"error\">could not run: chaos-1-2: error: &lt;worker&gt; did not start</error>"),
            std::string::npos);
}

TEST(ChaosHtml, EscapesEveryText) {
  TempDir in;
  TempDir out;
  const std::string evil = "<script>x</script>&'\"";
  const nlohmann::json summary = {
      {"kind", "chaos"},
      {"command", evil},
      {"effects", {{evil, {{"planned", 1}, {"applied", 1}, {"judged", 1}, {"reached", 0}}}}},
      {"violations", {{evil, 1}}},
      {"errors", {evil}},
      {"schedule", {{{"epoch", 0}, {"kind", evil}, {"worker", evil}, {"begin_s", 1}, {"end_s", 2}}}},
      {"failing", {{"plan", evil}, {"faults", 1}, {"ops", 2}}},
      {"minimal", {{"plan", evil}, {"faults", 1}, {"ops", 1}, {"rerun", evil}}}};
  write_file(in.path() / "summary.json", summary.dump());
  write_report({in.path() / "summary.json"}, out.path());
  for (const char* name : {"index.html", "junit.xml"}) {
    const std::string text = read_file(out.path() / name);
    EXPECT_EQ(text.find("<script"), std::string::npos) << name;
    EXPECT_NE(text.find("&lt;script&gt;x&lt;/script&gt;&amp;&#39;&quot;"), std::string::npos) << name;
  }
  // In Markdown outside code spans (the command, the plans, the rerun), escaped.
  const std::string md = read_file(out.path() / "summary.md");
  EXPECT_NE(md.find("\n| \\<script\\>x\\</script\\>\\&'\" | 1 | 1 | 1 | 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("could not run: \\<script\\>"), std::string::npos) << md;
}

}  // namespace
}  // namespace pjx::reports
