#include "scenario.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "command_line.hpp"

namespace pjx::harness {
namespace {

using Json = nlohmann::json;

const std::set<std::string, std::less<>> kActions = {
    "pause",     "kill",        "stop",         "restart",       "lock",        "clock_step",
    "delete_db", "replace_db",  "readonly_dir", "redis_restart", "client_kill", "disk_full",
    "vfs_fault", "snapshot_db", "restore_db",   "power_loss",    "redis_pause", "partition",
    "redis_failover"};
// Fault actions that exist only for one backend.
const std::map<std::string, std::string, std::less<>> kBackendOnlyActions = {
    {"lock", "sqlite"},         {"delete_db", "sqlite"},    {"replace_db", "sqlite"},
    {"readonly_dir", "sqlite"}, {"redis_restart", "redis"}, {"client_kill", "redis"},
    {"disk_full", "sqlite"},    {"vfs_fault", "sqlite"},    {"snapshot_db", "sqlite"},
    {"restore_db", "sqlite"},   {"power_loss", "sqlite"},   {"redis_pause", "redis"},
    {"partition", "redis"},     {"redis_failover", "redis"}};

int line_of(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

Json to_json(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    Json out = Json::object();
    for (auto&& [k, v] : *t) out[std::string(k.str())] = to_json(v);
    return out;
  }
  if (const auto* a = node.as_array()) {
    Json out = Json::array();
    for (const toml::node& v : *a) out.push_back(to_json(v));
    return out;
  }
  if (const auto* s = node.as_string()) return Json(s->get());
  if (const auto* i = node.as_integer()) return Json(i->get());
  if (const auto* f = node.as_floating_point()) return Json(f->get());
  if (const auto* b = node.as_boolean()) return Json(b->get());
  // Dates and times: kept as their TOML text.
  if (const auto* d = node.as_date()) {
    std::ostringstream text;
    text << *d;
    return Json(text.str());
  }
  if (const auto* tm = node.as_time()) {
    std::ostringstream text;
    text << *tm;
    return Json(text.str());
  }
  if (const auto* dt = node.as_date_time()) {
    std::ostringstream text;
    text << *dt;
    return Json(text.str());
  }
  return Json();
}

// Reads the keys of one table, remembering which were read, so that
// finish() can reject the others by name.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where, const std::string& source)
      : table_(table), where_(std::move(where)), source_(source) {}

  [[noreturn]] void fail(int line, const std::string& message) const {
    throw ScenarioError(source_ + ":" + std::to_string(line) + ": " + message);
  }
  [[noreturn]] void fail_at(const toml::node& node, const std::string& message) const {
    fail(line_of(node), message);
  }
  int line() const { return line_of(table_); }

  const toml::node* get(std::string_view key) {
    known_.insert(std::string(key));
    return table_.get(key);
  }

