#include "garbage/models/mobilenet_v3.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/batchnorm_options.hpp"
#include "garbage/models/graph.hpp"
#include "garbage/models/layers.hpp"

namespace garbage::models {
namespace {

namespace nn = torch::nn;

constexpr const char* kHead = "classifier.3";

/// torchvision's _make_divisible: round to a multiple of 8, never more than 10 % down.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t rounded =
      std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

struct BlockConfig {
  int64_t in, kernel, expanded, out;
  bool se, hardswish;
  int64_t stride;
};

// torchvision 0.14 _mobilenet_v3_conf (width 1.0, no reduced tail, no dilation).
const std::vector<BlockConfig>& small_blocks() {
  static const std::vector<BlockConfig> blocks = {
      {16, 3, 16, 16, true, false, 2},  {16, 3, 72, 24, false, false, 2},
      {24, 3, 88, 24, false, false, 1}, {24, 5, 96, 40, true, true, 2},
      {40, 5, 240, 40, true, true, 1},  {40, 5, 240, 40, true, true, 1},
      {40, 5, 120, 48, true, true, 1},  {48, 5, 144, 48, true, true, 1},
      {48, 5, 288, 96, true, true, 2},  {96, 5, 576, 96, true, true, 1},
      {96, 5, 576, 96, true, true, 1}};
  return blocks;
}

const std::vector<BlockConfig>& large_blocks() {
  static const std::vector<BlockConfig> blocks = {
      {16, 3, 16, 16, false, false, 1},  {16, 3, 64, 24, false, false, 2},
      {24, 3, 72, 24, false, false, 1},  {24, 5, 72, 40, true, false, 2},
      {40, 5, 120, 40, true, false, 1},  {40, 5, 120, 40, true, false, 1},
      {40, 3, 240, 80, false, true, 2},  {80, 3, 200, 80, false, true, 1},
      {80, 3, 184, 80, false, true, 1},  {80, 3, 184, 80, false, true, 1},
      {80, 3, 480, 112, true, true, 1},  {112, 3, 672, 112, true, true, 1},
      {112, 5, 672, 160, true, true, 2}, {160, 5, 960, 160, true, true, 1},
      {160, 5, 960, 160, true, true, 1}};
  return blocks;
}

/// A Sequential with a plain forward, so it can sit inside another Sequential (libtorch's
/// AnyModule cannot hold Sequential's templated forward).
class ConvNormActImpl : public nn::SequentialImpl {
 public:
  using nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return nn::SequentialImpl::forward(x); }
};
TORCH_MODULE(ConvNormAct);

/// torchvision's Conv2dNormActivation: Conv (no bias) -> BatchNorm -> activation, numbered
/// like a Sequential so the state_dict keys are "<name>.0.weight", "<name>.1.running_mean", ...
ConvNormAct conv_norm_act(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
                          std::optional<ActivationKind> activation) {
  ConvNormAct seq(nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                 .stride(stride)
                                 .padding((kernel - 1) / 2)
                                 .groups(groups)
                                 .bias(false)),
                  nn::BatchNorm2d(nn::BatchNormOptions(out).eps(0.001).momentum(0.01)));
  if (activation) seq->push_back(Activation(*activation));
  return seq;
}

/// Squeeze-and-excitation with a hard-sigmoid gate (torchvision.ops.SqueezeExcitation).
class SqueezeExcitationImpl : public nn::Cloneable<SqueezeExcitationImpl>, public GraphEmitter {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze)
      : channels_(channels), squeeze_(squeeze) {
    reset();
  }
  void reset() override {
    fc1 = register_module("fc1", nn::Conv2d(nn::Conv2dOptions(channels_, squeeze_, 1)));
    fc2 = register_module("fc2", nn::Conv2d(nn::Conv2dOptions(squeeze_, channels_, 1)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto scale = torch::adaptive_avg_pool2d(x, {1, 1});
    scale = torch::hardsigmoid(fc2->forward(activate(ActivationKind::relu, fc1->forward(scale))));
    return scale * x;
  }
  std::string emit(GraphBuilder& g, const std::string& x, const std::string& name) override {
    auto s = g.global_pool(x, GraphBuilder::Reduce::mean);
    s = g.activation(g.conv(s, *fc1, nullptr, name + ".fc1"), ActivationKind::relu);
    s = g.activation(g.conv(s, *fc2, nullptr, name + ".fc2"), ActivationKind::hardsigmoid);
    return g.binary(GraphBuilder::Binary::mul, s, x);
  }
  nn::Conv2d fc1{nullptr}, fc2{nullptr};

 private:
  int64_t channels_, squeeze_;
};
TORCH_MODULE(SqueezeExcitation);

class InvertedResidualImpl : public nn::Cloneable<InvertedResidualImpl>,
                             public GraphEmitter,
                             public PassRunner {
 public:
  explicit InvertedResidualImpl(const BlockConfig& c) : config_(c) { reset(); }
  void reset() override {
    const auto& c = config_;
    use_residual_ = c.stride == 1 && c.in == c.out;
    auto act = c.hardswish ? ActivationKind::hardswish : ActivationKind::relu;
    block = nn::Sequential();
    if (c.expanded != c.in) block->push_back(conv_norm_act(c.in, c.expanded, 1, 1, 1, act));
    block->push_back(conv_norm_act(c.expanded, c.expanded, c.kernel, c.stride, c.expanded, act));
    if (c.se) block->push_back(SqueezeExcitation(c.expanded, make_divisible(c.expanded / 4)));
    block->push_back(conv_norm_act(c.expanded, c.out, 1, 1, 1, std::nullopt));
    register_module("block", block);
  }
  torch::Tensor forward(const torch::Tensor& x) { return run(x, Pass()); }
  torch::Tensor run(const torch::Tensor& x, const Pass& pass) override {
    auto y = pass.sequential(*block, x, "block");
    return use_residual_ ? y + x : y;
  }
  std::string emit(GraphBuilder& g, const std::string& x, const std::string& name) override {
    auto y = emit_sequential(g, *block, x, name + ".block");
    return use_residual_ ? g.binary(GraphBuilder::Binary::add, y, x) : y;
  }
  nn::Sequential block{nullptr};

 private:
  BlockConfig config_;
  bool use_residual_ = false;
};
TORCH_MODULE(InvertedResidual);

void init_like_torchvision(nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut);
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    } else if (auto* linear = m->as<nn::Linear>()) {
      nn::init::normal_(linear->weight, 0, 0.01);
      nn::init::zeros_(linear->bias);
    }
  }
}

}  // namespace

