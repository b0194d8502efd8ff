// WarningLimiter: passes warnings of one kind on the first time, then at most
// once a minute, with the number suppressed in between. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace pjx::detail {

class WarningLimiter {
 public:
  // `sink` empty: warnings go to stderr.
  explicit WarningLimiter(std::function<void(const std::string&)> sink)
      : sink_(sink ? std::move(sink) : default_sink) {}

  void warn(const std::string& kind, const std::string& message) {
    std::string text;
    {
      std::lock_guard lock(mu_);
      auto& state = kinds_[kind];
      const auto now = std::chrono::steady_clock::now();
      if (state.sent && now - state.last < std::chrono::minutes(1)) {
        ++state.suppressed;
        return;
      }
      text = message;
      if (state.suppressed > 0) {
        text += " (" + std::to_string(state.suppressed) + " more like this since the last warning)";
      }
      state = State{true, now, 0};
    }
    // Outside the lock: the sink may be slow or warn itself. A sink that
    // throws must not end the backend's thread that warned.
    try {
      sink_(text);
    } catch (...) {
      std::fprintf(stderr, "pjx-inval: warning (the on_warning sink threw): %s\n", text.c_str());
    }
  }

 private:
  static void default_sink(const std::string& message) {
    std::fprintf(stderr, "pjx-inval: warning: %s\n", message.c_str());
  }
  struct State {
    bool sent = false;
    std::chrono::steady_clock::time_point last;
    std::uint64_t suppressed = 0;
  };
  std::function<void(const std::string&)> sink_;
  std::mutex mu_;
  std::map<std::string, State> kinds_;
};

}  // namespace pjx::detail
