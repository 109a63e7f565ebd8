#pragma once
// ResNet 18/34/50/101/152 exactly as torchvision 0.14 builds them (same module names), with
// optional attention:
//   se          squeeze-excitation (reduction 16) after the last BatchNorm of every block;
//   cbam        channel attention (shared MLP over avg- and max-pooled descriptors, reduction
//               16) then spatial attention (7x7 conv over channel mean and max), every block;
//   recyclenet  after layer4 only: a channel gate (GAP -> Linear C->C/16 -> ReLU -> Linear ->
//               sigmoid) and a spatial gate (7x7 conv C->1 -> sigmoid), each scaling the
//               features, fused by sum | mul | max, or one gate alone (channel | spatial).

#include <string>

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <nlohmann/json.hpp>

#include "garbage/models/finetune.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {

struct ResNetOptions {
  int depth = 18;  ///< 18 | 34 | 50 | 101 | 152
  int64_t num_classes = 6;
  std::string attention = "none";         ///< none | se | cbam | recyclenet
  std::string recyclenet_fusion = "sum";  ///< sum | mul | max | channel | spatial
  FineTuneOptions fine_tune;

  static ResNetOptions from_json(const nlohmann::json& config);
};

class ResNetImpl : public FineTunableImpl {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  /// Taps first_layer: relu(bn1(conv1)); last_features: layer4; attention: recyclenet's
  /// spatial gate or the last block's CBAM spatial attention (none for se, or fusion "channel").
  torch::Tensor run(torch::Tensor x, const Pass& pass) override;
  std::string emit(GraphBuilder& graph, const std::string& input) override;
  std::string head_name() const override;
  bool is_new_parameter(const std::string& name) const override;
  int backbone_stage(const std::string& name) const override;
  int num_backbone_stages() const override { return 5; }  // stem + layer1..4

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::ModuleList layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  std::shared_ptr<torch::nn::Module> attention;  ///< recyclenet only
  torch::nn::Linear fc{nullptr};

 private:
  ResNetOptions options_;
};
TORCH_MODULE(ResNet);

/// resnet18 ... resnet152.
ModelSpec resnet_spec(int depth);

}  // namespace garbage::models
