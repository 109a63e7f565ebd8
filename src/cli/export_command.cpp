#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/export/export.hpp"

namespace garbage::cli {

void add_export_command(CLI::App& app) {
  struct Options {
    exporting::ExportRequest request;
    std::string format = "onnx";
    bool no_fold_bn = false, json = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("export", "write a model as ONNX (fp32/fp16), safetensors or .pth");
  set_footer(
      *cmd,
      R"(  garbage export --checkpoint runs/simple_cnn/best.pt --format onnx --output simple_cnn.onnx
  garbage export --checkpoint best.pt --format onnx-fp16 --output model_fp16.onnx
  garbage export --model mobilenet_v3_small --weights mnv3.pth --format onnx --output mnv3.onnx
  garbage export --checkpoint best.pt --format safetensors --output model.safetensors
  garbage export --checkpoint best.pt --format pth --output model.pth   # torch.load-able)",
      {R"(ONNX: opset 17, input "input" [batch, 3, S, S] float32 (RGB, x/255 then ImageNet mean/std),
output "logits" [batch, classes], a dynamic batch axis, BatchNorm folded into the conv before it,
class names and preprocessing in the metadata. onnx-fp16 computes in half precision behind
float32 input/output casts. safetensors carries the model config, class names and
preprocessing in __metadata__; .pth is a torch.save zip state_dict with torchvision's key names.)",
       kModelSourceHelp});
  add_model_source_options(*cmd, opts->request.model, /*weights_required=*/false);
  cmd->add_option("-f,--format", opts->format, "onnx | onnx-fp16 | safetensors | pth")
      ->check(CLI::IsMember(exporting::format_names()));
  cmd->add_option("-o,--output", opts->request.output, "file to write")->required();
  cmd->add_flag("--no-fold-bn", opts->no_fold_bn,
                "onnx: keep BatchNormalization nodes instead of folding them into convs");
  add_json_flag(*cmd, opts->json, "print what was written as JSON");
  cmd->callback([opts] {
    opts->request.model.validate("export");
    opts->request.format = exporting::parse_format(opts->format);
    opts->request.fold_bn = !opts->no_fold_bn;
    configure_threads(0);
    auto written = exporting::export_model(opts->request);
    if (opts->json) {
      std::cout << written.to_json().dump(2) << std::endl;
    } else {
      spdlog::info("wrote {} ({}, {} bytes) from {}", written.output.string(),
                   exporting::to_string(written.format), written.bytes, written.source);
    }
  });
}

}  // namespace garbage::cli
