#include "plots.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <tuple>

#include "text.hpp"

namespace pjx::reports {
namespace {

using svg::Frame;
using svg::LegendItem;
using svg::Point;
using svg::Shape;
using svg::Stroke;
using svg::Svg;
using svg::TextStyle;

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
constexpr const char* kBlue = "#0072B2";
constexpr const char* kOrange = "#E69F00";
constexpr const char* kSky = "#56B4E9";
constexpr const char* kGreen = "#009E73";
constexpr const char* kYellow = "#F0E442";
constexpr const char* kVermillion = "#D55E00";
constexpr const char* kPurple = "#CC79A7";
constexpr const char* kInk = "#1A1A1A";

struct SeriesStyle {
  const char* colour;
  const char* dash;
  Shape shape;
};
constexpr std::array<SeriesStyle, 5> kSeriesStyles{{
    {kBlue, "", Shape::kCircle},
    {kVermillion, "7 4", Shape::kSquare},
    {kGreen, "2 3", Shape::kTriangle},
    {kPurple, "9 3 2 3", Shape::kDiamond},
    {kOrange, "4 2", Shape::kCross},
}};

const Stroke kPollStroke{kInk, 2, "6 4"};
const Stroke kBoundStroke{kVermillion, 2.5, ""};

std::string ms_label(std::string_view what, double ms) {
  return std::string(what) + " " + format_number(std::round(ms * 100) / 100) + " ms";
}

// The x range of both latency plots: the data, poll_interval, and the bound
// when it is not so far out that it would squeeze the data.
struct LatencyAxis {
  svg::Ticks x;
  bool bound_on_scale = false;
};

LatencyAxis latency_axis(const LatencyPlot& p) {
  double lo = 0;
  double hi = 0;
  for (double v : p.latencies_ms) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (p.poll_interval_ms) hi = std::max(hi, *p.poll_interval_ms);
  LatencyAxis axis;
  if (p.bound_ms && *p.bound_ms <= 2.5 * std::max(hi, 1.0)) {
    hi = std::max(hi, *p.bound_ms);
    axis.bound_on_scale = true;
  }
  if (hi <= lo) hi = lo + 1;
  axis.x = svg::nice_ticks(lo, hi + (hi - lo) * 0.04, 8);
  return axis;
}

// Draws poll_interval and the bound (or names an off-scale bound at the edge).
void latency_markers(Svg& s, const Frame& f, const LatencyPlot& p, const LatencyAxis& axis) {
  int row = 0;
  if (p.poll_interval_ms &&
      f.vline(s, *p.poll_interval_ms, ms_label("poll_interval", *p.poll_interval_ms), kPollStroke,
              row)) {
    ++row;
  }
  if (!p.bound_ms) return;
  if (axis.bound_on_scale) {
    f.vline(s, *p.bound_ms, ms_label("bound", *p.bound_ms), kBoundStroke, row);
    return;
  }
  TextStyle style;
  style.anchor = "end";
  style.bold = true;
  style.colour = "#9A3A00";
  const std::string label = ms_label("bound", *p.bound_ms) + " (off scale) \u2192";
  const double x = f.area().x + f.area().w;
  const double y = f.area().y - 8 - row * 17;
  const double w = svg::text_width(label, style.size);
  s.rect(x - w - 3, y - 12, w + 6, 16, "#ffffff", 0.85);
  s.text({x, y}, label, style);
}

void no_data(Svg& s, const Frame& f, std::string_view what) {
  TextStyle style;
  style.anchor = "middle";
  style.size = 14;
  s.text({f.area().x + f.area().w / 2, f.area().y + f.area().h / 2}, what, style);
}

// Two rows of reference-line labels above the area; axis labels below it.
constexpr int kLatencyWidth = 548;
constexpr int kLatencyHeight = 340;
constexpr svg::Rect kLatencyArea{76, 46, 450, 236};

std::string fault_colour(std::string_view action) {
  if (action == "pause") return kBlue;
  if (action == "kill") return kInk;
  if (action == "restart") return "#6B6B6B";
  if (action == "lock") return kOrange;
  if (action == "clock_step") return kPurple;
  if (action == "delete_db" || action == "replace_db") return kSky;
  if (action == "readonly_dir") return kYellow;
  return "#999999";
}

std::string fault_name(std::string_view action) {
  if (action == "clock_step") return "clock step";
  if (action == "delete_db") return "delete db";
  if (action == "replace_db") return "replace db";
  if (action == "readonly_dir") return "read-only dir";
  if (action == "host_lag") return "host stall";
  return std::string(action);
}

double fault_opacity(std::string_view action, bool whole_height) {
  const double base = action == "readonly_dir" ? 0.45 : 0.22;
  return whole_height ? base * 0.8 : base;
}

}  // namespace

std::string latency_histogram_svg(const LatencyPlot& p) {
  const LatencyAxis axis = latency_axis(p);
  const double range = axis.x.hi - axis.x.lo;
  const double bin = svg::nice_number(range / 25, true);
  const auto bins = static_cast<std::size_t>(std::max(1.0, std::ceil(range / bin - 1e-9)));
  std::vector<std::size_t> counts(bins, 0);
  for (double v : p.latencies_ms) {
    const double i = std::floor((v - axis.x.lo) / bin);
    ++counts[static_cast<std::size_t>(std::clamp(i, 0.0, static_cast<double>(bins - 1)))];
  }
  const std::size_t most = counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  Frame f(kLatencyArea, axis.x,
          svg::nice_ticks(0, std::max<double>(4, static_cast<double>(most)), 6));
  Svg s(kLatencyWidth, kLatencyHeight, "plot histogram", p.title);
  f.draw_axes(s, "delivery latency (ms)", "deliveries (count)");
  for (std::size_t i = 0; i < bins; ++i) {
    if (counts[i] == 0) continue;
    const double from = axis.x.lo + static_cast<double>(i) * bin;
    const double to = std::min(from + bin, axis.x.hi);
    const double top = f.y(static_cast<double>(counts[i]));
    s.begin_group(std::to_string(counts[i]) + " deliveries in [" + format_number(from) + ", " +
                  format_number(to) + ") ms");
    s.rect(f.x(from) + 0.5, top, f.x(to) - f.x(from) - 1, f.y(0) - top, kSky, 1, "#1F5F8B");
    s.end_group();
  }
  if (p.latencies_ms.empty()) no_data(s, f, "no deliveries recorded");
  latency_markers(s, f, p, axis);
  return s.str();
}

std::string latency_cdf_svg(const LatencyPlot& p) {
  const LatencyAxis axis = latency_axis(p);
  Frame f(kLatencyArea, axis.x, svg::nice_ticks(0, 1, 5));
  Svg s(kLatencyWidth, kLatencyHeight, "plot cdf", p.title);
  f.draw_axes(s, "delivery latency (ms)", "fraction of deliveries \u2264 x");
  std::vector<double> sorted = p.latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.empty()) {
    no_data(s, f, "no deliveries recorded");
  } else {
    const auto n = static_cast<double>(sorted.size());
    std::vector<Point> pts{{f.x(axis.x.lo), f.y(0)}};
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const double x = f.x(sorted[i]);
      pts.emplace_back(x, f.y(static_cast<double>(i) / n));
      pts.emplace_back(x, f.y(static_cast<double>(i + 1) / n));
    }
    pts.emplace_back(f.x(axis.x.hi), f.y(1));
    s.polyline(pts, Stroke{kBlue, 2.5, ""});
    // p50 and p99 (the checker's): dotted guides from the y axis, labelled at
    // the left where a latency CDF leaves room (it rises towards the right).
    TextStyle style;
    style.size = 12;
    style.bold = true;
    for (const auto& [q, name, shape, value] :
         {std::tuple{50.0, "p50", Shape::kCircle, p.p50_ms},
          std::tuple{99.0, "p99", Shape::kSquare, p.p99_ms}}) {
      if (!value) continue;
      const double v = *value;
      const double y = f.y(q / 100);
      s.line({f.area().x, y}, {f.x(v), y}, Stroke{"#555555", 1, "2 3"});
      s.marker({f.x(v), y}, shape, 8, kInk, "#ffffff");
      s.text({f.area().x + 6, y - 5}, ms_label(name, v), style);
    }
  }
  latency_markers(s, f, p, axis);
  return s.str();
}

