#include "check/check_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <stdexcept>
#include <utility>

namespace pjx::harness::detail {

void Evidence::add(int rank, std::string category, std::string line) {
  lines_.push_back({rank, lines_.size(), std::move(category), std::move(line)});
}

std::vector<std::string> Evidence::lines(std::size_t cap) const {
  std::vector<Line> sorted = lines_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Line& a, const Line& b) { return a.rank < b.rank; });
  std::vector<std::string> out;
  if (sorted.size() <= cap) {
    for (const Line& line : sorted) out.push_back(line.text);
    return out;
  }
  const std::size_t shown = cap == 0 ? 0 : cap - 1;
  for (std::size_t i = 0; i < shown; ++i) out.push_back(sorted[i].text);
  std::vector<std::pair<std::string, std::size_t>> omitted;
  for (std::size_t i = shown; i < sorted.size(); ++i) {
    auto it = std::find_if(omitted.begin(), omitted.end(),
                           [&](const auto& c) { return c.first == sorted[i].category; });
    if (it == omitted.end()) {
      omitted.emplace_back(sorted[i].category, 1);
    } else {
      ++it->second;
    }
  }
  std::string more = "... and " + std::to_string(sorted.size() - shown) + " more:";
  for (std::size_t i = 0; i < omitted.size(); ++i) {
    more += (i == 0 ? " " : ", ") + std::to_string(omitted[i].second) + " " + omitted[i].first;
  }
  out.push_back(more);
  return out;
}

std::string fmt_ms(double ms) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f", ms);
  return buf;
}

double round_ms(double ms) { return std::round(ms * 1000.0) / 1000.0; }

std::string fmt_num(double value) {
  char buf[48];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  } else {
    std::snprintf(buf, sizeof buf, "%g", value);
  }
  return buf;
}

Json json_number(double value) {
  if (value == std::floor(value) && std::fabs(value) < 9e15) {
    return static_cast<std::int64_t>(value);
  }
  return value;
}

std::string fmt_keys(const std::vector<std::string>& keys) {
  std::string out = "[";
  for (std::size_t i = 0; i < keys.size(); ++i) out += (i == 0 ? "" : ", ") + keys[i];
  return out + "]";
}

void set_verdict(CheckResult& r, const HistoryModel& m, bool shown, bool violated,
                 bool measures_failure, const std::string& unreproduced) {
  if (!shown) {
    r.verdict = "fail";
  } else if (measures_failure && m.expect == "reproduced") {
    r.verdict = violated ? "reproduced" : "fail";
    if (!violated) {
      r.summary = unreproduced.empty() ? "expected the documented failure, saw none: " + r.summary
                                       : unreproduced;
    }
  } else {
    r.verdict = violated ? "fail" : "pass";
  }
}

std::vector<std::size_t> required_receivers(const HistoryModel& m, const Publish& p) {
  std::vector<std::size_t> out;
  if (!p.acked()) return out;
  const std::int64_t end = m.quiesce_end();
  for (const Incarnation& inc : m.incarnations) {
    if (inc.index == p.publisher || inc.channel != p.channel) continue;
    if (!inc.t_ready || *inc.t_ready >= p.begin()) continue;
    if (auto gone = inc.t_end(); gone && *gone < end) continue;
    bool paused_past_retention = false;
    for (const FaultWindow* w : m.faults_of(inc.index, "pause")) {
      if (w->ms() > m.retention_ms && w->overlaps(*p.t_commit, end)) paused_past_retention = true;
    }
    if (!paused_past_retention) out.push_back(inc.index);
  }
  return out;
}

LatencySamples delivery_latencies(const HistoryModel& m,
                                  const std::function<bool(const Incarnation&)>& keep) {
  LatencySamples out;
  for (const Publish& p : m.publishes) {
    if (!p.acked()) continue;
    for (std::size_t inc : required_receivers(m, p)) {
      if (keep && !keep(m.incarnations[inc])) continue;
      const auto& ds = m.deliveries_of(inc, p.id);
      if (ds.empty()) continue;  // fanout reports it
      const Delivery& d = m.deliveries[ds.front()];
      const std::int64_t lo = std::min(p.begin(), d.t);
      const std::int64_t hi = std::max(p.begin(), d.t);
      const auto faults = m.faults_of(inc);
      if (std::any_of(faults.begin(), faults.end(),
                      [&](const FaultWindow* w) { return w->overlaps(lo, hi); })) {
        ++out.excluded;
        continue;
      }
      LatencySample s;
      s.raw_ms = HistoryModel::ms(p.begin(), d.t);
      s.host_lag_ms = static_cast<double>(m.host_lag_within(lo, hi)) / 1e6;
      s.ms = s.raw_ms - s.host_lag_ms;
      s.delivery = &d;
      s.publish = &p;
      if (s.host_lag_ms > 0) {
        ++out.net_of_host_lag;
        out.host_lag_max_ms = std::max(out.host_lag_max_ms, s.host_lag_ms);
      }
      out.samples.push_back(s);
    }
  }
  return out;
}