  std::optional<std::string> str(std::string_view key) {
    const toml::node* n = get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) wrong_type(*n, key, "a string");
    return n->as_string()->get();
  }
  std::string required_str(std::string_view key) {
    auto v = str(key);
    if (!v) fail(line(), "missing key '" + std::string(key) + "' in " + where_);
    return *v;
  }
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const toml::node* n = get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_integer()) wrong_type(*n, key, "an integer");
    const std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      fail_at(*n, "'" + std::string(key) + "' in " + where_ + " is " + std::to_string(v) +
                      "; it must be between " + std::to_string(min) + " and " +
                      std::to_string(max));
    }
    return v;
  }
  std::optional<double> number(std::string_view key) {
    const toml::node* n = get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_number()) wrong_type(*n, key, "a number");
    const double v = n->value<double>().value_or(0);
    if (!std::isfinite(v) || v <= 0) {
      fail_at(*n, "'" + std::string(key) + "' in " + where_ + " must be a positive number");
    }
    return v;
  }
  std::optional<bool> boolean(std::string_view key) {
    const toml::node* n = get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_boolean()) wrong_type(*n, key, "true or false");
    return n->as_boolean()->get();
  }
  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const toml::node* n = get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_array()) wrong_type(*n, key, "an array of strings");
    std::vector<std::string> out;
    for (const toml::node& e : *n->as_array()) {
      if (!e.is_string()) wrong_type(e, key, "an array of strings");
      out.push_back(e.as_string()->get());
    }
    return out;
  }
  std::optional<Duration> duration(std::string_view key) {
    const toml::node* n = get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) {
      wrong_type(*n, key, "a duration string such as \"150ms\" or \"2 poll\"");
    }
    try {
      return parse_duration(n->as_string()->get());
    } catch (const std::invalid_argument& e) {
      fail_at(*n, "'" + std::string(key) + "' in " + where_ + ": " + e.what());
    }
  }

  // Rejects every key that was not read.
  void finish() const {
    for (auto&& [k, v] : table_) {
      if (known_.count(k.str()) != 0) continue;
      std::string list;
      for (const std::string& name : known_) list += (list.empty() ? "" : ", ") + name;
      fail(static_cast<int>(k.source().begin.line) > 0 ? static_cast<int>(k.source().begin.line)
                                                        : line_of(v),
           "unknown key '" + std::string(k.str()) + "' in " + where_ + " (known keys: " + list +
               ")");
    }
  }

 private:
  [[noreturn]] void wrong_type(const toml::node& n, std::string_view key,
                               const std::string& wanted) const {
    fail_at(n, "'" + std::string(key) + "' in " + where_ + " must be " + wanted + ", not " +
                   type_name(n));
  }

  const toml::table& table_;
  std::string where_;
  const std::string& source_;
  std::set<std::string, std::less<>> known_;
};

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           (c >= 'A' && c <= 'Z');
  });
}

const toml::table& as_table(TableReader& parent, const toml::node& node, const std::string& what) {
  if (!node.is_table()) parent.fail_at(node, what + " must be a table, not " + type_name(node));
  return *node.as_table();
}

std::vector<const toml::table*> array_of_tables(TableReader& top, std::string_view key) {
  std::vector<const toml::table*> out;
  const toml::node* n = top.get(key);
  if (n == nullptr) return out;
  if (!n->is_array_of_tables()) {
    top.fail_at(*n, "'" + std::string(key) + "' must be written as [[" + std::string(key) +
                        "]] tables");
  }
  for (const toml::node& e : *n->as_array()) out.push_back(e.as_table());
  return out;
}

WorkerSpec read_worker(const toml::table& t, const std::string& source) {
  TableReader r(t, "[[worker]]", source);
  WorkerSpec w;
  w.line = r.line();
  w.name = r.required_str("name");
  if (!valid_name(w.name)) {
    r.fail(w.line, "worker name '" + w.name + "' must be letters, digits, '-' or '_'");
  }
  w.channel = r.str("channel").value_or("");
  w.db = r.str("db");
  if (const toml::node* env = r.get("env")) {
    const toml::table& e = as_table(r, *env, "'env' in [[worker]]");
    for (auto&& [k, v] : e) {
      if (!v.is_string()) {
        r.fail_at(v, "env value '" + std::string(k.str()) +
                         "' must be a string (write numbers in quotes: \"0.5\")");
      }
      w.env[std::string(k.str())] = v.as_string()->get();
    }
  }
  w.expect_fatal = r.boolean("expect_fatal").value_or(false);
  w.why = r.str("why").value_or("");
  if (w.expect_fatal && w.why.empty()) {
    r.fail(w.line, "worker '" + w.name + "' has expect_fatal = true but no 'why'");
  }
  w.start_at = r.duration("start_at");
  w.faketime = r.boolean("faketime").value_or(false);
  if (auto n = r.integer("inotify_instances", 0, 65536)) w.inotify_instances = static_cast<int>(*n);
  if (auto cmd = r.str("cmd")) {
    try {
      if (split_command_line(*cmd).empty()) throw std::invalid_argument("it is empty");
    } catch (const std::invalid_argument& e) {
      r.fail(w.line, "worker '" + w.name + "' cmd '" + *cmd + "' is not a command line: " + e.what());
    }
    w.cmd = *cmd;
  }
  r.finish();
  return w;
}

