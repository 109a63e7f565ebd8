#include "garbage/models/finetune.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"

namespace garbage::models {

FineTuneOptions FineTuneOptions::from_json(const nlohmann::json& c) {
  FineTuneOptions o;
  o.freeze_strategy = c.at("freeze_strategy").get<std::string>();
  o.backbone_lr_factor = c.at("backbone_lr_factor").get<double>();
  return o;
}

const std::vector<std::string>& freeze_strategy_names() {
  static const std::vector<std::string> names = {"finetune_all", "freeze_all_except_last",
                                                 "freeze_backbone_half"};
  return names;
}

void FineTunableImpl::apply_fine_tuning(const FineTuneOptions& options) {
  fine_tune_ = options;
  const std::string head = head_name() + ".";
  const int half = num_backbone_stages() / 2;
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    bool trainable = true;
    if (options.freeze_strategy == "freeze_all_except_last") {
      trainable = name.compare(0, head.size(), head) == 0 || is_new_parameter(name);
    } else if (options.freeze_strategy == "freeze_backbone_half") {
      int stage = backbone_stage(name);
      trainable = stage < 0 || stage >= half || is_new_parameter(name);
    } else if (options.freeze_strategy != "finetune_all") {
      throw ConfigError("model.freeze_strategy: unknown strategy \"" + options.freeze_strategy +
                        "\"");
    }
    p.value().set_requires_grad(trainable);
  }
}

std::vector<ParameterGroup> FineTunableImpl::parameter_groups() {
  ParameterGroup backbone{"backbone", {}, fine_tune_.backbone_lr_factor};
  ParameterGroup head{"head", {}, 1.0};
  for (const auto& p : named_parameters()) {
    if (!p.value().requires_grad()) continue;
    // Modules the pretrained file lacks start from scratch: they learn at the full rate.
    bool in_backbone = backbone_stage(p.key()) >= 0 && !is_new_parameter(p.key());
    (in_backbone ? backbone : head).params.push_back(p.value());
  }
  return {backbone, head};
}

void add_pretrained_keys(ModelSpec& spec) {
  const FineTuneOptions d;
  spec.defaults["num_classes"] = 6;
  spec.defaults["weights"] = "";
  spec.defaults["pretrained"] = false;
  spec.defaults["freeze_strategy"] = d.freeze_strategy;
  spec.defaults["backbone_lr_factor"] = d.backbone_lr_factor;
  spec.rules["num_classes"] = Rule::range(2, 100000);
  spec.rules["freeze_strategy"] = Rule::one_of(freeze_strategy_names());
  spec.rules["backbone_lr_factor"] = Rule::range(0, 100);
  // torchvision's ImageNet eval transform: shorter side to 256, center crop 224.
  spec.input_size = 224;
  spec.preprocessing.resize = 256;
  spec.preprocessing.resize_mode = "shorter";
  spec.preprocessing.crop = 224;
  auto previous = spec.check;
  spec.check = [previous](const nlohmann::json& c, const std::string& source) {
    if (c.at("pretrained").get<bool>() && !c.at("weights").get<std::string>().empty())
      throw ConfigError(source +
                        ": model.pretrained: set either model.weights (a file) or "
                        "model.pretrained (the official torchvision file), not both");
    if (previous) previous(c, source);
  };
}

}  // namespace garbage::models
