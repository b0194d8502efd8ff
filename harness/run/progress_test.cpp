#include "progress.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace pjx::harness {
namespace {

TEST(ProgressLog, AShortScenarioIsOneLine) {
  std::ostringstream out;
  ProgressLog log(out);
  log.begin("[1/2] fanout");
  log.end("pass (4.2 s, quick)");
  EXPECT_EQ(out.str(), "[1/2] fanout ... pass (4.2 s, quick)\n");
}

TEST(ProgressLog, ReportsGoOnTheirOwnLinesAndTheOutcomeRepeatsTheLabel) {
  std::ostringstream out;
  ProgressLog log(out);
  log.begin("[2/2] pause-long");
  log.report(10.2, 60, 123);
  log.report(61, 60, 456);
  log.end("pass (70.0 s, documented)");
  log.begin("[3/3] next");
  log.end("skip (0.1 s, quick)");
  EXPECT_EQ(out.str(),
            "[2/2] pause-long ... \n"
            "    workload 10 s of 60 s, about 50 s left, 123 events so far\n"
            "    workload done after 61 s, finishing (heal, quiesce, checks), 456 events so far\n"
            "[2/2] pause-long: pass (70.0 s, documented)\n"
            "[3/3] next ... skip (0.1 s, quick)\n");
}

TEST(ProgressText, TimeLeftRoundsUpAndNeverGoesNegative) {
  EXPECT_EQ(progress_text(0.5, 59.2, 0), "workload 0 s of 60 s, about 59 s left, 0 events so far");
  EXPECT_EQ(progress_text(60, 60, 7),
            "workload done after 60 s, finishing (heal, quiesce, checks), 7 events so far");
}

}  // namespace
}  // namespace pjx::harness
