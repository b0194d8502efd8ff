// pjx-report: renders results files into a report directory.
//   pjx-report RESULTS... -o DIR
// Exit status: 0 written, 1 bad input or unwritable output, 2 bad usage
// (help footer below). Interrupted by SIGINT, it dies of the signal (130 in
// a shell): it has nothing to tear down.
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "pjx/reports/report.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: pjx-report RESULTS... -o DIR [--quiet]\n"
    "\n"
    "Renders results files (results.json from pjx-harness conform/run, bench.json\n"
    "from pjx-harness bench, summary.json from pjx-harness chaos, or a results.json\n"
    "from an earlier report) and the histories they name into DIR: index.html,\n"
    "summary.md, junit.xml, results.json and histories/.\n"
    "\n"
    "Options:\n"
    "  -o, --out DIR  directory to write (created if missing); --output is the older\n"
    "                 spelling\n"
    "  -q, --quiet    do not print what was written\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Exit status:\n"
    "  0  the report was written\n"
    "  1  a results file could not be read or the report could not be written\n"
    "  2  bad usage\n"
    "\n"
    "Examples:\n"
    "  pjx-report out/results.json -o report/\n"
    "  pjx-report results.json bench.json -o report/\n"
    "  pjx-report out/chaos/summary.json -o report/\n";

int usage_error(std::string_view message) {
  std::cerr << "pjx-report: " << message << "\n\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path out_dir;
  bool quiet = false;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "pjx-report " << PJX_REPORT_VERSION << "\n";
      return 0;
    }
    if (arg == "-q" || arg == "--quiet") {
      quiet = true;
    } else if (arg == "-o" || arg == "--out" || arg == "--output") {
      if (i + 1 == args.size()) return usage_error(std::string(arg) + " needs a directory");
      out_dir = args[++i];
    } else if (arg.starts_with("--out=")) {
      out_dir = arg.substr(6);
    } else if (arg.starts_with("--output=")) {
      out_dir = arg.substr(9);
    } else if (arg.size() > 1 && arg.front() == '-') {
      return usage_error("unknown option " + std::string(arg));
    } else {
      inputs.emplace_back(arg);
    }
  }
  if (inputs.empty()) return usage_error("no results files given");
  if (out_dir.empty()) return usage_error("no output directory given (-o DIR)");
  try {
    pjx::reports::write_report(inputs, out_dir);
  } catch (const std::exception& e) {
    std::cerr << "pjx-report: error: " << e.what() << "\n";
    return 1;
  }
  if (!quiet) {
    std::cout << "pjx-report: wrote " << (out_dir / "index.html").string() << ", summary.md, "
              << "junit.xml, results.json\n";
  }
  return 0;
}
