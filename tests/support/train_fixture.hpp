#pragma once
// A tiny, fast training setup on synthetic data shared by the train and eval tests.

#include <nlohmann/json.hpp>

#include "garbage/config/train_config.hpp"
#include "synthetic_data.hpp"

namespace garbage::testing {

/// 3 classes x 24 images of 64 px, folder layout; a 3-block SimpleCNN at 64 px.
inline nlohmann::json tiny_train_document(const std::filesystem::path& data_root, int epochs = 2) {
  nlohmann::json user = {{"name", "tiny"},
                         {"seed", 5},
                         {"threads", 2},
                         {"model",
                          {{"name", "simple_cnn"},
                           {"base_features", 8},
                           {"num_conv_layers", 3},
                           {"filter_size", 3},
                           {"num_dense", 16},
                           {"img_size", 64},
                           {"dropout", 0.1}}},
                         {"data",
                          {{"root", data_root.string()},
                           {"layout", "folder"},
                           {"val_fraction", 0.25},
                           {"test_fraction", 0.25},
                           {"workers", 2}}},
                         {"train",
                          {{"epochs", epochs},
                           {"batch_size", 8},
                           {"test_at_end", false},
                           {"optimizer", {{"name", "adam"}, {"lr", 3e-3}}}}}};
  return config::resolve_train_document(user, "tiny");
}

}  // namespace garbage::testing
