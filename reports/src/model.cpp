#include "model.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "text.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;

// bench.json's `host_stalls` {count, max_ms, total_ms} as one line, or
// empty when the run has none (files written before it existed).
std::string host_stalls_text(const json& run) {
  const auto it = run.find("host_stalls");
  if (it == run.end() || !it->is_object()) return {};
  const json& h = *it;
  const auto number = [&h](const char* key) {
    const auto v = h.find(key);
    return v != h.end() && v->is_number() ? v->get<double>() : 0.0;
  };
  const auto count = static_cast<long long>(number("count"));
  if (count == 0) return "none";
  char text[96];
  std::snprintf(text, sizeof text, "%lld (longest %.1f ms, %.1f ms in all)", count,
                number("max_ms"), number("total_ms"));
  return text;
}

namespace fs = std::filesystem;

constexpr std::array<std::pair<std::string_view, Verdict>, 5> kVerdictNames{{
    {"pass", Verdict::kPass},
    {"reproduced", Verdict::kReproduced},
    {"skip", Verdict::kSkip},
    {"fail", Verdict::kFail},
    {"error", Verdict::kError},
}};

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

std::string read_bytes(const fs::path& path, std::string_view role) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    fail(path, "cannot read " + std::string(role) + ": " + std::strerror(err));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) fail(path, "read error on " + std::string(role));
  return buf.str();
}

// Where a field lives, for error messages: `scenario #2 "name"`.
struct Where {
  const fs::path& file;
  std::string path;
  [[noreturn]] void error(const std::string& what) const {
    fail(file, path.empty() ? what : path + ": " + what);
  }
};

std::string text_field(const json& object, std::string_view key, const Where& where,
                       bool required = false) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) where.error("missing \"" + std::string(key) + "\"");
    return "";
  }
  if (required && !it->is_string()) {
    where.error("\"" + std::string(key) + "\" must be a string, got " + it->dump());
  }
  if (it->is_object() || it->is_array()) {
    where.error("\"" + std::string(key) + "\" must be text, got " + it->dump());
  }
  return json_text(*it);
}

json object_field(const json& object, std::string_view key, const Where& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return json::object();
  if (!it->is_object()) where.error("\"" + std::string(key) + "\" must be an object");
  return *it;
}

const json* array_field(const json& object, std::string_view key, const Where& where,
                        bool required) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) where.error("missing \"" + std::string(key) + "\" (an array)");
    return nullptr;
  }
  if (!it->is_array()) where.error("\"" + std::string(key) + "\" must be an array");
  return &*it;
}

Verdict verdict_field(const json& object, const Where& where) {
  const std::string name = text_field(object, "verdict", where, true);
  const auto verdict = parse_verdict(name);
  if (!verdict) {
    where.error("verdict \"" + name + "\" is not one of pass, fail, skip, error, reproduced");
  }
  return *verdict;
}

std::optional<double> duration_field(const json& object, std::string_view key, const Where& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) where.error("\"" + std::string(key) + "\" must be a number");
  return it->get<double>();
}

Check parse_check(const json& j, const Where& where) {
  if (!j.is_object()) where.error("a check must be an object");
  Check c;
  c.name = text_field(j, "name", where, true);
  const Where here{where.file, where.path + " check \"" + c.name + "\""};
  c.verdict = verdict_field(j, here);
  c.measured = text_field(j, "measured", here);
  c.bound = text_field(j, "bound", here);
  c.summary = text_field(j, "summary", here);
  if (const json* evidence = array_field(j, "evidence", here, false)) {
    for (const json& e : *evidence) c.evidence.push_back(json_text(e));
  }
  c.metrics = object_field(j, "metrics", here);
  c.details = object_field(j, "details", here);
  return c;
}

Scenario parse_scenario(const json& j, std::size_t index, const fs::path& file,
                        const std::string& doc_where, bool read_histories) {
  const Where where{file, doc_where + "scenario #" + std::to_string(index + 1)};
  if (!j.is_object()) where.error("must be an object");
  Scenario s;
  s.name = text_field(j, "name", where, true);
  const Where here{file, where.path + " \"" + s.name + "\""};
  s.verdict = verdict_field(j, here);
  s.file = text_field(j, "file", here);
  s.guarantee = text_field(j, "guarantee", here);
  s.expect = text_field(j, "expect", here);
  s.rerun = text_field(j, "rerun", here);
  s.note = text_field(j, "note", here);
  if (s.note.empty()) s.note = text_field(j, "reason", here);
  s.duration_s = duration_field(j, "duration_s", here).value_or(0.0);
  s.metrics = object_field(j, "metrics", here);
  if (const json* checks = array_field(j, "checks", here, false)) {
    for (const json& c : *checks) s.checks.push_back(parse_check(c, here));
  }
  const std::string history = text_field(j, "history", here);
  if (read_histories && !history.empty()) {
    const fs::path history_path = file.parent_path() / fs::path(history);
    try {
      s.history = std::make_shared<const History>(load_history(history_path));
    } catch (const std::runtime_error& e) {
      here.error(std::string("history: ") + e.what());
    }
  }
  return s;
}

