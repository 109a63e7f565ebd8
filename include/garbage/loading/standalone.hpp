#pragma once
// A registry model with weights from a file, outside any training run (`--model NAME
// --weights FILE`).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "garbage/models/pretrained.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::loading {

/// The model, and the train document it implies: the registry entry's preprocessing (for the
/// torchvision families: shorter side 256, center crop 224, ImageNet mean/std), no augmentation.
struct StandaloneModel {
  models::ModelPtr model;                    ///< weights loaded, eval mode
  nlohmann::json document;                   ///< resolved train document (model, preprocess, ...)
  std::optional<models::LoadReport> report;  ///< when weights were given
};

/// `num_classes` 0: taken from the head of the weight file, else the model's default. The head
/// must match the file (no replacement): the point is to run the file's own classifier.
StandaloneModel load_standalone_model(const std::string& name, const std::filesystem::path& weights,
                                      int64_t num_classes);

}  // namespace garbage::loading
