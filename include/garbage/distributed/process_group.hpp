#pragma once
// Data-parallel workers on libtorch's c10d: the job's shape from torchrun's environment variables,
// and a train::Collective over a TCPStore rendezvous and a Gloo process group.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace garbage::train {
class Collective;
}

namespace garbage::distributed {

/// This process's place in the job, as torchrun, Slurm wrappers or `--nproc-per-node` set it.
struct WorldInfo {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

/// Reads RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Nothing
/// when WORLD_SIZE is unset (a plain single-process run). A malformed or inconsistent value is a
/// ConfigError naming the variable.
std::optional<WorldInfo> world_from_environment();

/// Joins the job: rank 0 hosts the TCPStore on MASTER_PORT, every rank waits (up to `timeout`)
/// for the others, then builds a Gloo process group. The timeout also bounds every later
/// exchange, so a dead or hung rank stops the others with an error naming it. A port in use or an
/// unreachable master is an Error saying so.
std::shared_ptr<train::Collective> join_process_group(const WorldInfo& world,
                                                      std::chrono::milliseconds timeout);

/// Ranks other than 0 log warnings and errors only (their progress lines are log lines too), so a
/// job's output reads like one run's.
void quiet_other_ranks(const WorldInfo& world);

}  // namespace garbage::distributed
