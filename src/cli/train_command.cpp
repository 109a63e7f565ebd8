#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/interrupt.hpp"
#include "garbage/distributed/launcher.hpp"
#include "garbage/distributed/process_group.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::cli {
namespace {

struct TrainOptions {
  std::string config, out;
  std::optional<std::string> data;
  std::vector<std::string> overrides;
  bool resume = false;
  bool profile = false;
  int nproc_per_node = 0;  // > 0: launch that many local workers
  int nnodes = 1, node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double dist_timeout = 60;
};

/// The command line every worker runs: this one without the launcher's options, with the run
/// folder fixed (workers must not each pick a free one).
std::vector<std::string> worker_arguments(const TrainOptions& o, const std::string& out) {
  std::vector<std::string> args;
  if (spdlog::get_level() >= spdlog::level::warn) args.push_back("--quiet");
  if (spdlog::get_level() <= spdlog::level::debug) args.push_back("--verbose");
  args.insert(args.end(), {"train", "--config", o.config, "--out", out, "--dist-timeout",
                           fmt::format("{}", o.dist_timeout)});
  if (o.data) args.insert(args.end(), {"--data", *o.data});
  for (const auto& s : o.overrides) args.insert(args.end(), {"--set", s});
  if (o.resume) args.push_back("--resume");
  if (o.profile) args.push_back("--profile");
  return args;
}

void launch(const TrainOptions& o, const std::string& out) {
  if (distributed::world_from_environment())
    throw ConfigError(
        "--nproc-per-node: this process was itself started as a worker (WORLD_SIZE is set)");
  distributed::LaunchOptions launch;
  launch.nproc_per_node = o.nproc_per_node;
  launch.nnodes = o.nnodes;
  launch.node_rank = o.node_rank;
  launch.master_addr = o.master_addr;
  launch.master_port = o.master_port;
  launch.executable = "/proc/self/exe";
  launch.worker_args = worker_arguments(o, out);
  const int code = distributed::launch_workers(launch);
  if (code == static_cast<int>(ExitCode::interrupted))
    throw Interrupted("interrupted: every rank stopped; continue with --resume --out " + out);
  if (code != 0)
    throw Error(fmt::format("data-parallel training failed (a worker exited with code {})", code),
                code < 128 ? static_cast<ExitCode>(code) : ExitCode::runtime);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand("train", "train a model from a JSON config");
  set_footer(
      *cmd, R"(  garbage train --config configs/simple_cnn.json
  garbage train --config configs/simple_cnn.json --out runs/try1 --set train.optimizer.lr=3e-4
  garbage train --config configs/simple_cnn.json --out runs/try1 --resume
  garbage train --config configs/simple_cnn.json --nproc-per-node 2   (data-parallel, docs/distributed.md)
  RANK=0 WORLD_SIZE=2 MASTER_ADDR=host1 MASTER_PORT=29500 garbage train --config C   (any launcher))",
      {R"(The run folder gets config.json, metrics.csv, loss.png, accuracy.png, last.pt, best.pt,
summary.json, train.log and (train.test_at_end) test_report.json + confusion_test.png.
Ctrl-C saves last.pt and exits 130; --resume continues exactly where it stopped.)"});
  cmd->add_option("-c,--config", opts->config, "train config (JSON, comments allowed)")
      ->required()
      ->check(CLI::ExistingFile);
  add_data_option(*cmd, opts->data,
                  "data root (default: config data.root, then $GARBAGE_DATA, then data/trashnet)");
  cmd->add_option("-o,--out", opts->out, "run folder (default: runs/<config name>)");
  add_set_option(*cmd, opts->overrides);
  cmd->add_flag("--resume", opts->resume, "continue the run in --out from its last.pt");
  cmd->add_flag("--profile", opts->profile,
                "log where each training step's time goes (data, forward, backward, optimizer, "
                "top operators)");
  auto* nproc = cmd->add_option("--nproc-per-node", opts->nproc_per_node,
                                "data-parallel: start this many worker processes on this host")
                    ->check(CLI::Range(1, 1024));
  cmd->add_option("--nnodes", opts->nnodes, "hosts in the data-parallel job (default 1)")
      ->check(CLI::Range(1, 65536))
      ->needs(nproc);
  cmd->add_option("--node-rank", opts->node_rank, "this host's index, 0..nnodes-1 (default 0)")
      ->check(CLI::NonNegativeNumber)
      ->needs(nproc);
  cmd->add_option("--master-addr", opts->master_addr,
                  "address of the host of node rank 0 (default 127.0.0.1)")
      ->needs(nproc);
  cmd->add_option("--master-port", opts->master_port,
                  "rendezvous port on the master (default 29500)")
      ->check(CLI::Range(1, 65535))
      ->needs(nproc);
  cmd->add_option("--dist-timeout", opts->dist_timeout,
                  "seconds to wait for the other ranks at start-up and in every exchange; a dead "
                  "or hung rank stops the job after this (default 60)")
      ->check(CLI::Range(1.0, 86400.0));
  cmd->callback([opts] {
    train::TrainRequest request;
    request.config = config::load_train_config(opts->config, opts->overrides);
    request.data_root = opts->data;
    if (!opts->out.empty())
      request.out_dir = opts->out;
    else if (opts->resume)
      throw ConfigError("--resume needs --out RUN_FOLDER");
    else
      request.out_dir = train::next_free_run_dir("runs/" + request.config.name);
    request.resume = opts->resume;
    request.profile = opts->profile;
    install_interrupt_handler();
    if (opts->nproc_per_node > 0) return launch(*opts, request.out_dir.string());
    if (auto world = distributed::world_from_environment(); world && world->world_size > 1) {
      const auto timeout =
          std::chrono::milliseconds(static_cast<int64_t>(opts->dist_timeout * 1e3));
      request.collective = distributed::join_process_group(*world, timeout);
      distributed::quiet_other_ranks(*world);
    }
    train::run_training(request);
  });
}

}  // namespace garbage::cli
