#pragma once
// Test-time augmentation: class probabilities averaged over transformed copies of a batch.
// "flip": the batch and its horizontal mirror (the training augmentation flips horizontally).

#include <functional>
#include <string>

#include <torch/types.h>

#include "garbage/models/registry.hpp"

namespace garbage::eval {

/// Throws ConfigError unless `mode` is "none" or "flip".
void check_tta_mode(const std::string& mode);

/// A forward pass to logits: the model's, or an engine's (engine/runner.hpp).
using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

/// Softmax probabilities [N, K] of `images` [N, C, H, W]: the forward pass's alone ("none"), or
/// the mean of the batch's and its horizontal mirror's ("flip").
torch::Tensor tta_probabilities(const Forward& forward, const torch::Tensor& images,
                                const std::string& mode);
/// The same through the model's own forward pass.
torch::Tensor tta_probabilities(models::ClassifierImpl& model, const torch::Tensor& images,
                                const std::string& mode);

}  // namespace garbage::eval
