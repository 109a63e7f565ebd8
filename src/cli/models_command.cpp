#include <iostream>

#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/models/catalog.hpp"

namespace garbage::cli {

void add_models_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("models", "list the registered models and their pretrained files");
  set_footer(*cmd, R"(  garbage models
  garbage models --json | jq '.[] | select(.name == "resnet18")')",
             {"params counts the model at its registry defaults (6 classes; simple_cnn at its "
              "default options)."});
  add_json_flag(*cmd, *json, "machine-readable output");
  cmd->callback([json] {
    auto models = models::list_models();
    if (*json)
      std::cout << models::models_to_json(models).dump(2) << std::endl;
    else
      std::cout << models::format_models_table(models) << std::flush;
  });
}

}  // namespace garbage::cli
