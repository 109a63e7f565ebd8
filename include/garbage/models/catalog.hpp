#pragma once
// What `garbage models` lists: every registered model with its metadata and size.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/models/registry.hpp"

namespace garbage::models {

struct ModelInfo {
  std::string name;
  std::string description;
  int input_size = 0;
  int64_t params = 0;  ///< at the registry defaults (6 classes; SimpleCNN at its default options)
  std::string head;
  std::vector<PretrainedFile> pretrained;
  Preprocessing preprocessing;
};

/// Builds each registered model once (at its defaults) to count its parameters.
std::vector<ModelInfo> list_models();

/// [{name, description, input_size, params, head, preprocessing, pretrained: [{file, url,
/// sha256_prefix}]}]
nlohmann::json models_to_json(const std::vector<ModelInfo>& models);

/// One line per model: name, input size, parameters, pretrained file, description.
std::string format_models_table(const std::vector<ModelInfo>& models);

}  // namespace garbage::models
