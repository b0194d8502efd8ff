#include "gap_rule.hpp"

namespace pjx::detail {

std::int64_t missing_ids(std::int64_t cursor, std::int64_t top, std::int64_t present) {
  const std::int64_t missing = top > cursor ? top - cursor - present : 0;  // I8
  return missing;
}

GapAssessment assess_gap(const PollFacts& facts) {
  const std::int64_t missing = missing_ids(facts.cursor, facts.top, facts.present);
  if (facts.replaced) {
    return {GapVerdict::kReplacedFile, missing};  // I9
  } else if (facts.detect_gaps && facts.top < facts.cursor) {  // I14
    return {GapVerdict::kRegression, missing};
  } else if (facts.detect_gaps && (missing > 0 || facts.stalled)) {  // I8
    return {missing > 0 ? GapVerdict::kGap : GapVerdict::kStall, missing};
  }
  return {GapVerdict::kNone, missing};
}

bool is_stall(std::chrono::nanoseconds previous, std::chrono::nanoseconds now,
              std::chrono::nanoseconds retention) {
  return previous.count() >= 0 && now - previous > retention;
}

}  // namespace pjx::detail
