#include "svg.hpp"

#include <algorithm>
#include <cmath>

#include "text.hpp"

namespace pjx::reports::svg {
namespace {

std::string num(double v) { return format_fixed(v, 1); }

std::string attr(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + html_escape(value) + "\"";
}

std::string stroke_attrs(const Stroke& s) {
  std::string out = attr("stroke", s.colour) + attr("stroke-width", format_number(s.width));
  if (!s.dash.empty()) out += attr("stroke-dasharray", s.dash);
  if (s.opacity < 1) out += attr("stroke-opacity", format_fixed(s.opacity, 2));
  return out;
}

int decimals_for(double step) {
  for (int d = 0; d < 12; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) return d;
  }
  return 12;
}

}  // namespace

double nice_number(double x, bool round) {
  if (!(x > 0) || !std::isfinite(x)) return 1;
  const double exponent = std::floor(std::log10(x));
  const double power = std::pow(10.0, exponent);
  const double f = x / power;
  double nice = 10;
  if (round) {
    if (f < 1.5)
      nice = 1;
    else if (f < 2.25)
      nice = 2;
    else if (f < 3.5)
      nice = 2.5;
    else if (f < 7.5)
      nice = 5;
  } else {
    if (f <= 1.0 + 1e-9)
      nice = 1;
    else if (f <= 2.0 + 1e-9)
      nice = 2;
    else if (f <= 2.5 + 1e-9)
      nice = 2.5;
    else if (f <= 5.0 + 1e-9)
      nice = 5;
  }
  return nice * power;
}

Ticks nice_ticks(double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= lo == 0 ? 0 : pad;
    hi += pad;
  }
  max_ticks = std::max(max_ticks, 2);
  Ticks t;
  t.step = nice_number((hi - lo) / (max_ticks - 1), false);
  t.lo = std::floor(lo / t.step + 1e-9) * t.step;
  t.hi = std::ceil(hi / t.step - 1e-9) * t.step;
  t.decimals = decimals_for(t.step);
  const auto count = static_cast<int>(std::lround((t.hi - t.lo) / t.step));
  for (int i = 0; i <= count; ++i) t.values.push_back(t.lo + i * t.step);
  return t;
}

Ticks log_ticks(double lo, double hi) {
  if (!(lo > 0) || !std::isfinite(lo)) lo = hi > 0 && std::isfinite(hi) ? hi / 10 : 1;
  if (!(hi > lo) || !std::isfinite(hi)) hi = lo * 10;
  const bool decades_only = std::log10(hi / lo) > 3;
  const std::vector<double> mantissas =
      decades_only ? std::vector<double>{1} : std::vector<double>{1, 2, 5};
  // m x 10^k, divided rather than multiplied for k < 0 so 5 x 10^-2 is 0.05.
  const auto value = [](double m, int k) {
    return k < 0 ? m / std::pow(10.0, -k) : m * std::pow(10.0, k);
  };
  Ticks t;
  t.log = true;
  const int k_lo = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  const int k_hi = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  t.lo = value(1, k_lo);
  t.hi = value(1, k_hi);
  for (int k = k_lo; k <= k_hi; ++k) {
    for (double m : mantissas) {
      const double v = value(m, k);
      if (v <= lo * (1 + 1e-9)) t.lo = v;
      if (v >= hi * (1 - 1e-9) && t.hi >= v) t.hi = v;
    }
  }
  for (int k = k_lo; k <= k_hi; ++k) {
    for (double m : mantissas) {
      const double v = value(m, k);
      if (v >= t.lo * (1 - 1e-9) && v <= t.hi * (1 + 1e-9)) t.values.push_back(v);
    }
  }
  t.step = 0;
  return t;
}

Ticks log_ticks_at(std::vector<double> at) {
  at.erase(std::remove_if(at.begin(), at.end(), [](double v) { return !(v > 0) || !std::isfinite(v); }),
           at.end());
  std::sort(at.begin(), at.end());
  at.erase(std::unique(at.begin(), at.end()), at.end());
  if (at.empty()) return log_ticks(1, 10);
  Ticks t;
  t.log = true;
  t.step = 0;
  t.lo = at.front() / 1.25;
  t.hi = at.back() * 1.25;
  t.values = std::move(at);
  return t;
}

