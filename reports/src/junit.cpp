// junit.xml: the JUnit XML that CI systems read. One <testsuite> per results
// document, one <testcase> per scenario (classname "pjx.conformance"), per
// bench run (classname "pjx.bench"), or for a chaos run (classname
// "pjx.chaos"). Every text goes through x()/xa().
#include <string_view>

#include "figures.hpp"
#include "renderers.hpp"
#include "text.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;

std::string x(std::string_view text) { return xml_escape(text, false); }
std::string xa(std::string_view text) { return xml_escape(text, true); }

std::string seconds(double s) { return format_fixed(s, 3); }

struct SuiteCounts {
  std::size_t tests = 0;
  std::size_t failures = 0;
  std::size_t errors = 0;
  std::size_t skipped = 0;
  double time = 0;
};

std::string check_text(const Check& c) {
  std::string out = "check " + c.name + " (" + std::string(verdict_name(c.verdict)) + ")";
  if (!c.measured.empty()) out += "\nmeasured: " + c.measured;
  if (!c.bound.empty()) out += "\nbound: " + c.bound;
  if (!c.summary.empty()) out += "\nsummary: " + c.summary;
  if (!c.evidence.empty()) {
    out += "\nevidence:";
    for (const std::string& e : c.evidence) out += "\n  " + e;
  }
  return out;
}

// Text of the checks with the given verdict (all checks when none has it).
std::string checks_with(const Scenario& s, Verdict v) {
  std::string out;
  for (const Check& c : s.checks) {
    if (c.verdict == v) out += (out.empty() ? "" : "\n\n") + check_text(c);
  }
  if (out.empty()) {
    for (const Check& c : s.checks) out += (out.empty() ? "" : "\n\n") + check_text(c);
  }
  return out;
}

std::string first_line_of(const Scenario& s) {
  if (const Check* c = deciding_check(s)) {
    std::string msg = c->name + ": " + (c->measured.empty() ? c->summary : c->measured);
    if (!c->bound.empty()) msg += " (bound: " + c->bound + ")";
    if (!c->evidence.empty()) msg += "; " + c->evidence.front();
    return msg;
  }
  return reason_text(s);
}

std::string testcase(const Scenario& s, SuiteCounts& counts) {
  ++counts.tests;
  counts.time += s.duration_s;
  std::string out = "    <testcase classname=\"pjx.conformance\" name=\"" + xa(s.name) +
                    "\" time=\"" + seconds(s.duration_s) + "\"";
  std::string inner;
  switch (s.verdict) {
    case Verdict::kFail:
      ++counts.failures;
      inner += "      <failure message=\"" + xa(first_line_of(s)) + "\" type=\"fail\">" +
               x(checks_with(s, Verdict::kFail)) + "</failure>\n";
      break;
    case Verdict::kError: {
      ++counts.errors;
      const std::string reason = reason_text(s);
      inner += "      <error message=\"" + xa(reason) + "\" type=\"error\">" +
               x(s.checks.empty() ? reason : checks_with(s, Verdict::kError)) + "</error>\n";
      break;
    }
    case Verdict::kSkip:
      ++counts.skipped;
      inner += "      <skipped message=\"" + xa(reason_text(s)) + "\"/>\n";
      break;
    case Verdict::kPass:
    case Verdict::kReproduced:
      break;
  }
  std::string system_out;
  if (s.verdict == Verdict::kReproduced) {
    system_out =
        "REPRODUCED: this scenario demonstrates a documented failure, and the run showed "
        "it (counted as passing).\n\n" +
        checks_with(s, Verdict::kReproduced);
  } else if (s.verdict == Verdict::kPass && !s.checks.empty()) {
    system_out = checks_with(s, Verdict::kPass);
  }
  if (!s.guarantee.empty())
    system_out += (system_out.empty() ? "" : "\n\n") + ("guarantee: " + s.guarantee);
  if (!s.rerun.empty()) system_out += (system_out.empty() ? "" : "\n") + ("rerun: " + s.rerun);
  if (!system_out.empty()) inner += "      <system-out>" + x(system_out) + "</system-out>\n";
  if (inner.empty()) return out + "/>\n";
  return out + ">\n" + inner + "    </testcase>\n";
}

std::string bench_case(const BenchRun& r, SuiteCounts& counts) {
  ++counts.tests;
  std::string name = r.bench;
  for (const auto& [key, value] : r.params.items()) name += " " + key + "=" + json_text(value);
  std::string metrics;
  for (const auto& [key, value] : r.metrics.items()) {
    metrics += (metrics.empty() ? "" : "\n") + key + " = " + json_text(value);
  }
  return "    <testcase classname=\"pjx.bench\" name=\"" + xa(name) + "\" time=\"0.000\">\n" +
         "      <system-out>" + x(metrics) + "</system-out>\n    </testcase>\n";
}

