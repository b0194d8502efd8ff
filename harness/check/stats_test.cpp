#include "check/stats.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace pjx::harness {
namespace {

TEST(Percentile, UsesNearestRankOverSortedValues) {
  EXPECT_EQ(percentile({4, 1, 3, 2}, 50), 2);  // rank ceil(0.5 * 4) = 2
  EXPECT_EQ(percentile({4, 1, 3, 2}, 51), 3);  // rank ceil(2.04) = 3
  EXPECT_EQ(percentile({4, 1, 3, 2}, 100), 4);
  EXPECT_EQ(percentile({4, 1, 3, 2}, 0), 1);  // rank clamped to 1
  EXPECT_EQ(percentile({7}, 99), 7);
}

TEST(Percentile, P99OfAHundredValuesIsTheNinetyNinthSmallest) {
  std::vector<double> values;
  for (int i = 100; i >= 1; --i) values.push_back(i);
  EXPECT_EQ(percentile(values, 99), 99);
  EXPECT_EQ(percentile(values, 50), 50);
}

TEST(Percentile, RejectsNoValuesAndOutOfRangePercentiles) {
  EXPECT_THROW(percentile({}, 50), std::invalid_argument);
  EXPECT_THROW(percentile({1}, 101), std::invalid_argument);
  EXPECT_THROW(percentile({1}, -1), std::invalid_argument);
}

TEST(Describe, SummarisesMinMaxMeanAndPercentiles) {
  const Distribution d = describe({10, 40, 20, 30});
  EXPECT_EQ(d.n, 4u);
  EXPECT_EQ(d.min, 10);
  EXPECT_EQ(d.max, 40);
  EXPECT_EQ(d.p50, 20);
  EXPECT_EQ(d.p99, 40);
  EXPECT_DOUBLE_EQ(d.mean, 25);
  EXPECT_THROW(describe({}), std::invalid_argument);
}

}  // namespace
}  // namespace pjx::harness
