#include "duration.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace pjx::harness {
namespace {

TEST(ParseDuration, AbsoluteUnits) {
  EXPECT_DOUBLE_EQ(parse_duration("150ms").resolve_ms(Timing::quick()), 150);
  EXPECT_DOUBLE_EQ(parse_duration("1.5s").resolve_ms(Timing::quick()), 1500);
  EXPECT_DOUBLE_EQ(parse_duration("2 s").resolve_ms(Timing::documented()), 2000);
  EXPECT_EQ(parse_duration("1.5s").resolve_ns(Timing::quick()), 1'500'000'000);
}

TEST(ParseDuration, RelativeUnitsScaleWithTheTiming) {
  const Duration d = parse_duration("2.5 retention");
  EXPECT_DOUBLE_EQ(d.resolve_ms(Timing::quick()), 1250);
  EXPECT_DOUBLE_EQ(d.resolve_ms(Timing::documented()), 12500);
  EXPECT_DOUBLE_EQ(parse_duration("3 poll").resolve_ms(Timing::quick()), 150);
  EXPECT_DOUBLE_EQ(parse_duration("2 busy").resolve_ms(Timing::documented()), 10000);
  EXPECT_DOUBLE_EQ(parse_duration("retention").resolve_ms(Timing::quick()), 500);
}

TEST(ParseDuration, SumsMixUnits) {
  const Duration d = parse_duration("retention + 2 poll + 10ms");
  EXPECT_DOUBLE_EQ(d.resolve_ms(Timing::quick()), 500 + 100 + 10);
  EXPECT_DOUBLE_EQ(d.resolve_ms(Timing::documented()), 5000 + 1000 + 10);
}

TEST(ParseDuration, RejectsBadTextNamingItAndTheForms) {
  for (const char* bad : {"", "3", "3 polls", "-1s", "1.2.3s", "1s +", "abc", "1e3ms"}) {
    try {
      parse_duration(bad);
      FAIL() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string("\"") + bad + "\""), std::string::npos) << what;
      EXPECT_NE(what.find("retention"), std::string::npos) << what;
    }
  }
}

TEST(ParseDuration, RejectsDurationsTooLongToScheduleInsteadOfWrapping) {
  // 1e17 s is 1e26 ns: resolve_ns would wrap around and the action fire at once.
  for (const char* bad : {"100000000000000000 s", "40000000000 s", "32000000000 ms",
                          "99999999999 retention", "10000000000 s + 30000000000 s"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
  }
  try {
    parse_duration("100000000000000000 s");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("longer than a year"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_duration("31000000 s").resolve_ns(Timing::documented()), 31'000'000'000'000'000);
}

TEST(Timing, NamedTimingsMatchTheDocumentedValues) {
  EXPECT_DOUBLE_EQ(Timing::named("quick")->poll_ms, 50);
  EXPECT_DOUBLE_EQ(Timing::named("quick")->retention_ms, 500);
  EXPECT_DOUBLE_EQ(Timing::named("documented")->poll_ms, 500);
  EXPECT_DOUBLE_EQ(Timing::named("documented")->busy_timeout_ms, 5000);
  EXPECT_FALSE(Timing::named("fast").has_value());
}

TEST(FormatSeconds, ShortestDecimal) {
  EXPECT_EQ(format_seconds(0.05), "0.05");
  EXPECT_EQ(format_seconds(5), "5");
  EXPECT_EQ(format_seconds(0.5), "0.5");
}

TEST(ParseSeconds, ReadsACommandLinesDurations) {
  EXPECT_DOUBLE_EQ(parse_seconds("90"), 90);
  EXPECT_DOUBLE_EQ(parse_seconds("90s"), 90);
  EXPECT_DOUBLE_EQ(parse_seconds("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(parse_seconds("2m"), 120);
  EXPECT_DOUBLE_EQ(parse_seconds("1.5h"), 5400);
  EXPECT_DOUBLE_EQ(parse_seconds("1d"), 86400);
  for (const char* bad : {"", "m", "2 m", "2min", "-5s", "+5s", "nan", "inf"}) {
    EXPECT_THROW(parse_seconds(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace pjx::harness
