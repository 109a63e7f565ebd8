#include "garbage/models/summary.hpp"

#include <algorithm>
#include <cstdio>

#include <torch/torch.h>

namespace garbage::models {
namespace {
std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}
}  // namespace

ModelSummary summarize(ClassifierImpl& model, int64_t image_size) {
  c10::InferenceMode guard;
  bool was_training = model.is_training();
  model.eval();
  ModelSummary s;
  s.input_shape = {1, 3, image_size, image_size};
  Tracer tracer;
  auto logits = model.forward_observed(torch::zeros(s.input_shape), tracer);
  // A model whose pass reports no layers is listed as one.
  if (tracer.layers().empty()) tracer.layer("model", model, logits);
  model.train(was_training);
  s.layers = tracer.layers();
  s.total_params = count_parameters(model, false);
  s.trainable_params = count_parameters(model, true);
  for (const auto& l : s.layers) s.macs += l.macs;
  return s;
}

std::string format_summary(const ModelSummary& s, const std::string& title) {
  // Columns grow with the longest name and type, so nothing runs into the next column.
  int name_w = 28, type_w = 14;
  for (const auto& l : s.layers) {
    name_w = std::max(name_w, static_cast<int>(l.name.size()));
    type_w = std::max(type_w, static_cast<int>(l.type.size()));
  }
  std::string out = title + "\n";
  char line[512];
  std::string rule(name_w + type_w + 48, '-');
  std::snprintf(line, sizeof line, "%-*s %-*s %-22s %10s %12s\n", name_w, "layer", type_w, "type",
                "output shape", "params", "MACs");
  out += rule + "\n" + line + rule + "\n";
  for (const auto& l : s.layers) {
    std::snprintf(line, sizeof line, "%-*s %-*s %-22s %10s %12s\n", name_w, l.name.c_str(), type_w,
                  l.type.c_str(), shape_text(l.output_shape).c_str(), with_commas(l.params).c_str(),
                  with_commas(l.macs).c_str());
    out += line;
  }
  out += rule + "\n";
  std::snprintf(line, sizeof line,
                "input %s\ntotal params: %s\ntrainable params: %s\nnon-trainable params: %s\n"
                "MACs per image: %s (%.3f G)\n",
                shape_text(s.input_shape).c_str(), with_commas(s.total_params).c_str(),
                with_commas(s.trainable_params).c_str(),
                with_commas(s.total_params - s.trainable_params).c_str(),
                with_commas(s.macs).c_str(), s.macs / 1e9);
  return out + line;
}

nlohmann::json summary_to_json(const ModelSummary& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : s.layers)
    layers.push_back({{"name", l.name},
                      {"type", l.type},
                      {"output_shape", l.output_shape},
                      {"params", l.params},
                      {"macs", l.macs}});
  return {{"input_shape", s.input_shape},
          {"total_params", s.total_params},
          {"trainable_params", s.trainable_params},
          {"macs", s.macs},
          {"layers", layers}};
}

}  // namespace garbage::models
