// What a fault-scenario timeline shows, extracted from a history (and the
// staleness check's stale windows): lanes per worker, marks for publishes,
// deliveries, flushes and exits, fault windows and stale windows, with times
// in seconds since the history's first record.
//
// Contract: pure function of its inputs; lanes follow the meta record's
// worker order, then any other worker names in sorted order. A fault `begin`
// without its `end` (same action and worker) lasts to the end of the history;
// stale windows closed `never` (or without to_t) do too.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pjx::reports {

struct TimelineData {
  enum class MarkKind { kPublish, kPublishError, kDelivery, kFlush, kExit, kStaleRead };
  struct Mark {
    std::size_t lane = 0;
    double t_s = 0;
    MarkKind kind = MarkKind::kDelivery;
    std::string label;  // tooltip: "published e:17", "exit status -9 (expected)"
    bool unexpected = false;
  };
  struct Fault {
    std::string action;               // pause, kill, restart, lock, clock_step, ...
    std::optional<std::size_t> lane;  // the worker's lane, or every lane when empty
    double from_s = 0;
    double to_s = 0;
    bool instant = false;
    bool open_ended = false;  // began but never ended: drawn to the end
    std::string label;        // tooltip with the params
  };
  struct Stale {
    std::size_t lane = 0;
    double from_s = 0;
    double to_s = 0;
    bool never = false;
    std::string label;
  };
  struct Phase {
    std::string name;
    double t_s = 0;
  };

  double end_s = 0;
  std::vector<std::string> lanes;
  std::vector<Mark> marks;
  std::vector<Fault> faults;
  std::vector<Stale> stale;
  std::vector<Phase> phases;
};

// True if the history holds fault records, or stale_windows or stale_reads
// is a non-empty array: the scenarios that get a timeline.
bool wants_timeline(const std::vector<nlohmann::json>& records,
                    const nlohmann::json& stale_windows,
                    const nlohmann::json& stale_reads = nlohmann::json());

// REQUIRES: records is non-empty (the first is the meta record).
// stale_windows: the staleness check's details.stale_windows, or null.
// stale_reads: the stale_reads check's details.stale_reads, or null; each
// becomes a kStaleRead mark (unexpected) on its reader's lane when the read
// began.
TimelineData build_timeline(const std::vector<nlohmann::json>& records,
                            const nlohmann::json& stale_windows,
                            const nlohmann::json& stale_reads = nlohmann::json());

}  // namespace pjx::reports