MobileNetV3Options MobileNetV3Options::from_json(const nlohmann::json& c) {
  MobileNetV3Options o;
  o.arch = c.at("name").get<std::string>();
  o.num_classes = c.at("num_classes").get<int64_t>();
  o.dropout = c.at("dropout").get<double>();
  o.fine_tune = FineTuneOptions::from_json(c);
  return o;
}

MobileNetV3Impl::MobileNetV3Impl(const MobileNetV3Options& o) {
  bool large = o.arch == "mobilenet_v3_large";
  if (!large && o.arch != "mobilenet_v3_small")
    throw ConfigError("unknown MobileNetV3 variant \"" + o.arch + "\"");
  const auto& blocks = large ? large_blocks() : small_blocks();
  const int64_t last_channel = large ? 1280 : 1024;
  features = nn::Sequential();
  features->push_back(conv_norm_act(3, blocks.front().in, 3, 2, 1, ActivationKind::hardswish));
  for (const auto& b : blocks) features->push_back(InvertedResidual(b));
  const int64_t last_in = blocks.back().out, last_out = 6 * last_in;
  features->push_back(conv_norm_act(last_in, last_out, 1, 1, 1, ActivationKind::hardswish));
  classifier = nn::Sequential(
      nn::Linear(last_out, last_channel), Activation(ActivationKind::hardswish),
      nn::Dropout(nn::DropoutOptions(o.dropout)), nn::Linear(last_channel, o.num_classes));
  register_module("features", features);
  register_module("classifier", classifier);
  init_like_torchvision(*this);
  apply_fine_tuning(o.fine_tune);
}

torch::Tensor MobileNetV3Impl::run(torch::Tensor x, const Pass& pass) {
  const Pass f = pass.child("features");
  size_t index = 0;
  for (auto& layer : *features) {
    const Pass stage = f.child(index++);
    if (auto* block = layer.ptr()->as<InvertedResidualImpl>()) {
      x = block->run(x, stage);
    } else {
      x = stage.children(*std::dynamic_pointer_cast<nn::SequentialImpl>(layer.ptr()), x);
    }
    pass.tap(Tap::first_layer, x);
  }
  pass.tap(Tap::last_features, x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return pass.sequential(*classifier, x, "classifier");
}

std::string MobileNetV3Impl::head_name() const {
  return kHead;
}

std::string MobileNetV3Impl::emit(GraphBuilder& g, const std::string& input) {
  auto x = emit_sequential(g, *features, input, "features");
  x = g.flatten(g.global_pool(x, GraphBuilder::Reduce::mean));
  return emit_sequential(g, *classifier, x, "classifier");
}

int MobileNetV3Impl::backbone_stage(const std::string& name) const {
  const std::string prefix = "features.";
  if (name.compare(0, prefix.size(), prefix) != 0) return -1;
  return std::stoi(name.substr(prefix.size()));
}

namespace {
ModelSpec mobilenet_spec(const std::string& name, const std::string& description,
                         const std::vector<std::string>& files) {
  ModelSpec spec;
  spec.name = name;
  spec.description = description;
  spec.defaults = {{"dropout", 0.2}};
  spec.rules = {{"dropout", Rule::range(0, 0.99)}};
  add_pretrained_keys(spec);
  // torchvision's MobileNetV3 values; a short run from scratch wants a faster momentum (0.1).
  add_batchnorm_keys(spec, 0.01, 1e-3);
  spec.head = kHead;
  for (const auto& file : files) spec.pretrained.push_back(torchvision_file(file));
  spec.create = [](const nlohmann::json& c) -> ModelPtr {
    return MobileNetV3(MobileNetV3Options::from_json(c)).ptr();
  };
  return spec;
}
}  // namespace

ModelSpec mobilenet_v3_small_spec() {
  return mobilenet_spec("mobilenet_v3_small", "torchvision MobileNetV3-Small (ImageNet weights)",
                        {"mobilenet_v3_small-047dcff4.pth"});
}
ModelSpec mobilenet_v3_large_spec() {
  // IMAGENET1K_V1 first: what torchvision's pretrained=True loads; V2 is accepted too.
  return mobilenet_spec("mobilenet_v3_large", "torchvision MobileNetV3-Large (ImageNet weights)",
                        {"mobilenet_v3_large-8738ca79.pth", "mobilenet_v3_large-5c1a4163.pth"});
}

}  // namespace garbage::models
