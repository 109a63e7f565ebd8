#pragma once
// The seed model: a configurable stack of conv blocks and a two-layer head.

#include <string>

#include <torch/nn/modules/container/sequential.h>
#include <nlohmann/json.hpp>

#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {

struct SimpleCNNOptions {
  int64_t base_features = 64;
  int64_t num_conv_layers = 5;
  int64_t filter_size = 5;
  std::string strategy = "same";  ///< same | doubling | halving
  std::string conv_activation = "mish";
  std::string dense_activation = "relu";
  int64_t num_dense = 128;
  bool batchnorm = true;
  double dropout = 0.2;
  int64_t img_size = 128;
  int64_t num_classes = 6;

  static SimpleCNNOptions from_json(const nlohmann::json& config);
  /// Output channels of conv block `i` (0-based).
  int64_t features_at(int64_t i) const;
};

/// Each block: Conv2d (same padding) -> activation -> BatchNorm (optional) -> MaxPool 2 -> Dropout;
/// then Flatten -> Linear(C*s*s, num_dense) -> activation -> Linear(num_dense, classes).
class SimpleCNNImpl : public ClassifierImpl {
 public:
  explicit SimpleCNNImpl(const SimpleCNNOptions& options);
  /// Taps first_layer / last_features: the first / last conv block before its pooling.
  torch::Tensor run(torch::Tensor x, const Pass& pass) override;
  std::string emit(GraphBuilder& graph, const std::string& input) override;

  torch::nn::Sequential features{nullptr};
  torch::nn::Sequential classifier{nullptr};
};
TORCH_MODULE(SimpleCNN);

ModelSpec simple_cnn_spec();

}  // namespace garbage::models
