#pragma once
// A garbage checkpoint without training: the tiny SimpleCNN of train_fixture.hpp at its random
// initialisation, saved with the metadata eval and predict read. Fast (no data is decoded).

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/train/checkpoint.hpp"
#include "train_fixture.hpp"

namespace garbage::testing {

/// Writes `path` for a model with `class_names.size()` classes; the data root named in its
/// config is `data_root` (which need not exist).
inline void write_untrained_checkpoint(const std::filesystem::path& path,
                                       const std::filesystem::path& data_root,
                                       const std::vector<std::string>& class_names) {
  auto doc = tiny_train_document(data_root, 1);
  doc["model"]["num_classes"] = static_cast<int64_t>(class_names.size());
  torch::manual_seed(3);
  auto model = models::create_model(doc["model"]);
  train::CheckpointState state;
  state.meta = {{"config", doc}, {"class_names", class_names}, {"epoch", 0}};
  train::save_checkpoint(path, *model, nullptr, state);
}

}  // namespace garbage::testing
