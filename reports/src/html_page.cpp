// index.html: page layout only. Plots come from plots.cpp; every input text
// goes through h() (html_escape) on its way in.
#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "bench_figures.hpp"
#include "figures.hpp"
#include "plots.hpp"
#include "renderers.hpp"
#include "text.hpp"
#include "timeline.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;

std::string h(std::string_view text) { return html_escape(text); }

// Verdict colours: Okabe-Ito hues as border, a light tint behind dark text
// (contrast above 7:1), and a symbol plus the word, never colour alone.
constexpr std::string_view kStyle = R"css(
:root { color-scheme: light; }
body { margin: 0; background: #ffffff; color: #1b1b1b;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 1.7em; margin: 0 0 0.3em; }
h2 { font-size: 1.35em; margin: 1.8em 0 0.6em; padding-bottom: 0.2em; border-bottom: 2px solid #d0d0d0; }
h3 { font-size: 1.15em; margin: 0 0 0.4em; }
h4 { font-size: 1em; margin: 1.2em 0 0.4em; }
a { color: #005a8e; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.88em;
  background: #f3f3f3; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
.run { border: 1px solid #d0d0d0; border-radius: 6px; padding: 12px 16px; margin: 12px 0; background: #fbfbfb; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0.4em 0; }
dl.meta dt { font-weight: 600; color: #3d3d3d; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.run dl.meta { grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr); }
table.per-worker, table.stale { width: auto; min-width: 40%; }
.totals { font-size: 1.05em; margin: 0.6em 0; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 0.4em 0 1em; }
th, td { border: 1px solid #c4c4c4; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #eeeeee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table#verdicts td:first-child { font-weight: 600; }
table#verdicts td:last-child { min-width: 14em; }
table#verdicts td:last-child code { overflow-wrap: break-word; }
.v { display: inline-block; padding: 1px 9px; border-radius: 11px; border: 1.5px solid;
  font-weight: 700; white-space: nowrap; font-size: 0.92em; }
.v-pass { background: #dff3ec; color: #004d38; border-color: #009e73; }
.v-reproduced { background: #dcebf7; color: #00395e; border-color: #0072b2; }
.v-skip { background: #ececec; color: #333333; border-color: #7a7a7a; border-style: dashed; }
.v-fail { background: #fbe3d6; color: #6e2900; border-color: #d55e00; }
.v-error { background: #f6dfec; color: #5f1a45; border-color: #cc79a7; border-style: double; border-width: 3px; }
section.scenario { border-top: 1px solid #d0d0d0; padding-top: 16px; margin-top: 24px; }
.guarantee { font-style: italic; margin: 0.2em 0 0.6em; }
.note { background: #fff6db; border-left: 4px solid #e69f00; padding: 6px 10px; }
ul.evidence { margin: 0; padding-left: 1.2em; }
dl.metrics { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0.4em 0 0.8em; font-size: 14px; }
dl.metrics div { display: flex; gap: 6px; }
dl.metrics dt { color: #4a4a4a; }
dl.metrics dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; margin: 0.6em 0; }
.plots > figure { width: 550px; }
figure { margin: 0; max-width: 100%; }
figcaption { font-size: 13.5px; color: #333333; margin-top: 4px; max-width: 1120px; }
svg.plot { display: block; max-width: 100%; height: auto; background: #ffffff; border: 1px solid #d6d6d6; }
svg.plot text { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; }
ul.headline { font-size: 1.08em; margin: 0.6em 0; padding-left: 1.2em; }
ul.headline li { margin: 0.2em 0; }
strong.fig { font-variant-numeric: tabular-nums; white-space: nowrap; }
p.modes, p.table-note { font-size: 13.5px; color: #333333; margin: 0.3em 0 0.8em; }
th.num { text-align: right; }
table.bench-summary { font-size: 13.5px; }
table.bench-summary th { vertical-align: bottom; }
table.bench-summary td, table.bench-summary th { padding: 4px 7px; }
table.bench-summary tr.worst td { background: #fff1cc; }
table.bench-summary tr.problem td { background: #fbe3d6; }
table.bench-summary .flag { font-weight: 700; color: #6e2900; }
table.bench-details { font-size: 13px; }
table.bench-details td { padding: 4px 7px; }
dl.g { display: grid; grid-template-columns: max-content max-content; gap: 0 10px; margin: 0; }
dl.g dt { color: #4a4a4a; }
dl.g dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.plots > figure.wide { width: 100%; max-width: 1122px; }
p.chaos-headline { font-size: 1.05em; margin: 0.6em 0; }
table.chaos-effects { width: auto; min-width: 50%; }
table.chaos-effects tr.unreached td { background: #fff1cc; }
table.chaos-effects td.warn { font-weight: 700; color: #6e2900; }
table.chaos-violations { width: auto; min-width: 30%; }
ul.chaos-errors li { overflow-wrap: anywhere; }
footer { margin-top: 3em; font-size: 13px; color: #4a4a4a; }
)css";

std::string symbol(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "\u2713";
    case Verdict::kReproduced:
      return "\u21BB";
    case Verdict::kSkip:
      return "\u2013";
    case Verdict::kFail:
      return "\u2717";
    case Verdict::kError:
      return "!";
  }
  return "?";
}

std::string badge(Verdict v) {
  const std::string name(verdict_name(v));
  return "<span class=\"v v-" + name + "\">" + symbol(v) + " " + name + "</span>";
}

std::string totals_html(const Totals& t) {
  std::string out = "<p class=\"totals\"><strong>" + std::to_string(t.total) + " scenario" +
                    (t.total == 1 ? "" : "s") + ":</strong>";
  for (Verdict v :
       {Verdict::kPass, Verdict::kReproduced, Verdict::kFail, Verdict::kError, Verdict::kSkip}) {
    out += " " + badge(v) + "&nbsp;" + std::to_string(t.of(v));
  }
  return out + "</p>\n";
}

std::string machine_text(const json& m) {
  std::string out;
  auto add = [&out](const std::string& part) {
    if (!part.empty()) out += (out.empty() ? "" : " \u00B7 ") + part;
  };
  auto field = [&m](const char* key) {
    const auto it = m.find(key);
    return it == m.end() ? std::string() : json_text(*it);
  };
  add(field("hostname"));
  add(field("kernel"));
  if (const std::string cpus = field("cpus"); !cpus.empty()) add(cpus + " CPUs");
  if (const std::string mem = field("memory_gib"); !mem.empty()) add(mem + " GiB");
  if (const std::string sqlite = field("sqlite"); !sqlite.empty()) add("SQLite " + sqlite);
  add(field("filesystem"));
  static const std::set<std::string> kKnown{"hostname",   "kernel", "cpus",
                                            "memory_gib", "sqlite", "filesystem"};
  for (const auto& [key, value] : m.items()) {
    if (!kKnown.count(key)) add(key + " " + json_text(value));
  }
  return out;
}

void meta_row(std::string& out, std::string_view label, const std::string& value,
              bool code = false) {
  if (value.empty()) return;
  out += "<dt>" + h(label) + "</dt><dd>" + (code ? "<code>" + h(value) + "</code>" : h(value)) +
         "</dd>\n";
}

// `number` is 1-based among the documents of the same kind; 0 when it is the only one.
std::string run_header(const ResultsDoc& d, std::size_t number) {
  std::string out = "<section class=\"run\">\n";
  std::string title = d.is_bench ? "Benchmark run" : d.is_chaos ? "Chaos run" : "Conformance run";
  if (number > 0) title += " " + std::to_string(number);
  if (d.is_bench) title += ": to reproduce these figures";
  out += "<h3>" + h(title) + "</h3>\n<dl class=\"meta\">\n";
  if (d.is_bench) {
    // What a reader needs to run it again and to judge the numbers first.
    meta_row(out, "command", d.command, true);
    meta_row(out, "commit", d.commit, true);
    meta_row(out, "machine", machine_text(d.machine));
    meta_row(out, "load before", load_before(d.runs).empty() ? "" : load_before(d.runs) + " (1, 5, 15 min)");
    meta_row(out, "load after", load_after(d.runs).empty() ? "" : load_after(d.runs) + " (1, 5, 15 min)");
  }
  meta_row(out, "tool", d.tool + (d.version.empty() ? "" : " " + d.version));
  if (!d.is_bench) {
    meta_row(out, "command", d.command, true);
    meta_row(out, "machine", machine_text(d.machine));
    meta_row(out, "commit", d.commit, true);
  }
  meta_row(out, "date", d.started_at);
  if (d.duration_s) meta_row(out, "duration", format_fixed(*d.duration_s, 1) + " s");
  meta_row(out, "worker", d.worker_cmd, true);
  meta_row(out, "backend", d.backend);
  meta_row(out, "timing", d.timing);
  meta_row(out, "seed", d.seed);
  if (d.is_bench) meta_row(out, "runs", std::to_string(d.runs.size()));
  if (d.is_chaos) meta_row(out, "epochs", std::to_string(d.chaos.epochs));
  out += "</dl>\n";
  if (d.is_conformance() && number > 0) out += totals_html(totals_of(d.scenarios));
  return out + "</section>\n";
}

std::string scenario_id(std::size_t doc, std::size_t scenario) {
  return "scenario-" + std::to_string(doc + 1) + "-" + std::to_string(scenario + 1);
}

std::string verdict_table(const std::vector<ResultsDoc>& docs) {
  std::size_t conformance_docs = 0;
  for (const ResultsDoc& d : docs) conformance_docs += d.is_conformance() ? 1u : 0u;
  std::string out =
      "<table id=\"verdicts\">\n<thead><tr><th>Scenario</th><th>Guarantee</th><th>Verdict</th>"
      "<th>Measured</th><th>Bound</th><th>Command to rerun</th></tr></thead>\n<tbody>\n";
  bool any = false;
  for (std::size_t di = 0; di < docs.size(); ++di) {
    if (!docs[di].is_conformance()) continue;
    for (std::size_t si = 0; si < docs[di].scenarios.size(); ++si) {
      const Scenario& s = docs[di].scenarios[si];
      any = true;
      const Check* c = deciding_check(s);
      std::string measured;
      std::string bound;
      if (c) {
        measured = (s.checks.size() > 1 ? h(c->name) + ": " : "") + h(c->measured);
        bound = h(c->bound);
      } else {
        measured = "<em>" + h(reason_text(s)) + "</em>";
      }
      out += "<tr><td><a href=\"#" + scenario_id(di, si) + "\">" + h(s.name) + "</a>" +
             (conformance_docs > 1 ? "<br><small>run " + std::to_string(di + 1) + "</small>" : "") +
             "</td><td>" + h(s.guarantee) + "</td><td>" + badge(s.verdict) + "</td><td>" +
             measured + "</td><td>" + bound + "</td><td>" +
             (s.rerun.empty() ? "" : "<code>" + h(s.rerun) + "</code>") + "</td></tr>\n";
    }
  }
  if (!any) out += "<tr><td colspan=\"6\">No conformance results in this report.</td></tr>\n";
  return out + "</tbody>\n</table>\n";
}

std::string metrics_html(const json& metrics) {
  if (!metrics.is_object() || metrics.empty()) return "";
  std::string out = "<dl class=\"metrics\">";
  for (const auto& [key, value] : metrics.items()) {
    out += "<div><dt>" + h(key) + "</dt><dd>" + h(json_text(value)) + "</dd></div>";
  }
  return out + "</dl>\n";
}

std::string checks_table(const Scenario& s) {
  if (s.checks.empty()) return "";
  constexpr std::size_t kMaxEvidence = 25;
  std::string out =
      "<table class=\"checks\">\n<thead><tr><th>Check</th><th>Verdict</th><th>Measured</th>"
      "<th>Bound</th><th>Summary</th><th>Evidence</th></tr></thead>\n<tbody>\n";
  for (const Check& c : s.checks) {
    out += "<tr><td>" + h(c.name) + "</td><td>" + badge(c.verdict) + "</td><td>" + h(c.measured) +
           "</td><td>" + h(c.bound) + "</td><td>" + h(c.summary) + "</td><td>";
    if (!c.evidence.empty()) {
      out += "<ul class=\"evidence\">";
      for (std::size_t i = 0; i < c.evidence.size() && i < kMaxEvidence; ++i) {
        out += "<li>" + h(c.evidence[i]) + "</li>";
      }
      if (c.evidence.size() > kMaxEvidence) {
        out += "<li><em>" + std::to_string(c.evidence.size() - kMaxEvidence) +
               " more in results.json</em></li>";
      }
      out += "</ul>";
    }
    out += "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string per_worker_table(const Scenario& s) {
  for (const Check& c : s.checks) {
    const auto it = c.details.find("per_worker");
    if (it == c.details.end() || !it->is_object() || it->empty()) continue;
    std::string out =
        "<table class=\"per-worker\">\n<thead><tr><th>Worker</th><th>p50 (ms)</th><th>p99 (ms)</th>"
        "<th>max (ms)</th></tr></thead>\n<tbody>\n";
    for (const auto& [worker, v] : it->items()) {
      out += "<tr><td>" + h(worker) + "</td>";
      for (const char* key : {"p50", "p99", "max"}) {
        const auto value = number_at(v, key);
        out += "<td class=\"num\">" + (value ? h(format_number(*value)) : "") + "</td>";
      }
      out += "</tr>\n";
    }
    return "<h4>Delivery latency per worker</h4>\n" + out + "</tbody>\n</table>\n";
  }
  return "";
}

std::string stale_table(const json& windows, std::int64_t t0) {
  if (!windows.is_array() || windows.empty()) return "";
  constexpr std::size_t kMaxRows = 40;
  std::string out =
      "<table class=\"stale\">\n<thead><tr><th>Worker</th><th>Publish</th><th>From (s)</th>"
      "<th>To (s)</th><th>Closed by</th><th>Stale (ms)</th></tr></thead>\n<tbody>\n";
  auto at_s = [t0](const json& w, const char* key) -> std::string {
    const auto it = w.find(key);
    if (it == w.end() || !it->is_number()) return "";
    return format_fixed(static_cast<double>(it->get<std::int64_t>() - t0) / 1e9, 3);
  };
  std::size_t rows = 0;
  for (const json& w : windows) {
    if (!w.is_object()) continue;
    if (rows++ == kMaxRows) {
      out += "<tr><td colspan=\"6\"><em>" + std::to_string(windows.size() - kMaxRows) +
             " more in results.json</em></td></tr>\n";
      break;
    }
    auto field = [&w](const char* key) {
      const auto it = w.find(key);
      return it == w.end() ? std::string() : json_text(*it);
    };
    const std::string id = field("publish_id");
    out += "<tr><td>" + h(field("worker")) + "</td><td>" + (id.empty() ? "" : "e:" + h(id)) +
           "</td><td class=\"num\">" + at_s(w, "from_t") + "</td><td class=\"num\">" +
           at_s(w, "to_t") + "</td><td>" + h(field("closed_by")) + "</td><td class=\"num\">" +
           h(field("ms")) + "</td></tr>\n";
  }
  return "<h4>Stale windows</h4>\n" + out + "</tbody>\n</table>\n";
}

std::string scenario_section(const Scenario& s, const std::string& id) {
  std::string out = "<section class=\"scenario\" id=\"" + id + "\">\n<h3>" + h(s.name) + " " +
                    badge(s.verdict) + "</h3>\n";
  if (!s.guarantee.empty()) out += "<p class=\"guarantee\">" + h(s.guarantee) + "</p>\n";
  out += "<dl class=\"meta\">\n";
  meta_row(out, "scenario file", s.file, true);
  meta_row(out, "expected", s.expect);
  meta_row(out, "duration", format_fixed(s.duration_s, 2) + " s");
  meta_row(out, "rerun", s.rerun, true);
  if (!s.history_out.empty()) {
    out += "<dt>history</dt><dd><a href=\"" + h(s.history_out) + "\"><code>" + h(s.history_out) +
           "</code></a></dd>\n";
  }
  out += "</dl>\n";
  if (s.verdict == Verdict::kSkip || s.verdict == Verdict::kError) {
    const std::string reason = reason_text(s);
    if (!reason.empty()) {
      out += "<p class=\"note\"><strong>" + std::string(verdict_name(s.verdict)) + ":</strong> " +
             h(reason) + "</p>\n";
    }
  } else if (!s.note.empty()) {
    out += "<p class=\"note\">" + h(s.note) + "</p>\n";
  }
  out += metrics_html(s.metrics);
  out += checks_table(s);

  if (const auto lat = latency_figures(s)) {
    LatencyPlot plot{lat->latencies_ms, lat->poll_interval_ms, lat->bound_ms, "", lat->p50_ms,
                     lat->p99_ms};
    const std::string n = std::to_string(lat->latencies_ms.size());
    plot.title = s.name + ": delivery latency histogram (" + n + " deliveries)";
    out += "<h4>Delivery latency</h4>\n<div class=\"plots\">\n<figure>\n" +
           latency_histogram_svg(plot) + "<figcaption>Histogram of " + n +
           " delivery latencies (start of the publish call to receipt, ms). Dashed line: poll_interval; "
           "solid red line: the bound (named at the top right when it is off "
           "scale).</figcaption>\n</figure>\n";
    plot.title = s.name + ": delivery latency CDF (" + n + " deliveries)";
    out += "<figure>\n" + latency_cdf_svg(plot) +
           "<figcaption>Cumulative distribution of the same latencies, p50 and p99 marked."
           "</figcaption>\n</figure>\n</div>\n";
    out += per_worker_table(s);
  }

  const json& windows = stale_windows(s);
  const json& reads = stale_reads(s);
  if (s.history && wants_timeline(s.history->records, windows, reads)) {
    const TimelineData data = build_timeline(s.history->records, windows, reads);
    out += "<h4>Timeline</h4>\n<figure>\n" + timeline_svg(data, s.name + ": timeline") +
           "<figcaption>One lane per worker; x is seconds since the history's first record. "
           "Shaded: fault windows (a whole-height band acts on every worker; dashed lines are "
           "instant faults). Triangles: publishes by that worker; green ticks: deliveries; "
           "diamonds: flushes; crosses: exits; red squares: stale reads (a read that served a "
           "version older than the bound allows). Red bars: stale windows (solid ones never "
           "closed). Hover a mark for details.</figcaption>\n</figure>\n";
    out += stale_table(windows, record_time(s.history->records.front()).value_or(0));
  }
  return out + "</section>\n";
}

// ---- chaos ----

std::string chaos_effects_table(const ChaosRun& c) {
  std::string out =
      "<table class=\"chaos-effects\">\n<thead><tr><th>Fault kind</th><th class=\"num\">Planned</th>"
      "<th class=\"num\">Applied</th><th class=\"num\">Judged</th><th class=\"num\">Reached</th>"
      "<th>Its path</th></tr></thead>\n<tbody>\n";
  for (const ChaosEffect& e : c.effects) {
    std::string path;
    if (e.never_reached()) {
      path = "<td class=\"warn\">\u26A0 never reached its path</td>";
    } else if (e.judged == 0) {
      path = "<td>\u2013 not judged</td>";
    } else {
      path = "<td>\u2713 reached " + std::to_string(e.reached) + " of " + std::to_string(e.judged) +
             " judged</td>";
    }
    out += std::string(e.never_reached() ? "<tr class=\"unreached\">" : "<tr>") + "<td>" + h(e.kind) +
           "</td>";
    for (std::int64_t n : {e.planned, e.applied, e.judged, e.reached}) {
      out += "<td class=\"num\">" + std::to_string(n) + "</td>";
    }
    out += path + "</tr>\n";
  }
  if (c.effects.empty()) out += "<tr><td colspan=\"6\">No fault was planned.</td></tr>\n";
  return out + "</tbody>\n</table>\n";
}

std::string counts_table(std::string_view css_class, std::string_view what,
                         const std::vector<std::pair<std::string, std::int64_t>>& counts) {
  std::string out = "<table class=\"" + h(css_class) + "\">\n<thead><tr><th>" + h(what) +
                    "</th><th class=\"num\">Count</th></tr></thead>\n<tbody>\n";
  for (const auto& [name, n] : counts) {
    out += "<tr><td>" + h(name) + "</td><td class=\"num\">" + std::to_string(n) + "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string plan_text(const ChaosPlanFile& f) {
  return f.plan + " (" + std::to_string(f.faults) + " faults, " + std::to_string(f.ops) + " ops)";
}

std::string text_list(std::string_view css_class, const std::vector<std::string>& items) {
  std::string out = "<ul class=\"" + h(css_class) + "\">";
  for (const std::string& item : items) out += "<li>" + h(item) + "</li>";
  return out + "</ul>\n";
}

std::string chaos_section(const ResultsDoc& d) {
  const ChaosRun& c = d.chaos;
  std::string out = "<section class=\"chaos\">\n<p class=\"chaos-headline\">" + badge(c.verdict()) +
                    " " + h(chaos_counts_text(d)) + " \u00B7 <strong>" + h(chaos_verdict_text(c)) +
                    "</strong></p>\n";
  out += "<h4>Fault schedule</h4>\n";
  if (c.schedule.empty()) {
    out += "<p class=\"note\">No fault was applied.</p>\n";
  } else {
    out += "<figure class=\"wide\">\n" +
           chaos_schedule_svg(c, "Chaos fault schedule (" + std::to_string(c.schedule.size()) +
                                     " faults)") +
           "<figcaption>Every applied fault over the run's workload time, the epochs laid end to end "
           "(dashed lines between them), one row per fault kind: a bar per window, a tick per "
           "instant fault. Green with a circle: it reached the code path it targets; vermillion "
           "with a cross: it did not; grey: the history cannot tell. Hover a fault for its worker "
           "and times.</figcaption>\n</figure>\n";
  }
  out += "<h4>What each fault kind did</h4>\n" + chaos_effects_table(c);
  if (c.violation_count() > 0) {
    out += "<h4>Violations of the reference</h4>\n" +
           counts_table("chaos-violations", "Check", c.violations);
  }
  if (!c.documented.empty()) {
    out += "<h4>Documented failures of other implementations</h4>\n" +
           counts_table("chaos-violations chaos-documented", "Implementation: check", c.documented);
  }
  if (!c.not_exercised.empty()) {
    out += "<h4>Checks an epoch did not exercise</h4>\n<p>Not violations: random faults kept these "
           "epochs from lining up what the check judges (for stale_reads, a slow read overlapping "
           "another worker's write of its key).</p>\n" +
           counts_table("chaos-violations chaos-not-exercised", "Check", c.not_exercised);
  }
  if (c.failing || c.minimal) {
    out += "<div class=\"chaos-repro\">\n<h4>Shrunk reproducer</h4>\n<dl class=\"meta\">\n";
    if (c.failing) meta_row(out, "failing plan", plan_text(*c.failing), true);
    if (c.minimal) {
      meta_row(out, "minimal plan", plan_text(*c.minimal), true);
      meta_row(out, "shrunk to", chaos_shrink_text(c));
      meta_row(out, "rerun", c.minimal->rerun, true);
    } else {
      meta_row(out, "minimal plan", "not shrunk (--shrink-budget 0 or --keep-going)");
    }
    out += "</dl>\n</div>\n";
  }
  if (!c.errors.empty()) out += "<h4>Epochs that could not run</h4>\n" + text_list("chaos-errors", c.errors);
  if (!c.doublecheck_differences.empty()) {
    out += "<h4>Doublecheck: verdicts that differed</h4>\n" +
           text_list("chaos-errors", c.doublecheck_differences);
  }
  return out + "</section>\n";
}

// ---- benchmarks ----

std::string bench_figure(const std::string& svg, const std::string& caption,
                         bool wide = false) {
  return std::string(wide ? "<figure class=\"wide\">\n" : "<figure>\n") + svg + "<figcaption>" +
         h(caption) + "</figcaption>\n</figure>\n";
}

std::string ms(double v) { return format_significant(v, 3) + " ms"; }

// Per poll_interval, at the largest worker count: each mode's p99.
std::string headlines_html(const std::vector<const BenchRun*>& latency) {
  const std::vector<Headline> lines = latency_headlines(latency);
  if (lines.empty()) return "";
  std::string out = "<ul class=\"headline\">\n";
  for (const Headline& line : lines) {
    out += "<li>p99 at <strong>" + h(format_number(line.workers)) + " worker" +
           (line.workers == 1 ? "" : "s") + "</strong>, poll_interval <strong>" +
           h(format_number(line.poll_interval_ms)) + " ms</strong>: ";
    for (std::size_t i = 0; i < line.p99_ms.size(); ++i) {
      out += (i == 0 ? "" : "; ") + h(line.p99_ms[i].first.label()) + " <strong class=\"fig\">" +
             h(ms(line.p99_ms[i].second)) + "</strong>";
    }
    out += "</li>\n";
  }
  return out + "</ul>\n";
}

// The terminal's table of one bench kind: a row per run, sorted; the worst
// p99/poll and any run with missing, lost or failed publishes marked.
std::string summary_table(std::string_view bench, const std::vector<const BenchRun*>& runs) {
  const std::vector<Column>& columns = summary_columns(bench);
  // A plain index, not an optional: g++ 12 warns of a maybe-uninitialized one here.
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  const std::size_t worst = bench == "latency" ? worst_p99_over_poll(runs).value_or(kNone) : kNone;
  std::string out = "<table class=\"bench-summary\" id=\"bench-summary-" + h(bench) +
                    "\">\n<thead><tr>";
  for (const Column& c : columns) {
    out += std::string(c.param && !number_at(runs.front()->params, c.key) ? "<th>" : "<th class=\"num\">") +
           h(c.title) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const BenchRun& r = *runs[i];
    const bool missing = has_missing(r);
    std::string cls = "run";
    if (worst == i) cls += " worst";
    if (missing) cls += " problem";
    out += "<tr class=\"" + cls + "\">";
    for (const Column& c : columns) {
      std::string text = h(column_text(r, c));
      const bool number = column_value(r, c).has_value();
      if (c.key == "p99_over_poll" && worst == i) {
        text = "<span class=\"flag\">\u25B2 worst</span> " + text;
      }
      if ((c.key == "missing" || c.key == "lost" || c.key == "errors") && missing &&
          column_value(r, c).value_or(0) > 0) {
        text = "<span class=\"flag\">\u2717</span> " + text;
      }
      out += std::string(number ? "<td class=\"num\">" : "<td>") +
             (text.empty() ? "\u2013" : text) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
  std::string notes;
  if (worst != kNone) {
    notes += "\u25B2 marks the run with the largest p99 / poll_interval. ";
  }
  if (std::any_of(runs.begin(), runs.end(), [](const BenchRun* r) { return has_missing(*r); })) {
    notes += "\u2717 marks runs that missed, lost or failed publishes. ";
  }
  if (!notes.empty()) out += "<p class=\"table-note\">" + h(notes) + "</p>\n";
  return out;
}

std::string item_row(const std::string& label, const std::string& value, const std::string& unit) {
  return "<dt>" + h(label) + "</dt><dd>" + h(value) + (unit.empty() ? "" : " " + h(unit)) + "</dd>";
}

// What identifies a run in the details table: the summary's param columns
// (all params for a kind without columns).
std::string run_title(const BenchRun& r) {
  std::string out;
  for (const Column& c : summary_columns(r.bench)) {
    const std::string text = c.param ? column_text(r, c) : "";
    if (!text.empty()) out += item_row(c.title, text, "");
  }
  if (summary_columns(r.bench).empty()) {
    for (const auto& [key, value] : r.params.items()) out += item_row(key, json_text(value), "");
  }
  return out.empty() ? "" : "<dl class=\"g\">" + out + "</dl>";
}

// One column per metric group; params the summary does not show, the
// machine load and metrics of no group in the last column.
std::string details_table(std::string_view bench, const std::vector<const BenchRun*>& runs) {
  const std::vector<MetricGroup>& groups = metric_groups(bench);
  std::string out = "<table class=\"bench-details\" id=\"bench-details-" + h(bench) +
                    "\">\n<thead><tr><th>Run</th>";
  for (const MetricGroup& g : groups) out += "<th>" + h(g.title) + "</th>";
  out += "<th>Conditions and other metrics</th></tr></thead>\n<tbody>\n";
  std::set<std::string> shown_params;
  for (const Column& c : summary_columns(bench)) {
    if (c.param) shown_params.insert(c.key);
  }
  for (const BenchRun* r : runs) {
    out += "<tr><td>" + run_title(*r) + "</td>";
    for (const MetricGroup& g : groups) {
      std::string items;
      for (const Column& c : g.items) {
        const std::string text = column_text(*r, c);
        if (!text.empty()) items += item_row(c.title, text, c.unit);
      }
      out += "<td>" + (items.empty() ? std::string("\u2013") : "<dl class=\"g\">" + items + "</dl>") +
             "</td>";
    }
    std::string rest;
    for (const auto& [key, value] : r->params.items()) {
      if (!shown_params.count(key)) rest += item_row(key, json_text(value), "");
    }
    if (!r->load_before.empty()) rest += item_row("load before", r->load_before, "");
    if (!r->load_after.empty()) rest += item_row("load after", r->load_after, "");
    if (!r->host_stalls.empty()) rest += item_row("host stalls", r->host_stalls, "");
    for (const std::string& key : other_metrics(*r)) {
      rest += item_row(key, json_text(r->metrics.at(key)), "");
    }
    out += "<td>" + (rest.empty() ? std::string("\u2013") : "<dl class=\"g\">" + rest + "</dl>") +
           "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string latency_plots(const std::vector<const BenchRun*>& latency) {
  std::string plots;
  const RangeData by_mode = latency_by_mode(latency);
  if (!by_mode.groups.empty()) {
    plots += bench_figure(
        range_chart_svg("bench-latency-modes", "Delivery latency by wake mode and backend",
                        "delivery latency (ms, log scale)", by_mode.groups, by_mode.series, true,
                        "poll_interval"),
        "Delivery latency, start of the publish call to receipt, side by side per mode: the bar "
        "runs from p50 (hollow marker) to p99 (filled marker), the dash above is the max. Dashed "
        "line: that group's poll_interval. Log scale: each grid line is 1, 2 or 5 times a power "
        "of ten.",
        true);
  }
  for (double poll : param_values(latency, "poll_interval_ms")) {
    const auto runs = with_param(latency, "poll_interval_ms", poll);
    if (param_values(runs, "workers").size() < 2) continue;
    ChartOptions options;
    options.log_x = true;
    options.log_y = true;
    options.references.push_back(
        {Reference::Kind::kHorizontal, poll, "poll_interval " + format_number(poll) + " ms", false});
    const std::string what = "poll_interval " + format_number(poll) + " ms";
    for (const auto& [metric, name] : {std::pair{"p50_ms", "p50"}, std::pair{"p99_ms", "p99"}}) {
      plots += bench_figure(
          line_chart_svg("bench-latency-workers",
                         std::string(name) + " delivery latency against workers (" + what + ")",
                         "receiving workers", std::string(name) + " delivery latency (ms, log scale)",
                         mode_series(runs, "workers", metric), options),
          std::string(name) + " delivery latency against the number of receiving workers, one line "
          "per mode (" + what + ", dashed).");
    }
  }
  for (double workers : param_values(latency, "workers")) {
    const auto runs = with_param(latency, "workers", workers);
    if (param_values(runs, "poll_interval_ms").size() < 2) continue;
    ChartOptions options;
    options.log_x = true;
    options.log_y = true;
    options.references.push_back({Reference::Kind::kDiagonal, 0, "p99 = poll_interval", false});
    const std::string what = format_number(workers) + (workers == 1 ? " worker" : " workers");
    plots += bench_figure(
        line_chart_svg("bench-latency-poll", "p99 delivery latency against poll_interval (" + what + ")",
                       "poll_interval (ms, log scale)", "p99 delivery latency (ms, log scale)",
                       mode_series(runs, "poll_interval_ms", "p99_ms"), options),
        "p99 delivery latency against poll_interval, one line per mode (" + what +
            "). Dashed diagonal: p99 equal to poll_interval, where a run that waits for its timed "
            "poll lies.");
  }
  return plots;
}

std::string throughput_plots(const std::vector<const BenchRun*>& throughput) {
  if (param_values(throughput, "publishers").size() < 2) return "";
  ChartOptions rate;
  rate.log_x = true;
  std::string plots = bench_figure(
      line_chart_svg("bench-throughput", "Publish throughput against publishers",
                     "concurrent publishers", "commits per second",
                     mode_series(throughput, "publishers", "commits_per_s"), rate),
      "Committed publishes per second against concurrent publishers publishing back to back, "
      "one line per backend.");
  std::set<Mode> modes;
  for (const BenchRun* r : throughput) modes.insert(mode_of(*r));
  for (const Mode& mode : modes) {
    std::vector<const BenchRun*> runs;
    for (const BenchRun* r : throughput) {
      if (mode_of(*r) == mode) runs.push_back(r);
    }
    std::vector<Series> tail;
    int style = 0;
    for (const auto& [metric, name] :
         {std::pair{"p50_us", "p50"}, std::pair{"p99_us", "p99"}, std::pair{"p999_us", "p99.9"},
          std::pair{"max_us", "max"}}) {
      for (Series s : mode_series(runs, "publishers", metric)) {
        s.name = name;
        s.style = style;
        tail.push_back(std::move(s));
      }
      ++style;
    }
    ChartOptions options;
    options.log_x = true;
    options.log_y = true;
    plots += bench_figure(
        line_chart_svg("bench-commit-latency",
                       "Publish commit latency against publishers (" + mode.label() + ")",
                       "concurrent publishers", "commit latency (\u00B5s, log scale)", tail, options),
        "How long a publish call takes to commit (p50, p99, p99.9, max) against concurrent "
        "publishers, " + mode.label() + ".");
  }
  return plots;
}

std::string growth_plots(const std::vector<const BenchRun*>& growth) {
  constexpr double kMiB = 1024.0 * 1024.0;
  std::string plots;
  for (const BenchRun* r : growth) {
    if (!r->series.is_array() || r->series.empty()) continue;
    Series db{"database file", {}, 0};
    Series wal{"-wal file", {}, 2};
    for (const json& row : r->series) {
      if (!row.is_array() || row.size() < 3 || !row[0].is_number() || !row[1].is_number() ||
          !row[2].is_number()) {
        continue;
      }
      db.points.emplace_back(row[0].get<double>(), row[1].get<double>() / kMiB);
      wal.points.emplace_back(row[0].get<double>(), row[2].get<double>() / kMiB);
    }
    ChartOptions options;
    if (const auto bound = number_at(r->metrics, "db_bound_bytes"); bound && *bound > 0) {
      options.references.push_back({Reference::Kind::kHorizontal, *bound / kMiB,
                                    "database bound " + format_significant(*bound / kMiB, 3) + " MiB",
                                    true});
    }
    if (const auto target = number_at(r->metrics, "wal_target_bytes")) {
      options.references.push_back({Reference::Kind::kHorizontal, *target / kMiB,
                                    "WAL target " + format_significant(*target / kMiB, 3) + " MiB",
                                    false});
    }
    const double publishers = number_at(r->params, "publishers").value_or(0);
    const std::string what =
        format_number(publishers) + (publishers == 1 ? " publisher" : " publishers") +
        (number_at(r->params, "retention_s")
             ? ", retention " + format_number(*number_at(r->params, "retention_s")) + " s"
             : "");
    plots += bench_figure(
        line_chart_svg("bench-growth", "Database and WAL size over time (" + what + ")",
                       "time since the first publish (s)", "file size (MiB)", {db, wal}, options),
        "Sizes of the database and -wal files, sampled every " +
            (number_at(r->params, "sample_ms") ? format_number(*number_at(r->params, "sample_ms"))
                                               : std::string("100")) +
            " ms while publishing back to back (" + what +
            "). Solid red: the bound on the database (commits/s \u00D7 retention \u00D7 bytes per "
            "row); dashed: the WAL target.");
  }
  return plots;
}

std::string idle_plots(const std::vector<const BenchRun*>& idle) {
  const RangeData cpu = idle_cpu_by_mode(idle);
  if (cpu.groups.empty()) return "";
  return bench_figure(
      range_chart_svg("bench-idle-cpu", "Idle CPU per worker by mode",
                      "CPU (% of one core per worker, log scale)", cpu.groups, cpu.series, true, ""),
      "CPU an idle worker spends per second (schedstat), one marker per mode, grouped by "
      "poll_interval and worker count.",
      true);
}

std::string bench_section(const ResultsDoc& d) {
  std::string out;
  const auto latency = runs_of(d.runs, "latency");
  out += headlines_html(latency);
  if (!latency.empty()) {
    out +=
        "<p class=\"modes\">Modes: <strong>wake off</strong> polls every poll_interval only; "
        "<strong>wake on -wal writes</strong> also wakes when the -wal file changes (what "
        "upstream publishers give a listener); <strong>wake on (doorbell)</strong> adds the "
        "doorbell; <strong>Redis pub/sub</strong> is the Redis backend on loopback.</p>\n";
  }
  std::vector<std::string> kinds{"latency", "throughput", "growth", "idle"};
  for (const BenchRun& r : d.runs) {
    if (std::find(kinds.begin(), kinds.end(), r.bench) == kinds.end()) kinds.push_back(r.bench);
  }
  static const std::map<std::string, std::string> kTitles{
      {"latency", "Delivery latency"},
      {"throughput", "Publish throughput"},
      {"growth", "Database and WAL growth"},
      {"idle", "Idle CPU"}};
  for (const std::string& kind : kinds) {
    const auto runs = runs_of(d.runs, kind);
    if (runs.empty()) continue;
    const auto title = kTitles.find(kind);
    out += "<h4 id=\"bench-" + h(kind) + "\">" +
           h(title == kTitles.end() ? "Bench " + kind : title->second) + " (" +
           std::to_string(runs.size()) + " run" + (runs.size() == 1 ? "" : "s") + ")</h4>\n";
    if (!summary_columns(kind).empty()) out += summary_table(kind, runs);
    std::string plots;
    if (kind == "latency") plots = latency_plots(runs);
    if (kind == "throughput") plots = throughput_plots(runs);
    if (kind == "growth") plots = growth_plots(runs);
    if (kind == "idle") plots = idle_plots(runs);
    if (!plots.empty()) out += "<div class=\"plots\">\n" + plots + "</div>\n";
  }
  // Details last: one table per kind, a column per metric group.
  for (const std::string& kind : kinds) {
    const auto runs = runs_of(d.runs, kind);
    if (runs.empty()) continue;
    out += "<h4>Every metric of the " + h(kind) + " runs</h4>\n" + details_table(kind, runs);
  }
  return out;
}

}  // namespace

Totals totals_of(const std::vector<Scenario>& scenarios) {
  Totals t;
  for (const Scenario& s : scenarios) {
    ++t.count[static_cast<std::size_t>(s.verdict)];
    ++t.total;
  }
  return t;
}

std::string render_html(const std::vector<ResultsDoc>& docs) {
  std::vector<Scenario> all;
  std::size_t bench_docs = 0;
  std::size_t chaos_docs = 0;
  std::size_t conformance_docs = 0;
  Verdict chaos_verdict = Verdict::kPass;
  std::int64_t chaos_violations = 0;
  for (const ResultsDoc& d : docs) {
    all.insert(all.end(), d.scenarios.begin(), d.scenarios.end());
    ++(d.is_bench ? bench_docs : d.is_chaos ? chaos_docs : conformance_docs);
    if (d.is_chaos) {
      chaos_verdict = std::max(chaos_verdict, d.chaos.verdict());
      chaos_violations += d.chaos.violation_count();
    }
  }
  const bool any_bench = bench_docs > 0;
  const bool any_chaos = chaos_docs > 0;
  const bool any_conformance = conformance_docs > 0;
  const Totals totals = totals_of(all);
  const std::string heading = any_conformance ? "pjx-inval report"
                              : any_chaos     ? "pjx-inval chaos report"
                                              : "pjx-inval benchmark report";
  std::string title = heading;
  if (any_conformance) {
    title += ": " + std::to_string(totals.of(Verdict::kFail)) + " fail, " +
             std::to_string(totals.of(Verdict::kError)) + " error, " +
             std::to_string(totals.of(Verdict::kPass)) + " pass";
  } else if (any_chaos) {
    title += ": " + std::to_string(chaos_violations) + " violation" +
             (chaos_violations == 1 ? "" : "s") +
             (chaos_verdict == Verdict::kError ? ", epochs that could not run" : "");
  }
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
      h(title) + "</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n<main>\n";
  out += "<header>\n<h1>" + heading + "</h1>\n";
  if (any_conformance) out += totals_html(totals);
  std::size_t bench_seen = 0;
  std::size_t chaos_seen = 0;
  std::size_t conformance_seen = 0;
  for (const ResultsDoc& d : docs) {
    const std::size_t number =
        d.is_bench ? ++bench_seen : d.is_chaos ? ++chaos_seen : ++conformance_seen;
    const bool only = (d.is_bench ? bench_docs : d.is_chaos ? chaos_docs : conformance_docs) == 1;
    out += run_header(d, only ? 0 : number);
  }
  out += "</header>\n";

  if (any_conformance) {
    out += "<h2 id=\"verdict-table\">Verdicts</h2>\n" + verdict_table(docs);
    out += "<h2 id=\"scenarios\">Scenarios</h2>\n";
    for (std::size_t di = 0; di < docs.size(); ++di) {
      for (std::size_t si = 0; si < docs[di].scenarios.size(); ++si) {
        out += scenario_section(docs[di].scenarios[si], scenario_id(di, si));
      }
    }
  }
  if (any_chaos) {
    out += "<h2 id=\"chaos\">Chaos</h2>\n";
    for (const ResultsDoc& d : docs) {
      if (!d.is_chaos) continue;
      if (chaos_docs > 1) out += "<h3>" + h(d.command.empty() ? "Chaos run" : d.command) + "</h3>\n";
      out += chaos_section(d);
    }
  }
  if (any_bench) {
    out += "<h2 id=\"benchmarks\">Benchmarks</h2>\n";
    for (const ResultsDoc& d : docs) {
      if (!d.is_bench) continue;
      out += "<section class=\"bench\">\n" +
             (bench_docs > 1 ? "<h3>" + h(d.command.empty() ? "Benchmark" : d.command) + "</h3>\n"
                             : std::string()) +
             bench_section(d) + "</section>\n";
    }
  }
  out +=
      "<footer>Built by pjx-report from results files and histories only; the same files render "
      "the same page. Re-render with <code>pjx-report results.json -o DIR</code> in this "
      "directory.</footer>\n</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace pjx::reports
