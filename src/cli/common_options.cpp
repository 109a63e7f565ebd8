#include "garbage/cli/common_options.hpp"

#include <CLI/CLI.hpp>

namespace garbage::cli {

const char* const kModelSourceHelp =
    R"(With --model/--weights the model comes from the registry and images get the preprocessing
its registry entry names (`garbage models`; torchvision families: shorter side 256, center crop
224, ImageNet mean/std); the file's head sets the number of classes unless --num-classes is given.)";

void add_model_source_options(CLI::App& cmd, loading::ModelSource& source, bool weights_required) {
  auto* checkpoint =
      cmd.add_option("-k,--checkpoint", source.checkpoint, "checkpoint written by garbage train")
          ->check(CLI::ExistingFile);
  auto* model = cmd.add_option("-m,--model", source.model_name,
                               "registry model (e.g. resnet18, mobilenet_v3_small)");
  auto* weights = cmd.add_option("-w,--weights", source.weights,
                                 "weight file for --model (torch.save zip/legacy, safetensors)")
                      ->check(CLI::ExistingFile)
                      ->needs(model);
  cmd.add_option("--num-classes", source.num_classes,
                 "classes of the --model head (default: read from --weights)")
      ->check(CLI::PositiveNumber)
      ->needs(model);
  checkpoint->excludes(model)->excludes(weights);
  if (weights_required) model->needs(weights);
}

CLI::Option* add_threads_option(CLI::App& cmd, int& threads) {
  return cmd.add_option("--threads", threads, "compute threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
}

CLI::Option* add_device_option(CLI::App& cmd, std::string& device) {
  return cmd.add_option("--device", device, "cpu, cuda, cuda:N or auto (cuda when available)")
      ->capture_default_str();
}

CLI::Option* add_engine_option(CLI::App& cmd, std::string& engine, bool allow_both) {
  std::vector<std::string> choices = {"auto", "native", "torch"};
  std::string help = "auto (native when it runs every op, else torch), native, torch";
  if (allow_both) {
    choices.push_back("both");
    help += ", or both";
  }
  return cmd.add_option("--engine", engine, help)
      ->check(CLI::IsMember(choices))
      ->capture_default_str();
}

CLI::Option* add_json_flag(CLI::App& cmd, bool& json, const std::string& help) {
  return cmd.add_flag("--json", json, help);
}

CLI::Option* add_data_option(CLI::App& cmd, std::optional<std::string>& data,
                             const std::string& help) {
  return cmd.add_option_function<std::string>(
      "-d,--data", [&data](const std::string& root) { data = root; }, help);
}

CLI::Option* add_set_option(CLI::App& cmd, std::vector<std::string>& overrides) {
  return cmd.add_option("--set", overrides, "override a config value: KEY.PATH=VALUE (repeatable)")
      ->take_all();
}

void set_footer(CLI::App& cmd, const std::string& examples, const std::vector<std::string>& notes) {
  std::string text = "Examples:\n" + examples;
  for (const auto& note : notes) text += "\n\n" + note;
  cmd.footer(text);
}

}  // namespace garbage::cli
