#pragma once
// A torchrun-style local launcher: starts one worker process per local rank with the rendezvous
// environment (RANK, WORLD_SIZE, MASTER_ADDR, ...), forwards their output line by line, forwards
// Ctrl-C, and stops the whole group when one worker fails. Torch-free on purpose: it only manages
// processes, so it compiles fast and the CLI can use it before any model code runs.

#include <functional>
#include <string>
#include <vector>

namespace garbage::distributed {

struct LaunchOptions {
  int nproc_per_node = 1;  ///< local workers (>= 1)
  int nnodes = 1;          ///< hosts in the job (>= 1)
  int node_rank = 0;       ///< this host (0 .. nnodes-1)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;  ///< 1..65535
  /// Program each worker runs, as a path (no PATH search); the CLI passes /proc/self/exe.
  std::string executable;
  std::vector<std::string> worker_args;  ///< argv[1..] of every worker (same for all)
  double grace_seconds = 5;  ///< SIGTERM -> SIGKILL delay when stopping the other workers
  /// Receives every line a worker writes (rank, true for stderr, the line without its
  /// terminator; '\n' and '\r' both end a line). Called on the thread that runs
  /// launch_workers. Default (empty): the launcher writes "[rank R] line" to its own
  /// stdout/stderr.
  std::function<void(int rank, bool is_stderr, const std::string& line)> on_line;
};

/// Validates the options (ConfigError naming the option, e.g. "--node-rank: 2 is not below
/// --nnodes 2"), starts the workers and waits for them. Returns the exit code the launcher
/// process should exit with: 0 when all workers succeed; the first failing worker's code
/// (128 + signal when it was killed) after the others were stopped; 130 when the workers
/// stopped after a forwarded SIGINT; 1 when a worker could not be started.
///
/// While it runs it handles SIGINT, SIGTERM and SIGCHLD (the previous handlers come back when
/// it returns): the first SIGINT/SIGTERM is forwarded once to every worker, a second one kills
/// them. Only one launch_workers may run per process at a time. Workers get SIGKILL when the
/// calling thread dies (PR_SET_PDEATHSIG), so call it from a thread that outlives them.
int launch_workers(const LaunchOptions& options);

}  // namespace garbage::distributed
