#pragma once
// MobileNetV3 Small and Large, exactly as torchvision 0.14 builds them (same module names, so a
// torchvision state_dict loads one to one).

#include <string>

#include <torch/nn/modules/container/sequential.h>
#include <nlohmann/json.hpp>

#include "garbage/models/finetune.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {

struct MobileNetV3Options {
  std::string arch = "mobilenet_v3_small";  ///< mobilenet_v3_small | mobilenet_v3_large
  int64_t num_classes = 6;
  double dropout = 0.2;
  FineTuneOptions fine_tune;

  static MobileNetV3Options from_json(const nlohmann::json& config);
};

class MobileNetV3Impl : public FineTunableImpl {
 public:
  explicit MobileNetV3Impl(const MobileNetV3Options& options);
  /// Taps first_layer: the stem (features.0); last_features: the final 1x1 conv (features.N).
  torch::Tensor run(torch::Tensor x, const Pass& pass) override;
  std::string emit(GraphBuilder& graph, const std::string& input) override;
  std::string head_name() const override;
  int backbone_stage(const std::string& name) const override;
  int num_backbone_stages() const override { return static_cast<int>(features->size()); }

  torch::nn::Sequential features{nullptr};
  torch::nn::Sequential classifier{nullptr};
};
TORCH_MODULE(MobileNetV3);

ModelSpec mobilenet_v3_small_spec();
ModelSpec mobilenet_v3_large_spec();

}  // namespace garbage::models