std::string known_list(const std::vector<std::string>& names) {
  std::string list;
  for (const std::string& k : names) list += (list.empty() ? "" : ", ") + k;
  return list;
}

// `backends = [...]` and the `[backend.<name>]` tables.
void read_backends(TableReader& top, const toml::table& doc, Scenario& s,
                   const std::string& source, const std::vector<std::string>& known_checks) {
  const std::vector<std::string> known_backends(std::begin(kBackendNames), std::end(kBackendNames));
  if (auto b = top.strings("backends")) {
    const int line = line_of(*doc.get("backends"));
    if (b->empty()) top.fail(line, "'backends' must list at least one of " + known_list(known_backends));
    for (std::size_t i = 0; i < b->size(); ++i) {
      const std::string& name = (*b)[i];
      if (std::find(known_backends.begin(), known_backends.end(), name) == known_backends.end()) {
        top.fail(line, "unknown backend '" + name + "' in 'backends' (known: " +
                           known_list(known_backends) + ")");
      }
      if (std::find(b->begin(), b->begin() + static_cast<std::ptrdiff_t>(i), name) !=
          b->begin() + static_cast<std::ptrdiff_t>(i)) {
        top.fail(line, "backend '" + name + "' is listed twice in 'backends'");
      }
    }
    s.backends = *b;
  }
  const toml::node* node = top.get("backend");
  if (node == nullptr) return;
  const toml::table& tables = as_table(top, *node, "'backend'");
  for (auto&& [key, value] : tables) {
    const std::string name(key.str());
    const std::string where = "[backend." + name + "]";
    if (!s.applies_to(name)) {
      top.fail(line_of(value), where + " configures a backend that 'backends' does not list (" +
                                   known_list(s.backends) + ")");
    }
    TableReader r(as_table(top, value, where), where, source);
    BackendOverride o;
    o.why = r.required_str("why");
    o.checks = r.strings("checks");
    if (o.checks) {
      if (o.checks->empty()) r.fail(r.line(), where + ".checks must list at least one check");
      for (const std::string& c : *o.checks) {
        if (std::find(known_checks.begin(), known_checks.end(), c) == known_checks.end()) {
          r.fail(r.line(), "unknown check '" + c + "' in " + where + " (known: " +
                               known_list(known_checks) + ")");
        }
      }
    }
    const std::vector<std::string>& checks = o.checks ? *o.checks : s.checks;
    if (const toml::node* p = r.get("check_params")) {
      const toml::table& params = as_table(r, *p, where + ".check_params");
      for (auto&& [k, v] : params) {
        const std::string check(k.str());
        if (std::find(checks.begin(), checks.end(), check) == checks.end()) {
          r.fail(line_of(v), where + ".check_params." + check +
                                 " names a check that is not run under this backend");
        }
        if (!v.is_table()) r.fail_at(v, where + ".check_params." + check + " must be a table");
        for (auto&& [pk, pv] : *v.as_table()) {
          const std::string pkey(pk.str());
          if (!pv.is_string() || pkey.size() < 3 || pkey.compare(pkey.size() - 3, 3, "_ms") != 0) {
            continue;
          }
          try {
            parse_duration(pv.as_string()->get());
          } catch (const std::invalid_argument& e) {
            r.fail_at(pv, where + ".check_params." + check + "." + pkey + ": " + e.what());
          }
        }
      }
      o.check_params = to_json(params);
    }
    o.requires_caps = r.strings("requires");
    o.quiesce_timeout = r.duration("quiesce_timeout");
    if (auto limit = r.str("pubsub_limit")) {
      if (name != "redis") r.fail(r.line(), "'pubsub_limit' applies to [backend.redis] only");
      std::istringstream words(*limit);
      std::string w;
      int n = 0;
      while (words >> w) ++n;
      if (n != 3) {
        r.fail(r.line(), where + ".pubsub_limit \"" + *limit +
                             "\" must be three words as in redis.conf: <hard> <soft> <soft "
                             "seconds>, e.g. \"64kb 0 0\"");
      }
      o.pubsub_limit = *limit;
    }
    r.finish();
    s.backend_overrides[name] = std::move(o);
  }
}

