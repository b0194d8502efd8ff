#include "check/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace pjx::harness {
namespace {

double ranked(const std::vector<double>& sorted, double p) {
  const double n = static_cast<double>(sorted.size());
  const double rank = std::ceil(p / 100.0 * n);
  const std::size_t index = rank < 1.0 ? 0 : static_cast<std::size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) throw std::invalid_argument("percentile of no values");
  if (!(p >= 0.0 && p <= 100.0)) {
    throw std::invalid_argument("percentile " + std::to_string(p) + " is outside [0, 100]");
  }
  std::sort(values.begin(), values.end());
  return ranked(values, p);
}

Distribution describe(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("distribution of no values");
  std::sort(values.begin(), values.end());
  Distribution d;
  d.n = values.size();
  d.min = values.front();
  d.max = values.back();
  d.p50 = ranked(values, 50);
  d.p99 = ranked(values, 99);
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return d;
}

}  // namespace pjx::harness