std::string timeline_svg(const TimelineData& d, std::string_view title) {
  constexpr int kWidth = 1120;
  constexpr double kLeft = 64;
  constexpr double kRight = 24;
  constexpr double kPhaseBand = 22;
  constexpr double kLaneBase = 44;  // marks; stale rows go below
  constexpr double kStaleRow = 5;
  constexpr std::size_t kMaxStaleRows = 12;
  const double plot_w = kWidth - kLeft - kRight;
  using MK = TimelineData::MarkKind;

  // Stale windows of one lane that overlap in time get their own rows.
  std::vector<std::size_t> stale_row(d.stale.size(), 0);
  std::vector<std::size_t> rows_in_lane(d.lanes.size(), 0);
  {
    std::vector<std::vector<double>> row_end(d.lanes.size());
    for (std::size_t i = 0; i < d.stale.size(); ++i) {
      auto& ends = row_end[d.stale[i].lane];
      std::size_t r = 0;
      while (r < ends.size() && ends[r] > d.stale[i].from_s) ++r;
      if (r == kMaxStaleRows) r = i % kMaxStaleRows;  // too many: reuse rows
      if (r == ends.size()) ends.push_back(0);
      ends[r] = std::max(ends[r], d.stale[i].to_s);
      stale_row[i] = r;
      rows_in_lane[d.stale[i].lane] = ends.size();
    }
  }

  // Legend: the kinds of faults present, then the marks.
  std::vector<LegendItem> items;
  std::vector<std::string> kinds;
  for (const auto& f : d.faults) {
    if (std::find(kinds.begin(), kinds.end(), f.action) == kinds.end()) kinds.push_back(f.action);
  }
  for (const std::string& k : kinds) {
    const bool instant_only = std::all_of(d.faults.begin(), d.faults.end(), [&k](const auto& f) {
      return f.action != k || f.instant;
    });
    const bool dashed =
        k == "restart" || std::any_of(d.faults.begin(), d.faults.end(),
                                      [&k](const auto& f) { return f.action == k && !f.lane; });
    if (instant_only) {
      items.emplace_back(fault_name(k), fault_colour(k), LegendItem::Kind::kLine,
                         dashed ? "5 3" : "");
    } else {
      items.emplace_back(fault_name(k) + " window", fault_colour(k), LegendItem::Kind::kSwatch, "",
                         Shape::kCircle, fault_opacity(k, false) * 1.6);
    }
  }
  auto has_mark = [&d](MK kind) {
    return std::any_of(d.marks.begin(), d.marks.end(),
                       [kind](const auto& m) { return m.kind == kind; });
  };
  using Kind = LegendItem::Kind;
  if (has_mark(MK::kPublish))
    items.emplace_back("publish", kInk, Kind::kMarker, "", Shape::kTriangle);
  if (has_mark(MK::kPublishError)) {
    items.emplace_back("publish failed", kVermillion, Kind::kMarker, "", Shape::kCross);
  }
  if (has_mark(MK::kDelivery)) items.emplace_back("delivery", kGreen, Kind::kLine);
  if (has_mark(MK::kFlush))
    items.emplace_back("flush", kPurple, Kind::kMarker, "", Shape::kDiamond);
  if (has_mark(MK::kExit)) items.emplace_back("exit", kInk, Kind::kMarker, "", Shape::kCross);
  if (has_mark(MK::kStaleRead)) {
    items.emplace_back("stale read", kVermillion, Kind::kMarker, "", Shape::kSquare);
  }
  const bool any_closed =
      std::any_of(d.stale.begin(), d.stale.end(), [](const auto& w) { return !w.never; });
  const bool any_never =
      std::any_of(d.stale.begin(), d.stale.end(), [](const auto& w) { return w.never; });
  if (any_closed) {
    items.emplace_back("stale window (closed)", kVermillion, Kind::kSwatch, "", Shape::kCircle,
                       0.45);
  }
  if (any_never) {
    items.emplace_back("stale, never closed \u25B6", kVermillion, Kind::kSwatch, "", Shape::kCircle,
                       1);
  }

  // Geometry: lanes stacked below the phase band; each lane as tall as its stale rows need.
  std::vector<double> lane_top;
  std::vector<double> lane_h;
  const double lanes_top = 8 + kPhaseBand + 4;
  double y_cursor = lanes_top;
  for (std::size_t i = 0; i < d.lanes.size(); ++i) {
    lane_top.push_back(y_cursor);
    lane_h.push_back(kLaneBase + static_cast<double>(rows_in_lane[i]) * kStaleRow +
                     (rows_in_lane[i] ? 3 : 0));
    y_cursor += lane_h.back();
  }
  const double lanes_h = std::max(y_cursor - lanes_top, kLaneBase);
  const double legend_h = svg::legend_height(plot_w, items);
  const double height = lanes_top + lanes_h + 54 + legend_h + 8;
  Svg s(kWidth, static_cast<int>(std::ceil(height)), "plot timeline", title);
  const svg::Rect area{kLeft, lanes_top, plot_w, lanes_h};
  svg::Ticks no_y;
  Frame f(area, svg::nice_ticks(0, std::max(d.end_s, 0.001), 14), no_y);
  // Lane backgrounds first, so grid and shading sit on top of them.
  for (std::size_t i = 0; i < d.lanes.size(); ++i) {
    s.rect(area.x, lane_top[i], area.w, lane_h[i], i % 2 == 0 ? "#F5F5F5" : "#FFFFFF");
  }
  f.draw_axes(s, "time since the first history record (s)", "");

  // Phases: a band above the lanes.
  TextStyle small;
  small.size = 11;
  small.colour = "#333333";
  for (std::size_t i = 0; i < d.phases.size(); ++i) {
    const double from = f.x(d.phases[i].t_s);
    const double to = f.x(i + 1 < d.phases.size() ? d.phases[i + 1].t_s : d.end_s);
    s.rect(from, 8, to - from, kPhaseBand, i % 2 == 0 ? "#E4E4E4" : "#F0F0F0");
    if (svg::text_width(d.phases[i].name, small.size) + 6 < to - from) {
      s.text({from + 3, 8 + 15}, d.phases[i].name, small);
    }
  }
  TextStyle lane_style;
  lane_style.anchor = "end";
  lane_style.bold = true;
  lane_style.size = 13;
  for (std::size_t i = 0; i < d.lanes.size(); ++i) {
    s.text({area.x - 8, lane_top[i] + 27}, d.lanes[i], lane_style);
    s.line({area.x, lane_top[i] + lane_h[i]}, {area.x + area.w, lane_top[i] + lane_h[i]},
           Stroke{"#CCCCCC", 1});
  }

  // Fault windows and instants.
  for (const auto& fault : d.faults) {
    const std::string colour = fault_colour(fault.action);
    const double top = fault.lane ? lane_top[*fault.lane] : area.y;
    const double h = fault.lane ? lane_h[*fault.lane] : area.h;
    std::string tip = fault.label;
    if (!fault.instant) {
      tip += ", " + format_fixed(fault.from_s, 3) + " s to " + format_fixed(fault.to_s, 3) + " s" +
             (fault.open_ended ? " (never ended)" : "");
    }
    s.begin_group(tip);
    if (fault.instant) {
      const double x = f.x(fault.from_s);
      const bool dashed = !fault.lane || fault.action == "restart";
      s.line({x, top}, {x, top + h}, Stroke{colour, 2.5, dashed ? "5 3" : ""});
      s.text({x + 3, top + 11}, fault_name(fault.action), small);
    } else {
      const double x0 = f.x(fault.from_s);
      const double x1 = f.x(fault.to_s);
      s.rect(x0, top, x1 - x0, h, colour, fault_opacity(fault.action, !fault.lane));
      s.line({x0, top}, {x0, top + h}, Stroke{colour, 1.5});
      if (!fault.open_ended) s.line({x1, top}, {x1, top + h}, Stroke{colour, 1.5});
      if (svg::text_width(fault_name(fault.action), small.size) + 6 < x1 - x0) {
        s.text({x0 + 3, top + 11}, fault_name(fault.action), small);
      }
    }
    s.end_group();
  }

  // Stale windows: thin bars below the marks, one row per overlapping window;
  // those never closed are solid and end in an arrowhead at the end of the run.
  for (std::size_t i = 0; i < d.stale.size(); ++i) {
    const auto& w = d.stale[i];
    const double x0 = f.x(w.from_s);
    const double x1 = std::max(f.x(w.to_s), x0 + 2);
    const double y = lane_top[w.lane] + kLaneBase + static_cast<double>(stale_row[i]) * kStaleRow;
    s.begin_group(w.label);
    s.rect(x0, y, x1 - x0, kStaleRow - 1, kVermillion, w.never ? 1 : 0.45);
    if (w.never) s.marker({x1 + 3, y + 2}, Shape::kTriangleRight, 7, kVermillion, "");
    s.end_group();
  }

  // Marks: publishes high in the lane, deliveries in the middle, the rest low.
  // Tooltips only while the page stays small.
  constexpr std::size_t kMaxTooltips = 5000;
  const bool tooltips = d.marks.size() <= kMaxTooltips;
  for (const auto& m : d.marks) {
    const double x = f.x(m.t_s);
    const double top = lane_top[m.lane];
    if (tooltips) s.begin_group(m.label + " at " + format_fixed(m.t_s, 3) + " s");
    switch (m.kind) {
      case MK::kPublish:
        s.marker({x, top + 11}, Shape::kTriangle, 9, kInk, "");
        break;
      case MK::kPublishError:
        s.marker({x, top + 11}, Shape::kCross, 9, kVermillion, "");
        break;
      case MK::kDelivery:
        s.line({x, top + 18}, {x, top + 32}, Stroke{kGreen, 2});
        break;
      case MK::kFlush:
        s.marker({x, top + 26}, Shape::kDiamond, 12, kPurple, kInk);
        break;
      case MK::kExit:
        s.marker({x, top + 26}, Shape::kCross, m.unexpected ? 13 : 10,
                 m.unexpected ? kVermillion : kInk, "");
        break;
      case MK::kStaleRead:
        s.marker({x, top + 26}, Shape::kSquare, 11, kVermillion, kInk);
        break;
    }
    if (tooltips) s.end_group();
  }
  svg::legend(s, area.x, area.y + area.h + 50, plot_w, items);
  return s.str();
}

