#include "check/model.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <stdexcept>

namespace pjx::harness {
namespace {

// Reads the fields of record `index` (0-based) and names it in errors.
class RecordReader {
 public:
  RecordReader(const Json& record, std::size_t index) : record_(record), index_(index) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("history record " + std::to_string(index_ + 1) + " (" +
                             record_.value("type", std::string("?")) + "): " + what);
  }
  std::string str(const char* name) const {
    auto it = record_.find(name);
    if (it == record_.end() || !it->is_string()) fail(std::string("no string \"") + name + "\"");
    return it->get<std::string>();
  }
  std::string str_or(const char* name, std::string fallback) const {
    auto it = record_.find(name);
    return it != record_.end() && it->is_string() ? it->get<std::string>() : fallback;
  }
  std::int64_t integer(const char* name) const {
    auto it = record_.find(name);
    if (it == record_.end() || !it->is_number_integer()) {
      fail(std::string("no integer \"") + name + "\"");
    }
    return it->get<std::int64_t>();
  }
  std::optional<std::int64_t> opt_integer(const char* name) const {
    auto it = record_.find(name);
    if (it == record_.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
  }
  // A JSON array of strings, sorted, duplicates removed.
  std::vector<std::string> keys(const char* name) const {
    auto it = record_.find(name);
    if (it == record_.end() || !it->is_array()) fail(std::string("no array \"") + name + "\"");
    std::vector<std::string> keys;
    for (const Json& key : *it) {
      if (!key.is_string()) fail(std::string("\"") + name + "\" holds a non-string: " + key.dump());
      keys.push_back(key.get<std::string>());
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
  }
  std::int64_t t() const { return record_.at("t").get<std::int64_t>(); }
  const Json& record() const { return record_; }

 private:
  const Json& record_;
  std::size_t index_;
};

double meta_param(const Json& meta, const char* name) {
  const Json* params = meta.contains("params") ? &meta["params"] : nullptr;
  if (params == nullptr || !params->contains(name) || !(*params)[name].is_number()) {
    throw std::runtime_error(std::string("history record 1 (meta): no number \"params.") + name +
                             "\"");
  }
  return (*params)[name].get<double>();
}

}  // namespace

namespace detail {

class ModelBuilder {
 public:
  explicit ModelBuilder(HistoryModel& model) : m_(model) {}

  void meta(const Json& record) {
    if (!record.is_object() || record.value("type", std::string()) != "meta") {
      throw std::runtime_error("history record 1: the first record must be \"meta\"");
    }
    m_.meta = record;
    m_.t_first = record.value("t", std::int64_t{0});
    m_.t_last = m_.t_first;
    m_.expect = record.value("expect", std::string("pass"));
    m_.poll_interval_ms = meta_param(record, "poll_interval_ms");
    m_.retention_ms = meta_param(record, "retention_ms");
    // Older histories (and Redis runs) may not record it: the documented 5 s.
    m_.busy_timeout_ms = record["params"].value("busy_timeout_ms", 5000.0);
    m_.channel = record["params"].value("channel", std::string());
  }

  void record(const Json& record, std::size_t index) {
    RecordReader r(record, index);
    const std::string type = r.str("type");
    const std::int64_t t = r.integer("t");
    m_.t_last = std::max(m_.t_last, t);
    if (type == "phase") {
      m_.phases.push_back({r.str("name"), t});
    } else if (type == "spawn") {
      spawn(r, t);
    } else if (type == "exit") {
      exit(record, r, t, index);
    } else if (type == "op") {
      op(r, t, index);
    } else if (type == "ev") {
      event(record, r, t, index);
    } else if (type == "fault") {
      fault(record, r, t, index);
    } else if (type == "probe") {
      m_.probes.push_back({r.str("what"), record.value("ok", false), record.value("value", Json()),
                           record.value("detail", Json()), t});
    } else if (type == "host_lag") {
      const std::int64_t to = r.integer("t_end");
      if (to < t) anomaly(index, "a host_lag record whose t_end is before its t");
      m_.host_lags.push_back({t, std::max(t, to)});
    } else if (type == "skip") {
      m_.skips.push_back(r.str_or("reason", "(no reason given)"));
    } else if (type == "error") {
      m_.errors.push_back(r.str_or("reason", "(no reason given)"));
    } else if (type == "meta") {
      anomaly(index, "a second meta record");
    }
  }

