#include "doorbell.hpp"

#include <exception>
#include <string>

#include "backend_context.hpp"
#include "change_watcher.hpp"

namespace pjx::detail {

Doorbell::Doorbell(BackendContext& ctx)
    : ctx_(ctx), enabled_(ctx.options.ring_doorbell), file_(doorbell_path(ctx.location.resolved)) {}

void Doorbell::ring() noexcept {
  if (!enabled_) return;
  try {
    ring_doorbell(file_, ctx_.location.resolved);
    count(ctx_.counters.doorbells);
  } catch (const std::exception& e) {
    count(ctx_.counters.doorbell_failures);
    try {
      ctx_.warnings.warn("doorbell", std::string("cannot ring the doorbell (") + e.what() +
                                         "); listeners in other processes still see the commit, by their -wal "
                                         "watch or their timed poll. Let this process write files in the "
                                         "database's directory, or set ring_doorbell = false (PJX_DOORBELL=0)");
    } catch (...) {  // out of memory while building the message: counted above
    }
  }
}

}  // namespace pjx::detail
