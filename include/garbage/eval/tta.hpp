#pragma once
// Test-time augmentation: class probabilities averaged over transformed copies of a batch.
// "flip": the batch and its horizontal mirror (the training augmentation flips horizontally).

#include <string>

#include <torch/types.h>

#include "garbage/models/registry.hpp"

namespace garbage::eval {

/// Throws ConfigError unless `mode` is "none" or "flip".
void check_tta_mode(const std::string& mode);

/// Softmax probabilities [N, K] of `images` [N, C, H, W]: the model's alone ("none"), or the
/// mean of the batch's and its horizontal mirror's ("flip").
torch::Tensor tta_probabilities(models::ClassifierImpl& model, const torch::Tensor& images,
                                const std::string& mode);

}  // namespace garbage::eval