namespace {

// The chaos schedule's rows: the kinds of run.effects that were applied,
// then kinds only the schedule names.
std::vector<std::string> schedule_rows(const ChaosRun& run) {
  std::vector<std::string> rows;
  auto add = [&rows](const std::string& kind) {
    if (std::find(rows.begin(), rows.end(), kind) == rows.end()) rows.push_back(kind);
  };
  for (const ChaosEffect& e : run.effects) {
    const bool applied = std::any_of(run.schedule.begin(), run.schedule.end(),
                                     [&e](const ChaosWindow& w) { return w.kind == e.kind; });
    if (applied) add(e.kind);
  }
  for (const ChaosWindow& w : run.schedule) add(w.kind);
  return rows;
}

struct ReachedStyle {
  const char* colour;
  double opacity;
  const char* outline;  // "" for none
  std::optional<Shape> shape;
  const char* words;
};

ReachedStyle reached_style(std::optional<bool> reached) {
  if (!reached) return {"#9E9E9E", 0.4, "#5E5E5E", std::nullopt, "not judged"};
  if (*reached) return {kGreen, 0.7, "", Shape::kCircle, "reached its path"};
  return {kVermillion, 0.7, "", Shape::kCross, "did not reach its path"};
}

}  // namespace

std::string chaos_schedule_svg(const ChaosRun& run, std::string_view title) {
  constexpr int kWidth = 1120;
  constexpr double kLeft = 168;
  constexpr double kRight = 24;
  constexpr double kEpochBand = 20;
  constexpr double kRow = 26;
  constexpr double kBar = 14;
  constexpr std::size_t kMaxTooltips = 5000;
  const double plot_w = kWidth - kLeft - kRight;
  const std::vector<std::string> rows = schedule_rows(run);

  // Epoch starts (the workload time before each) and the end of the axis.
  std::vector<double> epoch_start;
  double end_s = 0;
  for (double length : run.epoch_workload_s) {
    epoch_start.push_back(end_s);
    end_s += length;
  }
  for (const ChaosWindow& w : run.schedule) end_s = std::max({end_s, w.begin_s, w.end_s});

  std::vector<LegendItem> items;
  for (const std::optional<bool> reached : {std::optional<bool>(true), std::optional<bool>(false),
                                            std::optional<bool>()}) {
    const ReachedStyle st = reached_style(reached);
    const bool present = std::any_of(run.schedule.begin(), run.schedule.end(),
                                     [&](const ChaosWindow& w) { return w.reached == reached; });
    if (!present) continue;
    const std::string mark = !st.shape ? "" : *st.shape == Shape::kCircle ? " \u25CF" : " \u2717";
    items.emplace_back(std::string(st.words) + mark, st.colour, LegendItem::Kind::kSwatch, "",
                       Shape::kCircle, st.opacity);
  }
  if (std::any_of(run.schedule.begin(), run.schedule.end(),
                  [](const ChaosWindow& w) { return w.instant(); })) {
    items.emplace_back("instant fault (tick)", kInk, LegendItem::Kind::kLine);
  }
  if (epoch_start.size() > 1) {
    items.emplace_back("epoch boundary", "#555555", LegendItem::Kind::kLine, "5 3");
  }

  const double rows_top = 8 + kEpochBand + 4;
  const double rows_h = std::max(1.0, static_cast<double>(rows.size())) * kRow;
  const double legend_h = svg::legend_height(plot_w, items);
  const double height = rows_top + rows_h + 54 + legend_h + 8;
  Svg s(kWidth, static_cast<int>(std::ceil(height)), "plot chaos-schedule", title);
  s.root_attribute("data-faults", std::to_string(run.schedule.size()));
  const svg::Rect area{kLeft, rows_top, plot_w, rows_h};
  Frame f(area, svg::nice_ticks(0, std::max(end_s, 0.001), 14), svg::Ticks{});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    s.rect(area.x, area.y + static_cast<double>(i) * kRow, area.w, kRow,
           i % 2 == 0 ? "#F5F5F5" : "#FFFFFF");
  }
  f.draw_axes(s, "workload time (s), the epochs laid end to end", "");

  TextStyle small;
  small.size = 11;
  small.colour = "#333333";
  for (std::size_t e = 0; e < epoch_start.size(); ++e) {
    const double from = f.x(epoch_start[e]);
    const double to = f.x(e + 1 < epoch_start.size() ? epoch_start[e + 1] : end_s);
    s.rect(from, 8, to - from, kEpochBand, e % 2 == 0 ? "#E4E4E4" : "#F0F0F0");
    const std::string label = "epoch " + std::to_string(e);
    if (svg::text_width(label, small.size) + 6 < to - from) s.text({from + 3, 8 + 14}, label, small);
    if (e > 0) s.line({from, area.y}, {from, area.y + area.h}, Stroke{"#555555", 1.2, "5 3"});
  }
  TextStyle row_style;
  row_style.anchor = "end";
  row_style.bold = true;
  row_style.size = 13;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    s.text({area.x - 8, area.y + static_cast<double>(i) * kRow + kRow / 2 + 4}, rows[i], row_style);
  }
  if (rows.empty()) no_data(s, f, "no fault was applied");

  const bool tooltips = run.schedule.size() <= kMaxTooltips;
  for (const ChaosWindow& w : run.schedule) {
    const auto row = static_cast<std::size_t>(
        std::find(rows.begin(), rows.end(), w.kind) - rows.begin());
    const double mid = area.y + static_cast<double>(row) * kRow + kRow / 2;
    const ReachedStyle st = reached_style(w.reached);
    const double x0 = f.x(w.begin_s);
    if (tooltips) {
      std::string tip = w.kind + (w.worker.empty() ? "" : " " + w.worker) + ", epoch " +
                        std::to_string(w.epoch) + ": " + format_fixed(w.begin_s, 3) + " s";
      if (!w.instant()) tip += " to " + format_fixed(w.end_s, 3) + " s";
      s.begin_group(tip + ", " + st.words);
    }
    if (w.instant()) {
      s.line({x0, mid - kRow / 2 + 3}, {x0, mid + kRow / 2 - 3},
             Stroke{st.colour, 2.5, st.shape ? "" : "3 2"});
    } else {
      s.rect(x0, mid - kBar / 2, std::max(f.x(w.end_s) - x0, 2.0), kBar, st.colour, st.opacity,
             st.outline);
    }
    if (st.shape) s.marker({x0, mid}, *st.shape, 8, st.colour, *st.shape == Shape::kCircle ? "#ffffff" : "");
    if (tooltips) s.end_group();
  }
  svg::legend(s, area.x, area.y + area.h + 50, plot_w, items);
  return s.str();
}

