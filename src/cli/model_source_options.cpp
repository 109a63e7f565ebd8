#include "garbage/cli/model_source_options.hpp"

#include <CLI/CLI.hpp>

namespace garbage::cli {

const char* const kModelSourceHelp =
    R"(With --model/--weights the model comes from the registry and images get torchvision's
preprocessing (shorter side 256, center crop 224, ImageNet mean/std); the file's head sets the
number of classes unless --num-classes is given.)";

void add_model_source_options(CLI::App& cmd, eval::ModelSource& source, bool weights_required) {
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

}  // namespace garbage::cli
