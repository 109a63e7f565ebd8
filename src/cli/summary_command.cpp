#include <iostream>

#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/models/summary.hpp"

namespace garbage::cli {

void add_summary_command(CLI::App& app) {
  struct Options {
    std::string config;
    std::vector<std::string> overrides;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("summary", "print a model's layers, parameters and MACs");
  cmd->footer("Example:\n  garbage summary --config configs/simple_cnn.json --json");
  cmd->add_option("-c,--config", opts->config, "train config (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", opts->overrides, "override a config value: KEY.PATH=VALUE")->take_all();
  cmd->add_flag("--json", opts->json, "machine-readable output");
  cmd->callback([opts] {
    auto cfg = config::load_train_config(opts->config, opts->overrides);
    auto model = models::create_model(cfg.model);
    auto summary = models::summarize(*model, cfg.transform.resize.output_size());
    if (opts->json)
      std::cout << models::summary_to_json(summary).dump(2) << std::endl;
    else
      std::cout << models::format_summary(summary, "model " + cfg.model["name"].get<std::string>());
  });
}

}  // namespace garbage::cli