// A partition's `hosts`, `direction` and `abort_server_side` (refused on
// other faults).
void read_partition(TableReader& r, const Scenario& s, FaultSpec& f) {
  const bool partition = f.action == "partition";
  if (auto hosts = r.strings("hosts")) {
    if (!partition) r.fail(f.line, "'hosts' applies to partition faults only");
    f.hosts = *hosts;
  }
  if (auto direction = r.str("direction")) {
    if (!partition) r.fail(f.line, "'direction' applies to partition faults only");
    f.direction = *direction;
  }
  if (auto abort = r.boolean("abort_server_side")) {
    if (!partition) r.fail(f.line, "'abort_server_side' applies to partition faults only");
    f.abort_server_side = *abort;
  }
  if (!partition) return;
  if (!s.hosts) {
    r.fail(f.line,
           "fault 'partition' cuts hosts apart: the scenario needs hosts = true "
           "(workers and redis-server on network namespaces of their own)");
  }
  if (f.hosts.empty()) {
    r.fail(f.line,
           "fault 'partition' needs 'hosts', the hosts cut from the others: worker "
           "names or \"redis\", e.g. hosts = [\"w2\"]");
  }
  for (const std::string& h : f.hosts) {
    if (h != "redis" && s.find_worker(h) == nullptr) {
      r.fail(f.line,
             "partition host '" + h + "' is neither a worker of the scenario nor \"redis\"");
    }
  }
  if (f.direction != "both" && f.direction != "in" && f.direction != "out") {
    r.fail(f.line, "partition direction '" + f.direction +
                       "' must be \"both\", \"in\" (packets to the cut hosts dropped) or "
                       "\"out\" (packets from them dropped)");
  }
  if (f.abort_server_side && std::find(f.hosts.begin(), f.hosts.end(), "redis") != f.hosts.end()) {
    r.fail(f.line,
           "'abort_server_side' aborts the redis-server's side of the cut workers' "
           "subscriptions: it needs worker hosts only, not \"redis\"");
  }
}

}  // namespace

const WorkerSpec* Scenario::find_worker(std::string_view worker) const {
  for (const WorkerSpec& w : workers) {
    if (w.name == worker) return &w;
  }
  return nullptr;
}

bool Scenario::applies_to(std::string_view backend_name) const {
  return std::find(backends.begin(), backends.end(), backend_name) != backends.end();
}

Scenario Scenario::for_backend(const std::string& backend_name) const {
  Scenario out = *this;
  out.backend = backend_name;
  auto it = backend_overrides.find(backend_name);
  if (it == backend_overrides.end()) return out;
  const BackendOverride& o = it->second;
  if (o.checks) out.checks = *o.checks;
  for (auto& [check, params] : o.check_params.items()) out.check_params[check] = params;
  for (auto p = out.check_params.begin(); p != out.check_params.end();) {
    if (std::find(out.checks.begin(), out.checks.end(), p.key()) == out.checks.end()) {
      p = out.check_params.erase(p);
    } else {
      ++p;
    }
  }
  if (o.requires_caps) out.requires_caps = *o.requires_caps;
  if (o.quiesce_timeout) out.quiesce_timeout = o.quiesce_timeout;
  if (backend_name == "redis") out.redis_pubsub_limit = o.pubsub_limit;
  return out;
}

nlohmann::json Scenario::resolved_check_params(const Timing& run_timing) const {
  nlohmann::json out = check_params;
  for (auto& [check, params] : out.items()) {
    if (!params.is_object()) continue;
    for (auto& [key, value] : params.items()) {
      if (value.is_string() && key.size() >= 3 && key.compare(key.size() - 3, 3, "_ms") == 0) {
        value = parse_duration(value.get<std::string>()).resolve_ms(run_timing);
      }
    }
  }
  return out;
}

