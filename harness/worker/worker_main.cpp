// pjx-worker: the process the conformance harness drives over stdin/stdout
// (harness/PROTOCOL.md). `--defect NAME` (or PJX_WORKER_DEFECT) runs a
// deliberately broken worker instead; `--list-defects` lists them.
//
// Exit status: 0 after `stop` or EOF on stdin; 2 when the configuration is
// rejected (after a `fatal` event) or the command line is wrong.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "dispatcher.hpp"
#include "event_sink.hpp"
#include "mutant_backend.hpp"
#include "protocol.hpp"
#include "redis_defects.hpp"
#include "worker_backend.hpp"
#include "worker_cache.hpp"
#include "worker_fault.hpp"

namespace {

using pjx::harness::Defect;

constexpr int kExitUsage = 2;
constexpr int kExitFatal = 2;

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: pjx-worker [--defect NAME] [--list-defects] [--version]\n"
      "Speaks the pjx-worker protocol (JSON lines) on stdin/stdout; configured by\n"
      "PJX_INVALIDATION_DB, PJX_INVALIDATION_CHANNEL, PJX_POLL_INTERVAL, PJX_RETENTION,\n"
      "PJX_BUSY_TIMEOUT, REDIS_URL. --defect (or PJX_WORKER_DEFECT) runs a broken worker.\n"
      "PJX_WORKER_FAULT=kind=K,nth=N,error=E,persistent=0|1 injects SQLite I/O faults\n"
      "(SIGUSR1 arms, SIGUSR2 clears; PJX_WORKER_FAULT_ARMED=0 waits for SIGUSR1).\n"
      "PJX_WORKER_POWER_LOG=FILE records what each write of the database overwrites,\n"
      "so that a power loss can be simulated (cap power_loss); PJX_WORKER_CHECKPOINT_PAGES=N\n"
      "checkpoints after N WAL pages instead of 1000.\n"
      "\n"
      "Exit status:\n"
      "  0  after the stop op or the end of stdin\n"
      "  2  the configuration was rejected (after a fatal event) or a bad command line\n"
      "\n"
      "Examples:\n"
      "  pjx-harness conform --worker-cmd 'pjx-worker --defect skip-rows'\n"
      "  echo '{\"op\":\"start\"}' | PJX_INVALIDATION_DB=x.db pjx-worker\n",
      out);
}