Svg::Svg(int width, int height, std::string_view css_class, std::string_view title)
    : width_(width), height_(height) {
  // No xmlns: inline SVG in HTML gets its namespace from the parser, and the
  // page then holds no URL at all.
  head_ = "<svg" + attr("class", css_class) +
          attr("viewBox", "0 0 " + std::to_string(width) + " " + std::to_string(height)) +
          attr("width", std::to_string(width)) + attr("height", std::to_string(height)) +
          attr("role", "img") + attr("aria-label", title);
  title_ = "<title>" + html_escape(title) + "</title>\n";
}

void Svg::root_attribute(std::string_view name, std::string_view value) {
  root_attributes_ += attr(name, value);
}

void Svg::line(Point from, Point to, const Stroke& stroke) {
  body_ += "<line" + attr("x1", num(from.first)) + attr("y1", num(from.second)) +
           attr("x2", num(to.first)) + attr("y2", num(to.second)) + stroke_attrs(stroke) + "/>\n";
}

void Svg::rect(double x, double y, double w, double h, std::string_view fill, double opacity,
               std::string_view stroke) {
  body_ += "<rect" + attr("x", num(x)) + attr("y", num(y)) + attr("width", num(std::max(w, 0.0))) +
           attr("height", num(std::max(h, 0.0))) + attr("fill", fill);
  if (opacity < 1) body_ += attr("fill-opacity", format_fixed(opacity, 2));
  if (!stroke.empty()) body_ += attr("stroke", stroke);
  body_ += "/>\n";
}

void Svg::polyline(const std::vector<Point>& points, const Stroke& stroke) {
  if (points.empty()) return;
  std::string pts;
  for (const auto& [x, y] : points) {
    if (!pts.empty()) pts += ' ';
    pts += num(x) + "," + num(y);
  }
  body_ += "<polyline" + attr("points", pts) + attr("fill", "none") + stroke_attrs(stroke) +
           attr("stroke-linejoin", "round") + "/>\n";
}

void Svg::path(const std::vector<std::vector<Point>>& parts, const Stroke& stroke,
               std::string_view css_class, std::string_view series) {
  std::string d;
  for (const auto& part : parts) {
    for (std::size_t i = 0; i < part.size(); ++i) {
      if (!d.empty()) d += ' ';
      d += (i == 0 ? "M" : "L") + num(part[i].first) + "," + num(part[i].second);
    }
  }
  if (d.empty()) return;
  body_ += "<path" + attr("class", css_class) + attr("data-series", series) + attr("d", d) +
           attr("fill", "none") + stroke_attrs(stroke) + attr("stroke-linejoin", "round") + "/>\n";
}

void Svg::marker(Point at, Shape shape, double size, std::string_view fill,
                 std::string_view stroke) {
  const auto [x, y] = at;
  const double r = size / 2;
  const std::string paint =
      attr("fill", fill) +
      (stroke.empty() ? "" : attr("stroke", stroke) + attr("stroke-width", "1"));
  auto polygon = [&](const std::vector<Point>& pts) {
    std::string p;
    for (const auto& [px, py] : pts) {
      if (!p.empty()) p += ' ';
      p += num(px) + "," + num(py);
    }
    body_ += "<polygon" + attr("points", p) + paint + "/>\n";
  };
  switch (shape) {
    case Shape::kCircle:
      body_ +=
          "<circle" + attr("cx", num(x)) + attr("cy", num(y)) + attr("r", num(r)) + paint + "/>\n";
      break;
    case Shape::kSquare:
      rect(x - r * 0.9, y - r * 0.9, r * 1.8, r * 1.8, fill, 1, stroke);
      break;
    case Shape::kTriangle:
      polygon({{x, y - r * 1.1}, {x + r, y + r * 0.8}, {x - r, y + r * 0.8}});
      break;
    case Shape::kTriangleRight:
      polygon({{x - r * 0.8, y - r}, {x + r, y}, {x - r * 0.8, y + r}});
      break;
    case Shape::kDiamond:
      polygon({{x, y - r * 1.2}, {x + r, y}, {x, y + r * 1.2}, {x - r, y}});
      break;
    case Shape::kCross: {
      const Stroke s{std::string(stroke.empty() ? fill : stroke), 2};
      line({x - r, y - r}, {x + r, y + r}, s);
      line({x - r, y + r}, {x + r, y - r}, s);
      break;
    }
  }
}

