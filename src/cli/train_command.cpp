#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/interrupt.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::cli {

void add_train_command(CLI::App& app) {
  struct Options {
    std::string config, out;
    std::optional<std::string> data;
    std::vector<std::string> overrides;
    bool resume = false;
    bool profile = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("train", "train a model from a JSON config");
  set_footer(
      *cmd, R"(  garbage train --config configs/simple_cnn.json
  garbage train --config configs/simple_cnn.json --out runs/try1 --set train.optimizer.lr=3e-4
  garbage train --config configs/simple_cnn.json --out runs/try1 --resume)",
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
    train::run_training(request);
  });
}

}  // namespace garbage::cli
