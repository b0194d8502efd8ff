// The three documents of a report, each rendered from the loaded model
// (model.hpp) into a string. Output is a pure function of the documents, in
// the order given, so the same inputs give the same bytes.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "model.hpp"

namespace pjx::reports {

// index.html: self-contained (inline CSS and SVG; no scripts, no URLs).
// Scenario.history_out must be set (links to the copied histories).
std::string render_html(const std::vector<ResultsDoc>& docs);

// summary.md: GitHub-flavoured Markdown for a CI job summary.
std::string render_markdown(const std::vector<ResultsDoc>& docs);

// junit.xml: one <testsuite> per document, one <testcase> per scenario
// (bench documents: one per run).
std::string render_junit(const std::vector<ResultsDoc>& docs);

// Counts of scenarios per verdict, indexed by Verdict.
struct Totals {
  std::array<std::size_t, 5> count{};
  std::size_t total = 0;
  std::size_t of(Verdict v) const { return count[static_cast<std::size_t>(v)]; }
};
Totals totals_of(const std::vector<Scenario>& scenarios);

}  // namespace pjx::reports
