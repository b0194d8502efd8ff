#include "duration.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>
#include <system_error>

namespace pjx::harness {

Timing Timing::quick() { return Timing{"quick", 50, 500, 500}; }
Timing Timing::documented() { return Timing{"documented", 500, 5000, 5000}; }

std::optional<Timing> Timing::named(std::string_view name) {
  if (name == "quick") return quick();
  if (name == "documented") return documented();
  return std::nullopt;
}

double Duration::resolve_ms(const Timing& timing) const {
  return ms + poll * timing.poll_ms + retention * timing.retention_ms +
         busy * timing.busy_timeout_ms;
}

std::int64_t Duration::resolve_ns(const Timing& timing) const {
  return static_cast<std::int64_t>(std::llround(resolve_ms(timing) * 1e6));
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw std::invalid_argument(
      "bad duration \"" + std::string(text) + "\": " + why +
      "; write a number and a unit (ms, s, poll, retention, busy), e.g. \"150ms\", \"1.5s\", "
      "\"3 poll\", \"2.5 retention\", or a sum such as \"retention + 2 poll\"");
}

}  // namespace

Duration parse_duration(std::string_view text) {
  Duration d;
  d.text = std::string(text);
  if (trim(text).empty()) bad(text, "it is empty");
  std::string_view rest = text;
  while (true) {
    const std::size_t plus = rest.find('+');
    std::string_view term = trim(rest.substr(0, plus));
    if (term.empty()) bad(text, "a term of the sum is empty");
    double number = 1;
    std::size_t i = 0;
    while (i < term.size() && ((term[i] >= '0' && term[i] <= '9') || term[i] == '.')) ++i;
    if (i > 0) {
      const auto [ptr, ec] = std::from_chars(term.data(), term.data() + i, number);
      if (ec != std::errc() || ptr != term.data() + i || !std::isfinite(number)) {
        bad(text, "\"" + std::string(term.substr(0, i)) + "\" is not a number");
      }
    }
    const std::string_view unit = trim(term.substr(i));
    if (unit == "ms") {
      d.ms += number;
    } else if (unit == "s") {
      d.ms += number * 1000;
    } else if (unit == "poll") {
      d.poll += number;
    } else if (unit == "retention") {
      d.retention += number;
    } else if (unit == "busy") {
      d.busy += number;
    } else if (unit.empty()) {
      bad(text, "\"" + std::string(term) + "\" has no unit");
    } else {
      bad(text, "unknown unit \"" + std::string(unit) + "\"");
    }
    if (plus == std::string_view::npos) break;
    rest = rest.substr(plus + 1);
  }
  // The runner schedules in integer nanoseconds (resolve_ns): a duration too
  // long for that would wrap around and fire at once, so refuse it here.
  constexpr double kYearMs = 365.0 * 24 * 3600 * 1000;
  for (const Timing& timing : {Timing::quick(), Timing::documented()}) {
    if (!(d.resolve_ms(timing) <= kYearMs)) bad(text, "it is longer than a year");
  }
  return d;
}

std::string format_seconds(double seconds) {
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, seconds);
  if (ec != std::errc()) return std::to_string(seconds);
  return std::string(buf, ptr);
}

double parse_seconds(std::string_view text) {
  const std::string t(text);
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = used == 0 ? "?" : t.substr(used);
  double scale = -1;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "ms") scale = 0.001;
  if (unit == "m") scale = 60;
  if (unit == "h") scale = 3600;
  if (unit == "d") scale = 86400;
  if (scale < 0 || !std::isfinite(value) || value < 0 || t[0] == '+' || t[0] == '-') {
    throw std::invalid_argument("\"" + t +
                                "\" is not a duration: write a number of seconds with an "
                                "optional unit ms, s, m, h or d, e.g. \"90s\", \"2m\", \"0.5h\"");
  }
  return value * scale;
}

}  // namespace pjx::harness