  void finish() {
    for (FaultWindow& window : m_.faults) {
      if (window.open) window.end = std::max(window.begin, m_.t_last);
    }
    std::sort(m_.host_lags.begin(), m_.host_lags.end(),
              [](const HostLag& a, const HostLag& b) { return a.from < b.from; });
    std::map<std::vector<std::string>, std::int64_t> by_keys;
    for (const Publish& p : m_.publishes) by_keys.emplace(p.keys, p.id);
    for (std::size_t i = 0; i < m_.deliveries.size(); ++i) {
      Delivery& d = m_.deliveries[i];
      if (auto it = by_keys.find(d.keys); it != by_keys.end()) d.publish_id = it->second;
      m_.pair_index_[{d.receiver, d.publish_id}].push_back(i);
    }
  }

 private:
  void anomaly(std::size_t index, const std::string& what) {
    m_.anomalies.push_back("record " + std::to_string(index + 1) + ": " + what);
  }

  std::optional<std::size_t> current(const std::string& worker) const {
    auto it = current_.find(worker);
    if (it == current_.end()) return std::nullopt;
    return it->second;
  }

  std::string channel_of(const std::string& worker) const {
    const Json* spec = m_.worker_spec(worker);
    if (spec != nullptr && spec->contains("channel") && (*spec)["channel"].is_string()) {
      return (*spec)["channel"].get<std::string>();
    }
    return m_.channel;
  }

  void spawn(const RecordReader& r, std::int64_t t) {
    Incarnation inc;
    inc.index = m_.incarnations.size();
    inc.worker = r.str("worker");
    inc.generation = generations_[inc.worker]++;
    inc.channel = channel_of(inc.worker);
    inc.pid = r.opt_integer("pid").value_or(0);
    inc.t_spawn = t;
    current_[inc.worker] = inc.index;
    m_.incarnations.push_back(std::move(inc));
  }

  void exit(const Json& record, const RecordReader& r, std::int64_t t, std::size_t index) {
    const std::string worker = r.str("worker");
    std::optional<std::size_t> target;
    if (auto pid = r.opt_integer("pid"); pid && *pid != 0) {
      for (const Incarnation& inc : m_.incarnations) {
        if (inc.worker == worker && inc.pid == *pid) target = inc.index;
      }
    }
    if (!target) target = current(worker);
    if (!target) return anomaly(index, "exit of worker " + worker + " that was never spawned");
    Incarnation& inc = m_.incarnations[*target];
    if (inc.t_exit) return anomaly(index, "second exit of " + inc.label());
    inc.t_exit = t;
    inc.exit_status = r.opt_integer("status");
    auto expected = record.find("expected");
    inc.exit_expected = expected != record.end() && expected->is_boolean() && expected->get<bool>();
  }

  void op(const RecordReader& r, std::int64_t t, std::size_t index) {
    const std::string worker = r.str("worker");
    const std::string name = r.str("op");
    auto inc = current(worker);
    if (!inc) return anomaly(index, "op " + name + " to worker " + worker + " never spawned");
    if (name == "start") {
      if (!m_.incarnations[*inc].t_start_op) m_.incarnations[*inc].t_start_op = t;
    } else if (name == "publish" || name == "write") {
      Publish p = new_publish(r, name, *inc, t, index);
      if (name == "write") p.write_key = r.str("key");
      add_publish(std::move(p), index);
    } else if (name == "burst") {
      const Json& record = r.record();
      const auto list = record.find("publishes");
      if (list == record.end() || !list->is_array()) r.fail("no array \"publishes\"");
      for (const Json& entry : *list) {
        add_publish(new_publish(RecordReader(entry, index), name, *inc, t, index), index);
      }
    } else if (name == "read") {
      Read read;
      read.id = r.integer("id");
      read.reader = *inc;
      read.key = r.str("key");
      read.t_op = t;
      read.slow_ms = r.record().value("slow_ms", 0.0);
      read.record = index;
      if (m_.read_index_.count(read.id) != 0 || m_.publish_index_.count(read.id) != 0) {
        return anomaly(index, "read id " + std::to_string(read.id) + " used twice");
      }
      m_.read_index_[read.id] = m_.reads.size();
      m_.reads.push_back(std::move(read));
    }
  }

  // A publish of incarnation `inc` with the "id" and "keys" that `r` holds.
  Publish new_publish(const RecordReader& r, const std::string& op, std::size_t inc,
                      std::int64_t t, std::size_t index) const {
    Publish p;
    p.id = r.integer("id");
    p.op = op;
    p.publisher = inc;
    p.channel = m_.incarnations[inc].channel;
    p.keys = r.keys("keys");
    p.t_op = t;
    p.record = index;
    return p;
  }

  void add_publish(Publish p, std::size_t index) {
    if (m_.publish_index_.count(p.id) != 0 || m_.read_index_.count(p.id) != 0) {
      return anomaly(index, "publish id " + std::to_string(p.id) + " used twice");
    }
    m_.publish_index_[p.id] = m_.publishes.size();
    m_.publishes.push_back(std::move(p));
  }

