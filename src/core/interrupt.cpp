#include "garbage/core/interrupt.hpp"

#include <atomic>
#include <csignal>

namespace garbage {
namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void handle_sigint(int) {
  g_stop_requested.store(true);
  // A second Ctrl-C should not wait for the checkpoint.
  std::signal(SIGINT, SIG_DFL);
}

}  // namespace

void request_stop() noexcept {
  g_stop_requested.store(true);
}
void clear_stop_request() noexcept {
  g_stop_requested.store(false);
}
bool stop_requested() noexcept {
  return g_stop_requested.load();
}
void install_interrupt_handler() {
  std::signal(SIGINT, handle_sigint);
}

}  // namespace garbage
