#include "garbage/models/catalog.hpp"

#include <algorithm>
#include <cstdio>

#include <torch/torch.h>

#include "garbage/models/classifier.hpp"

namespace garbage::models {

std::vector<ModelInfo> list_models() {
  torch::NoGradGuard no_grad;
  std::vector<ModelInfo> out;
  for (const auto& spec : all_models()) {
    ModelInfo info;
    info.name = spec.name;
    info.description = spec.description;
    info.input_size = spec.input_size;
    info.head = spec.head;
    info.pretrained = spec.pretrained;
    info.preprocessing = spec.preprocessing;
    auto model = create_model(resolve_model_config({{"name", spec.name}}, "garbage models"));
    info.params = count_parameters(*model, /*trainable_only=*/false);
    out.push_back(std::move(info));
  }
  return out;
}

nlohmann::json models_to_json(const std::vector<ModelInfo>& models) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : models) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : m.pretrained)
      files.push_back({{"file", f.file}, {"url", f.url}, {"sha256_prefix", f.sha256_prefix}});
    const auto& p = m.preprocessing;
    out.push_back({{"name", m.name},
                   {"description", m.description},
                   {"input_size", m.input_size},
                   {"params", m.params},
                   {"head", m.head},
                   {"preprocessing",
                    {{"resize", p.resize},
                     {"resize_mode", p.resize_mode},
                     {"crop", p.crop},
                     {"mean", p.mean},
                     {"std", p.std}}},
                   {"pretrained", files}});
  }
  return out;
}

std::string format_models_table(const std::vector<ModelInfo>& models) {
  size_t name_w = 4;
  for (const auto& m : models) name_w = std::max(name_w, m.name.size());
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %5s %12s  %-34s %s\n", static_cast<int>(name_w), "name",
                "input", "params", "pretrained", "description");
  out += line;
  for (const auto& m : models) {
    const std::string file = m.pretrained.empty() ? "-" : m.pretrained.front().file;
    std::snprintf(line, sizeof line, "%-*s %5d %12lld  %-34s %s\n", static_cast<int>(name_w),
                  m.name.c_str(), m.input_size, static_cast<long long>(m.params), file.c_str(),
                  m.description.c_str());
    out += line;
  }
  return out;
}

}  // namespace garbage::models