  void event(const Json& record, const RecordReader& r, std::int64_t t, std::size_t index) {
    const std::string worker = r.str("worker");
    const std::string name = r.str("ev");
    auto found = current(worker);
    if (!found) return anomaly(index, "event " + name + " of worker " + worker + " never spawned");
    Incarnation& inc = m_.incarnations[*found];
    if (name == "ready") {
      if (!inc.t_ready) {
        inc.t_ready = t;
        if (auto it = record.find("caps"); it != record.end() && it->is_array()) {
          for (const Json& cap : *it) {
            if (cap.is_string()) inc.caps.push_back(cap.get<std::string>());
          }
        }
      }
    } else if (name == "read_result" || (name == "error" && is_read(record))) {
      const auto id = r.opt_integer("id");
      const auto it = id ? m_.read_index_.find(*id) : m_.read_index_.end();
      if (it == m_.read_index_.end()) {
        return anomaly(index, name + " for unknown read id");
      }
      Read& read = m_.reads[it->second];
      if (name == "read_result") {
        read.version = r.opt_integer("version");
        if (!read.version) return anomaly(index, "read_result without an integer version");
        read.t_end = t;
        read.t_begin = r.opt_integer("t_begin");
        read.hit = record.value("hit", false);
      } else {
        read.error = r.str_or("message", "");
      }
    } else if (name == "published" || name == "written" || name == "error") {
      auto id = r.opt_integer("id");
      if (!id) {
        if (name != "error") anomaly(index, name + " without an integer id");
        return;  // an error about a bad line or another op
      }
      auto it = m_.publish_index_.find(*id);
      if (it == m_.publish_index_.end()) {
        if (name != "error") anomaly(index, name + " for unknown id " + std::to_string(*id));
        return;
      }
      Publish& p = m_.publishes[it->second];
      if (name != "error") {
        p.t_commit = t;
        p.t_begin = r.opt_integer("t_begin");
        const auto queued = record.find("queued");
        p.queued = queued != record.end() && queued->is_boolean() && queued->get<bool>();
      } else {
        p.error = r.str_or("message", "");
      }
      if (p.write_key) {
        if (auto version = r.opt_integer("version")) p.version = version;
      }
    } else if (name == "handler_published") {
      // A publish the worker's handler made (re-entrant mode): no op, a
      // synthetic id below every harness id.
      Publish p;
      p.id = next_handler_id_--;
      p.op = "handler";
      p.publisher = inc.index;
      p.channel = inc.channel;
      p.keys = r.keys("keys");
      p.t_begin = r.opt_integer("t_begin");
      p.t_op = p.t_begin.value_or(t);
      p.t_commit = t;
      p.record = index;
      add_publish(std::move(p), index);
    } else if (name == "received") {
      Delivery d;
      d.receiver = inc.index;
      d.t = t;
      d.keys = r.keys("keys");
      d.record = index;
      inc.deliveries.push_back(m_.deliveries.size());
      m_.deliveries.push_back(std::move(d));
    } else if (name == "flushed") {
      inc.flushes.push_back(t);
      inc.flush_reasons.push_back(r.str_or("reason", ""));
    } else if (name == "fatal") {
      if (!inc.fatal_message) inc.fatal_message = r.str_or("message", "");
    } else if (name == "stats") {
      inc.last_stats = record;
    } else if (name == "warning") {
      inc.warnings.emplace_back(t, r.str_or("message", ""));
    }
  }

  void fault(const Json& record, const RecordReader& r, std::int64_t t, std::size_t index) {
    const std::string action = r.str("action");
    const std::string phase = r.str("phase");
    const std::string worker = r.str_or("worker", "");
    const auto key = std::make_pair(action, worker);
    if (phase == "end") {
      auto it = open_.find(key);
      if (it == open_.end()) {
        return anomaly(index, "fault " + action + " end without begin");
      }
      m_.faults[it->second].end = t;
      m_.faults[it->second].open = false;
      if (auto p = record.find("params"); p != record.end() && p->is_object()) {
        m_.faults[it->second].end_params = *p;
      }
      open_.erase(it);
      return;
    }
    if (phase != "begin" && phase != "instant") {
      return anomaly(index, "fault phase \"" + phase + "\" is not begin/end/instant");
    }
    FaultWindow window;
    window.action = action;
    window.worker = worker;
    if (!worker.empty()) window.incarnation = current(worker);
    window.begin = t;
    window.end = t;
    window.instant = phase == "instant";
    window.open = !window.instant;
    if (auto it = record.find("params"); it != record.end() && it->is_object()) {
      window.params = *it;
    }
    if (action == "kill" && window.incarnation) {
      Incarnation& inc = m_.incarnations[*window.incarnation];
      if (!inc.t_killed) inc.t_killed = t;
    }
    if (window.open) {
      if (open_.count(key) != 0) return anomaly(index, "fault " + action + " begun twice");
      open_[key] = m_.faults.size();
    }
    m_.faults.push_back(std::move(window));
  }