std::string host_lag_note(const LatencySample& s) {
  if (s.host_lag_ms <= 0) return {};
  return " (raw " + fmt_ms(s.raw_ms) + " ms, of which " + fmt_ms(s.host_lag_ms) +
         " ms the host stalled)";
}

namespace {

// Faults after which delivery may resume late anywhere (rule D3).
bool blocks_delivery(const std::string& action) {
  static const std::set<std::string, std::less<>> kBlocking = {
      "lock", "disk_full", "vfs_fault", "readonly_dir", "redis_restart", "client_kill"};
  return kBlocking.count(action) != 0;
}

std::int64_t ns_of(double ms) { return static_cast<std::int64_t>(ms * 1e6); }

}  // namespace

VisibilityBounds visibility_bounds(const HistoryModel& m, const Json& params) {
  const double slack = param_number(params, "slack_ms", 250);
  return VisibilityBounds{param_number(params, "bound_ms", m.poll_interval_ms + slack),
                          param_number(params, "after_resume_ms", m.poll_interval_ms + slack),
                          param_number(params, "after_fault_ms", 1500 + m.poll_interval_ms),
                          param_number(params, "after_silence_ms", 3000)};
}

bool silences_redis(const HistoryModel& m, const FaultWindow& w, std::size_t inc) {
  return w.action == "redis_pause" || w.action == "redis_failover" || cut_from_redis(m, w, inc);
}

bool cut_from_redis(const HistoryModel& m, const FaultWindow& w, std::size_t inc) {
  if (w.action != "partition" || w.instant) return false;
  const Incarnation& i = m.incarnations[inc];
  if (!i.alive_at(w.begin)) return false;
  bool worker_cut = false;
  bool redis_cut = false;
  const Json hosts = w.params.value("hosts", Json::array());
  for (const Json& h : hosts) {
    if (!h.is_string()) continue;
    if (h.get<std::string>() == "redis") redis_cut = true;
    if (h.get<std::string>() == i.worker) worker_cut = true;
  }
  return worker_cut != redis_cut;
}

bool lost_with_publisher(const HistoryModel& m, const Publish& p) {
  return p.queued && m.incarnations[p.publisher].t_killed.has_value();
}

std::int64_t visibility_deadline(const HistoryModel& m, const Publish& p, std::size_t reader,
                                 const VisibilityBounds& b) {
  if (p.publisher == reader) return *p.t_commit;  // D1
  if (lost_with_publisher(m, p)) return std::numeric_limits<std::int64_t>::max();
  std::int64_t d = *p.t_commit + ns_of(b.bound_ms);  // D2
  // Where the time D3 has not already excused begins: a stall before it
  // cannot have delayed the invalidation any further (D4).
  std::int64_t anchor = *p.t_commit;
  for (bool moved = true; moved;) {  // D3
    moved = false;
    for (const FaultWindow& f : m.faults) {
      if (f.instant || !f.overlaps(p.begin(), d)) continue;
      std::int64_t until = d;
      std::int64_t from = anchor;
      if (f.action == "pause" && f.incarnation == reader) {
        until = f.end + ns_of(b.after_resume_ms);
        from = f.end;
      } else if (silences_redis(m, f, reader)) {
        // Nothing reaches the reader while the server is silent, a
        // partition cuts it off or no primary is elected yet, but it notices
        // (health check; the reset of a killed primary at once) and its
        // cache keeps nothing from then on, however long the window lasts.
        until = f.begin + ns_of(b.after_silence_ms);
        from = f.begin;
      } else if (blocks_delivery(f.action) ||
                 (f.action == "pause" && p.queued && f.incarnation == p.publisher)) {
        until = f.end + ns_of(b.after_fault_ms);
        from = f.end;
      }
      if (until > d) {
        d = until;
        anchor = std::max(anchor, from);
        moved = true;
      }
    }
  }
  // D4: the host's own stalls after that point push the deadline back by as
  // much, the stalls in the part added too.
  return m.extend_by_host_lag(anchor, d);
}

bool reached_all_required(const HistoryModel& m, const Publish& p) {
  const std::vector<std::size_t> required = required_receivers(m, p);
  if (required.empty()) return false;
  return std::all_of(required.begin(), required.end(),
                     [&](std::size_t inc) { return !m.deliveries_of(inc, p.id).empty(); });
}

Json FanoutAnalysis::metrics() const {
  return {{"events", acked},          {"deliveries", deliveries},
          {"publish_errors", errors},
          {"required", required},     {"missing", missing},
          {"duplicates", duplicates}, {"self_deliveries", self},
          {"cross_channel", cross},   {"uncommitted_deliveries", uncommitted},
          {"unmatched", unmatched},   {"workers", workers},
          {"own_required", own_required}, {"own_delivered", own_delivered},
          {"exempt", exempt}};
}

std::string FanoutAnalysis::measured() const {
  return std::to_string(missing) + " missing, " + std::to_string(duplicates) + " duplicate, " +
         std::to_string(self) + " self, " + std::to_string(cross) + " cross-channel, " +
         std::to_string(uncommitted) + " uncommitted, " + std::to_string(errors) +
         " failed publishes outside faults, " + std::to_string(unmatched) +
         " unmatched of " + std::to_string(required) + " required deliveries";
}

