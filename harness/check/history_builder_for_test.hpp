// Test helper: builds synthetic histories record by record, in call order.
// Times are milliseconds from the start of the run (t = ms * 1e6 ns); the
// meta record is at t = 0 with poll_interval_ms 50, retention_ms 1000 and
// channel "c" unless params() says otherwise. Every publish `id` carries the
// keys {"e:<id>", "k:<id>"}, so receive(ms, worker, id) delivers exactly it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "check/history.hpp"

namespace pjx::harness::testing {

class HistoryBuilder {
 public:
  explicit HistoryBuilder(std::vector<std::string> checks, std::string expect = "pass")
      : checks_(std::move(checks)), expect_(std::move(expect)) {}

  static std::int64_t ns(double ms) { return static_cast<std::int64_t>(ms * 1e6); }
  static std::vector<std::string> keys_of(std::int64_t id) {
    return {"e:" + std::to_string(id), "k:" + std::to_string(id)};
  }

  // Merged into meta.params.
  HistoryBuilder& params(const Json& p) {
    params_.update(p);
    return *this;
  }
  HistoryBuilder& check_params(const std::string& check, Json p) {
    check_params_[check] = std::move(p);
    return *this;
  }
  // A meta.workers entry: {"name": name} merged with `spec` ("channel", "expect_fatal", "why").
  HistoryBuilder& worker(const std::string& name, const Json& spec = Json::object()) {
    Json entry = {{"name", name}, {"cmd", "pjx-worker"}, {"env", Json::object()}};
    entry.update(spec);
    workers_.push_back(entry);
    return *this;
  }

  HistoryBuilder& record(Json r) {
    records_.push_back(std::move(r));
    return *this;
  }
  HistoryBuilder& phase(double ms, const std::string& name) {
    return record({{"type", "phase"}, {"t", ns(ms)}, {"name", name}});
  }
  HistoryBuilder& spawn(double ms, const std::string& w, std::int64_t pid = 0) {
    if (pid == 0) pid = next_pid_++;
    pids_[w] = pid;
    exited_.erase(w);
    return record({{"type", "spawn"}, {"t", ns(ms)}, {"worker", w}, {"pid", pid}});
  }
  HistoryBuilder& op(double ms, const std::string& w, const std::string& name, Json fields = {}) {
    Json r = {{"type", "op"}, {"t", ns(ms)}, {"worker", w}, {"op", name}};
    if (fields.is_object()) r.update(fields);
    return record(std::move(r));
  }
  HistoryBuilder& ev(double ms, const std::string& w, const std::string& name, Json fields = {}) {
    Json r = {{"type", "ev"}, {"t", ns(ms)}, {"worker", w}, {"ev", name}, {"rt", ns(ms)}};
    if (fields.is_object()) r.update(fields);
    return record(std::move(r));
  }
  // `start` op at ms, `ready` at ms + 1.
  HistoryBuilder& start(double ms, const std::string& w) {
    if (std::find(started_.begin(), started_.end(), w) == started_.end()) started_.push_back(w);
    op(ms, w, "start");
    const auto caps = caps_.find(w);
    return ev(ms + 1, w, "ready",
              {{"caps", caps != caps_.end() ? caps->second : Json{"stats", "flush", "reads", "wakes"}},
               {"pid", pids_[w]}});
  }
  // The caps w's `ready` lists from then on (default stats, flush, reads, wakes).
  HistoryBuilder& caps(const std::string& w, const Json& list) {
    caps_[w] = list;
    return *this;
  }
  // A `write` op of `key` at ms (keys {key, e:<id>}), answered `written` with
  // `version` at ms + 2, having begun at ms.
  HistoryBuilder& write(double ms, const std::string& w, std::int64_t id, const std::string& key,
                        std::int64_t version) {
    op(ms, w, "write", {{"id", id}, {"key", key}, {"keys", {"e:" + std::to_string(id), key}}});
    return ev(ms + 2, w, "written",
              {{"id", id}, {"key", key}, {"version", version}, {"t_begin", ns(ms)}});
  }
  // A `read` op of `key` at ms, answered `read_result` with `version` at
  // ms + 1, having begun at ms.
  HistoryBuilder& read(double ms, const std::string& w, std::int64_t id, const std::string& key,
                       std::int64_t version, bool hit = true, double slow_ms = 0) {
    Json fields = {{"id", id}, {"key", key}};
    if (slow_ms > 0) fields["slow_ms"] = slow_ms;
    op(ms, w, "read", fields);
    return ev(ms + 1 + slow_ms, w, "read_result",
              {{"id", id}, {"key", key}, {"version", version}, {"hit", hit}, {"t_begin", ns(ms)}});
  }
  HistoryBuilder& publish_op(double ms, const std::string& w, std::int64_t id) {
    return op(ms, w, "publish", {{"id", id}, {"keys", keys_of(id)}});
  }
  // `published` at ms, having begun 1 ms earlier.
  HistoryBuilder& published(double ms, const std::string& w, std::int64_t id) {
    return ev(ms, w, "published", {{"id", id}, {"t_begin", ns(ms - 1)}});
  }
  // `published` with "queued": true at ms, having begun 1 ms earlier.
  HistoryBuilder& published_queued(double ms, const std::string& w, std::int64_t id) {
    return ev(ms, w, "published", {{"id", id}, {"t_begin", ns(ms - 1)}, {"queued", true}});
  }
  HistoryBuilder& publish_error(double ms, const std::string& w, std::int64_t id,
                                const std::string& message = "database is locked") {
    return ev(ms, w, "error", {{"id", id}, {"message", message}});
  }
  // A publish op at ms, committed (published.t) at ms + 2.
  HistoryBuilder& publish(double ms, const std::string& w, std::int64_t id) {
    publish_op(ms, w, id);
    return published(ms + 2, w, id);
  }
  HistoryBuilder& receive(double ms, const std::string& w, std::int64_t id) {
    return receive_keys(ms, w, keys_of(id));
  }
  HistoryBuilder& receive_keys(double ms, const std::string& w, std::vector<std::string> keys) {
    return ev(ms, w, "received", {{"keys", std::move(keys)}});
  }
  // publish(ms, from, id), then every other started worker of the same channel
  // not in `skip` receives it `delay_ms` after the commit.
  HistoryBuilder& fan(double ms, const std::string& from, std::int64_t id, double delay_ms,
                      const std::set<std::string>& skip = {}) {
    publish(ms, from, id);
    for (const std::string& w : started_) {
      if (w == from || skip.count(w) != 0 || channel(w) != channel(from)) continue;
      receive(ms + 2 + delay_ms, w, id);
    }
    return *this;
  }
  HistoryBuilder& flushed(double ms, const std::string& w) {
    return ev(ms, w, "flushed", {{"reason", "gap"}});
  }
  HistoryBuilder& fatal(double ms, const std::string& w, const std::string& message) {
    return ev(ms, w, "fatal", {{"message", message}});
  }
  HistoryBuilder& exit(double ms, const std::string& w, std::int64_t status, bool expected = true) {
    exited_.insert(w);
    return record({{"type", "exit"},
                   {"t", ns(ms)},
                   {"worker", w},
                   {"pid", pids_[w]},
                   {"status", status},
                   {"expected", expected}});
  }
  HistoryBuilder& fault(double ms, const std::string& action, const std::string& phase,
                        const std::string& w = "") {
    Json r = {{"type", "fault"},
              {"t", ns(ms)},
              {"action", action},
              {"phase", phase},
              {"params", Json::object()}};
    if (!w.empty()) r["worker"] = w;
    return record(std::move(r));
  }
  HistoryBuilder& pause(double from_ms, double to_ms, const std::string& w) {
    fault(from_ms, "pause", "begin", w);
    return fault(to_ms, "pause", "end", w);
  }
  HistoryBuilder& probe(double ms, const std::string& what, Json value, bool ok = true) {
    return record({{"type", "probe"},
                   {"t", ns(ms)},
                   {"what", what},
                   {"ok", ok},
                   {"value", std::move(value)}});
  }
  // The harness's probe thread missed its deadline at from_ms and ran again at to_ms.
  HistoryBuilder& host_lag(double from_ms, double to_ms) {
    return record(
        {{"type", "host_lag"}, {"t", ns(from_ms)}, {"t_end", ns(to_ms)}, {"ms", to_ms - from_ms}});
  }
  HistoryBuilder& skip(double ms, const std::string& reason) {
    return record({{"type", "skip"}, {"t", ns(ms)}, {"reason", reason}});
  }
  HistoryBuilder& error(double ms, const std::string& reason) {
    return record({{"type", "error"}, {"t", ns(ms)}, {"reason", reason}});
  }

