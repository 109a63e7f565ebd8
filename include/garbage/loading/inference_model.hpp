#pragma once
// Loading a model for inference from wherever the user has one (a garbage checkpoint, or a
// registry model with a weight file) together with everything needed to feed it: class names
// and the eval preprocessing. Shared by eval, predict, export, bench and explain.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "garbage/data/transform.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::loading {

/// `--checkpoint CK`, or `--model NAME [--weights FILE] [--num-classes N]`.
struct ModelSource {
  std::filesystem::path checkpoint;
  std::string model_name;
  std::filesystem::path weights;  ///< with model_name; empty: random initialisation
  int64_t num_classes = 0;        ///< with model_name; 0: the weight file's head, else default
  std::string device = "cpu";     ///< where the model runs (core/device.hpp names)
  /// Throws ConfigError when neither or both kinds are given.
  void validate(const std::string& command) const;
};

struct InferenceModel {
  models::ModelPtr model;                ///< eval mode, NCHW parameters
  nlohmann::json document;               ///< resolved train document (model, preprocess, ...)
  nlohmann::json meta;                   ///< checkpoint header; null for a registry model
  std::vector<std::string> class_names;  ///< "class_0".. for a registry model until named
  data::TransformSpec transform;         ///< eval preprocessing: no augmentation
  std::string source;                    ///< the file (or model name) it came from
  bool ema = false;                      ///< the checkpoint's EMA weights (train.ema) are used

  bool standalone() const { return meta.is_null(); }
  const std::string& model_name() const;
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  int input_size() const { return transform.resize.output_size(); }
};

InferenceModel load_inference_model(const ModelSource& source);

/// A registry model's file names no classes: take the data set's when its root (`data_root`,
/// else the default resolution) holds as many classes as the head has. Returns true if named.
bool name_classes_from_data(InferenceModel& model, const std::optional<std::string>& data_root);

/// Eval preprocessing of one decoded RGB image of any size: resize as the cache would, center
/// crop, normalise. Returns a float [3, S, S] tensor.
torch::Tensor preprocess(const cv::Mat& rgb, const data::TransformSpec& spec);

/// Decodes `path` and preprocesses it; throws DataError naming the file when unreadable.
torch::Tensor load_image_tensor(const std::filesystem::path& path, const data::TransformSpec& spec);

}  // namespace garbage::loading
