// The report's plots, drawn with the SVG builder (svg.hpp): delivery-latency
// histogram and CDF, the fault timeline, and line charts for benchmarks.
//
// Contract: each function returns one self-contained <svg> element (no
// scripts, no external references) whose class attribute is "plot <kind>";
// output depends only on the arguments. Colours come from the Okabe-Ito
// palette, and every series or region also differs by shape, dash or label,
// so no plot relies on colour alone. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svg.hpp"
#include "timeline.hpp"

namespace pjx::reports {

struct LatencyPlot {
  std::vector<double> latencies_ms;
  std::optional<double> poll_interval_ms;
  std::optional<double> bound_ms;
  std::string title;
};

// class "plot histogram": deliveries per latency bin, poll_interval and the
// bound as labelled vertical lines (a bound far right of the data is named
// at the edge instead of squeezing the bars).
std::string latency_histogram_svg(const LatencyPlot& plot);

// class "plot cdf": fraction of deliveries at or below each latency, with
// p50/p99 marked, poll_interval and the bound as in the histogram.
std::string latency_cdf_svg(const LatencyPlot& plot);

// class "plot timeline": one lane per worker over seconds since the first
// history record; fault windows shaded per kind, stale windows as bars.
std::string timeline_svg(const TimelineData& data, std::string_view title);

struct Series {
  std::string name;
  std::vector<svg::Point> points;  // (x, y), drawn in the order given
};

// class "plot <css_kind>": one line with markers per series, y from 0.
std::string line_chart_svg(std::string_view css_kind, std::string_view title,
                           std::string_view x_label, std::string_view y_label,
                           const std::vector<Series>& series);

// Nearest-rank percentile (p in [0, 100]) of values; 0 when empty.
double percentile(std::vector<double> values, double p);

}  // namespace pjx::reports
