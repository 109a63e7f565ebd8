#pragma once
// Ctrl-C as a request, not a kill: long jobs (training, sweeps) poll stop_requested() between
// steps, checkpoint, and exit with the interrupted code.

namespace garbage {

/// Asks running loops to checkpoint and stop after their current step. Async-signal-safe.
void request_stop() noexcept;
/// Clears a previous stop request (tests run several trainings in one process).
void clear_stop_request() noexcept;
bool stop_requested() noexcept;
/// Installs a SIGINT handler that calls request_stop() (a second Ctrl-C kills the process).
void install_interrupt_handler();

}  // namespace garbage
