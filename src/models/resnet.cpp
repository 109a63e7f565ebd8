#include "garbage/models/resnet.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/batchnorm_options.hpp"
#include "garbage/models/graph.hpp"
#include "garbage/models/layers.hpp"

namespace garbage::models {
namespace {

namespace nn = torch::nn;

constexpr int64_t kReduction = 16;
constexpr const char* kHead = "fc";

/// Every ReLU goes through activate(), so guided backpropagation (explain) sees it.
torch::Tensor rectify(const torch::Tensor& x) {
  return activate(ActivationKind::relu, x);
}

/// BatchNorm then `kind`: one fused kernel in unobserved training passes (batchnorm_activate).
torch::Tensor norm(const Pass& pass, const char* name, nn::BatchNorm2dImpl& bn,
                   const torch::Tensor& x, ActivationKind kind) {
  if (!pass.observed() && fuses_batchnorm(bn)) return batchnorm_activate(bn, x, kind);
  return activate(kind,
                  pass.step(name, bn, x, [&](const torch::Tensor& v) { return bn.forward(v); }));
}

int64_t reduced(int64_t channels) {
  return std::max<int64_t>(1, channels / kReduction);
}

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, bool bias = false) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(bias));
}

/// Squeeze-and-excitation (Hu et al.): GAP -> FC C->C/16 -> ReLU -> FC -> sigmoid, scaling x.
using Value = GraphBuilder::Value;
using Reduce = GraphBuilder::Reduce;
using Binary = GraphBuilder::Binary;

/// GAP -> Linear -> ReLU -> Linear -> sigmoid -> scale x, shared by SE and RecycleNet's gate.
Value emit_channel_gate(GraphBuilder& g, const Value& x, const nn::LinearImpl& fc1,
                        const nn::LinearImpl& fc2, const std::string& name1,
                        const std::string& name2) {
  auto s = g.flatten(g.global_pool(x, Reduce::mean));
  s = g.activation(g.linear(s, fc1, name1), ActivationKind::relu);
  s = g.activation(g.linear(s, fc2, name2), ActivationKind::sigmoid);
  return g.binary(Binary::mul, x, g.unflatten_spatial(s));
}

class SqueezeExciteImpl : public nn::Module, public GraphEmitter {
 public:
  explicit SqueezeExciteImpl(int64_t c) {
    fc1 = register_module("fc1", nn::Linear(nn::LinearOptions(c, reduced(c)).bias(false)));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(reduced(c), c).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto s = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    s = torch::sigmoid(fc2->forward(rectify(fc1->forward(s))));
    return x * s.view({s.size(0), s.size(1), 1, 1});
  }
  Value emit(GraphBuilder& g, const Value& x, const std::string& name) override {
    return emit_channel_gate(g, x, *fc1, *fc2, name + ".fc1", name + ".fc2");
  }
  nn::Linear fc1{nullptr}, fc2{nullptr};
};

/// CBAM (Woo et al.): channel attention, then spatial attention.
class CBAMImpl : public nn::Module, public GraphEmitter {
 public:
  explicit CBAMImpl(int64_t c) {
    fc1 = register_module("fc1", nn::Conv2d(nn::Conv2dOptions(c, reduced(c), 1).bias(false)));
    fc2 = register_module("fc2", nn::Conv2d(nn::Conv2dOptions(reduced(c), c, 1).bias(false)));
    spatial = register_module("spatial", conv(2, 1, 7));
  }
  /// Taps its spatial attention (explain shows the last block's).
  torch::Tensor forward(const torch::Tensor& x, const Pass& pass = Pass()) {
    auto mlp = [&](const torch::Tensor& t) { return fc2->forward(rectify(fc1->forward(t))); };
    auto channel = torch::sigmoid(mlp(torch::adaptive_avg_pool2d(x, {1, 1})) +
                                  mlp(std::get<0>(torch::adaptive_max_pool2d(x, {1, 1}))));
    auto y = x * channel;
    torch::Tensor mean = y.mean(1, /*keepdim=*/true);
    torch::Tensor max = std::get<0>(y.max(1, /*keepdim=*/true));
    auto gate = torch::sigmoid(spatial->forward(torch::cat({mean, max}, 1)));
    pass.tap(Tap::attention, gate);
    return y * gate;
  }
  Value emit(GraphBuilder& g, const Value& x, const std::string& name) override {
    auto mlp = [&](const Value& t) {
      auto h = g.activation(g.conv(t, *fc1, nullptr, name + ".fc1"), ActivationKind::relu);
      return g.conv(h, *fc2, nullptr, name + ".fc2");
    };
    auto channel = g.binary(Binary::add, mlp(g.global_pool(x, Reduce::mean)),
                            mlp(g.global_pool(x, Reduce::max)));
    auto y = g.binary(Binary::mul, x, g.activation(channel, ActivationKind::sigmoid));
    auto pooled =
        g.concat_channels({g.reduce_channels(y, Reduce::mean), g.reduce_channels(y, Reduce::max)});
    auto gate =
        g.activation(g.conv(pooled, *spatial, nullptr, name + ".spatial"), ActivationKind::sigmoid);
    return g.binary(Binary::mul, y, gate);
  }
  nn::Conv2d fc1{nullptr}, fc2{nullptr}, spatial{nullptr};
};

