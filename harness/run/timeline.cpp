#include "timeline.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace pjx::harness {

std::uint64_t SplitMix64::next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t SplitMix64::below(std::uint64_t n) {
  // Rejection sampling: no modulo bias.
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
  std::uint64_t x = next();
  while (x >= limit) x = next();
  return x % n;
}

const std::string& PlannedAction::worker() const {
  static const std::string kNone;
  return candidates.empty() ? kNone : candidates.front();
}

std::vector<std::string> default_publishers(const Scenario& scenario) {
  std::vector<std::string> out;
  for (const WorkerSpec& w : scenario.workers) {
    if (!w.start_at && !w.expect_fatal) out.push_back(w.name);
  }
  return out;
}

namespace {

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// `pool` rotated so that the seeded choice comes first.
std::vector<std::string> choose(const std::vector<std::string>& pool, SplitMix64& rng) {
  if (pool.empty()) return {};
  const std::size_t first = static_cast<std::size_t>(rng.below(pool.size()));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < pool.size(); ++i) out.push_back(pool[(first + i) % pool.size()]);
  return out;
}

}  // namespace

std::vector<PlannedAction> plan_timeline(const Scenario& scenario, const Timing& timing,
                                         std::uint64_t seed) {
  using Kind = PlannedAction::Kind;
  std::vector<PlannedAction> actions;
  std::vector<std::vector<std::string>> extra_keys;  // per publish action, before ids

  const std::vector<std::string> defaults = default_publishers(scenario);
  if (scenario.workload && scenario.workload->publishes > 0) {
    const WorkloadSpec& w = *scenario.workload;
    double interval_ms = 0;
    if (w.interval) interval_ms = w.interval->resolve_ms(timing);
    if (w.rate) interval_ms = 1000.0 / *w.rate;
    const double start_ms = w.start.resolve_ms(timing);
    for (int i = 0; i < w.publishes; ++i) {
      PlannedAction a;
      a.kind = Kind::kPublish;
      a.at_ns = std::llround((start_ms + interval_ms * i) * 1e6);
      a.candidates = w.publishers.empty() ? defaults : w.publishers;
      actions.push_back(std::move(a));
    }
  }
  for (const PublishSpec& p : scenario.publishes) {
    PlannedAction a;
    a.kind = Kind::kPublish;
    a.at_ns = p.at.resolve_ns(timing);
    a.candidates = p.worker.empty() ? defaults : std::vector<std::string>{p.worker};
    a.keys = p.keys;
    a.await = p.await;
    actions.push_back(std::move(a));
  }
  for (const WorkerSpec& w : scenario.workers) {
    if (!w.start_at) continue;
    PlannedAction a;
    a.kind = Kind::kStartWorker;
    a.at_ns = w.start_at->resolve_ns(timing);
    a.candidates = {w.name};
    actions.push_back(std::move(a));
  }
  for (std::size_t i = 0; i < scenario.faults.size(); ++i) {
    const FaultSpec& f = scenario.faults[i];
    PlannedAction a;
    a.fault = i;
    if (!f.worker.empty()) a.candidates = {f.worker};
    a.at_ns = f.at.resolve_ns(timing);
    if (f.duration) {
      a.kind = Kind::kFaultBegin;
      PlannedAction end = a;
      end.kind = Kind::kFaultEnd;
      end.at_ns = a.at_ns + f.duration->resolve_ns(timing);
      actions.push_back(std::move(a));
      actions.push_back(std::move(end));
    } else {
      a.kind = Kind::kFaultInstant;
      actions.push_back(std::move(a));
    }
  }
  std::stable_sort(actions.begin(), actions.end(),
                   [](const PlannedAction& a, const PlannedAction& b) { return a.at_ns < b.at_ns; });

  // Ids, keys and publisher choices in time order, from one seeded stream.
  SplitMix64 rng(seed ^ fnv1a(scenario.name));
  static const char* const kPrefixes[] = {"user", "order", "page"};
  const int shared = scenario.workload ? scenario.workload->shared_keys : 1;
  const int space = scenario.workload ? scenario.workload->key_space : 100;
  std::int64_t next_id = 1;
  for (PlannedAction& a : actions) {
    const bool kill_publish = a.kind == Kind::kFaultInstant &&
                              scenario.faults[a.fault].action == "kill" &&
                              scenario.faults[a.fault].during_publish;
    if (a.kind != Kind::kPublish && !kill_publish) continue;
    a.publish_id = next_id++;
    std::set<std::string> keys(a.keys.begin(), a.keys.end());
    keys.insert("e:" + std::to_string(a.publish_id));
    if (a.keys.empty()) {
      for (int k = 0; k < shared; ++k) {
        const char* prefix = kPrefixes[rng.below(3)];
        keys.insert(std::string(prefix) + ":" +
                    std::to_string(rng.below(static_cast<std::uint64_t>(space))));
      }
      const int pad = scenario.workload ? scenario.workload->pad_bytes : 0;
      if (pad > 0) {
        // Bulk, to fill a slow subscriber's buffers: unique, so matching stays exact.
        const std::string prefix = "pad:" + std::to_string(a.publish_id) + ":";
        keys.insert(prefix + std::string(static_cast<std::size_t>(
                                 std::max(0, pad - static_cast<int>(prefix.size()))), 'x'));
      }
    }
    a.keys.assign(keys.begin(), keys.end());
    if (a.kind == Kind::kPublish && a.candidates.size() > 1) a.candidates = choose(a.candidates, rng);
  }
  return actions;
}

}  // namespace pjx::harness