  // setup phase, spawn and start each worker, then the workload phase at 50 ms.
  HistoryBuilder& start_workers(const std::vector<std::string>& names) {
    phase(0, "setup");
    for (const std::string& w : names) spawn(1, w);
    phase(5, "start");
    for (const std::string& w : names) start(10, w);
    return phase(50, "workload");
  }
  // quiesce at ms, check at ms + 500, teardown, then every started worker
  // that has not exited yet exits 0.
  HistoryBuilder& finish(double ms) {
    phase(ms, "quiesce");
    phase(ms + 500, "check");
    phase(ms + 510, "teardown");
    for (const std::string& w : started_) {
      if (exited_.count(w) == 0) exit(ms + 520, w, 0);
    }
    return *this;
  }

  Json meta() const {
    Json params = {{"poll_interval_ms", 50},
                   {"retention_ms", 1000},
                   {"channel", "c"},
                   {"busy_timeout_ms", 5000}};
    params.update(params_);
    Json workers = workers_;
    return {{"type", "meta"},
            {"t", 0},
            {"scenario", "test"},
            {"guarantee", "test guarantee"},
            {"file", "test.toml"},
            {"seed", 1},
            {"timing", "quick"},
            {"params", params},
            {"workers", workers},
            {"checks", checks_},
            {"check_params", check_params_},
            {"expect", expect_},
            {"wall_start", 0},
            {"harness_version", "test"},
            {"worker_cmd", "pjx-worker"},
            {"db_path", "test.db"}};
  }
  std::vector<Json> build() const {
    std::vector<Json> out{meta()};
    out.insert(out.end(), records_.begin(), records_.end());
    return out;
  }

 private:
  std::string channel(const std::string& w) const {
    for (const Json& spec : workers_) {
      if (spec["name"] == w && spec.contains("channel")) return spec["channel"];
    }
    return params_.value("channel", std::string("c"));
  }

  std::vector<std::string> checks_;
  std::string expect_;
  Json params_ = Json::object();
  Json check_params_ = Json::object();
  Json workers_ = Json::array();
  std::vector<Json> records_;
  std::vector<std::string> started_;
  std::set<std::string> exited_;
  std::map<std::string, std::int64_t> pids_;
  std::map<std::string, Json> caps_;
  std::int64_t next_pid_ = 1000;
};

}  // namespace pjx::harness::testing
