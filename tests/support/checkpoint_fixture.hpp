#pragma once
// Checkpoints of untrained models: what commands that only run a model need, without the
// seconds a training run costs.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/train/checkpoint.hpp"

namespace garbage::testing {

/// Saves the model `document` (a resolved train document) describes, at its initialisation, with
/// one head output per class name.
inline void write_untrained_checkpoint(const std::filesystem::path& path, nlohmann::json document,
                                       const std::vector<std::string>& class_names) {
  document["model"]["num_classes"] = class_names.size();
  auto model = models::create_model(document["model"]);
  train::CheckpointState state;
  state.meta = {{"config", document}, {"class_names", class_names}};
  train::save_checkpoint(path, *model, nullptr, state);
}

}  // namespace garbage::testing