std::vector<std::string> default_publishers(const Scenario& scenario) {
  std::vector<std::string> out;
  for (const WorkerSpec& w : scenario.workers) {
    if (!w.start_at && !w.expect_fatal) out.push_back(w.name);
  }
  return out;
}

Scenario parse_scenario(std::string_view toml_text, const std::string& source,
                        const std::vector<std::string>& known_checks) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    throw ScenarioError(source + ":" + std::to_string(e.source().begin.line) + ": " +
                        std::string(e.description()));
  }
  Scenario s;
  s.file = source;
  TableReader top(doc, "the scenario", source);
  s.name = top.required_str("name");
  if (!valid_name(s.name)) {
    top.fail(line_of(*doc.get("name")),
             "name '" + s.name + "' must be letters, digits, '-' or '_' (it names files)");
  }
  s.guarantee = top.required_str("guarantee");
  s.checks = top.strings("checks").value_or(std::vector<std::string>{});
  if (s.checks.empty()) top.fail(1, "'checks' must list at least one check");
  for (const std::string& c : s.checks) {
    if (std::find(known_checks.begin(), known_checks.end(), c) == known_checks.end()) {
      std::string list;
      for (const std::string& k : known_checks) list += (list.empty() ? "" : ", ") + k;
      top.fail(line_of(*doc.get("checks")), "unknown check '" + c + "' (known: " + list + ")");
    }
  }
  if (const toml::node* p = top.get("check_params")) {
    const toml::table& params = as_table(top, *p, "'check_params'");
    for (auto&& [k, v] : params) {
      if (std::find(s.checks.begin(), s.checks.end(), k.str()) == s.checks.end()) {
        top.fail(line_of(v), "check_params." + std::string(k.str()) +
                                 " names a check that is not in 'checks'");
      }
      if (!v.is_table()) top.fail_at(v, "check_params." + std::string(k.str()) + " must be a table");
      // Parameters in milliseconds may be written as durations ("1 poll + 100ms").
      for (auto&& [pk, pv] : *v.as_table()) {
        const std::string key(pk.str());
        if (!pv.is_string()) continue;
        if (key.size() < 3 || key.compare(key.size() - 3, 3, "_ms") != 0) continue;
        try {
          parse_duration(pv.as_string()->get());
        } catch (const std::invalid_argument& e) {
          top.fail_at(pv, "check_params." + std::string(k.str()) + "." + key + ": " + e.what());
        }
      }
    }
    s.check_params = to_json(params);
  }
  s.expect = top.str("expect").value_or("pass");
  if (s.expect != "pass" && s.expect != "reproduced") {
    top.fail(line_of(*doc.get("expect")),
             "expect must be \"pass\" or \"reproduced\", not \"" + s.expect + "\"");
  }
  s.requires_caps = top.strings("requires").value_or(std::vector<std::string>{});
  s.timing = top.str("timing");
  if (s.timing && !Timing::named(*s.timing)) {
    top.fail(line_of(*doc.get("timing")),
             "timing must be \"quick\" or \"documented\", not \"" + *s.timing + "\"");
  }
  s.quiesce_timeout = top.duration("quiesce_timeout");
  read_backends(top, doc, s, source, known_checks);
  s.hosts = top.boolean("hosts").value_or(false);
  if (s.hosts && (s.backends.size() != 1 || s.backends[0] != "redis")) {
    top.fail(line_of(*doc.get("hosts")),
             "'hosts' places workers and the harness's redis-server on network namespaces of "
             "their own, which only the Redis backend can use: write backends = [\"redis\"]");
  }

  // Workers: `workers = N` makes w0..w(N-1); [[worker]] tables add named ones.
  if (auto n = top.integer("workers", 0, 64)) {
    for (std::int64_t i = 0; i < *n; ++i) {
      WorkerSpec w;
      w.name = "w" + std::to_string(i);
      w.line = line_of(*doc.get("workers"));
      s.workers.push_back(std::move(w));
    }
  }
  for (const toml::table* t : array_of_tables(top, "worker")) {
    WorkerSpec w = read_worker(*t, source);
    if (s.find_worker(w.name) != nullptr) {
      top.fail(w.line, "worker name '" + w.name + "' is used twice");
    }
    s.workers.push_back(std::move(w));
  }
  if (s.workers.empty()) top.fail(1, "no workers: write 'workers = N' or [[worker]] tables");

  auto check_worker = [&](TableReader& r, int line, const std::string& worker) {
    if (s.find_worker(worker) == nullptr) r.fail(line, "no worker named '" + worker + "'");
  };

  if (const toml::node* wl = top.get("workload")) {
    TableReader r(as_table(top, *wl, "[workload]"), "[workload]", source);
    WorkloadSpec w;
    w.publishes = static_cast<int>(r.integer("publishes", 0, 100000).value_or(0));
    w.start = r.duration("start").value_or(Duration{});
    w.interval = r.duration("interval");
    w.rate = r.number("rate");
    if (w.interval && w.rate) r.fail(r.line(), "[workload] takes 'interval' or 'rate', not both");
    if (!w.interval && !w.rate && w.publishes > 1) {
      r.fail(r.line(), "[workload] needs 'interval' (e.g. \"1 poll\") or 'rate' (per second)");
    }
    w.publishers = r.strings("publishers").value_or(std::vector<std::string>{});
    for (const std::string& p : w.publishers) check_worker(r, r.line(), p);
    w.shared_keys = static_cast<int>(r.integer("shared_keys", 0, 32).value_or(1));
    w.key_space = static_cast<int>(r.integer("key_space", 1, 1000000).value_or(100));
    w.pad_bytes = static_cast<int>(r.integer("pad_bytes", 0, 1 << 20).value_or(0));
    w.together = static_cast<int>(r.integer("together", 1, 64).value_or(1));
    const std::size_t pool = w.publishers.empty() ? default_publishers(s).size() : w.publishers.size();
    if (static_cast<std::size_t>(w.together) > pool) {
      r.fail(r.line(), "[workload] together = " + std::to_string(w.together) + " needs as many publishers (each publish "
                       "of a step comes from another worker), and the workload has " + std::to_string(pool) +
                       ": lower 'together' or list more workers in 'publishers'");
    }
    r.finish();
    s.workload = w;
  }

  if (const toml::node* rd = top.get("reads")) {
    TableReader r(as_table(top, *rd, "[reads]"), "[reads]", source);
    ReadsSpec w;
    w.ops = static_cast<int>(r.integer("ops", 0, 100000).value_or(0));
    w.start = r.duration("start").value_or(Duration{});
    w.interval = r.duration("interval").value_or(parse_duration("0.5 poll"));
    w.keys = static_cast<int>(r.integer("keys", 1, 10000).value_or(4));
    w.hot_percent = static_cast<int>(r.integer("hot_percent", 0, 100).value_or(50));
    w.write_percent = static_cast<int>(r.integer("write_percent", 0, 100).value_or(25));
    w.readers = r.strings("readers").value_or(std::vector<std::string>{});
    for (const std::string& p : w.readers) check_worker(r, r.line(), p);
    w.writers = r.strings("writers").value_or(std::vector<std::string>{});
    for (const std::string& p : w.writers) check_worker(r, r.line(), p);
    w.races = static_cast<int>(r.integer("races", 0, 10000).value_or(0));
    w.slow = r.duration("slow").value_or(parse_duration("2 poll"));
    w.bursts = static_cast<int>(r.integer("bursts", 0, 10000).value_or(0));
    w.burst_size = static_cast<int>(r.integer("burst_size", 2, 64).value_or(4));
    r.finish();
    s.reads = w;
  }

  for (const char* kind : {"read", "write"}) {
    const std::string where = std::string("[[") + kind + "]]";
    for (const toml::table* t : array_of_tables(top, kind)) {
      TableReader r(*t, where, source);
      DataOpSpec op;
      op.write = std::string_view(kind) == "write";
      op.line = r.line();
      auto at = r.duration("at");
      if (!at) r.fail(op.line, where + " needs 'at'");
      op.at = *at;
      op.worker = r.required_str("worker");
      check_worker(r, op.line, op.worker);
      op.key = r.required_str("key");
      if (op.key.empty()) r.fail(op.line, where + " 'key' must not be empty");
      if (!op.write) op.slow = r.duration("slow");
      if (op.write) {
        op.keys = r.strings("keys").value_or(std::vector<std::string>{});
        if (!op.keys.empty() &&
            std::find(op.keys.begin(), op.keys.end(), op.key) == op.keys.end()) {
          r.fail(op.line, "[[write]] 'keys' lists what the write invalidates and must hold its "
                          "'key' \"" + op.key + "\": add it, or leave 'keys' out for [key]");
        }
      }
      r.finish();
      s.data_ops.push_back(std::move(op));
    }
  }
  if (!s.data_ops.empty() && !s.reads) {
    top.fail(s.data_ops.front().line,
             "[[read]] and [[write]] need a [reads] table (it names the truth store's workload)");
  }

  for (const toml::table* t : array_of_tables(top, "publish")) {
    TableReader r(*t, "[[publish]]", source);
    PublishSpec p;
    p.line = r.line();
    auto at = r.duration("at");
    if (!at) r.fail(p.line, "[[publish]] needs 'at'");
    p.at = *at;
    p.worker = r.str("worker").value_or("");
    if (!p.worker.empty()) check_worker(r, p.line, p.worker);
    p.keys = r.strings("keys").value_or(std::vector<std::string>{});
    p.await = r.boolean("await").value_or(false);
    r.finish();
    s.publishes.push_back(std::move(p));
  }

  for (const toml::table* t : array_of_tables(top, "fault")) {
    TableReader r(*t, "[[fault]]", source);
    FaultSpec f;
    f.line = r.line();
    f.action = r.required_str("action");
    if (kActions.count(f.action) == 0) {
      std::string list;
      for (const auto& a : kActions) list += (list.empty() ? "" : ", ") + a;
      r.fail(f.line, "unknown fault action '" + f.action + "' (known: " + list + ")");
    }
    auto at = r.duration("at");
    if (!at) r.fail(f.line, "[[fault]] needs 'at'");
    f.at = *at;
    f.worker = r.str("worker").value_or("");
    f.duration = r.duration("duration");
    const bool needs_worker = f.action == "pause" || f.action == "kill" || f.action == "stop" ||
                              f.action == "restart" || f.action == "clock_step" ||
                              f.action == "client_kill" || f.action == "vfs_fault";
    const bool needs_duration = f.action == "pause" || f.action == "lock" ||
                                f.action == "readonly_dir" || f.action == "disk_full" ||
                                f.action == "vfs_fault" || f.action == "redis_pause" ||
                                f.action == "partition" || f.action == "redis_failover";
    const bool may_have_duration = needs_duration || f.action == "redis_restart";
    if (auto only = kBackendOnlyActions.find(f.action); only != kBackendOnlyActions.end()) {
      for (const std::string& b : s.backends) {
        if (b != only->second) {
          r.fail(f.line, "fault '" + f.action + "' applies to the " + only->second +
                             " backend only, but the scenario runs on " + b +
                             " too: write backends = [\"" + only->second + "\"]");
        }
      }
    }
    if (needs_worker && f.worker.empty()) {
      r.fail(f.line, "fault '" + f.action + "' needs 'worker'");
    }
    if (!needs_worker && !f.worker.empty()) {
      r.fail(f.line, "fault '" + f.action + "' takes no 'worker'");
    }
    if (!f.worker.empty()) check_worker(r, f.line, f.worker);
    if (f.action == "vfs_fault") {
      const WorkerSpec* w = s.find_worker(f.worker);
      if (w != nullptr && w->env.count("PJX_WORKER_FAULT") == 0) {
        r.fail(f.line, "fault 'vfs_fault' switches the fault of a pjx-worker started with "
                       "PJX_WORKER_FAULT: give worker '" + f.worker +
                       "' env = { PJX_WORKER_FAULT = \"kind=write,nth=1,error=io,persistent=1\", "
                       "PJX_WORKER_FAULT_ARMED = \"0\" }");
      }
    }
    if (needs_duration && !f.duration) r.fail(f.line, "fault '" + f.action + "' needs 'duration'");
    if (!may_have_duration && f.duration) {
      r.fail(f.line, "fault '" + f.action + "' takes no 'duration'");
    }
    read_partition(r, s, f);
    if (f.action == "redis_failover" && !s.hosts) {
      r.fail(f.line,
             "fault 'redis_failover' kills the primary of a primary, a replica and three "
             "sentinels, each on a host of its own: the scenario needs hosts = true");
    }
    f.during_publish = r.boolean("during_publish").value_or(false);
    if (f.during_publish && f.action != "kill") {
      r.fail(f.line, "'during_publish' applies to kill faults only");
    }
    f.sidecars = r.boolean("sidecars").value_or(false);
    if (f.sidecars && f.action != "delete_db" && f.action != "replace_db") {
      r.fail(f.line, "'sidecars' applies to delete_db and replace_db faults only");
    }
    if (const std::optional<double> keep = r.number("keep")) {
      if (f.action != "power_loss") r.fail(f.line, "'keep' applies to power_loss faults only");
      if (!(*keep >= 0 && *keep <= 1)) {
        r.fail(f.line, "'keep' is the share of unsynced writes a power loss keeps: a number from 0 to 1, got " +
                           std::to_string(*keep));
      }
      f.keep = *keep;
    }
    const std::optional<std::string> offset = r.str("offset");
    if (offset && f.action != "clock_step") {
      r.fail(f.line, "'offset' applies to clock_step faults only");
    }
    if (f.action == "clock_step") {
      if (!offset) r.fail(f.line, "fault 'clock_step' needs 'offset' (e.g. \"+3600s\")");
      f.offset = *offset;
      // "+3600s", "-90", "+1.5h", "+2m", "+1d": signed number with an optional unit.
      // "+3600s", "-90", "+1.5h", "+2m", "+1d": a sign, then a duration.
      const std::string& o = f.offset;
      std::optional<double> seconds;
      if (!o.empty() && (o[0] == '+' || o[0] == '-')) {
        try {
          seconds = parse_seconds(o.substr(1));
        } catch (const std::invalid_argument&) {
        }
      }
      if (!seconds) {
        r.fail(f.line, "clock_step offset '" + o +
                           "' must be a signed number of seconds with an optional unit s, m, h "
                           "or d, e.g. \"+3600s\" or \"-2m\"");
      }
      f.offset_s = o[0] == '-' ? -*seconds : *seconds;
    }
    r.finish();
    s.faults.push_back(std::move(f));
  }

  for (const toml::table* t : array_of_tables(top, "file")) {
    TableReader r(*t, "[[file]]", source);
    FileSpec f;
    f.path = r.required_str("path");
    f.link = r.str("link").value_or("");
    if (f.link.empty()) {
      f.text = r.required_str("text");
    } else if (r.str("text")) {
      r.fail(r.line(), "[[file]] takes 'text' or 'link', not both");
    }
    r.finish();
    s.files.push_back(std::move(f));
  }
  for (const toml::table* t : array_of_tables(top, "mount")) {
    TableReader r(*t, "[[mount]]", source);
    MountSpec m;
    m.line = r.line();
    m.path = r.required_str("path");
    m.fs = r.required_str("fs");
    if (m.fs != "fuse") {
      r.fail(m.line, "[[mount]] fs '" + m.fs + "' is not known: the harness mounts \"fuse\" (bindfs)");
    }
    if (m.path.rfind("{dir}/", 0) != 0) {
      r.fail(m.line, "[[mount]] path '" + m.path +
                         "' must be inside the run directory: write it as \"{dir}/NAME\"");
    }
    r.finish();
    s.mounts.push_back(std::move(m));
  }
  top.finish();
  return s;
}

Scenario load_scenario(const std::filesystem::path& file,
                       const std::vector<std::string>& known_checks) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ScenarioError(file.string() + ":0: cannot read the scenario file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scenario(text.str(), file.string(), known_checks);
}

}  // namespace pjx::harness
