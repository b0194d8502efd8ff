// The reference profile (apply_required_caps), the exit status, JUnit XML.
#include "results.hpp"

#include <gtest/gtest.h>

namespace pjx::harness {
namespace {

ScenarioResult skipped(const std::string& reason) {
  ScenarioResult r;
  r.name = "s";
  r.verdict.verdict = "skip";
  r.verdict.reason = reason;
  return r;
}

TEST(RequiredCaps, AScenarioSkippedForAMissingCapabilityFails) {
  ScenarioResult r = skipped(
      "skipped: worker w0 lacks the capability \"flush\" this scenario requires (its ready.caps: [])");
  EXPECT_EQ(exit_code({r}), 0) << "a skip alone passes without the profile";
  EXPECT_TRUE(apply_required_caps(r));
  EXPECT_EQ(r.verdict.verdict, "fail");
  EXPECT_NE(r.verdict.reason.find("--require-caps"), std::string::npos);
  EXPECT_EQ(exit_code({r}), 1);
}

TEST(RequiredCaps, SkipsForWhatTheHostLacksStaySkips) {
  ScenarioResult r = skipped("skipped: readonly_dir needs a read-only bind mount: not root");
  EXPECT_FALSE(apply_required_caps(r));
  EXPECT_EQ(r.verdict.verdict, "skip");
}

TEST(RequiredCaps, ACheckSkippedForACapabilityFailsAPassingScenario) {
  ScenarioResult r;
  r.verdict.verdict = "skip";
  r.verdict.reason = "skip: stale_reads: ...";
  CheckResult fanout;
  fanout.name = "fanout";
  fanout.verdict = "pass";
  CheckResult reads;
  reads.name = "stale_reads";
  reads.verdict = "skip";
  reads.summary = "no worker advertises the `reads` capability (protocol v2)";
  r.verdict.checks = {fanout, reads};
  EXPECT_TRUE(apply_required_caps(r));
  EXPECT_EQ(r.verdict.checks[1].verdict, "fail");
  EXPECT_EQ(r.verdict.verdict, "fail");
}

// One JUnit writer (the reports library's): the harness's --junit file and
// pjx-report's junit.xml name and escape a scenario alike.
TEST(JUnit, IsTheReportsOneWithItsClassnameAndEscaping) {
  ScenarioResult r;
  r.name = "gap<1>";
  r.guarantee = "every delivery";
  r.timing = "quick";
  r.verdict.verdict = "fail";
  CheckResult c;
  c.name = "fanout";
  c.verdict = "fail";
  c.measured = "1 missing";
  c.bound = "0";
  r.verdict.checks = {c};
  ScenarioResult e;
  e.name = "kill";
  e.verdict.verdict = "error";
  e.verdict.reason = "worker said \x01 & stopped";
  RunSummary summary;
  summary.results = {r, e};
  const std::string xml = junit_xml(summary);
  EXPECT_NE(xml.find("classname=\"pjx.conformance\" name=\"gap&lt;1&gt;\""), std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<failure "), std::string::npos) << xml;
  EXPECT_NE(xml.find("<error "), std::string::npos) << xml;
  EXPECT_NE(xml.find("worker said \xEF\xBF\xBD &amp; stopped"), std::string::npos) << xml;
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
}

}  // namespace
}  // namespace pjx::harness
