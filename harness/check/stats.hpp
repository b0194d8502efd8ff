// Percentiles and summaries of measured values (latencies, stale windows).
//
// Method: nearest rank. The p-th percentile of n values is the value at rank
// ceil(p/100 * n) (1-based) of the values sorted ascending, rank clamped to
// [1, n]: always a value that was measured, never an interpolation. So p50 of
// {1,2,3,4} is 2, p99 of 100 values is the 99th smallest, p100 is the max.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <vector>

namespace pjx::harness {

// REQUIRES: `values` not empty, 0 <= p <= 100 (else std::invalid_argument).
double percentile(std::vector<double> values, double p);

struct Distribution {
  std::size_t n = 0;
  double min = 0;
  double p50 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// REQUIRES: `values` not empty (else std::invalid_argument).
Distribution describe(std::vector<double> values);

}  // namespace pjx::harness
