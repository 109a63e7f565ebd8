#pragma once
// Checkpoints of untrained models: what commands that only run a model need, without the
// seconds a training run costs. No data is decoded.

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "garbage/loading/checkpoint.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"
#include "train_fixture.hpp"

namespace garbage::testing {

/// Saves the model `document` (a resolved train document) describes, at its initialisation, with
/// one head output per class name.
inline void write_untrained_checkpoint(const std::filesystem::path& path, nlohmann::json document,
                                       const std::vector<std::string>& class_names) {
  document["model"]["num_classes"] = class_names.size();
  torch::manual_seed(3);
  auto model = models::create_model(document["model"]);
  loading::CheckpointState state;
  state.meta = {{"config", document}, {"class_names", class_names}, {"epoch", 0}};
  loading::save_checkpoint(path, *model, nullptr, state);
}

/// The tiny SimpleCNN of train_fixture.hpp; the data root named in its config is `data_root`
/// (which need not exist).
inline void write_untrained_tiny_checkpoint(const std::filesystem::path& path,
                                            const std::filesystem::path& data_root,
                                            const std::vector<std::string>& class_names) {
  write_untrained_checkpoint(path, tiny_train_document(data_root, 1), class_names);
}

}  // namespace garbage::testing
