// The gap rule (gap_rule.hpp, I8 and I14) on tables of cases: pure
// functions, no database.
#include "gap_rule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace pjx::detail {
namespace {

using namespace std::chrono_literals;

struct MissingCase {
  std::int64_t cursor, top, present, missing;
  const char* what;
};

TEST(GapRule, MissingIdsAreTheIdsAboveTheCursorWithNoRow) {
  const MissingCase cases[] = {
      {0, 0, 0, 0, "a new file"},
      {10, 10, 0, 0, "nothing committed since"},
      {10, 15, 5, 0, "every id above the cursor has its row"},
      {10, 15, 4, 1, "one row pruned unread"},
      {10, 15, 0, 5, "every row above the cursor pruned (sqlite_sequence still says 15)"},
      {10, 11, 0, 1, "the only new row pruned"},
      {15, 10, 0, 0, "ids below the cursor: none missing above it (I14 decides)"},
      {0, 3, 3, 0, "from the start of a new file"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(missing_ids(c.cursor, c.top, c.present), c.missing) << c.what;
  }
}

struct VerdictCase {
  PollFacts facts;
  GapVerdict verdict;
  std::int64_t missing;
  const char* what;
};

// PollFacts{cursor, top, present, stalled, replaced, detect_gaps}
TEST(GapRule, VerdictsInTheirOrderOfPrecedence) {
  const VerdictCase cases[] = {
      {{10, 15, 5, false, false, true}, GapVerdict::kNone, 0, "new rows, none missing"},
      {{10, 10, 0, false, false, true}, GapVerdict::kNone, 0, "a commit of nothing above the cursor"},
      {{10, 15, 3, false, false, true}, GapVerdict::kGap, 2, "two rows pruned unread (I8)"},
      {{10, 15, 2, false, false, true}, GapVerdict::kGap, 3, "a hole anywhere in (cursor, top]"},
      {{10, 15, 5, true, false, true}, GapVerdict::kStall, 0, "a stall with new commits, nothing pruned"},
      {{10, 15, 4, true, false, true}, GapVerdict::kGap, 1, "a stall that also lost a row is a gap"},
      {{10, 4, 0, false, false, true}, GapVerdict::kRegression, 0, "ids below the cursor (I14)"},
      {{10, 0, 0, false, false, true}, GapVerdict::kRegression, 0, "table and sqlite_sequence emptied (I14)"},
      {{10, 4, 0, true, false, true}, GapVerdict::kRegression, 0, "a regression before a stall"},
      {{10, 15, 0, true, true, true}, GapVerdict::kReplacedFile, 5, "a replaced file before everything (I9)"},
      {{0, 15, 0, false, true, false}, GapVerdict::kReplacedFile, 15, "a replaced file also without detect_gaps"},
      {{10, 15, 3, true, false, false}, GapVerdict::kNone, 2, "detect_gaps off: a gap is silent (upstream)"},
      {{10, 4, 0, false, false, false}, GapVerdict::kNone, 0, "detect_gaps off: a regression is silent"},
  };
  for (const auto& c : cases) {
    const GapAssessment a = assess_gap(c.facts);
    EXPECT_EQ(a.verdict, c.verdict) << c.what;
    EXPECT_EQ(a.missing, c.missing) << c.what;
  }
}

TEST(GapRule, AStallIsMoreThanRetentionSinceThePreviousPoll) {
  const auto retention = std::chrono::duration_cast<std::chrono::nanoseconds>(5s);
  const auto t = std::chrono::nanoseconds(std::chrono::hours(1));
  EXPECT_FALSE(is_stall(t, t + 1s, retention));
  EXPECT_FALSE(is_stall(t, t + retention, retention)) << "exactly retention is no stall";
  EXPECT_TRUE(is_stall(t, t + retention + 1ns, retention));
  EXPECT_FALSE(is_stall(std::chrono::nanoseconds(-1), t + 1h, retention)) << "no previous poll";
  EXPECT_TRUE(is_stall(std::chrono::nanoseconds(0), t, retention)) << "a previous poll at reading 0 counts";
}

}  // namespace
}  // namespace pjx::detail
