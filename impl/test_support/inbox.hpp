// Inbox: what a backend's handlers receive, collected for the library's
// tests. handler() and flush_handler() may be called from the backend's
// threads; the waits give up after a deadline (20 s unless given), which
// only turns a hang into a failure.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "pjx/invalidation_backend.hpp"

namespace pjx::testing {

class Inbox {
 public:
  static constexpr std::chrono::milliseconds kWait{20'000};

  InvalidationHandler handler() {
    return [this](const KeySet& keys) { on_keys(keys); };
  }
  FlushHandler flush_handler() {
    return [this](FlushReason reason) {
      std::lock_guard lock(mu_);
      flushes_.push_back(reason);
      cv_.notify_all();
    };
  }
  void on_keys(const KeySet& keys) {
    std::lock_guard lock(mu_);
    got_.push_back(keys);
    cv_.notify_all();
  }

  // Until `n` key sets arrived; false when they did not in time.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  // Until a key set equal to `keys` arrived.
  bool wait_for(const KeySet& keys, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout,
                        [&] { return std::find(got_.begin(), got_.end(), keys) != got_.end(); });
  }
  // Until each of `keys` arrived, in any key sets.
  bool wait_for_keys(const std::vector<std::string>& keys,
                     std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return std::all_of(keys.begin(), keys.end(),
                         [this](const std::string& k) { return count_locked(k) > 0; });
    });
  }
  // Until `n` flushes arrived.
  bool wait_for_flushes(std::size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return flushes_.size() >= n; });
  }

  std::vector<KeySet> got() {
    std::lock_guard lock(mu_);
    return got_;
  }
  std::vector<FlushReason> flushes() {
    std::lock_guard lock(mu_);
    return flushes_;
  }
  // How many of the key sets held `key`.
  int count(const std::string& key) {
    std::lock_guard lock(mu_);
    return count_locked(key);
  }

 private:
  int count_locked(const std::string& key) const {
    return static_cast<int>(std::count_if(got_.begin(), got_.end(),
                                          [&key](const KeySet& s) { return s.count(key) != 0; }));
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<KeySet> got_;
  std::vector<FlushReason> flushes_;
};

}  // namespace pjx::testing
