// Timings and the durations scenarios are written in.
//
// A scenario runs under one of two timings: `quick` (poll 50 ms, retention
// 500 ms, busy timeout 500 ms: for CI) and `documented` (upstream's defaults:
// 0.5 s, 5 s, 5 s). Durations in scenario files may be written relative to the
// timing ("3 poll", "2.5 retention", "2 busy") or absolutely ("150ms",
// "1.5s"), or as a sum ("retention + 2 poll"), so one file works under both.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pjx::harness {

struct Timing {
  std::string name;  // "quick" or "documented"
  double poll_ms = 50;
  double retention_ms = 500;
  double busy_timeout_ms = 500;

  static Timing quick();
  static Timing documented();
  // The timing of that name, or nullopt.
  static std::optional<Timing> named(std::string_view name);
};

// A duration as written: a sum of absolute milliseconds and multiples of the
// timing's poll interval, retention and busy timeout.
struct Duration {
  double ms = 0;
  double poll = 0;
  double retention = 0;
  double busy = 0;
  std::string text;  // as written, for messages

  double resolve_ms(const Timing& timing) const;
  std::int64_t resolve_ns(const Timing& timing) const;
};

// Parses "150ms", "1.5s", "3 poll", "2.5 retention", "2 busy", "retention"
// (one of it), and sums of these joined by "+". Numbers are non-negative
// decimals; a space between number and unit is optional. Throws
// std::invalid_argument with the text and the accepted forms.
Duration parse_duration(std::string_view text);

// "90s", "2m", "1.5h", "1d", "500ms", or a bare number of seconds, in
// seconds (a command line's durations, a clock step's size). Throws
// std::invalid_argument naming the text and the forms accepted.
double parse_seconds(std::string_view text);

// Formats seconds for an environment variable: the shortest decimal that
// reads back as the same double ("0.05", "5", "0.5").
std::string format_seconds(double seconds);

}  // namespace pjx::harness
