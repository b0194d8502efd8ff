// The report's plots, drawn with the SVG builder (svg.hpp): delivery-latency
// histogram and CDF, the fault timeline, a chaos run's fault schedule, and
// line charts for benchmarks.
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

#include "model.hpp"
#include "svg.hpp"
#include "timeline.hpp"

namespace pjx::reports {

struct LatencyPlot {
  std::vector<double> latencies_ms;
  std::optional<double> poll_interval_ms;
  std::optional<double> bound_ms;
  std::string title;
  // The checker's p50 and p99 of these latencies (its metrics
  // latency_p50_ms, latency_p99_ms): the report shows the figures the
  // results hold and computes none of its own.
  std::optional<double> p50_ms;
  std::optional<double> p99_ms;
};

// class "plot histogram": deliveries per latency bin, poll_interval and the
// bound as labelled vertical lines (a bound far right of the data is named
// at the edge instead of squeezing the bars).
std::string latency_histogram_svg(const LatencyPlot& plot);

// class "plot cdf": fraction of deliveries at or below each latency, with
// p50/p99 marked where the plot has them, poll_interval and the bound as in
// the histogram.
std::string latency_cdf_svg(const LatencyPlot& plot);

// class "plot timeline": one lane per worker over seconds since the first
// history record; fault windows shaded per kind, stale windows as bars.
std::string timeline_svg(const TimelineData& data, std::string_view title);

// class "plot chaos-schedule": a chaos run's fault schedule over seconds of
// workload time (epochs end to end, their boundaries dashed), one row per
// fault kind (the order of run.effects, then others as they come): a bar per
// window, a tick per instant fault, green with a circle when it reached its
// path, vermillion with a cross when it did not, grey and outlined when it
// was not judged.
std::string chaos_schedule_svg(const ChaosRun& run, std::string_view title);

struct Series {
  std::string name;
  std::vector<svg::Point> points;  // (x, y), drawn in the order given
  int style = -1;  // index into the series styles; -1: the series' position
};

// A reference line: y = value (kHorizontal), x = value (kVertical) or
// y = x (kDiagonal, value unused). `bound` draws it solid red, else dashed.
struct Reference {
  enum class Kind { kHorizontal, kVertical, kDiagonal };
  Kind kind = Kind::kHorizontal;
  double value = 0;
  std::string label;
  bool bound = false;
};

struct ChartOptions {
  bool log_x = false;        // ticks at the distinct x values of the data
  bool log_y = false;        // 1-2-5 ticks; otherwise y starts at 0
  bool integer_x = false;    // linear x only: no fractional ticks
  std::vector<Reference> references;  // horizontal ones widen the y range
};

// class "plot <css_kind>": one <path class="series" data-series=name> with
// markers (none past 24 points) per series, a legend naming every series and reference line; the
// root carries data-y-scale ("log" or "linear").
std::string line_chart_svg(std::string_view css_kind, std::string_view title,
                           std::string_view x_label, std::string_view y_label,
                           const std::vector<Series>& series, const ChartOptions& options = {});

// A value per group of a range chart: a bar from low to mid, a filled marker
// at mid, a dash at high (all three equal: a marker only).
struct RangeValue {
  double low = 0;
  double mid = 0;
  double high = 0;
  std::string tip;  // the hover text of this value
};

struct RangeSeries {
  std::string name;
  int style = -1;
  std::vector<std::optional<RangeValue>> values;  // one per group
};

struct RangeGroup {
  std::string label;     // first line under the axis
  std::string sublabel;  // second line; a change of sublabel starts a new block
  std::optional<double> reference;  // a dashed line across the group (poll_interval)
};

// class "plot <css_kind>": the series side by side within each group on a
// log (or linear) y axis; one <path class="series" data-series=name> per
// series holds its bars. `reference_label` names the groups' reference
// lines in the legend.
std::string range_chart_svg(std::string_view css_kind, std::string_view title,
                            std::string_view y_label, const std::vector<RangeGroup>& groups,
                            const std::vector<RangeSeries>& series, bool log_y,
                            std::string_view reference_label);


}  // namespace pjx::reports
