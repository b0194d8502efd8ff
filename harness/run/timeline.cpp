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

// The [reads] ops (see ReadsSpec), appended to `actions` unsorted and
// without ids, choices drawn from their own seeded stream.
void plan_reads(const Scenario& scenario, const Timing& timing, std::uint64_t seed,
                const std::vector<std::string>& defaults, std::vector<PlannedAction>& actions) {
  using Kind = PlannedAction::Kind;
  const ReadsSpec& spec = *scenario.reads;
  SplitMix64 rng(seed ^ fnv1a(scenario.name) ^ 0x7265616473ULL);  // "reads"
  const std::vector<std::string> readers = spec.readers.empty() ? defaults : spec.readers;
  const std::vector<std::string> writers = spec.writers.empty() ? readers : spec.writers;
  const double start_ms = spec.start.resolve_ms(timing);
  const double interval_ms = spec.interval.resolve_ms(timing);
  auto key_of = [&] {
    if (spec.keys == 1 || rng.below(100) < static_cast<std::uint64_t>(spec.hot_percent)) {
      return std::string("k0");
    }
    return "k" + std::to_string(1 + rng.below(static_cast<std::uint64_t>(spec.keys - 1)));
  };
  for (int i = 0; i < spec.ops; ++i) {
    PlannedAction a;
    const bool write = rng.below(100) < static_cast<std::uint64_t>(spec.write_percent);
    a.kind = write ? Kind::kWrite : Kind::kRead;
    a.at_ns = std::llround((start_ms + interval_ms * i) * 1e6);
    a.key = key_of();
    a.candidates = choose(write ? writers : readers, rng);
    actions.push_back(std::move(a));
  }
  // Races and bursts spread over the ops' span (at least one race's length each).
  const double slow_ms = spec.slow.resolve_ms(timing);
  // The follow-up read comes once the write must be visible: its loader's
  // pause, then poll_interval + the check's default slack (250 ms) + 150 ms.
  const double follow_ms = slow_ms + timing.poll_ms + 400;
  const double span_ms = std::max(interval_ms * spec.ops, follow_ms * std::max(1, spec.races));
  for (int j = 0; j < spec.races && readers.size() >= 2; ++j) {
    const double at_ms = start_ms + span_ms * (j + 0.5) / spec.races - follow_ms / 2;
    const std::vector<std::string> pair = choose(readers, rng);
    const std::string key = "race:" + std::to_string(j);
    PlannedAction slow;
    slow.kind = Kind::kRead;
    slow.at_ns = std::llround(std::max(start_ms, at_ms) * 1e6);
    slow.key = key;
    slow.slow_ms = slow_ms;
    slow.candidates = {pair[0]};
    PlannedAction write;
    write.kind = Kind::kWrite;
    write.at_ns = slow.at_ns + std::llround(slow_ms / 3 * 1e6);
    write.key = key;
    write.candidates = {pair[1]};
    PlannedAction follow = slow;
    follow.slow_ms = 0;
    follow.at_ns = slow.at_ns + std::llround(follow_ms * 1e6);
    actions.push_back(std::move(slow));
    actions.push_back(std::move(write));
    actions.push_back(std::move(follow));
  }
  for (const DataOpSpec& op : scenario.data_ops) {
    PlannedAction a;
    a.kind = op.write ? Kind::kWrite : Kind::kRead;
    a.at_ns = op.at.resolve_ns(timing);
    a.key = op.key;
    a.keys = op.keys;  // a write's extra keys; ids are added below
    if (op.slow) a.slow_ms = op.slow->resolve_ms(timing);
    a.candidates = {op.worker};
    actions.push_back(std::move(a));
  }
  for (int j = 0; j < spec.bursts; ++j) {
    PlannedAction a;
    a.kind = Kind::kBurst;
    a.at_ns = std::llround((start_ms + span_ms * (j + 0.25) / spec.bursts) * 1e6);
    a.key = "burst:" + std::to_string(j);
    a.burst.resize(static_cast<std::size_t>(spec.burst_size));
    a.candidates = choose(writers, rng);
    actions.push_back(std::move(a));
  }
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
      a.at_ns = std::llround((start_ms + interval_ms * (i / w.together)) * 1e6);
      a.together_rank = i % w.together;
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
  if (scenario.reads) plan_reads(scenario, timing, seed, defaults, actions);
  std::stable_sort(actions.begin(), actions.end(),
                   [](const PlannedAction& a, const PlannedAction& b) { return a.at_ns < b.at_ns; });

  // Ids, keys and publisher choices in time order, from one seeded stream.
  SplitMix64 rng(seed ^ fnv1a(scenario.name));
  static const char* const kPrefixes[] = {"user", "order", "page"};
  const int shared = scenario.workload ? scenario.workload->shared_keys : 1;
  const int space = scenario.workload ? scenario.workload->key_space : 100;
  std::int64_t next_id = 1;
  std::vector<std::string> step_choice;  // the current `together` step's seeded publisher order
  for (PlannedAction& a : actions) {
    if (a.kind == Kind::kRead) {
      a.publish_id = next_id++;
      continue;
    }
    if (a.kind == Kind::kWrite) {
      a.publish_id = next_id++;
      std::set<std::string> keys(a.keys.begin(), a.keys.end());
      keys.insert(a.key);
      keys.insert("e:" + std::to_string(a.publish_id));
      a.keys.assign(keys.begin(), keys.end());
      continue;
    }
    if (a.kind == Kind::kBurst) {
      a.publish_id = next_id++;
      for (PlannedAction::BurstPublish& b : a.burst) {
        b.id = next_id++;
        b.keys = {"e:" + std::to_string(b.id), a.key};
        std::sort(b.keys.begin(), b.keys.end());
      }
      continue;
    }
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
    if (a.kind == Kind::kPublish && a.candidates.size() > 1) {
      if (a.together_rank == 0) {
        a.candidates = choose(a.candidates, rng);
        step_choice = a.candidates;
      } else {  // the step's first choice, rotated: another worker first (the scenario has enough)
        const auto rank = static_cast<std::size_t>(a.together_rank);
        a.candidates.clear();
        for (std::size_t k = 0; k < step_choice.size(); ++k) {
          a.candidates.push_back(step_choice[(rank + k) % step_choice.size()]);
        }
      }
    }
  }
  return actions;
}

}  // namespace pjx::harness