namespace {

const SeriesStyle& style_of(int style, std::size_t position) {
  const std::size_t i = style >= 0 ? static_cast<std::size_t>(style) : position;
  return kSeriesStyles[i % kSeriesStyles.size()];
}

Stroke reference_stroke(const Reference& r) { return r.bound ? kBoundStroke : kPollStroke; }

// y ticks over [lo, hi] of the data: 1-2-5 ticks on a log axis (lo is the
// smallest positive value), else nice ticks from 0.
svg::Ticks y_ticks(double lo, double hi, bool log) {
  // Padded so a marker on the lowest or highest value stays inside the area.
  if (log) return svg::log_ticks(lo / 1.15, hi * 1.15);
  return svg::nice_ticks(0, hi > 0 ? hi * 1.05 : 1, 6);
}

}  // namespace

std::string line_chart_svg(std::string_view css_kind, std::string_view title,
                           std::string_view x_label, std::string_view y_label,
                           const std::vector<Series>& series, const ChartOptions& o) {
  constexpr std::size_t kMaxMarkedPoints = 24;
  constexpr int kWidth = 548;
  constexpr int kHeight = 340;
  std::vector<LegendItem> items;
  std::vector<double> xs;
  double y_lo = std::numeric_limits<double>::infinity();
  double y_hi = 0;
  const auto take_y = [&](double y) {
    if (y > 0 || !o.log_y) y_lo = std::min(y_lo, y);
    y_hi = std::max(y_hi, y);
  };
  for (std::size_t i = 0; i < series.size(); ++i) {
    const SeriesStyle& st = style_of(series[i].style, i);
    items.push_back({series[i].name, st.colour, LegendItem::Kind::kLineMarker, st.dash, st.shape});
    for (const auto& [x, y] : series[i].points) {
      xs.push_back(x);
      take_y(y);
    }
  }
  for (const Reference& r : o.references) {
    if (r.kind == Reference::Kind::kHorizontal) take_y(r.value);
    if (r.kind == Reference::Kind::kDiagonal) {
      items.emplace_back(r.label, reference_stroke(r).colour, LegendItem::Kind::kLine,
                         reference_stroke(r).dash);
    }
  }
  if (xs.empty()) xs.push_back(0);
  const auto [x_min, x_max] = std::minmax_element(xs.begin(), xs.end());
  svg::Ticks x_ticks;
  if (o.log_x) {
    x_ticks = svg::log_ticks_at(xs);
  } else {
    const double span = *x_max - *x_min;
    const int max_ticks = o.integer_x ? static_cast<int>(std::clamp(span + 1, 2.0, 8.0)) : 8;
    x_ticks = svg::nice_ticks(*x_min, *x_max, max_ticks);
  }
  if (!std::isfinite(y_lo)) y_lo = 0;
  const double legend_w = kWidth - 76 - 24;
  const double legend_h = svg::legend_height(legend_w, items);
  const svg::Rect area{76, 12 + legend_h + 8, legend_w, kHeight - (12 + legend_h + 8) - 58};
  Frame f(area, x_ticks, y_ticks(y_lo, y_hi, o.log_y));
  Svg s(kWidth, kHeight, "plot " + std::string(css_kind), title);
  s.root_attribute("data-y-scale", o.log_y ? "log" : "linear");
  s.root_attribute("data-x-scale", o.log_x ? "log" : "linear");
  svg::legend(s, area.x, 10, legend_w, items);
  f.draw_axes(s, x_label, y_label);
  for (const Reference& r : o.references) {
    switch (r.kind) {
      case Reference::Kind::kHorizontal:
        f.hline(s, r.value, r.label, reference_stroke(r));
        break;
      case Reference::Kind::kVertical:
        f.vline(s, r.value, r.label, reference_stroke(r));
        break;
      case Reference::Kind::kDiagonal: {
        const svg::Ticks& xt = f.x_ticks();
        const svg::Ticks& yt = f.y_ticks();
        const double from = std::max(xt.lo, yt.lo);
        const double to = std::min(xt.hi, yt.hi);
        if (from < to) s.line({f.x(from), f.y(from)}, {f.x(to), f.y(to)}, reference_stroke(r));
        break;
      }
    }
  }
  for (std::size_t i = 0; i < series.size(); ++i) {
    const SeriesStyle& st = style_of(series[i].style, i);
    std::vector<Point> pts;
    for (const auto& [x, y] : series[i].points) pts.emplace_back(f.x(x), f.y(y));
    s.path({pts}, Stroke{st.colour, 2.5, st.dash}, "series", series[i].name);
    // Dense series (a size sampled over time) read better as a line alone.
    if (series[i].points.size() > kMaxMarkedPoints) continue;
    for (const auto& [x, y] : series[i].points) {
      s.begin_group(series[i].name + " at " + format_number(x) + ": " + format_number(y));
      s.marker({f.x(x), f.y(y)}, st.shape, 9, st.colour, "#ffffff");
      s.end_group();
    }
  }
  return s.str();
}

