#include "garbage/models/summary.hpp"

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
  model.forward_traced(torch::zeros(s.input_shape), tracer);
  model.train(was_training);
  s.layers = tracer.layers();
  s.total_params = count_parameters(model, false);
  s.trainable_params = count_parameters(model, true);
  for (const auto& l : s.layers) s.macs += l.macs;
  return s;
}

std::string format_summary(const ModelSummary& s, const std::string& title) {
  std::string out = title + "\n";
  char line[200];
  std::string rule(86, '-');
  std::snprintf(line, sizeof line, "%-28s %-14s %-22s %10s %12s\n", "layer", "type", "output shape",
                "params", "MACs");
  out += rule + "\n" + line + rule + "\n";
  for (const auto& l : s.layers) {
    std::snprintf(line, sizeof line, "%-28s %-14s %-22s %10s %12s\n", l.name.c_str(),
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
