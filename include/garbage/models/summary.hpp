#pragma once
// A torchinfo-like model summary: layers with output shapes, parameters and MACs.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/models/classifier.hpp"

namespace garbage::models {

struct ModelSummary {
  std::vector<LayerRecord> layers;
  std::vector<int64_t> input_shape;
  int64_t total_params = 0;
  int64_t trainable_params = 0;
  int64_t macs = 0;  ///< per image
};

/// Traces one forward pass of a 1x3xSxS zero image in eval mode.
ModelSummary summarize(ClassifierImpl& model, int64_t image_size);

std::string format_summary(const ModelSummary& summary, const std::string& title);
nlohmann::json summary_to_json(const ModelSummary& summary);

}  // namespace garbage::models