SelfRule self_rule(const Json& params) {
  if (!params.is_object() || !params.contains("self")) return SelfRule::kForbidden;
  const Json& v = params["self"];
  if (v == "forbidden") return SelfRule::kForbidden;
  if (v == "expected") return SelfRule::kExpected;
  if (v == "allowed") return SelfRule::kAllowed;
  throw std::runtime_error("check parameter \"self\" must be \"forbidden\", \"expected\" or "
                           "\"allowed\", got " + v.dump());
}

FanoutAnalysis analyse_fanout(const HistoryModel& m, SelfRule self, std::int64_t required_from) {
  FanoutAnalysis a;
  a.self_rule = self;
  a.workers = m.ready_worker_count();
  a.deliveries = m.deliveries.size();
  const std::int64_t end = m.quiesce_end();
  // A publish may fail when a fault (a held lock, a full disk, an I/O error,
  // a lost Redis connection) is under way when it begins, or begins within
  // the busy timeout + 1 s after one; any other `error` is a failure of the
  // implementation that the application would see.
  const auto grace = static_cast<std::int64_t>((m.busy_timeout_ms + 1000) * 1e6);
  for (const Publish& p : m.publishes) {
    if (!p.error) continue;
    const bool excused = std::any_of(m.faults.begin(), m.faults.end(), [&](const FaultWindow& w) {
      return w.overlaps(p.t_op - grace, p.t_op + grace);
    });
    if (excused) continue;
    ++a.errors;
    a.evidence.add(0, "failed",
                   m.incarnations[p.publisher].label() + " answered " + p.op + " " +
                       std::to_string(p.id) + " (sent " + m.at(p.t_op) + ") with error \"" +
                       *p.error + "\" and no fault was under way");
  }
  for (const Publish& p : m.publishes) {
    if (!p.acked()) continue;
    ++a.acked;
    if (p.begin() < required_from) {
      ++a.exempt;
      continue;
    }
    const Incarnation& pub = m.incarnations[p.publisher];
    const auto gone = pub.t_end();
    if (self == SelfRule::kExpected && pub.t_ready && *pub.t_ready < p.begin() &&
        !(gone && *gone < end)) {
      ++a.own_required;
      ++a.required;
      if (m.deliveries_of(pub.index, p.id).empty()) {
        ++a.missing;
        a.evidence.add(0, "missing",
                       pub.label() + " never received its own publish " + std::to_string(p.id) +
                           " (committed " + m.at(*p.t_commit) +
                           "; this backend delivers a publisher's own messages back to it)");
      }
    }
    for (std::size_t inc : required_receivers(m, p)) {
      ++a.required;
      if (!m.deliveries_of(inc, p.id).empty()) continue;
      ++a.missing;
      const Incarnation& r = m.incarnations[inc];
      a.evidence.add(0, "missing",
                     r.label() + " never received publish " + std::to_string(p.id) + " from " +
                         m.incarnations[p.publisher].label() + " (committed " + m.at(*p.t_commit) +
                         ", " + r.label() + " ready since " + m.at(*r.t_ready) + ")");
    }
  }
  std::set<std::pair<std::size_t, std::int64_t>> seen;
  for (const Delivery& d : m.deliveries) {
    const Incarnation& r = m.incarnations[d.receiver];
    const std::string when = " at " + m.at(d.t);
    const Publish* p = m.find_publish(d.publish_id);
    if (p == nullptr) {
      ++a.unmatched;
      a.evidence.add(
          5, "unmatched",
          r.label() + " received keys " + fmt_keys(d.keys) + when + " that match no publish");
      continue;
    }
    const std::string what = "publish " + std::to_string(p->id);
    const std::string publisher = m.incarnations[p->publisher].label();
    if (d.receiver == p->publisher) {
      if (self == SelfRule::kForbidden) {
        ++a.self;
        a.evidence.add(1, "self", r.label() + " received its own " + what + when);
      }
    } else if (r.channel != p->channel) {
      ++a.cross;
      a.evidence.add(2, "cross-channel",
                     r.label() + " on channel \"" + r.channel + "\" received " + what + " from " +
                         publisher + " on channel \"" + p->channel + "\"" + when);
    }
    if (p->error) {
      ++a.uncommitted;
      a.evidence.add(3, "uncommitted",
                     r.label() + " received " + what + when + ", which " + publisher +
                         " answered with error \"" + *p->error + "\" (not committed)");
    }
    if (!seen.insert({d.receiver, p->id}).second) {
      ++a.duplicates;
      a.evidence.add(4, "duplicate", r.label() + " received " + what + " again" + when);
    } else if (d.receiver == p->publisher) {
      ++a.own_delivered;
    }
  }
  return a;
}

double param_number(const Json& params, const char* name, double fallback) {
  if (!params.is_object()) return fallback;
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return fallback;
  if (!it->is_number()) {
    throw std::runtime_error(std::string("check parameter \"") + name +
                             "\" must be a number, got " + it->dump());
  }
  return it->get<double>();
}

}  // namespace pjx::harness::detail
