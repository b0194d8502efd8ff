#include "timeline.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "model.hpp"
#include "text.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;

std::string string_at(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::int64_t> int_at(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  return std::nullopt;
}

// The publish ids a received key set names ("e:17" -> "e:17"), for tooltips.
std::string event_keys(const json& keys) {
  std::string out;
  if (!keys.is_array()) return out;
  for (const json& k : keys) {
    if (!k.is_string()) continue;
    const std::string key = k.get<std::string>();
    if (key.rfind("e:", 0) == 0) out += (out.empty() ? "" : ", ") + key;
  }
  return out;
}

}  // namespace

bool wants_timeline(const std::vector<json>& records, const json& stale_windows,
                    const json& stale_reads) {
  if (stale_windows.is_array() && !stale_windows.empty()) return true;
  if (stale_reads.is_array() && !stale_reads.empty()) return true;
  return std::any_of(records.begin(), records.end(),
                     [](const json& r) { return string_at(r, "type") == "fault"; });
}

TimelineData build_timeline(const std::vector<json>& records, const json& stale_windows,
                            const json& stale_reads) {
  TimelineData d;
  const std::int64_t t0 = record_time(records.front()).value_or(0);
  auto seconds = [t0](std::int64_t t) { return static_cast<double>(t - t0) / 1e9; };

  // Lanes: the meta record's worker order, then other names seen, sorted.
  std::set<std::string> seen;
  if (const auto w = records.front().find("workers"); w != records.front().end() && w->is_array()) {
    for (const json& worker : *w) {
      const std::string name = worker.is_object() ? string_at(worker, "name") : "";
      if (!name.empty() && seen.insert(name).second) d.lanes.push_back(name);
    }
  }
  std::set<std::string> extra;
  std::int64_t end = t0;
  for (const json& r : records) {
    const std::string worker = string_at(r, "worker");
    if (!worker.empty() && !seen.count(worker)) extra.insert(worker);
    for (const char* key : {"t", "rt"}) {
      if (const auto t = int_at(r, key)) end = std::max(end, *t);
    }
  }
  const bool have_stale = stale_windows.is_array();
  if (have_stale) {
    for (const json& w : stale_windows) {
      if (!w.is_object()) continue;
      const std::string worker = string_at(w, "worker");
      if (!worker.empty() && !seen.count(worker)) extra.insert(worker);
      if (const auto t = int_at(w, "to_t")) end = std::max(end, *t);
    }
  }
  d.lanes.insert(d.lanes.end(), extra.begin(), extra.end());
  d.end_s = seconds(end);
  auto lane_of = [&d](const std::string& name) -> std::optional<std::size_t> {
    const auto it = std::find(d.lanes.begin(), d.lanes.end(), name);
    if (it == d.lanes.end()) return std::nullopt;
    return static_cast<std::size_t>(it - d.lanes.begin());
  };

  std::map<std::pair<std::string, std::string>, std::vector<std::size_t>> open;
  for (const json& r : records) {
    const std::string type = string_at(r, "type");
    const double t = seconds(record_time(r).value_or(t0));
    const std::string worker = string_at(r, "worker");
    const auto lane = lane_of(worker);
    if (type == "phase") {
      d.phases.push_back({string_at(r, "name"), t});
    } else if (type == "ev" && lane) {
      const std::string ev = string_at(r, "ev");
      const auto id = int_at(r, "id");
      const std::string id_text = id ? "e:" + std::to_string(*id) : "";
      if (ev == "published") {
        d.marks.push_back(
            {*lane, t, TimelineData::MarkKind::kPublish, worker + " published " + id_text, false});
      } else if (ev == "error" && id) {
        d.marks.push_back({*lane, t, TimelineData::MarkKind::kPublishError,
                           worker + " publish " + id_text + " failed: " + string_at(r, "message"),
                           true});
      } else if (ev == "received") {
        const auto keys = r.find("keys");
        d.marks.push_back(
            {*lane, t, TimelineData::MarkKind::kDelivery,
             worker + " received " + (keys != r.end() ? event_keys(*keys) : std::string()), false});
      } else if (ev == "flushed") {
        d.marks.push_back({*lane, t, TimelineData::MarkKind::kFlush,
                           worker + " flushed (" + string_at(r, "reason") + ")", false});
      }
    } else if (type == "exit" && lane) {
      const auto expected = r.find("expected");
      const bool unexpected =
          expected == r.end() || !expected->is_boolean() || !expected->get<bool>();
      const auto status = r.find("status");
      d.marks.push_back({*lane, t, TimelineData::MarkKind::kExit,
                         worker + " exited, status " +
                             (status != r.end() ? json_text(*status) : std::string("?")) +
                             (unexpected ? " (unexpected)" : " (expected)"),
                         unexpected});
    } else if (type == "host_lag") {
      // The harness's probe thread did not run: every process of the host
      // stalled (HISTORY.md). A band over every lane, as a fault of nobody.
      const double to = seconds(int_at(r, "t_end").value_or(record_time(r).value_or(t0)));
      char label[96];
      std::snprintf(label, sizeof label,
                    "the host stalled %.1f ms (the harness's own thread did not run)",
                    (to - t) * 1000);
      d.faults.push_back({"host_lag", std::nullopt, t, std::max(t, to), false, false, label});
    } else if (type == "fault") {
      const std::string action = string_at(r, "action");
      const std::string phase = string_at(r, "phase");
      const auto params = r.find("params");
      std::string label = action + (worker.empty() ? "" : " " + worker);
      if (params != r.end() && params->is_object() && !params->empty()) {
        label += " " + params->dump();
      }
      const auto key = std::make_pair(action, worker);
      if (phase == "begin") {
        open[key].push_back(d.faults.size());
        d.faults.push_back({action, lane, t, d.end_s, false, true, label});
      } else if (phase == "end" && !open[key].empty()) {
        TimelineData::Fault& f = d.faults[open[key].back()];
        open[key].pop_back();
        f.to_s = t;
        f.open_ended = false;
      } else {
        d.faults.push_back({action, lane, t, t, true, false, label});
      }
    }
  }

  if (have_stale) {
    for (const json& w : stale_windows) {
      if (!w.is_object()) continue;
      const auto lane = lane_of(string_at(w, "worker"));
      const auto from = int_at(w, "from_t");
      if (!lane || !from) continue;
      const auto to = int_at(w, "to_t");
      const std::string closed_by = string_at(w, "closed_by");
      const bool never = closed_by == "never" || !to;
      const auto id = int_at(w, "publish_id");
      const auto ms = w.find("ms");
      std::string label = string_at(w, "worker") + " stale";
      if (id) label += " for e:" + std::to_string(*id);
      if (ms != w.end() && ms->is_number()) label += ", " + json_text(*ms) + " ms";
      label += never ? ", never closed" : ", closed by " + closed_by;
      d.stale.push_back({*lane, seconds(*from), never ? d.end_s : seconds(*to), never, label});
    }
  }
  if (stale_reads.is_array()) {
    for (const json& read : stale_reads) {
      if (!read.is_object()) continue;
      const auto lane = lane_of(string_at(read, "worker"));
      const auto t = int_at(read, "t");
      if (!lane || !t) continue;
      std::string label = string_at(read, "worker") + " read " + string_at(read, "key") +
                          ": version " + json_text(read.value("version", json())) +
                          ", expected at least " + json_text(read.value("expected", json()));
      if (const auto write = int_at(read, "write_id")) label += " (write e:" + std::to_string(*write) + ")";
      if (const auto deadline = int_at(read, "deadline_t")) {
        label += ", " + format_fixed(static_cast<double>(*t - *deadline) / 1e6, 1) +
                 " ms past its deadline";
      }
      d.marks.push_back({*lane, seconds(*t), TimelineData::MarkKind::kStaleRead, label, true});
    }
  }
  return d;
}

}  // namespace pjx::reports
