#pragma once
// Running a model over a loader and scoring it.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "garbage/data/dataset.hpp"
#include "garbage/eval/metrics.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::data {
class BatchLoader;
}
namespace garbage::engine {
class InferenceRunner;
}

namespace garbage::eval {

struct Evaluation {
  Metrics metrics;
  std::vector<int64_t> targets, predictions;
  std::vector<int64_t> indices;  ///< dataset index of each row
};

/// Sees every batch's input and logits (e.g. to save them for another runtime).
using BatchObserver = std::function<void(const torch::Tensor& images, const torch::Tensor& logits)>;

/// Inference over one epoch of `loader` (eval mode, no autograd); through `runner` (the native
/// engine or libtorch, see engine/runner.hpp) when given, else libtorch. With `tta` "flip" the
/// prediction is the mean of the image's and its mirror's probabilities (eval/tta.hpp); the
/// observer then sees the log of those probabilities as logits.
Evaluation evaluate(models::ClassifierImpl& model, data::BatchLoader& loader, int64_t num_classes,
                    const std::string& progress_label = "", const BatchObserver& observer = {},
                    engine::InferenceRunner* runner = nullptr, const std::string& tta = "none");

struct EvalRequest {
  loading::ModelSource model;  ///< a checkpoint, or a registry model with a weight file
  data::Split split = data::Split::test;
  std::optional<std::string> data_root;  ///< --data
  int threads = 0;                       ///< 0: all cores
  int64_t batch_size = 0;                ///< 0: the checkpoint's eval_batch_size
  std::string engine = "auto";           ///< auto | native | torch (engine/runner.hpp)
  /// When set: write the preprocessed inputs, labels and logits here (raw float32 / JSON), so
  /// an exported model can be scored on exactly the same tensors in another runtime.
  std::filesystem::path save_tensors;
  /// "flip": also score with test-time augmentation (eval/tta.hpp), reported separately.
  std::string tta = "none";
};

struct EvalReport {
  Evaluation evaluation;
  std::optional<Evaluation> tta;  ///< with EvalRequest::tta: the same split scored with TTA
  std::vector<std::string> class_names;
  std::vector<std::string> paths;  ///< image file of each dataset index (Evaluation::indices)
  nlohmann::json json;             ///< full report: checkpoint, split, data root, metrics
};

/// Loads a checkpoint (or a registry model + weight file), indexes and decodes the split with its
/// preprocessing, scores.
EvalReport evaluate_checkpoint(const EvalRequest& request);

}  // namespace garbage::eval

namespace garbage::eval {

/// Writes the report JSON and a confusion-matrix PNG beside it (R.json -> R.confusion.png).
/// Returns the PNG path.
std::filesystem::path write_eval_report(const EvalReport& report,
                                        const std::filesystem::path& json_path);

/// The 10 x 3 prediction grid PNG (report::write_prediction_grid) of a seeded choice of the
/// report's images spread over the classes. Returns the number of thumbnails drawn.
size_t write_eval_grid(const EvalReport& report, const std::filesystem::path& png_path,
                       uint64_t seed = 0);

/// Throws Error with ExitCode::gate_failed when accuracy < min_accuracy (a fraction, 0..1).
void enforce_min_accuracy(const Metrics& metrics, double min_accuracy);

}  // namespace garbage::eval
