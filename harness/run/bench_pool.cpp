#include "bench_pool.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "bench_measure.hpp"
#include "command_line.hpp"
#include "duration.hpp"
#include "event_loop.hpp"

namespace pjx::harness {

namespace fs = std::filesystem;

Pool::Pool(const BenchOptions& o, const fs::path& dir, const std::string& channel,
           const PoolConfig& c)
    : options_(o), dir_(dir) {
  fs::create_directories(dir_);
  if (c.redis_url.empty()) {
    env_["PJX_INVALIDATION_DB"] = db().string();
  } else {
    env_["REDIS_URL"] = c.redis_url;
  }
  env_["PJX_INVALIDATION_CHANNEL"] = channel;
  env_["PJX_POLL_INTERVAL"] = format_seconds(c.poll_s);
  env_["PJX_RETENTION"] = format_seconds(c.retention_s);
  env_["PJX_WAKE_ON_CHANGE"] = c.wake == "off" ? "0" : "1";
  env_["PJX_DOORBELL"] = c.wake == "on" ? "1" : "0";
}

Pool::~Pool() {
  // Destroying the processes kills what is still running.
  workers_.clear();
}

namespace {

void on_worker_line(BenchWorker& w, const std::string& line) {
  Json ev;
  try {
    ev = Json::parse(line);
  } catch (const Json::exception&) {
    return;
  }
  if (!ev.is_object() || !ev.contains("ev") || !ev["ev"].is_string()) return;
  const std::string kind = ev["ev"].get<std::string>();
  if (kind == "ready") w.ready = true;
  if (kind == "stopped") w.stopped = true;
  if (kind == "fatal") w.fatal = ev.value("message", std::string("fatal"));
  if (kind == "stats") w.stats = ev;
  if (w.on_event) w.on_event(ev);
}

}  // namespace

BenchWorker& Pool::add() {
  auto w = std::make_unique<BenchWorker>();
  BenchWorker* wp = w.get();
  const std::string name = "w" + std::to_string(workers_.size());
  auto overrides = env_;
  overrides["PJX_WORKER_NAME"] = name;
  pjx::testing::Subprocess::Handlers h;
  h.on_line = [wp](std::string line) { on_worker_line(*wp, line); };
  w->proc = pjx::testing::Subprocess::spawn(io_, split_command_line(options_.worker_cmd),
                                            worker_environment(overrides),
                                            dir_ / (name + ".stderr"), std::move(h));
  workers_.push_back(std::move(w));
  return *wp;
}

void Pool::start_all() {
  for (auto& w : workers_) w->proc->write_line(R"({"op":"start"})");
  pump_until(
      [this] {
        for (auto& w : workers_) {
          if (!w->fatal.empty()) return true;
          if (w->proc->exited()) return true;
          if (!w->ready) return false;
        }
        return true;
      },
      monotonic_ns() + 60 * kSecond);
  for (auto& w : workers_) {
    if (!w->fatal.empty()) throw std::runtime_error("worker fatal: " + w->fatal);
    if (w->proc->exited() || !w->ready) {
      throw std::runtime_error("a worker did not become ready within 60 s (see " + dir_.string() +
                               ")");
    }
  }
}

void Pool::collect_stats(const std::vector<BenchWorker*>& which) {
  for (BenchWorker* w : which) {
    w->stats = Json();
    w->proc->write_line(R"({"op":"stats"})");
  }
  pump_until(
      [&which] {
        return std::all_of(which.begin(), which.end(),
                           [](BenchWorker* w) { return !w->stats.is_null() || w->proc->exited(); });
      },
      monotonic_ns() + 10 * kSecond);
}

void Pool::stop_all() {
  for (auto& w : workers_) {
    if (!w->proc->exited()) w->proc->write_line(R"({"op":"stop"})");
  }
  pump_until(
      [this] {
        return std::all_of(workers_.begin(), workers_.end(),
                           [](const auto& w) { return w->proc->exited(); });
      },
      monotonic_ns() + 10 * kSecond);
}

bool Pool::pump_until(const std::function<bool()>& done, std::int64_t deadline_ns) {
  return harness::pump_until(io_, done, deadline_ns);
}

void Pool::pump_for(std::int64_t ns) {
  pump_until([] { return false; }, monotonic_ns() + ns);
}

std::int64_t Pool::wait_heard(const std::vector<std::string>& acked,
                              const std::set<std::string>& heard) {
  const auto all_heard = [&] {
    return std::all_of(acked.begin(), acked.end(),
                       [&heard](const std::string& k) { return heard.count(k) != 0; });
  };
  pump_until(all_heard, monotonic_ns() + 10 * kSecond);
  std::int64_t lost = 0;
  for (const auto& k : acked) lost += heard.count(k) == 0 ? 1 : 0;
  return lost;
}

BackToBack::BackToBack(std::vector<BenchWorker*> publishers) : pubs_(std::move(publishers)) {
  for (BenchWorker* w : pubs_) {
    w->on_event = [this, w](const Json& ev) {
      const std::string kind = ev.value("ev", std::string());
      if (kind != "published" && kind != "error") return;
      --in_flight_;
      if (kind == "published") {
        acked.push_back("t" + std::to_string(ev.value("id", std::int64_t{0})));
        lat_us.push_back(static_cast<double>(ev.value("t", std::int64_t{0}) -
                                             ev.value("t_begin", std::int64_t{0})) /
                         1e3);
      } else {
        ++errors;
      }
      if (running_) send(w);
    };
  }
}

void BackToBack::begin() {
  running_ = true;
  for (BenchWorker* w : pubs_) send(w);
}

void BackToBack::end(Pool& pool) {
  running_ = false;
  pool.pump_until([this] { return in_flight_ <= 0; }, monotonic_ns() + 30 * kSecond);
}

void BackToBack::send(BenchWorker* w) {
  const std::int64_t id = next_id_++;
  Json op = {{"op", "publish"}, {"id", id}, {"keys", {"t" + std::to_string(id)}}};
  w->proc->write_line(op.dump());
  ++in_flight_;
}

namespace {

std::vector<BenchWorker*> add_listener_and_publishers(Pool& pool, int publishers,
                                                      std::set<std::string>& heard) {
  // Collects the keys the listener receives.
  pool.add().on_event = [&heard](const Json& ev) {
    if (ev.value("ev", std::string()) != "received" || !ev.contains("keys")) return;
    for (const auto& k : ev["keys"]) {
      if (k.is_string()) heard.insert(k.get<std::string>());
    }
  };
  std::vector<BenchWorker*> pubs;
  for (int i = 0; i < publishers; ++i) pubs.push_back(&pool.add());
  return pubs;
}

}  // namespace

PublishLoad::PublishLoad(Pool& pool, int publishers)
    : pool_(pool), pubs_(add_listener_and_publishers(pool, publishers, heard_)), b2b_(pubs_) {}

PublishLoad::Outcome PublishLoad::finish() {
  Outcome out;
  out.lost = pool_.wait_heard(b2b_.acked, heard_);
  pool_.collect_stats(pubs_);
  for (BenchWorker* w : pubs_) out.busy_waits += stat_i(w->stats, "busy_waits");
  pool_.stop_all();
  return out;
}

}  // namespace pjx::harness
