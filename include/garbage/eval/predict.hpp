#pragma once
// Classifying image files with a loaded model: the top-k labels of each file, reported as a
// table, JSON or CSV. A file that cannot be decoded is reported as such and the others go on.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garbage::loading {
struct InferenceModel;
}

namespace garbage::eval {

/// The files to classify: each input file as given, and the image files (by extension, hidden
/// ones skipped) under each input folder, recursively, in sorted order. Inputs keep their
/// order; a file reached twice is listed once. Throws ConfigError when an input does not exist
/// or nothing is found.
std::vector<std::filesystem::path> collect_image_files(
    const std::vector<std::filesystem::path>& inputs);

struct PredictOptions {
  int64_t top_k = 3;            ///< capped at the number of classes
  int64_t batch_size = 32;      ///< images per forward pass
  bool progress = true;         ///< a progress bar on stderr when there is more than one batch
  std::string engine = "auto";  ///< auto | native | torch (engine/runner.hpp)
  std::string tta = "none";     ///< "flip": mean probabilities of the image and its mirror
};

struct LabelProbability {
  std::string label;
  double probability = 0;
};

struct FilePrediction {
  std::string path;
  std::vector<LabelProbability> top;  ///< most probable first; empty when `error` is set
  std::string error;                  ///< why the file could not be classified
  bool ok() const { return error.empty(); }
};

/// Softmax probabilities of `model` for each file (eval preprocessing, inference mode, batches
/// of options.batch_size), in the order of `files`. Unreadable files get `error` and a warning.
std::vector<FilePrediction> predict_files(const loading::InferenceModel& model,
                                          const std::vector<std::filesystem::path>& files,
                                          const PredictOptions& options);

size_t count_failed(const std::vector<FilePrediction>& predictions);

/// [{"path", "top": [{"label", "probability"}...], "error"?}...]
nlohmann::json predictions_to_json(const std::vector<FilePrediction>& predictions);

/// One row per file and rank: path,rank,label,probability,error (RFC 4180 quoting); a failed
/// file has one row with only path and error.
std::string format_predictions_csv(const std::vector<FilePrediction>& predictions);

/// Aligned columns for a terminal: path, then "label 91.2%" for each of the top k.
std::string format_predictions_table(const std::vector<FilePrediction>& predictions);

}  // namespace garbage::eval