// The chaos run as one test case: failure with violations of the
// reference, else error when an epoch could not run (or a doublecheck
// differed).
std::string chaos_case(const ResultsDoc& d, SuiteCounts& counts) {
  const ChaosRun& c = d.chaos;
  ++counts.tests;
  const double time = d.duration_s.value_or(0);
  counts.time += time;
  std::string body;
  for (const auto& [check, n] : c.violations) {
    body += (body.empty() ? "" : "\n") + ("check " + check + ": " + std::to_string(n));
  }
  if (c.failing) body += (body.empty() ? "" : "\n") + ("failing plan: " + c.failing->plan);
  if (c.minimal) {
    body += (body.empty() ? "" : "\n") +
            ("minimal plan: " + c.minimal->plan + " (" + chaos_shrink_text(c) + ")");
    if (!c.minimal->rerun.empty()) body += "\nrerun: " + c.minimal->rerun;
  }
  std::string errors;
  for (const std::string& e : c.errors) errors += (errors.empty() ? "" : "\n") + ("could not run: " + e);
  for (const std::string& e : c.doublecheck_differences) {
    errors += (errors.empty() ? "" : "\n") + ("doublecheck: " + e);
  }
  std::string inner;
  const std::string message = chaos_verdict_text(c);
  switch (c.verdict()) {
    case Verdict::kFail:
      ++counts.failures;
      inner += "      <failure message=\"" + xa(message) + "\" type=\"fail\">" +
               x(body + (errors.empty() ? "" : "\n" + errors)) + "</failure>\n";
      break;
    case Verdict::kError:
      ++counts.errors;
      inner += "      <error message=\"" + xa(message) + "\" type=\"error\">" + x(errors) + "</error>\n";
      break;
    default:
      break;
  }
  std::string system_out = chaos_counts_text(d) + "\n" + message;
  for (const ChaosEffect& e : c.effects) {
    system_out += "\n" + e.kind + ": planned " + std::to_string(e.planned) + ", applied " +
                  std::to_string(e.applied) + ", judged " + std::to_string(e.judged) + ", reached " +
                  std::to_string(e.reached) + (e.never_reached() ? " (never reached its path)" : "");
  }
  inner += "      <system-out>" + x(system_out) + "</system-out>\n";
  return "    <testcase classname=\"pjx.chaos\" name=\"" + xa("chaos seed " + d.seed) + "\" time=\"" +
         seconds(time) + "\">\n" + inner + "    </testcase>\n";
}

std::string properties(const ResultsDoc& d) {
  std::string out;
  auto prop = [&out](std::string_view name, const std::string& value) {
    if (!value.empty()) {
      out += "      <property name=\"" + xa(name) + "\" value=\"" + xa(value) + "\"/>\n";
    }
  };
  prop("tool", d.tool);
  prop("version", d.version);
  prop("command", d.command);
  prop("commit", d.commit);
  prop("worker_cmd", d.worker_cmd);
  prop("backend", d.backend);
  prop("timing", d.timing);
  prop("seed", d.seed);
  for (const auto& [key, value] : d.machine.items()) prop("machine." + key, json_text(value));
  return out.empty() ? "" : "    <properties>\n" + out + "    </properties>\n";
}

}  // namespace

std::string render_junit(const std::vector<ResultsDoc>& docs) {
  std::string suites;
  SuiteCounts all;
  for (const ResultsDoc& d : docs) {
    SuiteCounts counts;
    std::string cases;
    if (d.is_bench) {
      for (const BenchRun& r : d.runs) cases += bench_case(r, counts);
    } else if (d.is_chaos) {
      cases += chaos_case(d, counts);
    } else {
      for (const Scenario& s : d.scenarios) cases += testcase(s, counts);
    }
    const double time = d.duration_s.value_or(counts.time);
    std::string name = d.command;
    if (name.empty())
      name = (d.tool.empty() ? "pjx" : d.tool) +
             (d.is_bench ? " bench" : d.is_chaos ? " chaos" : " conformance");
    const auto host = d.machine.find("hostname");
    suites += "  <testsuite name=\"" + xa(name) + "\" tests=\"" + std::to_string(counts.tests) +
              "\" failures=\"" + std::to_string(counts.failures) + "\" errors=\"" +
              std::to_string(counts.errors) + "\" skipped=\"" + std::to_string(counts.skipped) +
              "\" time=\"" + seconds(time) + "\"" +
              (d.started_at.empty() ? "" : " timestamp=\"" + xa(d.started_at) + "\"") +
              (host == d.machine.end() ? "" : " hostname=\"" + xa(json_text(*host)) + "\"") +
              ">\n" + properties(d) + cases + "  </testsuite>\n";
    all.tests += counts.tests;
    all.failures += counts.failures;
    all.errors += counts.errors;
    all.skipped += counts.skipped;
    all.time += time;
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"pjx-inval\" tests=\"" +
         std::to_string(all.tests) + "\" failures=\"" + std::to_string(all.failures) +
         "\" errors=\"" + std::to_string(all.errors) + "\" skipped=\"" +
         std::to_string(all.skipped) + "\" time=\"" + seconds(all.time) + "\">\n" + suites +
         "</testsuites>\n";
}

}  // namespace pjx::reports
