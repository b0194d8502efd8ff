// Fuzz target: scenario TOML loading (harness/run/scenario.hpp).
//
// Properties, on every input:
//   * parse_scenario either returns a Scenario or throws ScenarioError whose
//     message starts with "SOURCE:LINE: " (any other exception is a bug: the
//     harness would die with an unhelpful message);
//   * an accepted scenario resolves its check parameters and every duration
//     under both timings without throwing, and every worker a publish or
//     fault names exists.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check/checkers.hpp"
#include "fuzz_support.hpp"
#include "scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using pjx::harness::Timing;
  pjx::harness::Scenario s;
  try {
    s = pjx::harness::parse_scenario(text, "fuzz.toml", pjx::harness::check_names());
  } catch (const pjx::harness::ScenarioError& e) {
    const std::string_view what = e.what();
    PJX_FUZZ_CHECK(what.rfind("fuzz.toml:", 0) == 0, "a ScenarioError names the file");
    return 0;
  }
  for (const Timing& timing : {Timing::quick(), Timing::documented()}) {
    (void)s.resolved_check_params(timing);
    // The runner schedules in integer nanoseconds: every duration must resolve
    // to a finite, non-negative time that fits (a wrapped one fires at once).
    const auto check = [&timing](const pjx::harness::Duration& d) {
      const double ms = d.resolve_ms(timing);
      PJX_FUZZ_CHECK(std::isfinite(ms) && ms >= 0 && ms < 9.2e12, "a duration resolves to a time");
      PJX_FUZZ_CHECK(d.resolve_ns(timing) >= 0, "a duration resolves to non-negative nanoseconds");
    };
    for (const auto& p : s.publishes) check(p.at);
    for (const auto& f : s.faults) {
      check(f.at);
      if (f.duration) check(*f.duration);
    }
    for (const auto& w : s.workers) {
      if (w.start_at) check(*w.start_at);
    }
    if (s.workload) {
      check(s.workload->start);
      if (s.workload->interval) check(*s.workload->interval);
    }
    if (s.quiesce_timeout) check(*s.quiesce_timeout);
  }
  for (const auto& p : s.publishes) {
    PJX_FUZZ_CHECK(p.worker.empty() || s.find_worker(p.worker) != nullptr,
                   "a publish names a declared worker");
  }
  for (const auto& f : s.faults) {
    PJX_FUZZ_CHECK(f.worker.empty() || s.find_worker(f.worker) != nullptr,
                   "a fault names a declared worker");
  }
  return 0;
}
