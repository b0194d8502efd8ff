// summary.md: GitHub-flavoured Markdown for a CI job summary. Every input text
// goes through md_cell (or md_code for commands) on its way in.
#include <algorithm>
#include <string_view>

#include "bench_figures.hpp"
#include "figures.hpp"
#include "renderers.hpp"
#include "text.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;

std::string icon(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "\u2705";  // check mark button
    case Verdict::kReproduced:
      return "\U0001F501";  // repeat
    case Verdict::kSkip:
      return "\u23ED\uFE0F";  // next track
    case Verdict::kFail:
      return "\u274C";  // cross mark
    case Verdict::kError:
      return "\u26A0\uFE0F";  // warning
  }
  return "";
}

std::string verdict_md(Verdict v) { return icon(v) + " " + std::string(verdict_name(v)); }

std::string metric(const json& metrics, const char* key) {
  const auto v = number_at(metrics, key);
  return v ? format_number(*v) : "\u2013";
}

bool has_any(const json& metrics, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (number_at(metrics, k)) return true;
  }
  return false;
}

std::string run_line(const ResultsDoc& d) {
  std::string out;
  auto add = [&out](const std::string& part) {
    if (!part.empty()) out += (out.empty() ? "" : " \u00B7 ") + part;
  };
  add(d.command.empty() ? "" : md_code(d.command, false));
  add(md_cell(d.tool + (d.version.empty() ? "" : " " + d.version)));
  add(d.commit.empty() ? "" : "commit " + md_code(d.commit, false));
  add(md_cell(d.started_at));
  const auto host = d.machine.find("hostname");
  if (host != d.machine.end()) add(md_cell(json_text(*host)));
  return out;
}

void conformance(std::string& out, const ResultsDoc& d, std::size_t index, std::size_t count) {
  const Totals t = totals_of(d.scenarios);
  out += "## Conformance" + (count > 1 ? " run " + std::to_string(index + 1) : "") + "\n\n";
  out += run_line(d) + "\n\n";
  out += "**" + std::to_string(t.total) + (t.total == 1 ? " scenario:** " : " scenarios:** ");
  bool first = true;
  for (Verdict v :
       {Verdict::kPass, Verdict::kReproduced, Verdict::kFail, Verdict::kError, Verdict::kSkip}) {
    out += (first ? "" : ", ") + std::to_string(t.of(v)) + " " + verdict_md(v);
    first = false;
  }
  out +=
      "\n\n| Scenario | Guarantee | Verdict | Measured | Bound | Rerun |\n"
      "|---|---|---|---|---|---|\n";
  for (const Scenario& s : d.scenarios) {
    const Check* c = deciding_check(s);
    std::string measured =
        c ? (s.checks.size() > 1 ? c->name + ": " : "") + c->measured : reason_text(s);
    out += "| " + md_cell(s.name) + " | " + md_cell(s.guarantee) + " | " + verdict_md(s.verdict) +
           " | " + md_cell(measured) + " | " + md_cell(c ? c->bound : "") + " | " +
           md_code(s.rerun) + " |\n";
  }

  std::string latency;
  std::string stall;
  for (const Scenario& s : d.scenarios) {
    const json& m = s.metrics;
    if (has_any(m, {"latency_p50_ms", "latency_p99_ms", "latency_max_ms"})) {
      latency += "| " + md_cell(s.name) + " | " + metric(m, "latency_p50_ms") + " | " +
                 metric(m, "latency_p99_ms") + " | " + metric(m, "latency_max_ms") + " | " +
                 metric(m, "poll_interval_ms") + " | " + metric(m, "workers") + " | " +
                 metric(m, "events") + " |\n";
    }
    if (has_any(m, {"stall_ms", "missed_events", "max_stale_ms"})) {
      stall += "| " + md_cell(s.name) + " | " + verdict_md(s.verdict) + " | " +
               metric(m, "stall_ms") + " | " + metric(m, "retention_ms") + " | " +
               metric(m, "missed_events") + " | " + metric(m, "max_stale_ms") + " |\n";
    }
  }
  if (!latency.empty()) {
    out +=
        "\n### Delivery latency\n\n| Scenario | p50 ms | p99 ms | max ms | poll_interval ms "
        "| workers | events |\n|---|--:|--:|--:|--:|--:|--:|\n" +
        latency;
  }
  if (!stall.empty()) {
    out +=
        "\n### Stalls and stale data\n\n| Scenario | Verdict | stall ms | retention ms "
        "| missed events | max stale ms |\n|---|---|--:|--:|--:|--:|\n" +
        stall;
  }

  std::string problems;
  for (const Scenario& s : d.scenarios) {
    if (s.verdict != Verdict::kFail && s.verdict != Verdict::kError) continue;
    problems += "\n- **" + md_cell(s.name) + "** (" + verdict_md(s.verdict) + ")";
    if (s.checks.empty()) problems += ": " + md_cell(reason_text(s));
    for (const Check& c : s.checks) {
      if (c.verdict != Verdict::kFail && c.verdict != Verdict::kError) continue;
      problems += "\n  - " + md_cell(c.name) + ": " + md_cell(c.measured) +
                  (c.bound.empty() ? "" : " (bound: " + md_cell(c.bound) + ")");
      constexpr std::size_t kMaxEvidence = 10;
      for (std::size_t i = 0; i < c.evidence.size() && i < kMaxEvidence; ++i) {
        problems += "\n    - " + md_cell(c.evidence[i]);
      }
      if (c.evidence.size() > kMaxEvidence) {
        problems +=
            "\n    - " + std::to_string(c.evidence.size() - kMaxEvidence) + " more in results.json";
      }
    }
    if (!s.rerun.empty()) problems += "\n  - rerun: " + md_code(s.rerun, false);
  }
  if (!problems.empty()) out += "\n### Failures and errors\n" + problems + "\n";
  out += "\n";
}

