#include <iomanip>
#include <iostream>

#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/eval/explain.hpp"

namespace garbage::cli {

void add_explain_command(CLI::App& app) {
  struct Options {
    loading::ModelSource source;
    eval::ExplainOptions explain;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "explain", "feature maps, Grad-CAM, guided backprop and attention maps for one image");
  set_footer(
      *cmd,
      R"(  garbage explain --checkpoint runs/simple_cnn/best.pt --image glass12.jpg --out explain/glass12
  garbage explain --checkpoint runs/resnet18_attention/best.pt --image can.jpg --out out --class metal
  garbage explain --model resnet18 --weights resnet18-f37072fd.pth --image cat.jpg --out out)",
      {R"(Writes feature_maps.png, grad_cam.png, guided_backprop.png, attention.png (cbam and recyclenet
ResNets) and explain.json. The maps explain the predicted class unless --class names one (a label
or an index). They cover the part of the image the preprocessing keeps (its center crop); the rest
is dimmed.)",
       kModelSourceHelp});
  add_model_source_options(*cmd, opts->source, /*weights_required=*/false);
  cmd->add_option("-i,--image", opts->explain.image, "image file to explain")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", opts->explain.out_dir, "output folder")->required();
  cmd->add_option("--class", opts->explain.target_class,
                  "class to explain: label or index (default: the predicted class)");
  cmd->callback([opts] {
    opts->source.validate("explain");
    configure_threads(0);
    auto model = loading::load_inference_model(opts->source);
    auto result = eval::explain_image(model, opts->explain);
    const auto& j = result.json;
    std::cout << std::fixed << std::setprecision(3) << "predicted "
              << j["predicted"]["label"].get<std::string>() << " (p "
              << j["predicted"]["probability"].get<double>() << "); explaining "
              << j["explained"]["label"].get<std::string>() << "\n";
    for (const auto& file : result.files) std::cout << "wrote " << file.string() << "\n";
    std::cout << std::flush;
  });
}

}  // namespace garbage::cli
