// A user's program: two backends on one file, one publishes, one receives.
#include <pjx/sqlite_backend.hpp>
#include <pjx/version.hpp>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  pjx::SqliteOptions options;
  options.poll_interval = std::chrono::milliseconds(10);
  pjx::SqliteInvalidationBackend listener(argv[1], options);
  pjx::SqliteInvalidationBackend publisher(argv[1], options);
  std::mutex mu;
  std::condition_variable cv;
  pjx::KeySet got;
  listener.start([&](const pjx::KeySet& keys) {
    std::lock_guard lock(mu);
    got = keys;
    cv.notify_all();
  });
  publisher.publish({"a"});
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return !got.empty(); })) return 1;
  std::cout << "received " << *got.begin() << " with pjx-inval " << pjx::kVersionString << "\n";
  return 0;
}
