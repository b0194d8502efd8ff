#include "sqlite_backend_seams.hpp"

#include <mutex>
#include <utility>

namespace pjx::detail {
namespace {

std::mutex g_seam_mu;
std::function<void()> g_start_seed_hook;  // guarded by g_seam_mu
std::function<void()> g_after_open_hook;  // guarded by g_seam_mu

void run_hook(const std::function<void()>& seam) {
  std::function<void()> hook;
  {
    std::lock_guard lock(g_seam_mu);
    hook = seam;
  }
  if (hook) hook();
}

}  // namespace

void set_start_seed_hook(std::function<void()> hook) {
  std::lock_guard lock(g_seam_mu);
  g_start_seed_hook = std::move(hook);
}

void set_after_open_hook(std::function<void()> hook) {
  std::lock_guard lock(g_seam_mu);
  g_after_open_hook = std::move(hook);
}

void run_start_seed_hook() { run_hook(g_start_seed_hook); }
void run_after_open_hook() { run_hook(g_after_open_hook); }

}  // namespace pjx::detail