void Svg::text(Point at, std::string_view text, const TextStyle& style) {
  body_ += "<text" + attr("x", num(at.first)) + attr("y", num(at.second)) +
           attr("font-size", format_number(style.size)) + attr("fill", style.colour);
  if (style.anchor != "start") body_ += attr("text-anchor", style.anchor);
  if (style.bold) body_ += attr("font-weight", "bold");
  if (style.rotate != 0) {
    body_ += attr("transform", "rotate(" + format_number(style.rotate) + " " + num(at.first) + " " +
                                   num(at.second) + ")");
  }
  body_ += ">" + html_escape(text) + "</text>\n";
}

void Svg::begin_group(std::string_view tooltip) {
  body_ += "<g><title>" + html_escape(tooltip) + "</title>\n";
}

void Svg::end_group() { body_ += "</g>\n"; }

std::string Svg::str() const {
  return head_ + root_attributes_ + ">\n" + title_ + body_ + "</svg>\n";
}

double text_width(std::string_view text, double size) {
  std::size_t code_points = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++code_points;
  }
  return static_cast<double>(code_points) * size * 0.56;
}

Frame::Frame(Rect area, Ticks x, Ticks y) : area_(area), x_(std::move(x)), y_(std::move(y)) {}

namespace {

// Where `value` lies in [ticks.lo, ticks.hi], as a fraction.
double fraction(const Ticks& t, double value) {
  if (t.log) {
    const double v = std::max(value, t.lo);
    return (std::log10(v) - std::log10(t.lo)) / (std::log10(t.hi) - std::log10(t.lo));
  }
  return (value - t.lo) / (t.hi - t.lo);
}

std::string tick_label(const Ticks& t, double value) {
  return t.log ? format_number(value) : format_fixed(value, t.decimals);
}

}  // namespace

double Frame::x(double value) const { return area_.x + fraction(x_, value) * area_.w; }

double Frame::y(double value) const { return area_.y + area_.h - fraction(y_, value) * area_.h; }

void Frame::draw_axes(Svg& svg, std::string_view x_label, std::string_view y_label) const {
  const Stroke grid{"#e2e2e2", 1};
  const Stroke axis{"#555555", 1};
  TextStyle tick_style;
  tick_style.colour = "#333333";
  tick_style.size = 12;
  const double bottom = area_.y + area_.h;
  double widest = 0;
  tick_style.anchor = "end";
  for (double v : y_.values) {
    const double py = y(v);
    svg.line({area_.x, py}, {area_.x + area_.w, py}, grid);
    svg.line({area_.x - 5, py}, {area_.x, py}, axis);
    const std::string label = tick_label(y_, v);
    widest = std::max(widest, text_width(label, tick_style.size));
    svg.text({area_.x - 8, py + 4}, label, tick_style);
  }
  tick_style.anchor = "middle";
  for (double v : x_.values) {
    const double px = x(v);
    svg.line({px, area_.y}, {px, bottom}, grid);
    svg.line({px, bottom}, {px, bottom + 5}, axis);
    svg.text({px, bottom + 19}, tick_label(x_, v), tick_style);
  }
  if (!y_.values.empty()) svg.line({area_.x, area_.y}, {area_.x, bottom}, axis);
  svg.line({area_.x, bottom}, {area_.x + area_.w, bottom}, axis);
  TextStyle label_style;
  label_style.size = 13;
  label_style.anchor = "middle";
  label_style.colour = "#222222";
  if (!x_label.empty()) svg.text({area_.x + area_.w / 2, bottom + 40}, x_label, label_style);
  label_style.rotate = -90;
  const double lx = area_.x - widest - 20;
  if (!y_label.empty()) svg.text({lx, area_.y + area_.h / 2}, y_label, label_style);
}

