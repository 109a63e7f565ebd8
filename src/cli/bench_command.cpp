#include <iostream>

#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/eval/bench.hpp"

namespace garbage::cli {

void add_bench_command(CLI::App& app) {
  struct Options {
    eval::BenchRequest request;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  auto& r = opts->request;
  auto* cmd = app.add_subcommand("bench", "inference latency and throughput per batch size");
  set_footer(
      *cmd, R"(  garbage bench --checkpoint runs/simple_cnn/best.pt
  garbage bench --model mobilenet_v3_small --batch 1,8,64 --threads 2 --json
  garbage bench --model resnet50 --device cuda --half --iters 100
  garbage bench --model resnet18 --engine both --batch 1,64 --threads 2)",
      {R"(Random input (fixed seed), timed in inference mode after --warmup passes. Latencies are per batch
(median and 90th percentile); img/s is batch / median. Without --iters each batch size runs for
--min-time seconds (at least 5 passes).)",
       kModelSourceHelp});
  add_model_source_options(*cmd, r.model, /*weights_required=*/false);
  cmd->add_option("-b,--batch", r.batch_sizes, "batch sizes, comma separated (default 1,8,64)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--img", r.img_size, "image side in px (default: the model's input size)")
      ->check(CLI::PositiveNumber);
  add_threads_option(*cmd, r.threads);
  add_device_option(*cmd, r.model.device);
  add_engine_option(*cmd, r.engine, /*allow_both=*/true);
  cmd->add_flag("--channels-last,!--no-channels-last", r.channels_last,
                "NHWC memory layout for weights and input (default on)");
  cmd->add_flag("--half", r.half, "float16 model and input (cuda only)");
  cmd->add_option("--warmup", r.warmup, "untimed passes per batch size")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  auto* iters = cmd->add_option("--iters", r.iterations, "timed passes per batch size")
                    ->check(CLI::PositiveNumber);
  cmd->add_option("--min-time", r.min_time, "seconds to time each batch size (without --iters)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->excludes(iters);
  add_json_flag(*cmd, opts->json, "machine-readable output");
  cmd->callback([opts] {
    auto report = eval::run_bench(opts->request);
    if (opts->json)
      std::cout << report.to_json().dump(2) << std::endl;
    else
      std::cout << report.format_table() << std::flush;
  });
}

}  // namespace garbage::cli
