// EventSink: the one place where a worker writes events to the harness.
//
// Every event becomes one whole line; lines written from several threads
// (the op loop, the backend's listener thread, warning callbacks) never
// interleave, and each line is handed to the writer before emit() returns
// (for a file descriptor: written with write(2), which needs no flush).
//
// Thread safety: emit() may be called from any thread.
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>

namespace pjx::harness {

class EventSink {
 public:
  // Receives one complete line ("...\n"); returns false when it could not be
  // written (for example the harness closed the pipe).
  using Writer = std::function<bool(std::string_view line)>;

  explicit EventSink(Writer writer) : writer_(std::move(writer)) {}

  // A sink writing to `fd` (not owned), retrying short writes and EINTR.
  static EventSink for_fd(int fd);

  // Writes `event` as one line. Returns false when the write failed; the
  // failure is not an error for the caller, who goes on (a worker whose
  // harness went away sees EOF on stdin next).
  bool emit(const nlohmann::json& event);

  EventSink(const EventSink&) = delete;
  EventSink& operator=(const EventSink&) = delete;
  EventSink(EventSink&& other) noexcept : writer_(std::move(other.writer_)) {}

 private:
  std::mutex mu_;
  Writer writer_;  // guarded by mu_
};

}  // namespace pjx::harness
