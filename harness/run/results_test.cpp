// The reference profile (apply_required_caps) and the exit status.
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

}  // namespace
}  // namespace pjx::harness