/// RecycleNet's attention after layer4: channel and spatial gates, fused.
class RecycleNetAttentionImpl : public nn::Module, public GraphEmitter {
 public:
  RecycleNetAttentionImpl(int64_t c, std::string fusion) : fusion_(std::move(fusion)) {
    if (fusion_ != "spatial") {
      channel_fc1 = register_module("channel_fc1", nn::Linear(c, reduced(c)));
      channel_fc2 = register_module("channel_fc2", nn::Linear(reduced(c), c));
    }
    if (fusion_ != "channel") spatial = register_module("spatial", conv(c, 1, 7, 1, true));
  }
  /// Taps its spatial gate (explain).
  torch::Tensor forward(const torch::Tensor& x, const Pass& pass = Pass()) {
    torch::Tensor by_channel, by_space;
    if (channel_fc1) {
      auto s = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
      s = torch::sigmoid(channel_fc2->forward(rectify(channel_fc1->forward(s))));
      by_channel = x * s.view({s.size(0), s.size(1), 1, 1});
    }
    if (spatial) {
      auto gate = torch::sigmoid(spatial->forward(x));
      pass.tap(Tap::attention, gate);
      by_space = x * gate;
    }
    if (fusion_ == "channel") return by_channel;
    if (fusion_ == "spatial") return by_space;
    if (fusion_ == "mul") return by_channel * by_space;
    if (fusion_ == "max") return torch::max(by_channel, by_space);
    return by_channel + by_space;
  }
  Value emit(GraphBuilder& g, const Value& x, const std::string& name) override {
    Value by_channel, by_space;
    if (channel_fc1)
      by_channel = emit_channel_gate(g, x, *channel_fc1, *channel_fc2, name + ".channel_fc1",
                                     name + ".channel_fc2");
    if (spatial) {
      auto gate =
          g.activation(g.conv(x, *spatial, nullptr, name + ".spatial"), ActivationKind::sigmoid);
      by_space = g.binary(Binary::mul, x, gate);
    }
    if (fusion_ == "channel") return by_channel;
    if (fusion_ == "spatial") return by_space;
    if (fusion_ == "mul") return g.binary(Binary::mul, by_channel, by_space);
    if (fusion_ == "max") return g.binary(Binary::max, by_channel, by_space);
    return g.binary(Binary::add, by_channel, by_space);
  }
  nn::Linear channel_fc1{nullptr}, channel_fc2{nullptr};
  nn::Conv2d spatial{nullptr};

 private:
  std::string fusion_;
};

/// torchvision's BasicBlock (two 3x3 convs) or Bottleneck (1x1, 3x3 with the stride, 1x1 x4).
class BlockImpl : public nn::Module, public GraphEmitter, public PassRunner {
 public:
  BlockImpl(int64_t in, int64_t planes, int64_t stride, bool bottleneck,
            const std::string& attention) {
    const int64_t out = bottleneck ? planes * 4 : planes;
    if (bottleneck) {
      conv1 = register_module("conv1", conv(in, planes, 1));
      bn1 = register_module("bn1", nn::BatchNorm2d(planes));
      conv2 = register_module("conv2", conv(planes, planes, 3, stride));
      bn2 = register_module("bn2", nn::BatchNorm2d(planes));
      conv3 = register_module("conv3", conv(planes, out, 1));
      bn3 = register_module("bn3", nn::BatchNorm2d(out));
    } else {
      conv1 = register_module("conv1", conv(in, planes, 3, stride));
      bn1 = register_module("bn1", nn::BatchNorm2d(planes));
      conv2 = register_module("conv2", conv(planes, planes, 3));
      bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    }
    if (attention == "se") se = register_module("se", std::make_shared<SqueezeExciteImpl>(out));
    if (attention == "cbam") cbam = register_module("cbam", std::make_shared<CBAMImpl>(out));
    if (stride != 1 || in != out)
      downsample = register_module("downsample",
                                   nn::Sequential(conv(in, out, 1, stride), nn::BatchNorm2d(out)));
  }

