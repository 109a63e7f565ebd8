#include <iostream>

#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/models/pretrained.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/models/summary.hpp"

namespace garbage::cli {

void add_summary_command(CLI::App& app) {
  struct Options {
    std::string config, model, weights;
    std::vector<std::string> overrides;
    int64_t num_classes = 0;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("summary", "print a model's layers, parameters and MACs");
  cmd->footer(R"(Examples:
  garbage summary --config configs/simple_cnn.json --json
  garbage summary --model resnet18 --weights resnet18-f37072fd.pth
  garbage summary --model mobilenet_v3_small --num-classes 6)");
  auto* config = cmd->add_option("-c,--config", opts->config, "train config (JSON)")
                     ->check(CLI::ExistingFile);
  cmd->add_option("--set", opts->overrides, "override a config value: KEY.PATH=VALUE")
      ->take_all()
      ->needs(config);
  auto* model = cmd->add_option("-m,--model", opts->model, "registry model (instead of --config)");
  cmd->add_option("-w,--weights", opts->weights, "weight file to load into --model")
      ->check(CLI::ExistingFile)
      ->needs(model);
  cmd->add_option("--num-classes", opts->num_classes,
                  "classes of --model (default: from --weights, else the model's default)")
      ->check(CLI::PositiveNumber)
      ->needs(model);
  config->excludes(model);
  cmd->add_flag("--json", opts->json, "machine-readable output");
  cmd->callback([opts] {
    if (opts->config.empty() && opts->model.empty())
      throw ConfigError("summary: give --config, or --model [--weights]");
    models::ModelPtr model;
    std::string name;
    int64_t size = 224;
    if (!opts->model.empty()) {
      auto loaded = models::load_standalone_model(opts->model, opts->weights, opts->num_classes);
      model = loaded.model;
      name = opts->model;
    } else {
      auto cfg = config::load_train_config(opts->config, opts->overrides);
      model = models::create_model(cfg.model);
      name = cfg.model["name"].get<std::string>();
      size = cfg.transform.resize.output_size();
    }
    auto summary = models::summarize(*model, size);
    if (opts->json)
      std::cout << models::summary_to_json(summary).dump(2) << std::endl;
    else
      std::cout << models::format_summary(summary, "model " + name);
  });
}

}  // namespace garbage::cli
