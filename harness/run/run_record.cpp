#include "run_record.hpp"

#include <stdexcept>

#include "command_line.hpp"
#include "pjx/redis_backend.hpp"

namespace pjx::harness {

namespace fs = std::filesystem;

namespace {

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string defect_of(const std::vector<std::string>& argv) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--defect" && i + 1 < argv.size()) return argv[i + 1];
    if (argv[i].rfind("--defect=", 0) == 0) return argv[i].substr(9);
  }
  return "";
}

Json workers_meta(const RunFacts& r) {
  std::string defect;
  try {
    defect = defect_of(split_command_line(r.options.worker_cmd));
  } catch (const std::invalid_argument&) {
    // Reported as the scenario's error.
  }
  Json workers = Json::array();
  for (const auto& s : r.workers.all()) {
    Json env = s->env;
    if (env.contains("REDIS_URL"))
      env["REDIS_URL"] = pjx::mask_redis_url(env["REDIS_URL"].get<std::string>());
    Json w = {{"name", s->name},
              {"channel", s->channel},
              {"cmd", s->spec->cmd.value_or(r.options.worker_cmd)},
              {"db", s->db},
              {"env", env},
              {"expect_fatal", s->spec->expect_fatal},
              {"faketime", !s->faketime_file.empty()}};
    if (!defect.empty()) w["defect"] = defect;
    if (!s->spec->why.empty()) w["why"] = s->spec->why;
    if (s->spec->start_at) w["start_at_ms"] = s->spec->start_at->resolve_ms(r.timing);
    if (s->spec->inotify_instances) w["inotify_instances"] = *s->spec->inotify_instances;
    workers.push_back(std::move(w));
  }
  return workers;
}

Json faults_meta(const RunFacts& r) {
  Json faults = Json::array();
  for (const FaultSpec& f : r.scenario.faults) {
    Json j = {{"action", f.action}, {"at_ms", f.at.resolve_ms(r.timing)}};
    if (!f.worker.empty()) j["worker"] = f.worker;
    if (f.duration) j["duration_ms"] = f.duration->resolve_ms(r.timing);
    if (f.during_publish) j["during_publish"] = true;
    if (!f.offset.empty()) j["offset_s"] = f.offset_s;
    faults.push_back(std::move(j));
  }
  return faults;
}

Json reads_meta(const RunFacts& r) {
  std::size_t reads = 0, writes = 0, slow = 0, bursts = 0;
  for (const PlannedAction& a : r.plan) {
    if (a.kind == PlannedAction::Kind::kRead) ++reads;
    if (a.kind == PlannedAction::Kind::kRead && a.slow_ms > 0) ++slow;
    if (a.kind == PlannedAction::Kind::kWrite) ++writes;
    if (a.kind == PlannedAction::Kind::kBurst) ++bursts;
  }
  return {{"reads", reads},
          {"writes", writes},
          {"slow_reads", slow},
          {"bursts", bursts},
          {"keys", r.scenario.reads->keys},
          {"truth_db", r.truth.string()}};
}

Json workload_meta(const RunFacts& r) {
  Json workload = Json::object();
  std::size_t publishes = 0;
  for (const PlannedAction& a : r.plan) {
    if (a.kind == PlannedAction::Kind::kPublish) ++publishes;
  }
  workload["publishes"] = publishes;
  if (r.scenario.workload) {
    if (r.scenario.workload->interval) {
      workload["interval_ms"] = r.scenario.workload->interval->resolve_ms(r.timing);
    }
    if (r.scenario.workload->rate) workload["rate_per_s"] = *r.scenario.workload->rate;
    workload["shared_keys"] = r.scenario.workload->shared_keys;
  }
  if (r.scenario.reads) workload["reads"] = reads_meta(r);
  return workload;
}

Json redis_meta(const RunFacts& r) {
  if (r.redis == nullptr) return Json();
  const pjx::testing::RedisServer* server = r.redis->server();
  return {{"url", pjx::mask_redis_url(r.redis->url())},
          {"owned", server != nullptr},
          {"version", server != nullptr ? server->version() : std::string()},
          {"pubsub_limit", r.scenario.redis_pubsub_limit}};
}

}  // namespace

Json meta_record(const RunFacts& r) {
  const bool redis = r.redis != nullptr;
  return {{"type", "meta"},
          {"scenario", r.scenario.name},
          {"guarantee", r.scenario.guarantee},
          {"file", display_path(r.scenario.file)},
          {"seed", r.options.seed},
          {"timing", r.timing.name},
          {"params",
           {{"poll_interval_ms", r.timing.poll_ms},
            {"retention_ms", r.timing.retention_ms},
            {"busy_timeout_ms", r.timing.busy_timeout_ms},
            {"channel", r.channel}}},
          {"workers", workers_meta(r)},
          {"checks", r.scenario.checks},
          {"check_params", r.scenario.resolved_check_params(r.timing)},
          {"expect", r.scenario.expect},
          {"requires", r.scenario.requires_caps},
          {"workload", workload_meta(r)},
          {"faults", faults_meta(r)},
          {"wall_start", wall_now()},
          {"harness_version", r.options.harness_version},
          {"worker_cmd", r.options.worker_cmd},
          {"worker_cmd_is_default", r.options.worker_cmd_is_default},
          {"db_path", redis ? std::string() : r.db.string()},
          {"backend", redis ? "redis" : "sqlite"},
          {"redis", redis_meta(r)},
          {"run_id", r.options.run_id}};
}

ScenarioResult new_result(const Scenario& scenario, const RunOptions& options,
                          const Timing& timing) {
  ScenarioResult result;
  result.name = scenario.name;
  result.file = display_path(scenario.file);
  result.guarantee = scenario.guarantee;
  result.expect = scenario.expect;
  result.timing = timing.name;
  result.seed = options.seed;
  result.rerun = rerun_command(result.file, options, timing.name);
  const bool redis = options.backend == "redis";
  if (redis) result.name = "redis/" + scenario.name;
  result.backend = redis ? "redis" : "sqlite";
  return result;
}

void finish_result(ScenarioResult& result, const std::vector<Json>& history,
                   std::chrono::steady_clock::time_point started) {
  result.verdict = judge(history);
  result.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

std::string display_path(const fs::path& path) {
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  if (ec) return path.string();
  const fs::path abs = fs::absolute(path, ec).lexically_normal();
  const fs::path rel = abs.lexically_relative(cwd);
  if (!rel.empty() && rel.native().rfind("..", 0) != 0) return rel.string();
  return abs.string();
}

std::string rerun_command(const std::string& file, const RunOptions& options,
                          const std::string& timing) {
  std::string cmd = "pjx-harness run " + quote_word(file) + " --seed " +
                    std::to_string(options.seed) + " --timing " + timing;
  if (!options.worker_cmd_is_default) cmd += " --worker-cmd " + quote_word(options.worker_cmd);
  if (options.backend != "sqlite") cmd += " --backend " + options.backend;
  if (!options.redis_url.empty())
    cmd += " --redis-url " + quote_word(pjx::mask_redis_url(options.redis_url));
  return cmd;
}

}  // namespace pjx::harness
