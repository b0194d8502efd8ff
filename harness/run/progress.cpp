#include "progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "check/history.hpp"

namespace pjx::harness {

ProgressLog::ProgressLog(std::ostream& out, std::chrono::milliseconds period)
    : out_(out), period_(period) {}

void ProgressLog::begin(std::string label) {
  label_ = std::move(label);
  reported_ = false;
  out_ << label_ << " ... " << std::flush;
}

std::string progress_text(double elapsed_s, double planned_s, std::size_t events) {
  char buf[160];
  const double left = std::max(0.0, planned_s - elapsed_s);
  if (elapsed_s < planned_s) {
    std::snprintf(buf, sizeof buf, "workload %.0f s of %.0f s, about %.0f s left, %zu events so far",
                  std::floor(elapsed_s), std::ceil(planned_s), std::ceil(left), events);
  } else {
    std::snprintf(buf, sizeof buf,
                  "workload done after %.0f s, finishing (heal, quiesce, checks), %zu events so far",
                  std::floor(elapsed_s), events);
  }
  return buf;
}

void ProgressLog::report(double elapsed_s, double planned_s, std::size_t events) {
  if (!reported_) out_ << "\n";
  reported_ = true;
  out_ << "    " << progress_text(elapsed_s, planned_s, events) << "\n" << std::flush;
}

void ProgressLog::end(const std::string& outcome) {
  if (reported_) out_ << label_ << ": ";
  out_ << outcome << "\n" << std::flush;
  reported_ = false;
}

struct ProgressTicker::State {
  ProgressLog* log = nullptr;
  std::int64_t t0_ns = 0;
  std::int64_t planned_ns = 0;
  std::function<std::size_t()> events;
  bool active = true;
};

void ProgressTicker::arm(const std::shared_ptr<State>& state, boost::asio::steady_timer* timer) {
  timer->expires_after(state->log->period());
  timer->async_wait([state, timer](const boost::system::error_code& error) {
    if (error || !state->active) return;  // the ticker (and its timer) may be gone
    const double elapsed = static_cast<double>(monotonic_ns() - state->t0_ns) / 1e9;
    state->log->report(elapsed, static_cast<double>(state->planned_ns) / 1e9, state->events());
    arm(state, timer);
  });
}

ProgressTicker::ProgressTicker(boost::asio::io_context& io, ProgressLog* log, std::int64_t t0_ns,
                               std::int64_t planned_ns, std::function<std::size_t()> events) {
  if (log == nullptr) return;
  timer_ = std::make_unique<boost::asio::steady_timer>(io);
  state_ = std::make_shared<State>();
  state_->log = log;
  state_->t0_ns = t0_ns;
  state_->planned_ns = planned_ns;
  state_->events = std::move(events);
  arm(state_, timer_.get());
}

ProgressTicker::~ProgressTicker() {
  if (!state_) return;
  state_->active = false;
  timer_->cancel();
}

}  // namespace pjx::harness
