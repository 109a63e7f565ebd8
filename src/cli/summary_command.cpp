#include <iostream>

#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/models/summary.hpp"

namespace garbage::cli {

void add_summary_command(CLI::App& app) {
  struct Options {
    std::string config;
    std::vector<std::string> overrides;
    loading::ModelSource source;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("summary", "print a model's layers, parameters and MACs");
  set_footer(*cmd, R"(  garbage summary --config configs/simple_cnn.json --json
  garbage summary --checkpoint runs/simple_cnn/best.pt
  garbage summary --model resnet18 --weights resnet18-f37072fd.pth
  garbage summary --model mobilenet_v3_small --num-classes 6)");
  auto* config =
      cmd->add_option("-c,--config", opts->config, "train config (JSON)")->check(CLI::ExistingFile);
  add_set_option(*cmd, opts->overrides)->needs(config);
  add_model_source_options(*cmd, opts->source, /*weights_required=*/false);
  config->excludes("--checkpoint")->excludes("--model");
  add_json_flag(*cmd, opts->json, "machine-readable output");
  cmd->callback([opts] {
    models::ModelPtr model;
    std::string name;
    int64_t size = 224;
    if (opts->config.empty()) {
      if (opts->source.checkpoint.empty() && opts->source.model_name.empty())
        throw ConfigError("summary: give --config, --checkpoint or --model");
      opts->source.validate("summary");
      auto loaded = loading::load_inference_model(opts->source);
      model = loaded.model;
      name = loaded.model_name();
      size = loaded.input_size();
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
