#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/eval/evaluate.hpp"

namespace garbage::cli {

void add_eval_command(CLI::App& app) {
  struct Options {
    loading::ModelSource source;
    std::string split = "test", report, grid, save_tensors, engine = "auto";
    std::optional<std::string> data;
    double min_accuracy = -1;
    int threads = 0;
    int64_t batch = 0;
    std::string tta = "none";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("eval", "evaluate a checkpoint on a split");
  set_footer(
      *cmd, R"(  garbage eval --checkpoint runs/simple_cnn/best.pt
  garbage eval --checkpoint runs/simple_cnn/best.pt --split val --report out/val.json
  garbage eval --checkpoint runs/simple_cnn/best.pt --grid out/predictions.png
  garbage eval --checkpoint best.pt --min-accuracy 0.86   # exit 3 when below: for CI gates
  garbage eval --model resnet18 --weights my_finetuned_resnet18.pth   # any torchvision file)",
      {R"(With --model/--weights the labels are the data set's classes in order; the file's head must have
one output per class.)",
       kModelSourceHelp});
  add_model_source_options(*cmd, opts->source, /*weights_required=*/true);
  add_device_option(*cmd, opts->source.device);
  cmd->add_option("-s,--split", opts->split, "split to score")
      ->check(CLI::IsMember({"train", "val", "test"}));
  add_data_option(*cmd, opts->data, "data root (default: the checkpoint's, $GARBAGE_DATA)");
  cmd->add_option("-r,--report", opts->report,
                  "write the JSON report here (and a confusion-matrix PNG beside it)");
  cmd->add_option("--save-tensors", opts->save_tensors,
                  "write the preprocessed inputs, labels and logits to this folder (raw float32 "
                  "+ tensors.json), e.g. to score an ONNX export on the same tensors");
  cmd->add_option("-g,--grid", opts->grid,
                  "write a 10x3 PNG grid of the split's images with true and predicted labels");
  cmd->add_option("--min-accuracy", opts->min_accuracy,
                  "exit with code 3 when accuracy is below this fraction (0..1)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--tta", opts->tta,
                  "also score with test-time augmentation, reported separately (flip: mean of "
                  "the image's and its mirror's probabilities)")
      ->check(CLI::IsMember({"none", "flip"}));
  add_threads_option(*cmd, opts->threads);
  cmd->add_option("--batch", opts->batch, "batch size (default: the checkpoint's)")
      ->check(CLI::NonNegativeNumber);
  add_engine_option(*cmd, opts->engine);
  cmd->callback([opts] {
    opts->source.validate("eval");
    eval::EvalRequest request;
    request.model = opts->source;
    request.save_tensors = opts->save_tensors;
    request.split = data::parse_split(opts->split);
    request.data_root = opts->data;
    request.threads = opts->threads;
    request.batch_size = opts->batch;
    request.engine = opts->engine;
    request.tta = opts->tta;
    auto report = eval::evaluate_checkpoint(request);
    std::cout << eval::format_metrics_table(report.evaluation.metrics, report.class_names)
              << "\nengine: " << report.json.at("engine").get<std::string>() << std::endl;
    if (report.tta)
      std::cout << "with test-time augmentation (" << opts->tta << "):\n"
                << eval::format_metrics_table(report.tta->metrics, report.class_names) << std::endl;
    if (!opts->report.empty()) {
      auto png = eval::write_eval_report(report, opts->report);
      spdlog::info("report written to {} and {}", opts->report, png.string());
    }
    if (!opts->grid.empty()) {
      size_t shown = eval::write_eval_grid(report, opts->grid);
      spdlog::info("prediction grid ({} images) written to {}", shown, opts->grid);
    }
    if (opts->min_accuracy >= 0)
      eval::enforce_min_accuracy(report.evaluation.metrics, opts->min_accuracy);
  });
}

}  // namespace garbage::cli
