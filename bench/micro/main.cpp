// pjx_bench_micro: Google Benchmark's usual command line, plus a summary of
// the figures that compare two benchmarks (written to stderr after the run, so
// that JSON on stdout stays valid). The benchmark context records where the
// databases were (PJX_BENCH_DIR), their filesystem and the SQLite version.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "bench_dir.hpp"
#include "filesystem_type.hpp"
#include "pjx/version.hpp"
#include "summary_reporter.hpp"

namespace {

// The value of --name=value on the command line, or `fallback`.
std::string flag(int argc, char** argv, std::string_view name, std::string fallback) {
  const std::string prefix = "--" + std::string(name) + "=";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) fallback = std::string(arg.substr(prefix.size()));
  }
  return fallback;
}

}  // namespace

constexpr const char* kHelpFooter =
    "pjx_bench_micro: Google Benchmark's options follow. The summary of paired figures goes\n"
    "to stderr after the run.\n"
    "\n"
    "Exit status: 0 the benchmarks ran, 1 an unrecognized argument; interrupted by SIGINT it\n"
    "dies of the signal (130 in a shell).\n"
    "\n"
    "Environment:\n"
    "  PJX_BENCH_DIR  where the databases go (default: a folder under $TMPDIR, else /tmp)\n"
    "\n"
    "Examples:\n"
    "  pjx_bench_micro --benchmark_filter=Publish --benchmark_repetitions=3\n"
    "  pjx_bench_micro --benchmark_format=json --benchmark_out=micro.json\n"
    "\n";

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::cout << "pjx_bench_micro " << pjx::kVersionString << "\n";
      return 0;
    }
    if (arg == "--help") std::cout << kHelpFooter << std::flush;
  }
  // Read before Initialize() removes the flags it knows from argv.
  const std::string format = flag(argc, argv, "benchmark_format", "console");
  const std::string color = flag(argc, argv, "benchmark_color", "auto");
  const std::string tabular = flag(argc, argv, "benchmark_counters_tabular", "false");

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const auto base = pjx::bench::bench_base_dir();
  benchmark::AddCustomContext("pjx_bench_dir", base.string());
  benchmark::AddCustomContext("pjx_bench_filesystem", pjx::testing::filesystem_type(base));
  benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
  benchmark::AddCustomContext("pjx_build_type", PJX_BENCH_BUILD_TYPE);

  std::unique_ptr<benchmark::BenchmarkReporter> inner;
  if (format == "console") {
    int options = benchmark::ConsoleReporter::OO_None;
    const bool colored = color == "true" || color == "yes" || color == "1" ||
                         (color == "auto" && isatty(STDOUT_FILENO) != 0);
    if (colored) options |= benchmark::ConsoleReporter::OO_Color;
    if (tabular == "true" || tabular == "1") options |= benchmark::ConsoleReporter::OO_Tabular;
    inner = std::make_unique<benchmark::ConsoleReporter>(
        static_cast<benchmark::ConsoleReporter::OutputOptions>(options));
  } else if (format == "json") {
    inner = std::make_unique<benchmark::JSONReporter>();
  }
  if (!inner) {  // csv or unknown: the library's own handling, no summary
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }
  pjx::bench::SummaryReporter reporter(std::move(inner));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_summary(std::cerr);
  benchmark::Shutdown();
  return 0;
}