std::int64_t count_field(const json& object, std::string_view key, const Where& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return 0;
  if (!it->is_number()) where.error("\"" + std::string(key) + "\" must be a number");
  return it->is_number_integer() ? it->get<std::int64_t>()
                                 : static_cast<std::int64_t>(it->get<double>());
}

// An object of counts ({"staleness": 2}), in key order.
std::vector<std::pair<std::string, std::int64_t>> counts_field(const json& object,
                                                              std::string_view key,
                                                              const Where& where) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  const json counts = object_field(object, key, where);
  const Where here{where.file, where.path + " \"" + std::string(key) + "\""};
  for (const auto& [name, value] : counts.items()) {
    out.emplace_back(name, count_field(counts, name, here));
  }
  return out;
}

std::vector<std::string> texts_field(const json& object, std::string_view key, const Where& where) {
  std::vector<std::string> out;
  if (const json* items = array_field(object, key, where, false)) {
    for (const json& item : *items) out.push_back(json_text(item));
  }
  return out;
}

std::optional<ChaosPlanFile> plan_file_field(const json& object, std::string_view key,
                                             const Where& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  const Where here{where.file, where.path + "\"" + std::string(key) + "\""};
  if (!it->is_object()) here.error("must be an object");
  ChaosPlanFile f;
  f.plan = text_field(*it, "plan", here);
  f.faults = count_field(*it, "faults", here);
  f.ops = count_field(*it, "ops", here);
  f.rerun = text_field(*it, "rerun", here);
  return f;
}

ChaosRun parse_chaos(const json& j, const Where& where) {
  ChaosRun c;
  using Count = std::int64_t ChaosRun::*;
  for (const auto& [key, count] : {std::pair<const char*, Count>{"epochs", &ChaosRun::epochs},
                                   {"epochs_failed", &ChaosRun::epochs_failed},
                                   {"epochs_error", &ChaosRun::epochs_error},
                                   {"publishes", &ChaosRun::publishes},
                                   {"reads", &ChaosRun::reads},
                                   {"flushes", &ChaosRun::flushes}}) {
    c.*count = count_field(j, key, where);
  }
  const json effects = object_field(j, "effects", where);
  for (const auto& [kind, e] : effects.items()) {
    const Where here{where.file, where.path + "effect \"" + kind + "\""};
    if (!e.is_object()) here.error("must be an object");
    c.effects.push_back({kind, count_field(e, "planned", here), count_field(e, "applied", here),
                         count_field(e, "judged", here), count_field(e, "reached", here)});
  }
  c.violations = counts_field(j, "violations", where);
  c.documented = counts_field(j, "documented_failures", where);
  c.not_exercised = counts_field(j, "not_exercised", where);
  c.errors = texts_field(j, "errors", where);
  c.doublecheck_differences = texts_field(j, "doublecheck_differences", where);
  if (const json* lengths = array_field(j, "epoch_workload_s", where, false)) {
    for (const json& l : *lengths) {
      if (!l.is_number()) where.error("\"epoch_workload_s\" must hold numbers");
      c.epoch_workload_s.push_back(l.get<double>());
    }
  }
  if (const json* schedule = array_field(j, "schedule", where, false)) {
    for (std::size_t i = 0; i < schedule->size(); ++i) {
      const json& f = (*schedule)[i];
      const Where here{where.file, where.path + "schedule #" + std::to_string(i + 1)};
      if (!f.is_object()) here.error("must be an object");
      ChaosWindow w;
      w.epoch = count_field(f, "epoch", here);
      w.kind = text_field(f, "kind", here, true);
      w.worker = text_field(f, "worker", here);
      w.begin_s = duration_field(f, "begin_s", here).value_or(0.0);
      w.end_s = duration_field(f, "end_s", here).value_or(w.begin_s);
      const auto reached = f.find("reached");
      if (reached != f.end() && !reached->is_null()) {
        if (!reached->is_boolean()) here.error("\"reached\" must be true, false or null");
        w.reached = reached->get<bool>();
      }
      c.schedule.push_back(std::move(w));
    }
  }
  c.failing = plan_file_field(j, "failing", where);
  c.minimal = plan_file_field(j, "minimal", where);
  return c;
}

