#include "svg.hpp"

#include <gtest/gtest.h>

#include "plots.hpp"

namespace pjx::reports::svg {
namespace {

TEST(NiceNumber, RoundsToOneTwoTwoAndAHalfOrFive) {
  EXPECT_DOUBLE_EQ(nice_number(0.7, false), 1);
  EXPECT_DOUBLE_EQ(nice_number(1.7, false), 2);
  EXPECT_DOUBLE_EQ(nice_number(2.4, false), 2.5);
  EXPECT_DOUBLE_EQ(nice_number(3, false), 5);
  EXPECT_DOUBLE_EQ(nice_number(7, false), 10);
  EXPECT_DOUBLE_EQ(nice_number(340, true), 250);
  EXPECT_DOUBLE_EQ(nice_number(0.018, true), 0.02);
}

TEST(NiceTicks, CoverTheRangeWithFewEvenlySpacedTicks) {
  const Ticks t = nice_ticks(3.2, 48.1, 8);
  EXPECT_LE(t.lo, 3.2);
  EXPECT_GE(t.hi, 48.1);
  EXPECT_DOUBLE_EQ(t.lo, 0);
  EXPECT_DOUBLE_EQ(t.step, 10);
  ASSERT_EQ(t.values.size(), 6u);
  EXPECT_DOUBLE_EQ(t.values.back(), 50);
  EXPECT_EQ(t.decimals, 0);
}

TEST(NiceTicks, FractionalStepsGetEnoughDecimals) {
  const Ticks t = nice_ticks(0, 1, 5);
  EXPECT_DOUBLE_EQ(t.step, 0.25);
  EXPECT_EQ(t.decimals, 2);
  EXPECT_EQ(t.values.size(), 5u);
}

TEST(LogTicks, OneTwoFiveTicksAroundTheData) {
  const Ticks t = log_ticks(0.3, 48);
  EXPECT_TRUE(t.log);
  EXPECT_DOUBLE_EQ(t.lo, 0.2);
  EXPECT_DOUBLE_EQ(t.hi, 50);
  EXPECT_EQ(t.values, (std::vector<double>{0.2, 0.5, 1, 2, 5, 10, 20, 50}));
}

TEST(LogTicks, OnlyDecadesOverAWideRange) {
  const Ticks t = log_ticks(0.3, 600);
  EXPECT_EQ(t.values, (std::vector<double>{0.1, 1, 10, 100, 1000}));
}

TEST(LogTicks, AFrameSpacesDecadesEvenly) {
  const Frame f(Rect{0, 0, 300, 300}, log_ticks(1, 1000), log_ticks(1, 1000));
  EXPECT_DOUBLE_EQ(f.x(1), 0);
  EXPECT_DOUBLE_EQ(f.x(10), 100);
  EXPECT_DOUBLE_EQ(f.x(1000), 300);
  EXPECT_DOUBLE_EQ(f.y(100), 100);
}

TEST(LogTicks, TicksAtGivenValues) {
  const Ticks t = log_ticks_at({16, 1, 4, 4});
  EXPECT_EQ(t.values, (std::vector<double>{1, 4, 16}));
  EXPECT_LT(t.lo, 1);
  EXPECT_GT(t.hi, 16);
}

TEST(NiceTicks, WidenADegenerateRange) {
  const Ticks zero = nice_ticks(0, 0, 5);
  EXPECT_LT(zero.lo, zero.hi);
  const Ticks same = nice_ticks(50, 50, 5);
  EXPECT_LE(same.lo, 50);
  EXPECT_GT(same.hi, 50);
}

TEST(Svg, EscapesTextAndTitleAndHoldsNoUrl) {
  Svg s(100, 50, "plot test", "a <b> & c");
  s.text({1, 2}, "<script>x</script>", TextStyle{});
  const std::string out = s.str();
  EXPECT_NE(out.find("aria-label=\"a &lt;b&gt; &amp; c\""), std::string::npos);
  EXPECT_NE(out.find("&lt;script&gt;x&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(out.find("<script"), std::string::npos);
  EXPECT_EQ(out.find("http"), std::string::npos);
  EXPECT_EQ(out.rfind("<svg class=\"plot test\"", 0), 0u);
}

TEST(Frame, MapsTickRangeOntoTheAreaWithYUpwards) {
  const Frame f(Rect{10, 20, 100, 50}, nice_ticks(0, 10, 6), nice_ticks(0, 1, 5));
  EXPECT_DOUBLE_EQ(f.x(0), 10);
  EXPECT_DOUBLE_EQ(f.x(10), 110);
  EXPECT_DOUBLE_EQ(f.y(0), 70);
  EXPECT_DOUBLE_EQ(f.y(1), 20);
}

TEST(LatencyPlots, TheCdfMarksTheCheckersPercentilesAndComputesNone) {
  LatencyPlot p{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50.0, 60.0, "t", std::nullopt, std::nullopt};
  EXPECT_EQ(latency_cdf_svg(p).find("p99"), std::string::npos);
  p.p50_ms = 5;
  p.p99_ms = 10;
  const std::string svg = latency_cdf_svg(p);
  EXPECT_NE(svg.find("p50 5 ms"), std::string::npos) << svg;
  EXPECT_NE(svg.find("p99 10 ms"), std::string::npos) << svg;
}

TEST(LatencyPlots, MarkPollIntervalAndBoundWithLabels) {
  LatencyPlot p{{10, 20, 30, 45}, 50.0, 60.0, "t", 20.0, 45.0};
  const std::string hist = latency_histogram_svg(p);
  EXPECT_NE(hist.find("class=\"plot histogram\""), std::string::npos);
  EXPECT_NE(hist.find("poll_interval 50 ms"), std::string::npos);
  EXPECT_NE(hist.find("bound 60 ms"), std::string::npos);
  EXPECT_NE(hist.find("delivery latency (ms)"), std::string::npos);
  const std::string cdf = latency_cdf_svg(p);
  EXPECT_NE(cdf.find("class=\"plot cdf\""), std::string::npos);
  EXPECT_NE(cdf.find("p50 20 ms"), std::string::npos);
  EXPECT_NE(cdf.find("p99 45 ms"), std::string::npos);
}

TEST(LatencyPlots, NameABoundFarOffScaleInsteadOfSqueezingTheData) {
  LatencyPlot p{{10, 20, 30, 45}, 50.0, 300.0, "t", std::nullopt, std::nullopt};
  const std::string hist = latency_histogram_svg(p);
  EXPECT_NE(hist.find("bound 300 ms (off scale)"), std::string::npos);
  EXPECT_EQ(hist.find(">300<"), std::string::npos);  // no tick at 300: the axis stays near the data
}

}  // namespace
}  // namespace pjx::reports::svg