  torch::Tensor run(const torch::Tensor& x, const Pass& pass) override {
    auto apply = [](auto& m) { return [&m](const torch::Tensor& v) { return m->forward(v); }; };
    auto y = pass.step("conv1", *conv1, x, apply(conv1));
    y = norm(pass, "bn1", *bn1, y, ActivationKind::relu);
    y = pass.step("conv2", *conv2, y, apply(conv2));
    if (conv3) {
      y = norm(pass, "bn2", *bn2, y, ActivationKind::relu);
      y = pass.step("conv3", *conv3, y, apply(conv3));
      y = norm(pass, "bn3", *bn3, y, ActivationKind::identity);
    } else {
      y = norm(pass, "bn2", *bn2, y, ActivationKind::identity);
    }
    if (se) y = pass.step("se", *se, y, apply(se));
    if (cbam)
      y = pass.step("cbam", *cbam, y,
                    [&](const torch::Tensor& v) { return cbam->forward(v, pass); });
    const torch::Tensor identity = downsample ? pass.sequential(*downsample, x, "downsample") : x;
    return add_rectify(y, identity);
  }

  Value emit(GraphBuilder& g, const Value& x, const std::string& p) override {
    auto y = g.activation(g.conv(x, *conv1, bn1.get(), p + ".conv1"), ActivationKind::relu);
    y = g.conv(y, *conv2, bn2.get(), p + ".conv2");
    if (conv3) {
      y = g.activation(y, ActivationKind::relu);
      y = g.conv(y, *conv3, bn3.get(), p + ".conv3");
    }
    if (se) y = se->emit(g, y, p + ".se");
    if (cbam) y = cbam->emit(g, y, p + ".cbam");
    Value identity = downsample ? emit_sequential(g, *downsample, x, p + ".downsample") : x;
    return g.activation(g.binary(Binary::add, y, identity), ActivationKind::relu);
  }

  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  std::shared_ptr<SqueezeExciteImpl> se;
  std::shared_ptr<CBAMImpl> cbam;
  nn::Sequential downsample{nullptr};
};

struct Layout {
  std::vector<int64_t> blocks;
  bool bottleneck;
};

Layout layout_for(int depth) {
  switch (depth) {
    case 18:
      return {{2, 2, 2, 2}, false};
    case 34:
      return {{3, 4, 6, 3}, false};
    case 50:
      return {{3, 4, 6, 3}, true};
    case 101:
      return {{3, 4, 23, 3}, true};
    case 152:
      return {{3, 8, 36, 3}, true};
    default:
      throw ConfigError("unsupported ResNet depth " + std::to_string(depth));
  }
}