// Per bench kind the terminal's columns (bench_figures.hpp), in the page's order.
void bench(std::string& out, const ResultsDoc& d) {
  out += "## Benchmarks\n\n" + run_line(d) + "\n";
  std::vector<std::string> kinds;
  for (const BenchRun& r : d.runs) {
    if (std::find(kinds.begin(), kinds.end(), r.bench) == kinds.end()) kinds.push_back(r.bench);
  }
  for (const std::string& kind : kinds) {
    const auto runs = runs_of(d.runs, kind);
    const std::vector<Column>& columns = summary_columns(kind);
    out += "\n### " + md_cell(kind) + "\n\n";
    if (columns.empty()) {
      out += "| Parameters | Metrics |\n|---|---|\n";
      auto pairs = [](const json& object) {
        std::string text;
        for (const auto& [key, value] : object.items()) {
          text += (text.empty() ? "" : ", ") + md_cell(key) + " = " + md_cell(json_text(value));
        }
        return text;
      };
      for (const BenchRun* r : runs) out += "| " + pairs(r->params) + " | " + pairs(r->metrics) + " |\n";
      continue;
    }
    std::string head = "|";
    std::string rule = "|";
    for (const Column& c : columns) {
      head += " " + md_cell(c.title) + " |";
      rule += c.param && !number_at(runs.front()->params, c.key) ? "---|" : "--:|";
    }
    out += head + "\n" + rule + "\n";
    for (const BenchRun* r : runs) {
      out += "|";
      for (const Column& c : columns) {
        const std::string text = column_text(*r, c);
        out += " " + (text.empty() ? std::string("\u2013") : md_cell(text)) + " |";
      }
      out += "\n";
    }
  }
  out += "\n";
}

// The chaos run: its counts and verdict, a row per fault kind, the shrunk
// reproducer and the epochs that could not run.
void chaos(std::string& out, const ResultsDoc& d) {
  const ChaosRun& c = d.chaos;
  out += "## Chaos\n\n" + run_line(d) + "\n\n";
  out += verdict_md(c.verdict()) + " **" + md_cell(chaos_verdict_text(c)) + "** \u00B7 " +
         md_cell(chaos_counts_text(d)) + "\n\n";
  if (!c.effects.empty()) {
    out += "| Fault kind | planned | applied | judged | reached | |\n|---|--:|--:|--:|--:|---|\n";
    for (const ChaosEffect& e : c.effects) {
      out += "| " + md_cell(e.kind) + " | " + std::to_string(e.planned) + " | " +
             std::to_string(e.applied) + " | " + std::to_string(e.judged) + " | " +
             std::to_string(e.reached) + " | " +
             (e.never_reached() ? "\u26A0\uFE0F never reached its path" : "") + " |\n";
    }
  }
  std::string notes;
  if (c.failing) notes += "\n- failing plan: " + md_code(c.failing->plan, false);
  if (c.minimal) {
    notes += "\n- minimal plan: " + md_code(c.minimal->plan, false) + " (" +
             md_cell(chaos_shrink_text(c)) + ")";
    if (!c.minimal->rerun.empty()) notes += "\n- rerun: " + md_code(c.minimal->rerun, false);
  }
  for (const std::string& e : c.errors) notes += "\n- could not run: " + md_cell(e);
  for (const std::string& e : c.doublecheck_differences) notes += "\n- doublecheck: " + md_cell(e);
  if (!notes.empty()) out += (c.effects.empty() ? "" : "\n") + notes.substr(1) + "\n";
  out += "\n";
}

}  // namespace

std::string render_markdown(const std::vector<ResultsDoc>& docs) {
  std::string out = "# pjx-inval report\n\n";
  std::size_t conformance_docs = 0;
  for (const ResultsDoc& d : docs) conformance_docs += d.is_conformance() ? 1u : 0u;
  std::size_t index = 0;
  for (const ResultsDoc& d : docs) {
    if (d.is_bench) {
      bench(out, d);
    } else if (d.is_chaos) {
      chaos(out, d);
    } else {
      conformance(out, d, index++, conformance_docs);
    }
  }
  out += "The full report (plots, timelines, histories) is index.html beside this file.\n";
  return out;
}

}  // namespace pjx::reports