bool Frame::vline(Svg& svg, double value, std::string_view label, const Stroke& stroke,
                  int row) const {
  if (!std::isfinite(value) || value < x_.lo || value > x_.hi) return false;
  const double px = x(value);
  svg.line({px, area_.y}, {px, area_.y + area_.h}, stroke);
  if (label.empty()) return true;
  TextStyle style;
  style.size = 12;
  style.colour = "#111111";
  style.bold = true;
  const double w = text_width(label, style.size);
  double tx = px + 5;
  if (tx + w > area_.x + area_.w) {
    style.anchor = "end";
    tx = px - 5;
  }
  const double ty = area_.y - 8 - row * 17;
  const double box_x = style.anchor == "end" ? tx - w - 3 : tx - 3;
  svg.rect(box_x, ty - 12, w + 6, 16, "#ffffff", 0.85);
  svg.text({tx, ty}, label, style);
  return true;
}

bool Frame::hline(Svg& svg, double value, std::string_view label, const Stroke& stroke,
                  bool label_below) const {
  const double lo = std::min(y_.lo, y_.hi);
  const double hi = std::max(y_.lo, y_.hi);
  if (!std::isfinite(value) || value < lo || value > hi) return false;
  const double py = y(value);
  svg.line({area_.x, py}, {area_.x + area_.w, py}, stroke);
  if (label.empty()) return true;
  TextStyle style;
  style.size = 12;
  style.colour = "#111111";
  style.bold = true;
  style.anchor = "end";
  const double w = text_width(label, style.size);
  const double tx = area_.x + area_.w - 5;
  const double ty = label_below ? py + 15 : py - 5;
  svg.rect(tx - w - 3, ty - 12, w + 6, 16, "#ffffff", 0.85);
  svg.text({tx, ty}, label, style);
  return true;
}

namespace {

constexpr double kLegendRow = 20;
constexpr double kLegendSymbol = 22;
constexpr double kLegendFont = 12;

// Top-left corner of each item, relative to the legend's origin.
std::vector<Point> legend_layout(double max_width, const std::vector<LegendItem>& items) {
  std::vector<Point> at;
  double cx = 0;
  double cy = 0;
  for (const LegendItem& item : items) {
    const double w = kLegendSymbol + 6 + text_width(item.label, kLegendFont) + 18;
    if (cx > 0 && cx + w > max_width) {
      cx = 0;
      cy += kLegendRow;
    }
    at.emplace_back(cx, cy);
    cx += w;
  }
  return at;
}

}  // namespace

double legend_height(double max_width, const std::vector<LegendItem>& items) {
  if (items.empty()) return 0;
  return legend_layout(max_width, items).back().second + kLegendRow;
}

double legend(Svg& svg, double x, double y, double max_width,
              const std::vector<LegendItem>& items) {
  TextStyle style;
  style.size = kLegendFont;
  style.colour = "#222222";
  const std::vector<Point> at = legend_layout(max_width, items);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const LegendItem& item = items[i];
    const double cx = x + at[i].first;
    const double mid = y + at[i].second + kLegendRow / 2;
    switch (item.kind) {
      case LegendItem::Kind::kLine:
        svg.line({cx, mid}, {cx + kLegendSymbol, mid}, Stroke{item.colour, 2.5, item.dash});
        break;
      case LegendItem::Kind::kLineMarker:
        svg.line({cx, mid}, {cx + kLegendSymbol, mid}, Stroke{item.colour, 2.5, item.dash});
        svg.marker({cx + kLegendSymbol / 2, mid}, item.shape, 8, item.colour, "");
        break;
      case LegendItem::Kind::kSwatch:
        svg.rect(cx, mid - 6, kLegendSymbol, 12, item.colour, item.opacity, "#666666");
        break;
      case LegendItem::Kind::kMarker:
        svg.marker({cx + kLegendSymbol / 2, mid}, item.shape, 9, item.colour, "");
        break;
    }
    svg.text({cx + kLegendSymbol + 6, mid + 4}, item.label, style);
  }
  return legend_height(max_width, items);
}

}  // namespace pjx::reports::svg