void list_defects() {
  for (const Defect& defect : pjx::harness::defects()) {
    std::printf("%-16s %.*s\n", std::string(defect.name).c_str(),
                static_cast<int>(defect.description.size()), defect.description.data());
  }
  for (const pjx::harness::CacheDefect& defect : pjx::harness::cache_defects()) {
    std::printf("%-16s %.*s\n", std::string(defect.name).c_str(),
                static_cast<int>(defect.description.size()), defect.description.data());
  }
  for (const pjx::harness::RedisDefect& defect : pjx::harness::redis_defects()) {
    std::printf("%-16s %.*s\n", std::string(defect.name).c_str(),
                static_cast<int>(defect.description.size()), defect.description.data());
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A harness that went away must not kill us mid-stop: writes just fail.
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<std::string> defect_name;
  if (const char* env = std::getenv("PJX_WORKER_DEFECT"); env != nullptr && *env != '\0') {
    defect_name = env;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--list-defects") {
      list_defects();
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      return 0;
    } else if (arg == "--version") {
      std::printf("%s\n", pjx::harness::implementation_name().c_str());
      return 0;
    } else if (arg == "--defect" && i + 1 < argc) {
      defect_name = argv[++i];
    } else if (arg.starts_with("--defect=")) {
      defect_name = std::string(arg.substr(9));
    } else {
      std::fprintf(stderr, "pjx-worker: unknown argument \"%s\"\n", argv[i]);
      print_usage(stderr);
      return kExitUsage;
    }
  }

  pjx::harness::EventSink sink = pjx::harness::EventSink::for_fd(STDOUT_FILENO);
  auto fatal = [&sink](const std::string& message) {
    nlohmann::json event = pjx::harness::make_event("fatal");
    event["message"] = message;
    sink.emit(event);
    std::fprintf(stderr, "pjx-worker: %s\n", message.c_str());
    return kExitFatal;
  };

  const Defect* defect = nullptr;
  const pjx::harness::RedisDefect* redis_defect = nullptr;
  const pjx::harness::CacheDefect* cache_defect = nullptr;
  if (defect_name) {
    defect = pjx::harness::find_defect(*defect_name);
    if (defect == nullptr) redis_defect = pjx::harness::find_redis_defect(*defect_name);
    if (defect == nullptr) cache_defect = pjx::harness::find_cache_defect(*defect_name);
    if (defect == nullptr && redis_defect == nullptr && cache_defect == nullptr) {
      return fatal("unknown defect \"" + *defect_name +
                   "\"; run pjx-worker --list-defects for the names");
    }
  }

  std::optional<pjx::harness::Dispatcher> dispatcher;
  try {
    pjx::Settings settings = pjx::harness::load_settings(
        [](std::string_view name) -> std::optional<std::string> {
          const char* value = std::getenv(std::string(name).c_str());
          return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
        },
        defect);
    settings.sqlite.on_warning = [&sink](const std::string& message) {
      nlohmann::json event = pjx::harness::make_event("warning", pjx::harness::monotonic_ns());
      event["message"] = message;
      sink.emit(event);
    };
    // PJX_WORKER_FAULT: fault injection below SQLite (worker_fault.hpp).
    auto fault = pjx::harness::worker_fault_from_env([](std::string_view name) -> std::optional<std::string> {
      const char* value = std::getenv(std::string(name).c_str());
      return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
    });
    // The SQLite mutants open through settings.sqlite.vfs too, so a defect
    // can be judged under faults; the Redis ones have no SQLite below.
    if (fault && !pjx::harness::install_worker_fault(*fault, settings, redis_defect != nullptr)) {
      std::fprintf(stderr, "pjx-worker: ignoring PJX_WORKER_FAULT (it applies to SQLite backends only, "
                           "not to this %s); not listing the fault_vfs cap\n",
                   defect_name ? "defect worker" : "backend");
      fault.reset();
    }
    // PJX_WORKER_CHECKPOINT_PAGES: checkpoint after this many WAL pages
    // instead of the library's 1000, so that a short scenario's WAL is
    // synced, copied and restarted many times (the power-loss scenario).
    if (const char* pages = std::getenv("PJX_WORKER_CHECKPOINT_PAGES"); pages != nullptr && *pages != '\0') {
      char* end = nullptr;
      const unsigned long n = std::strtoul(pages, &end, 10);
      if (end == pages || *end != '\0' || n == 0 || n > 1'000'000) {
        return fatal(std::string("PJX_WORKER_CHECKPOINT_PAGES=\"") + pages +
                     "\" is not a page count; give a whole number from 1 to 1000000 (the library's default is 1000)");
      }
      settings.sqlite.checkpoint_pages = n;
    }
    // PJX_WORKER_POWER_LOG: the power-loss log (worker_fault.hpp).
    bool power_loss = false;
    if (const char* log = std::getenv("PJX_WORKER_POWER_LOG"); log != nullptr && *log != '\0') {
      power_loss = pjx::harness::install_power_loss_log(log, settings, redis_defect != nullptr);
      if (!power_loss) {
        std::fprintf(stderr, "pjx-worker: ignoring PJX_WORKER_POWER_LOG (it applies to SQLite backends only); "
                             "not listing the power_loss cap\n");
      }
    }
    if (fault) {
      pjx::harness::start_fault_signals(*fault, [&sink](const std::string& message) {
        nlohmann::json event = pjx::harness::make_event("warning", pjx::harness::monotonic_ns());
        event["message"] = message;
        sink.emit(event);
      });
    }
    if (!settings.ignored.empty()) {
      std::fprintf(stderr, "pjx-worker: ignoring %s (not used by the %s backend)\n",
                   settings.ignored.c_str(), pjx::to_string(settings.backend));
    }
    // The Redis backend's warnings too, once Settings carries its options.
    [](auto& s) {
      if constexpr (requires { s.redis.on_warning = s.sqlite.on_warning; }) {
        s.redis.on_warning = s.sqlite.on_warning;
      }
    }(settings);
    if (redis_defect != nullptr) pjx::harness::adjust_redis_settings(settings, *redis_defect);
    pjx::harness::WorkerBackend backend = pjx::harness::make_worker_backend(settings, defect);
    if (redis_defect != nullptr) {
      backend = pjx::harness::apply_redis_defect(std::move(backend), settings, *redis_defect);
    }
    if (fault) backend.caps.push_back("fault_vfs");
    if (power_loss) backend.caps.push_back("power_loss");
    // Protocol v2: read/write through the cache and the truth store, burst.
    backend.caps.push_back("reads");
    backend.caps.push_back("burst");
    if (cache_defect != nullptr) backend.impl += " cache-mutant:" + std::string(cache_defect->name);
    std::optional<std::filesystem::path> truth_db;
    if (const char* truth = std::getenv("PJX_TRUTH_DB"); truth != nullptr && *truth != '\0') {
      truth_db = truth;
    }
    const char* handler_mode = std::getenv("PJX_WORKER_HANDLER");
    const bool reentrant = handler_mode != nullptr && std::string_view(handler_mode) == "reentrant";
    if (handler_mode != nullptr && *handler_mode != '\0' && !reentrant) {
      return fatal(std::string("PJX_WORKER_HANDLER=\"") + handler_mode +
                   "\" is not a handler mode; the one mode is \"reentrant\"");
    }
    if (reentrant) backend.caps.push_back("reentrant");
    dispatcher.emplace(std::move(backend), sink, std::move(truth_db), cache_defect);
    if (reentrant) {
      const char* name = std::getenv("PJX_WORKER_NAME");
      dispatcher->set_reentrant(name != nullptr ? name : "worker");
    }
  } catch (const std::exception& e) {
    return fatal(e.what());
  }

  std::string line;
  while (std::getline(std::cin, line)) {
    if (dispatcher->handle_line(line) == pjx::harness::Dispatcher::Next::kExit) return 0;
  }
  dispatcher->shutdown();  // EOF: the harness is gone or done
  return 0;
}
