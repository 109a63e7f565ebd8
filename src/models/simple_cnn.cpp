#include "garbage/models/simple_cnn.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/batchnorm_options.hpp"
#include "garbage/models/graph.hpp"
#include "garbage/models/layers.hpp"

namespace garbage::models {

SimpleCNNOptions SimpleCNNOptions::from_json(const nlohmann::json& c) {
  SimpleCNNOptions o;
  o.base_features = c.at("base_features").get<int64_t>();
  o.num_conv_layers = c.at("num_conv_layers").get<int64_t>();
  o.filter_size = c.at("filter_size").get<int64_t>();
  o.strategy = c.at("strategy").get<std::string>();
  o.conv_activation = c.at("conv_activation").get<std::string>();
  o.dense_activation = c.at("dense_activation").get<std::string>();
  o.num_dense = c.at("num_dense").get<int64_t>();
  o.batchnorm = c.at("batchnorm").get<bool>();
  o.dropout = c.at("dropout").get<double>();
  o.img_size = c.at("img_size").get<int64_t>();
  o.num_classes = c.at("num_classes").get<int64_t>();
  return o;
}

int64_t SimpleCNNOptions::features_at(int64_t i) const {
  if (strategy == "doubling") return base_features << i;
  // Halving bottoms out at one channel rather than vanishing.
  if (strategy == "halving") return std::max<int64_t>(1, base_features >> i);
  return base_features;
}

SimpleCNNImpl::SimpleCNNImpl(const SimpleCNNOptions& o) {
  features = torch::nn::Sequential();
  int64_t in_channels = 3;
  int64_t side = o.img_size;
  for (int64_t i = 0; i < o.num_conv_layers; ++i) {
    int64_t out_channels = o.features_at(i);
    // Odd kernels: explicit k/2 padding is "same" and keeps exporters' lives simple.
    features->push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, o.filter_size)
                              .padding(o.filter_size / 2)));
    features->push_back(Activation(parse_activation(o.conv_activation)));
    if (o.batchnorm) features->push_back(torch::nn::BatchNorm2d(out_channels));
    features->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    features->push_back(torch::nn::Dropout(torch::nn::DropoutOptions(o.dropout)));
    in_channels = out_channels;
    side /= 2;
  }
  classifier = torch::nn::Sequential(torch::nn::Flatten(),
                                     torch::nn::Linear(in_channels * side * side, o.num_dense),
                                     Activation(parse_activation(o.dense_activation)),
                                     torch::nn::Linear(o.num_dense, o.num_classes));
  register_module("features", features);
  register_module("classifier", classifier);
}

torch::Tensor SimpleCNNImpl::run(torch::Tensor x, const Pass& pass) {
  const Pass f = pass.child("features");
  const size_t count = features->size();
  for (size_t index = 0; index < count; ++index) {
    auto& layer = *(features->begin() + static_cast<std::ptrdiff_t>(index));
    // Unobserved training passes run activation + BatchNorm as one fused kernel.
    if (!pass.observed()) {
      auto* next = index + 1 < count ? features->ptr(index + 1).get() : nullptr;
      if (size_t used = run_fused_layers(*layer.ptr(), next, x)) {
        index += used - 1;
        continue;
      }
    }
    // What enters a pooling layer is a conv block's full-resolution output.
    if (layer.ptr()->as<torch::nn::MaxPool2d>()) {
      pass.tap(Tap::first_layer, x);
      pass.tap(Tap::last_features, x);
    }
    // The layer's name is only needed (and only built) when someone observes the pass.
    const auto name = pass.observed() ? std::to_string(index) : std::string();
    x = f.step(name.c_str(), *layer.ptr(), x,
               [&](const torch::Tensor& v) { return layer.forward(v); });
  }
  return pass.sequential(*classifier, x, "classifier");
}

std::string SimpleCNNImpl::emit(GraphBuilder& g, const std::string& input) {
  return emit_sequential(g, *classifier, emit_sequential(g, *features, input, "features"),
                         "classifier");
}

namespace {
void check_simple_cnn(const nlohmann::json& c, const std::string& source) {
  auto o = SimpleCNNOptions::from_json(c);
  if ((o.img_size >> o.num_conv_layers) < 1)
    throw ConfigError(source + ": model.img_size: " + std::to_string(o.img_size) +
                      " px is too small for " + std::to_string(o.num_conv_layers) +
                      " pooling layers (needs at least " +
                      std::to_string(int64_t{1} << o.num_conv_layers) + ")");
  if (o.filter_size % 2 == 0)
    throw ConfigError(source + ": model.filter_size: must be odd for same padding, got " +
                      std::to_string(o.filter_size));
}
}  // namespace

ModelSpec simple_cnn_spec() {
  ModelSpec spec;
  spec.name = "simple_cnn";
  spec.description = "configurable conv stack + 2-layer head (the sweep's seed model)";
  const SimpleCNNOptions d;
  spec.defaults = {{"base_features", d.base_features},
                   {"num_conv_layers", d.num_conv_layers},
                   {"filter_size", d.filter_size},
                   {"strategy", d.strategy},
                   {"conv_activation", d.conv_activation},
                   {"dense_activation", d.dense_activation},
                   {"num_dense", d.num_dense},
                   {"batchnorm", d.batchnorm},
                   {"dropout", d.dropout},
                   {"img_size", d.img_size},
                   {"num_classes", d.num_classes}};
  spec.rules = {{"base_features", Rule::range(1, 4096)},
                {"num_conv_layers", Rule::range(1, 12)},
                {"filter_size", Rule::range(1, 15)},
                {"strategy", Rule::one_of({"same", "doubling", "halving"})},
                {"conv_activation", Rule::one_of(activation_names())},
                {"dense_activation", Rule::one_of(activation_names())},
                {"num_dense", Rule::range(1, 65536)},
                {"dropout", Rule::range(0, 0.99)},
                {"img_size", Rule::range(8, 2048)},
                {"num_classes", Rule::range(2, 100000)}};
  add_batchnorm_keys(spec, 0.1, 1e-5);  // torch.nn.BatchNorm2d's defaults
  spec.check = check_simple_cnn;
  spec.input_size = static_cast<int>(d.img_size);
  spec.create = [](const nlohmann::json& c) -> ModelPtr {
    return SimpleCNN(SimpleCNNOptions::from_json(c)).ptr();
  };
  return spec;
}

}  // namespace garbage::models
