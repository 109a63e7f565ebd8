#include <iostream>
#include <optional>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/eval/predict.hpp"
#include "garbage/loading/inference_model.hpp"

namespace garbage::cli {

void add_predict_command(CLI::App& app) {
  struct Options {
    loading::ModelSource source;
    std::vector<std::filesystem::path> paths;
    eval::PredictOptions predict;
    bool json = false, csv = false;
    int threads = 0;
    std::optional<std::string> data;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("predict", "classify image files and folders");
  set_footer(
      *cmd, R"(  garbage predict --checkpoint runs/simple_cnn/best.pt photo.jpg
  garbage predict --checkpoint best.pt photos/ more/ --top-k 1 --csv > labels.csv
  garbage predict --model resnet18 --weights finetuned.pth --data data/trashnet photos/ --json)",
      {R"(Folders are searched recursively for image files (.jpg .jpeg .png .bmp .webp .tif .tiff), in
sorted order. A file that cannot be read is reported (JSON "error", CSV error column) and the
others are still classified; the exit code is then 4. With --model the labels are the classes of
the data set (--data, else the default data root) when it has as many as the head.)",
       kModelSourceHelp});
  add_model_source_options(*cmd, opts->source, /*weights_required=*/false);
  add_device_option(*cmd, opts->source.device);
  cmd->add_option("paths", opts->paths, "image files and folders")->required();
  cmd->add_option("--top-k", opts->predict.top_k, "labels to report per file")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* json = add_json_flag(*cmd, opts->json, "JSON array on stdout");
  cmd->add_flag("--csv", opts->csv, "CSV on stdout: path,rank,label,probability,error")
      ->excludes(json);
  cmd->add_option("--batch", opts->predict.batch_size, "images per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tta", opts->predict.tta,
                  "test-time augmentation (flip: mean of the image's and its mirror's "
                  "probabilities)")
      ->check(CLI::IsMember({"none", "flip"}));
  add_threads_option(*cmd, opts->threads);
  add_data_option(*cmd, opts->data, "data set naming the classes of a --model head");
  add_engine_option(*cmd, opts->predict.engine);
  cmd->callback([opts] {
    opts->source.validate("predict");
    configure_threads(opts->threads);
    auto files = eval::collect_image_files(opts->paths);
    auto model = loading::load_inference_model(opts->source);
    if (model.standalone()) {
      if (!loading::name_classes_from_data(model, opts->data))
        spdlog::info("labels are class_0..class_{}: no data set with {} classes to name them",
                     model.num_classes() - 1, model.num_classes());
    }
    auto predictions = eval::predict_files(model, files, opts->predict);
    if (opts->json)
      std::cout << eval::predictions_to_json(predictions).dump(2) << std::endl;
    else if (opts->csv)
      std::cout << eval::format_predictions_csv(predictions) << std::flush;
    else
      std::cout << eval::format_predictions_table(predictions) << std::flush;
    if (auto failed = eval::count_failed(predictions))
      throw Error(std::to_string(failed) + " of " + std::to_string(predictions.size()) +
                      " files could not be read",
                  ExitCode::some_inputs_failed);
  });
}

}  // namespace garbage::cli
