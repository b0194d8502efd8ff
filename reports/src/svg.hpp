// A small SVG builder for the report's plots: primitives (lines, rectangles,
// polylines, paths, markers, text) and a Frame that maps data to a plot area
// with linear scales and "nice" ticks (1, 2, 2.5, 5 x 10^k steps) or
// logarithmic scales (ticks at 1, 2, 5 x 10^k), and draws the axes.
//
// Contract: every text passed in is escaped; coordinates are written with
// one decimal and numbers are formatted without the C locale, so the same
// calls give the same bytes. Colours are CSS colour strings chosen by the
// caller (plots.cpp keeps the palette). Not thread-safe per instance.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pjx::reports::svg {

// Axis ticks covering [lo, hi]: lo/hi are rounded outwards to the step.
// On a logarithmic axis (`log`) lo > 0, step is unused and each tick is
// printed in its shortest form.
struct Ticks {
  double lo = 0;
  double hi = 1;
  double step = 1;
  int decimals = 0;  // places needed to print every tick distinctly
  std::vector<double> values;
  bool log = false;
};

// Rounds `x` > 0 to 1, 2, 2.5, 5 or 10 times a power of ten (nearest when
// `round`, otherwise the next one up).
double nice_number(double x, bool round);

// At most about `max_ticks` nice ticks covering [lo, hi]; a degenerate range
// (lo == hi, or not finite) is widened to one around it.
Ticks nice_ticks(double lo, double hi, int max_ticks);

// A logarithmic axis covering [lo, hi] (both > 0; others are replaced by a
// decade around them): lo and hi rounded outwards to 1, 2 or 5 x 10^k, ticks
// at those values, or at powers of ten only when the range spans more than
// three decades.
Ticks log_ticks(double lo, double hi);

// A logarithmic axis with a tick at each of `at` (> 0; the distinct values
// of a parameter such as worker counts), padded by a quarter on each side.
Ticks log_ticks_at(std::vector<double> at);

using Point = std::pair<double, double>;

struct Stroke {
  Stroke(std::string colour_ = "#222222", double width_ = 1, std::string dash_ = "",
         double opacity_ = 1)
      : colour(std::move(colour_)), width(width_), dash(std::move(dash_)), opacity(opacity_) {}
  std::string colour;
  double width;
  std::string dash;  // SVG stroke-dasharray, "" for solid
  double opacity;
};

struct TextStyle {
  double size = 12;
  std::string anchor = "start";  // start, middle, end
  std::string colour = "#222222";
  bool bold = false;
  double rotate = 0;  // degrees about the anchor point
};

// Marker shapes, distinct so series never rely on colour alone.
enum class Shape { kCircle, kSquare, kTriangle, kTriangleRight, kDiamond, kCross };

class Svg {
 public:
  // `title` becomes the accessible name (<title>, aria-label).
  Svg(int width, int height, std::string_view css_class, std::string_view title);

  int width() const { return width_; }
  int height() const { return height_; }

  void line(Point from, Point to, const Stroke& stroke);
  void rect(double x, double y, double w, double h, std::string_view fill, double opacity = 1,
            std::string_view stroke = "");
  void polyline(const std::vector<Point>& points, const Stroke& stroke);
  // One <path> of one or more unconnected polylines, with a class and a
  // data-series name (so a reader or a test can tell the series apart).
  void path(const std::vector<std::vector<Point>>& parts, const Stroke& stroke,
            std::string_view css_class, std::string_view series);
  void marker(Point at, Shape shape, double size, std::string_view fill, std::string_view stroke);
  void text(Point at, std::string_view text, const TextStyle& style);
  // A <title> tooltip for the next elements: wraps them in a group.
  void begin_group(std::string_view tooltip);
  void end_group();

  // An attribute of the <svg> element itself (such as data-y-scale="log").
  void root_attribute(std::string_view name, std::string_view value);

  std::string str() const;

 private:
  int width_;
  int height_;
  std::string head_;
  std::string root_attributes_;
  std::string title_;
  std::string body_;
};

// Estimated width in px of `text` at font size `size` (for layout only).
double text_width(std::string_view text, double size);

struct Rect {
  double x = 0;
  double y = 0;
  double w = 0;
  double h = 0;
};

// A plot area with x and y scales over the tick ranges: linear, or
// logarithmic when the ticks are (values <= 0 map to the low edge).
class Frame {
 public:
  Frame(Rect area, Ticks x, Ticks y);

  double x(double value) const;
  double y(double value) const;
  const Rect& area() const { return area_; }
  const Ticks& x_ticks() const { return x_; }
  const Ticks& y_ticks() const { return y_; }

  // Grid lines, axis lines, tick labels and axis titles (with units).
  void draw_axes(Svg& svg, std::string_view x_label, std::string_view y_label) const;
  // A vertical line at data x with a label above the plot area (`row` moves
  // the label up by one line, to keep two labels apart; leave 17 px per row
  // above the area). Returns false, drawing nothing, when the value is
  // outside the x range.
  bool vline(Svg& svg, double value, std::string_view label, const Stroke& stroke,
             int row = 0) const;
  // A horizontal line at data y, labelled inside the area at its right end
  // (`label_below` puts the label under the line). Returns false, drawing
  // nothing, when the value is outside the y range.
  bool hline(Svg& svg, double value, std::string_view label, const Stroke& stroke,
             bool label_below = false) const;

 private:
  Rect area_;
  Ticks x_;
  Ticks y_;
};

struct LegendItem {
  enum class Kind { kLine, kLineMarker, kSwatch, kMarker };
  LegendItem(std::string label_, std::string colour_, Kind kind_ = Kind::kLine,
             std::string dash_ = "", Shape shape_ = Shape::kCircle, double opacity_ = 1)
      : label(std::move(label_)),
        colour(std::move(colour_)),
        kind(kind_),
        dash(std::move(dash_)),
        shape(shape_),
        opacity(opacity_) {}
  std::string label;
  std::string colour;
  Kind kind;
  std::string dash;
  Shape shape;
  double opacity;
};

// Lays the items out left to right from (x, y), wrapping at `max_width`.
// Returns the height used (legend_height gives it without drawing).
double legend(Svg& svg, double x, double y, double max_width, const std::vector<LegendItem>& items);
double legend_height(double max_width, const std::vector<LegendItem>& items);

}  // namespace pjx::reports::svg
