#pragma once
// Fine-tuning of pretrained (torchvision) architectures: which parameters train, and at which
// learning-rate factor. Shared by MobileNetV3 and ResNet.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {

struct FineTuneOptions {
  /// finetune_all: everything trains (backbone at backbone_lr_factor);
  /// freeze_all_except_last: only the final classification layer (and modules the pretrained
  ///   file lacks) train;
  /// freeze_backbone_half: the first half of the backbone stages is frozen, the rest trains.
  std::string freeze_strategy = "finetune_all";
  double backbone_lr_factor = 1.0;  ///< backbone rate = lr * factor; head rate = lr

  static FineTuneOptions from_json(const nlohmann::json& config);
};

const std::vector<std::string>& freeze_strategy_names();

/// A classifier made of backbone stages and a head.
class FineTunableImpl : public ClassifierImpl {
 public:
  /// "backbone" (trainable backbone parameters, backbone_lr_factor) and "head" (the rest, 1.0).
  std::vector<ParameterGroup> parameter_groups() override;

  /// Sets requires_grad on every parameter per `options`. Derived constructors call it last.
  void apply_fine_tuning(const FineTuneOptions& options);
  const FineTuneOptions& fine_tuning() const { return fine_tune_; }

  /// Backbone stage of a parameter (0 = earliest), or -1 for head parameters.
  virtual int backbone_stage(const std::string& name) const = 0;
  virtual int num_backbone_stages() const = 0;

 private:
  FineTuneOptions fine_tune_;
};

/// Adds the keys every pretrained architecture accepts (num_classes, weights, pretrained,
/// freeze_strategy, backbone_lr_factor) to a spec's defaults and rules, and torchvision's
/// ImageNet preprocessing (224 px input; shorter side 256, center crop 224).
void add_pretrained_keys(ModelSpec& spec);

}  // namespace garbage::models