  // An `error` event answering a read: its id is a read's.
  bool is_read(const Json& record) const {
    const auto id = record.find("id");
    return id != record.end() && id->is_number_integer() &&
           m_.read_index_.count(id->get<std::int64_t>()) != 0;
  }

  HistoryModel& m_;
  std::int64_t next_handler_id_ = -1'000'000;  // handler_published: -1000000, -1000001, ...
  std::map<std::string, std::size_t> current_;
  std::map<std::string, int> generations_;
  std::map<std::pair<std::string, std::string>, std::size_t> open_;
};

}  // namespace detail

std::optional<std::int64_t> Incarnation::t_end() const {
  if (t_killed && t_exit) return std::min(*t_killed, *t_exit);
  return t_killed ? t_killed : t_exit;
}

bool Incarnation::alive_at(std::int64_t t) const {
  auto end = t_end();
  return t_spawn <= t && (!end || t < *end);
}

std::string Incarnation::label() const {
  return generation == 0 ? worker : worker + "#" + std::to_string(generation);
}

const Publish* HistoryModel::find_publish(std::int64_t id) const {
  auto it = publish_index_.find(id);
  return it == publish_index_.end() ? nullptr : &publishes[it->second];
}

const std::vector<std::size_t>& HistoryModel::deliveries_of(std::size_t incarnation,
                                                            std::int64_t publish_id) const {
  static const std::vector<std::size_t> kNone;
  auto it = pair_index_.find({incarnation, publish_id});
  return it == pair_index_.end() ? kNone : it->second;
}

std::vector<const FaultWindow*> HistoryModel::faults_of(std::size_t incarnation,
                                                        std::string_view action) const {
  std::vector<const FaultWindow*> out;
  for (const FaultWindow& w : faults) {
    if (w.incarnation == incarnation && (action.empty() || w.action == action)) out.push_back(&w);
  }
  return out;
}

std::vector<const FaultWindow*> HistoryModel::faults_named(std::string_view action) const {
  std::vector<const FaultWindow*> out;
  for (const FaultWindow& w : faults) {
    if (w.action == action) out.push_back(&w);
  }
  return out;
}

std::int64_t HistoryModel::workload_start() const {
  for (const Phase& p : phases) {
    if (p.name == "workload") return p.t;
  }
  return t_first;
}

std::int64_t HistoryModel::quiesce_end() const {
  std::int64_t end = t_last;
  for (std::size_t i = phases.size(); i-- > 0;) {
    if (phases[i].name == "quiesce") {
      if (i + 1 < phases.size()) end = phases[i + 1].t;
      break;
    }
  }
  return end;
}

const Json* HistoryModel::worker_spec(std::string_view name) const {
  auto it = meta.find("workers");
  if (it == meta.end() || !it->is_array()) return nullptr;
  for (const Json& spec : *it) {
    if (spec.is_object() && spec.value("name", std::string()) == name) return &spec;
  }
  return nullptr;
}

std::size_t HistoryModel::ready_worker_count() const {
  std::set<std::string> names;
  for (const Incarnation& inc : incarnations) {
    if (inc.t_ready) names.insert(inc.worker);
  }
  return names.size();
}

std::int64_t HistoryModel::host_lag_within(std::int64_t from, std::int64_t to) const {
  std::int64_t total = 0;
  std::int64_t covered = from;  // windows may overlap: count each instant once
  for (const HostLag& lag : host_lags) {
    if (lag.from >= to) break;
    const std::int64_t lo = std::max(lag.from, covered);
    const std::int64_t hi = std::min(lag.to, to);
    if (hi > lo) {
      total += hi - lo;
      covered = hi;
    }
  }
  return total;
}

std::int64_t HistoryModel::extend_by_host_lag(std::int64_t from, std::int64_t deadline) const {
  std::int64_t covered = from;
  for (const HostLag& lag : host_lags) {
    if (lag.from >= deadline) break;
    const std::int64_t lo = std::max(lag.from, covered);
    if (lag.to > lo) {
      deadline += lag.to - lo;
      covered = lag.to;
    }
  }
  return deadline;
}

std::string HistoryModel::at(std::int64_t t) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.3f s", ms(t_first, t) / 1000.0);
  return buf;
}

HistoryModel build_model(const std::vector<Json>& history) {
  HistoryModel model;
  if (history.empty()) throw std::runtime_error("empty history: no meta record");
  detail::ModelBuilder builder(model);
  builder.meta(history.front());
  for (std::size_t i = 1; i < history.size(); ++i) builder.record(history[i], i);
  builder.finish();
  return model;
}

}  // namespace pjx::harness