ResultsDoc parse_doc(const json& j, const fs::path& file, const std::string& doc_where,
                     bool read_histories) {
  const Where where{file, doc_where};
  if (!j.is_object()) where.error("a results document must be a JSON object");
  ResultsDoc d;
  d.raw = j;
  const std::string kind = text_field(j, "kind", where);
  d.is_bench = kind == "bench";
  d.is_chaos = kind == "chaos";
  d.tool = text_field(j, "tool", where);
  d.version = text_field(j, "version", where);
  d.command = text_field(j, "command", where);
  d.started_at = text_field(j, "started_at", where);
  d.commit = text_field(j, "commit", where);
  d.worker_cmd = text_field(j, "worker_cmd", where);
  d.backend = text_field(j, "backend", where);
  d.timing = text_field(j, "timing", where);
  d.seed = text_field(j, "seed", where);
  d.duration_s = duration_field(j, "duration_s", where);
  d.machine = object_field(j, "machine", where);
  if (d.is_chaos) {
    d.chaos = parse_chaos(j, where);
  } else if (d.is_bench) {
    const json* runs = array_field(j, "runs", where, true);
    for (std::size_t i = 0; i < runs->size(); ++i) {
      const json& r = (*runs)[i];
      const Where run_where{file, doc_where + "run #" + std::to_string(i + 1)};
      if (!r.is_object()) run_where.error("must be an object");
      BenchRun run;
      run.bench = text_field(r, "bench", run_where, true);
      run.params = object_field(r, "params", run_where);
      run.metrics = object_field(r, "metrics", run_where);
      run.load_before = text_field(r, "load_before", run_where);
      run.load_after = text_field(r, "load_after", run_where);
      run.host_stalls = host_stalls_text(r);
      if (const json* series = array_field(r, "series", run_where, false)) run.series = *series;
      d.runs.push_back(std::move(run));
    }
  } else {
    const json* scenarios = array_field(j, "scenarios", where, true);
    for (std::size_t i = 0; i < scenarios->size(); ++i) {
      d.scenarios.push_back(parse_scenario((*scenarios)[i], i, file, doc_where, read_histories));
    }
  }
  return d;
}

}  // namespace

std::string_view verdict_name(Verdict verdict) {
  for (const auto& [name, v] : kVerdictNames) {
    if (v == verdict) return name;
  }
  return "error";
}

std::optional<Verdict> parse_verdict(std::string_view name) {
  for (const auto& [n, v] : kVerdictNames) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::int64_t ChaosRun::violation_count() const {
  std::int64_t n = 0;
  for (const auto& [check, count] : violations) n += count;
  return n;
}

Verdict ChaosRun::verdict() const {
  if (violation_count() > 0 || epochs_failed > 0) return Verdict::kFail;
  if (!errors.empty() || epochs_error > 0 || !doublecheck_differences.empty()) return Verdict::kError;
  return Verdict::kPass;
}

std::vector<ResultsDoc> load_results_file(const fs::path& path) {
  return parse_results(read_bytes(path, "results file"), path, true);
}

std::vector<ResultsDoc> parse_results(std::string_view text, const fs::path& path,
                                      bool read_histories) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
  std::vector<ResultsDoc> docs;
  if (j.is_array()) {
    if (j.empty()) fail(path, "an empty array holds no results documents");
    for (std::size_t i = 0; i < j.size(); ++i) {
      docs.push_back(
          parse_doc(j[i], path, "document #" + std::to_string(i + 1) + " ", read_histories));
    }
  } else {
    docs.push_back(parse_doc(j, path, "", read_histories));
  }
  return docs;
}

History load_history(const fs::path& path) {
  History h;
  h.source = path;
  h.bytes = read_bytes(path, "history");
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < h.bytes.size()) {
    const std::size_t nl = h.bytes.find('\n', pos);
    const std::size_t end = nl == std::string::npos ? h.bytes.size() : nl;
    const std::string_view line(h.bytes.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    json rec;
    try {
      rec = json::parse(line);
    } catch (const json::exception& e) {
      fail(path, where + "not valid JSON: " + e.what());
    }
    if (!rec.is_object()) fail(path, where + "a record must be a JSON object");
    const auto type = rec.find("type");
    if (type == rec.end() || !type->is_string()) fail(path, where + "missing \"type\"");
    if (!record_time(rec)) fail(path, where + "missing integer \"t\" (monotonic ns)");
    if (h.records.empty() && *type != "meta") {
      fail(path,
           where + "the first record must be \"meta\", got \"" + type->get<std::string>() + "\"");
    }
    h.records.push_back(std::move(rec));
  }
  if (h.records.empty()) fail(path, "empty history (the first record must be \"meta\")");
  return h;
}

std::optional<double> number_at(const json& object, std::string_view key) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<std::int64_t> record_time(const json& record) {
  for (const char* key : {"t", "rt"}) {
    const auto it = record.find(key);
    if (it == record.end()) continue;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  }
  return std::nullopt;
}

}  // namespace pjx::reports