std::string range_chart_svg(std::string_view css_kind, std::string_view title,
                            std::string_view y_label, const std::vector<RangeGroup>& groups,
                            const std::vector<RangeSeries>& series, bool log_y,
                            std::string_view reference_label) {
  constexpr int kWidth = 1120;
  constexpr int kHeight = 400;
  std::vector<LegendItem> items;
  double y_lo = std::numeric_limits<double>::infinity();
  double y_hi = 0;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const SeriesStyle& st = style_of(series[i].style, i);
    items.push_back({series[i].name, st.colour, LegendItem::Kind::kLineMarker, "", st.shape});
    for (const auto& v : series[i].values) {
      if (!v) continue;
      for (double y : {v->low, v->mid, v->high}) {
        if (y > 0 || !log_y) y_lo = std::min(y_lo, y);
        y_hi = std::max(y_hi, y);
      }
    }
  }
  bool any_reference = false;
  for (const RangeGroup& g : groups) {
    if (!g.reference) continue;
    any_reference = true;
    if (*g.reference > 0 || !log_y) y_lo = std::min(y_lo, *g.reference);
    y_hi = std::max(y_hi, *g.reference);
  }
  if (any_reference && !reference_label.empty()) {
    items.emplace_back(std::string(reference_label), kInk, LegendItem::Kind::kLine,
                       kPollStroke.dash);
  }
  if (!std::isfinite(y_lo)) y_lo = 0;
  const double legend_w = kWidth - 76 - 24;
  const double legend_h = svg::legend_height(legend_w, items);
  const svg::Rect area{76, 12 + legend_h + 8, legend_w, kHeight - (12 + legend_h + 8) - 56};
  Frame f(area, svg::Ticks{}, y_ticks(y_lo, y_hi, log_y));
  Svg s(kWidth, kHeight, "plot " + std::string(css_kind), title);
  s.root_attribute("data-y-scale", log_y ? "log" : "linear");
  svg::legend(s, area.x, 10, legend_w, items);
  f.draw_axes(s, "", y_label);

  const double n = static_cast<double>(std::max<std::size_t>(1, groups.size()));
  const double group_w = area.w / n;
  const double m = static_cast<double>(std::max<std::size_t>(1, series.size()));
  const double slot = std::min(group_w * 0.8 / m, 30.0);
  const auto centre = [&](std::size_t g) { return area.x + group_w * (static_cast<double>(g) + 0.5); };
  const double bottom = area.y + area.h;
  TextStyle label_style;
  label_style.anchor = "middle";
  label_style.size = 12;
  label_style.colour = "#222222";
  TextStyle block_style = label_style;
  block_style.bold = true;
  block_style.size = 13;
  // Group labels; blocks of groups with the same sublabel, split by a rule.
  std::size_t block_start = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    s.text({centre(g), bottom + 18}, groups[g].label, label_style);
    const bool last = g + 1 == groups.size() || groups[g + 1].sublabel != groups[g].sublabel;
    if (!last) continue;
    const double x0 = area.x + group_w * static_cast<double>(block_start);
    const double x1 = area.x + group_w * static_cast<double>(g + 1);
    s.text({(x0 + x1) / 2, bottom + 38}, groups[g].sublabel, block_style);
    if (g + 1 < groups.size()) s.line({x1, area.y}, {x1, bottom + 42}, Stroke{"#8a8a8a", 1.2});
    block_start = g + 1;
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].reference) continue;
    const double y = f.y(*groups[g].reference);
    if (y < area.y || y > bottom) continue;
    const double half = group_w * 0.45;
    s.line({centre(g) - half, y}, {centre(g) + half, y}, kPollStroke);
  }
  for (std::size_t i = 0; i < series.size(); ++i) {
    const SeriesStyle& st = style_of(series[i].style, i);
    const double offset = (static_cast<double>(i) - (m - 1) / 2) * slot;
    std::vector<std::vector<Point>> bars;
    for (std::size_t g = 0; g < groups.size() && g < series[i].values.size(); ++g) {
      const auto& v = series[i].values[g];
      if (!v) continue;
      const double x = centre(g) + offset;
      bars.push_back({{x, f.y(v->low)}, {x, f.y(v->mid)}});
    }
    s.path(bars, Stroke{st.colour, 5, "", 0.75}, "series", series[i].name);
    for (std::size_t g = 0; g < groups.size() && g < series[i].values.size(); ++g) {
      const auto& v = series[i].values[g];
      if (!v) continue;
      const double x = centre(g) + offset;
      s.begin_group(v->tip.empty() ? series[i].name : v->tip);
      if (v->high > v->mid) {
        s.line({x, f.y(v->mid)}, {x, f.y(v->high)}, Stroke{st.colour, 1.2, "2 2"});
        s.line({x - 5, f.y(v->high)}, {x + 5, f.y(v->high)}, Stroke{st.colour, 2.5});
      }
      if (v->low < v->mid) s.marker({x, f.y(v->low)}, st.shape, 7, "#ffffff", st.colour);
      s.marker({x, f.y(v->mid)}, st.shape, 10, st.colour, "#ffffff");
      s.end_group();
    }
  }
  return s.str();
}

}  // namespace pjx::reports