/// torchvision's files, IMAGENET1K_V1 first (what pretrained=True loads), then V2.
std::vector<std::string> official_files(int depth) {
  switch (depth) {
    case 18:
      return {"resnet18-f37072fd.pth"};
    case 34:
      return {"resnet34-b627a593.pth"};
    case 50:
      return {"resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"};
    case 101:
      return {"resnet101-63fe2227.pth", "resnet101-cd907fc2.pth"};
    default:
      return {"resnet152-394f9c45.pth", "resnet152-f82ba261.pth"};
  }
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

ResNetOptions ResNetOptions::from_json(const nlohmann::json& c) {
  ResNetOptions o;
  const auto name = c.at("name").get<std::string>();
  o.depth = std::stoi(name.substr(std::string("resnet").size()));
  o.num_classes = c.at("num_classes").get<int64_t>();
  o.attention = c.at("attention").get<std::string>();
  o.recyclenet_fusion = c.at("recyclenet_fusion").get<std::string>();
  o.fine_tune = FineTuneOptions::from_json(c);
  return o;
}

ResNetImpl::ResNetImpl(const ResNetOptions& o) : options_(o) {
  const Layout layout = layout_for(o.depth);
  const std::string block_attention =
      o.attention == "se" || o.attention == "cbam" ? o.attention : "none";
  conv1 = register_module("conv1", conv(3, 64, 7, 2));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  int64_t in = 64;
  auto make_layer = [&](int64_t planes, int64_t count, int64_t stride) {
    nn::ModuleList layer;
    for (int64_t i = 0; i < count; ++i) {
      layer->push_back(std::make_shared<BlockImpl>(in, planes, i == 0 ? stride : 1,
                                                   layout.bottleneck, block_attention));
      in = layout.bottleneck ? planes * 4 : planes;
    }
    return layer;
  };
  layer1 = register_module("layer1", make_layer(64, layout.blocks[0], 1));
  layer2 = register_module("layer2", make_layer(128, layout.blocks[1], 2));
  layer3 = register_module("layer3", make_layer(256, layout.blocks[2], 2));
  layer4 = register_module("layer4", make_layer(512, layout.blocks[3], 2));
  if (o.attention == "recyclenet")
    attention = register_module("attention",
                                std::make_shared<RecycleNetAttentionImpl>(in, o.recyclenet_fusion));
  fc = register_module("fc", nn::Linear(in, o.num_classes));

  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  apply_fine_tuning(o.fine_tune);
}

torch::Tensor ResNetImpl::run(torch::Tensor x, const Pass& pass) {
  auto apply = [](auto& m) { return [&m](const torch::Tensor& v) { return m->forward(v); }; };
  x = pass.step("conv1", *conv1, x, apply(conv1));
  x = norm(pass, "bn1", *bn1, x, ActivationKind::relu);
  pass.tap(Tap::first_layer, x);
  x = torch::max_pool2d(x, 3, 2, 1);
  const std::pair<const char*, nn::ModuleList*> layers[] = {
      {"layer1", &layer1}, {"layer2", &layer2}, {"layer3", &layer3}, {"layer4", &layer4}};
  for (const auto& [name, layer] : layers) {
    const Pass stage = pass.child(name);
    for (size_t i = 0; i < (*layer)->size(); ++i)
      x = (*layer)->ptr(i)->as<BlockImpl>()->run(x, stage.child(i));
  }
  pass.tap(Tap::last_features, x);
  if (attention) {
    auto* gate = attention->as<RecycleNetAttentionImpl>();
    x = pass.step("attention", *gate, x,
                  [&](const torch::Tensor& v) { return gate->forward(v, pass); });
  }
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return pass.step("fc", *fc, x, apply(fc));
}

std::string ResNetImpl::emit(GraphBuilder& g, const std::string& input) {
  auto x = g.activation(g.conv(input, *conv1, bn1.get(), "conv1"), ActivationKind::relu);
  x = g.max_pool(x, 3, 2, 1);
  const std::pair<const char*, nn::ModuleList*> layers[] = {
      {"layer1", &layer1}, {"layer2", &layer2}, {"layer3", &layer3}, {"layer4", &layer4}};
  for (const auto& [name, layer] : layers)
    for (size_t i = 0; i < (*layer)->size(); ++i)
      x = (*layer)->ptr(i)->as<BlockImpl>()->emit(g, x, name + ("." + std::to_string(i)));
  if (attention) x = attention->as<RecycleNetAttentionImpl>()->emit(g, x, "attention");
  x = g.flatten(g.global_pool(x, Reduce::mean));
  return g.linear(x, *fc, "fc");
}

std::string ResNetImpl::head_name() const {
  return kHead;
}

bool ResNetImpl::is_new_parameter(const std::string& name) const {
  return starts_with(name, "attention.") || name.find(".se.") != std::string::npos ||
         name.find(".cbam.") != std::string::npos;
}

int ResNetImpl::backbone_stage(const std::string& name) const {
  if (starts_with(name, "conv1.") || starts_with(name, "bn1.")) return 0;
  for (int k = 1; k <= 4; ++k)
    if (starts_with(name, "layer" + std::to_string(k) + ".")) return k;
  return -1;
}

ModelSpec resnet_spec(int depth) {
  layout_for(depth);
  ModelSpec spec;
  spec.name = "resnet" + std::to_string(depth);
  spec.description = "torchvision ResNet-" + std::to_string(depth) +
                     " (ImageNet weights), optional se | cbam | recyclenet attention";
  spec.defaults = {{"attention", "none"}, {"recyclenet_fusion", "sum"}};
  spec.rules = {{"attention", Rule::one_of({"none", "se", "cbam", "recyclenet"})},
                {"recyclenet_fusion", Rule::one_of({"sum", "mul", "max", "channel", "spatial"})}};
  add_pretrained_keys(spec);
  add_batchnorm_keys(spec, 0.1, 1e-5);  // torchvision ResNet: torch.nn.BatchNorm2d's defaults
  spec.head = kHead;
  for (const auto& file : official_files(depth)) spec.pretrained.push_back(torchvision_file(file));
  spec.create = [](const nlohmann::json& c) -> ModelPtr {
    return ResNet(ResNetOptions::from_json(c)).ptr();
  };
  return spec;
}

}  // namespace garbage::models
