// EventSink: see event_sink.hpp.
#include "event_sink.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "protocol.hpp"

namespace pjx::harness {

EventSink EventSink::for_fd(int fd) {
  return EventSink([fd](std::string_view line) {
    while (!line.empty()) {
      const ssize_t n = ::write(fd, line.data(), line.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      line.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  });
}

bool EventSink::emit(const nlohmann::json& event) {
  const std::string line = format_event(event);
  std::lock_guard lock(mu_);
  return writer_(line);
}

}  // namespace pjx::harness
