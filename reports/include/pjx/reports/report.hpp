// pjx::reports: renders the files a conformance run or a benchmark leaves
// behind (results.json, bench.json and the histories they name, see
// harness/HISTORY.md) into the reports a person reads.
//
// Contract:
//  * Inputs are files only; nothing here talks to workers or reads live state,
//    so an old run re-renders identically on another machine.
//  * Same inputs give byte-identical outputs: no current time, no host names
//    or paths beyond what the inputs contain, a fixed order everywhere.
//  * Thread-safety: write_report keeps no shared state; concurrent calls are
//    safe as long as they write to different out_dir.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pjx::reports {

// Reads each results file (a conformance results.json, a bench.json with
// "kind":"bench", a chaos run's summary.json with "kind":"chaos", or a
// results.json this function wrote earlier, which may hold a JSON array of
// several documents) and the history files its
// scenarios name (paths relative to the results file's directory), then
// writes into out_dir (created if missing):
//   index.html    self-contained page: verdict table, per-scenario checks and
//                 plots (latency histogram/CDF, fault timeline), bench plots,
//                 a chaos run's fault schedule, effects and reproducer
//   summary.md    GitHub-flavoured Markdown for a CI job summary
//   junit.xml     one <testsuite> per results document, one <testcase> per
//                 scenario (per bench run; one for a chaos run)
//   results.json  the input document (a JSON array when there are several),
//                 with history paths pointing into histories/
//   histories/    byte-for-byte copies of the histories the report was built from
// REQUIRES: result_files is not empty.
// Throws std::runtime_error naming the file when an input cannot be read or
// does not follow HISTORY.md (bad JSON, a missing scenario name, an unknown
// verdict, a history file that is missing or has a bad line), and
// std::filesystem::filesystem_error when out_dir cannot be written.
void write_report(const std::vector<std::filesystem::path>& result_files,
                  const std::filesystem::path& out_dir);

// The junit.xml write_report writes, for one results document given as its
// JSON text (e.g. the results.json pjx-harness is about to write); its
// histories are not read. `source` names the document in messages. Throws
// std::runtime_error as write_report does for a document that does not
// follow HISTORY.md.
std::string junit_xml(std::string_view results_json, const std::string& source);

}  // namespace pjx::reports
