#include "pjx/reports/report.hpp"

#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

#include "model.hpp"
#include "renderers.hpp"

namespace pjx::reports {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    throw fs::filesystem_error("cannot write report file", path,
                               std::make_error_code(std::errc::io_error));
  }
}

// Gives every history a file name under histories/: its own name, or
// "<n>-<name>" when another history already took it. The same source file
// keeps one name.
void assign_history_names(std::vector<ResultsDoc>& docs) {
  std::map<fs::path, std::string> by_source;
  std::set<std::string> taken;
  for (ResultsDoc& d : docs) {
    for (Scenario& s : d.scenarios) {
      if (!s.history) continue;
      const fs::path source = fs::weakly_canonical(s.history->source);
      if (const auto it = by_source.find(source); it != by_source.end()) {
        s.history_out = it->second;
        continue;
      }
      const std::string base = s.history->source.filename().string();
      std::string name = "histories/" + base;
      for (int n = 2; taken.count(name); ++n) {
        name = "histories/" + std::to_string(n) + "-" + base;
      }
      taken.insert(name);
      by_source.emplace(source, name);
      s.history_out = name;
    }
  }
}

// The results.json of the report: the input document(s) with history paths
// pointing at the copies.
std::string results_copy(const std::vector<ResultsDoc>& docs) {
  json out = json::array();
  for (const ResultsDoc& d : docs) {
    json doc = d.raw;
    if (d.is_conformance()) {
      json& scenarios = doc["scenarios"];
      for (std::size_t i = 0; i < d.scenarios.size(); ++i) {
        if (!d.scenarios[i].history_out.empty()) {
          scenarios[i]["history"] = d.scenarios[i].history_out;
        }
      }
    }
    out.push_back(std::move(doc));
  }
  return (out.size() == 1 ? out.front() : out).dump(2) + "\n";
}

}  // namespace

void write_report(const std::vector<fs::path>& result_files, const fs::path& out_dir) {
  if (result_files.empty()) {
    throw std::runtime_error("no results files given: pass results.json or bench.json");
  }
  std::vector<ResultsDoc> docs;
  for (const fs::path& file : result_files) {
    for (ResultsDoc& d : load_results_file(file)) docs.push_back(std::move(d));
  }
  assign_history_names(docs);

  // Render everything before writing, so a failure leaves out_dir untouched.
  const std::string html = render_html(docs);
  const std::string markdown = render_markdown(docs);
  const std::string junit = render_junit(docs);
  const std::string results = results_copy(docs);

  fs::create_directories(out_dir);
  std::set<std::string> written;
  for (const ResultsDoc& d : docs) {
    for (const Scenario& s : d.scenarios) {
      if (s.history_out.empty() || !written.insert(s.history_out).second) continue;
      fs::create_directories(out_dir / "histories");
      write_file(out_dir / s.history_out, s.history->bytes);
    }
  }
  write_file(out_dir / "index.html", html);
  write_file(out_dir / "summary.md", markdown);
  write_file(out_dir / "junit.xml", junit);
  write_file(out_dir / "results.json", results);
}

std::string junit_xml(std::string_view results_json, const std::string& source) {
  return render_junit(parse_results(results_json, source, false));
}

}  // namespace pjx::reports
