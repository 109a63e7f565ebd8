#include "garbage/models/classifier.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/layers.hpp"

namespace garbage::models {
namespace {

std::string type_of(const torch::nn::Module& module) {
  // name() is e.g. "torch::nn::Conv2dImpl"; users want "Conv2d".
  std::string name = module.name();
  auto colon = name.rfind("::");
  if (colon != std::string::npos) name = name.substr(colon + 2);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0)
    name.resize(name.size() - 4);
  return name;
}

// Attention modules (squeeze-excitation, CBAM, RecycleNet's gates) are traced as one layer. In
// all of them the 1x1 convs and Linears act on pooled [C, 1, 1] descriptors and larger convs on
// the full feature map; CBAM's shared MLP runs twice (avg and max descriptors) and is counted
// once, an undercount of C*C/8 MACs per block.
int64_t composite_macs(const torch::nn::Module& module, const torch::Tensor& output) {
  const int64_t spatial = output.dim() == 4 ? output.size(2) * output.size(3) : 1;
  int64_t total = 0;
  for (const auto& child : module.modules(/*include_self=*/false)) {
    if (const auto* conv = child->as<torch::nn::Conv2d>()) {
      const auto& o = conv->options;
      const int64_t k = (*o.kernel_size())[0] * (*o.kernel_size())[1];
      total += (o.in_channels() / o.groups()) * k * o.out_channels() * (k == 1 ? 1 : spatial);
    } else if (const auto* linear = child->as<torch::nn::Linear>()) {
      total += linear->options.in_features() * linear->options.out_features();
    }
  }
  return total;
}

int64_t macs_of(const torch::nn::Module& module, const torch::Tensor& output) {
  if (auto conv = dynamic_cast<const torch::nn::Conv2dImpl*>(&module)) {
    const auto& o = conv->options;
    int64_t per_output =
        (o.in_channels() / o.groups()) * (*o.kernel_size())[0] * (*o.kernel_size())[1];
    return output[0].numel() * per_output;
  }
  if (auto linear = dynamic_cast<const torch::nn::LinearImpl*>(&module))
    return linear->options.in_features() * linear->options.out_features();
  return composite_macs(module, output);
}

}  // namespace

void Tracer::layer(const std::string& name, const torch::nn::Module& module,
                   const torch::Tensor& output) {
  LayerRecord r;
  r.name = name;
  r.type = type_of(module);
  r.output_shape = output.sizes().vec();
  r.params = count_parameters(module, false);
  r.macs = macs_of(module, output);
  layers_.push_back(std::move(r));
}

Pass Pass::child(const std::string& name) const {
  return observed() ? Pass(observer_, path(name)) : Pass();
}

torch::Tensor Pass::sequential(torch::nn::SequentialImpl& seq, torch::Tensor x,
                               const std::string& name) const {
  return child(name).children(seq, std::move(x));
}

torch::Tensor Pass::children(torch::nn::SequentialImpl& seq, torch::Tensor x) const {
  for (size_t index = 0; index < seq.size(); ++index) {
    auto& layer = *(seq.begin() + static_cast<std::ptrdiff_t>(index));
    const auto& module = layer.ptr();
    // Unobserved training passes run BatchNorm + activation pairs as one fused kernel.
    if (!observer_) {
      auto* next = index + 1 < seq.size() ? seq.ptr(index + 1).get() : nullptr;
      if (size_t used = run_fused_layers(*module, next, x)) {
        index += used - 1;
        continue;
      }
    }
    const Pass inner = child(index);
    if (auto* nested = dynamic_cast<torch::nn::SequentialImpl*>(module.get())) {
      x = inner.children(*nested, x);
    } else if (auto* runner = dynamic_cast<PassRunner*>(module.get())) {
      x = runner->run(x, inner);
    } else {
      x = layer.forward(x);
      if (observer_) observer_->layer(inner.prefix_, *module, x);
    }
  }
  return x;
}

namespace {

/// Keeps what explain draws: the first first-layer tap, the last of the others.
class ExplainObserver : public ForwardObserver {
 public:
  void tap(Tap point, const torch::Tensor& value) override {
    switch (point) {
      case Tap::first_layer:
        if (!taps.first_layer.defined()) taps.first_layer = value;
        break;
      case Tap::last_features:
        taps.last_features = value;
        break;
      case Tap::attention:
        taps.attention = value;
        break;
    }
  }
  ExplainTaps taps;
};

}  // namespace

ExplainTaps ClassifierImpl::forward_explain(torch::Tensor x) {
  ExplainObserver observer;
  observer.taps.logits = forward_observed(std::move(x), observer);
  if (!observer.taps.first_layer.defined() || !observer.taps.last_features.defined())
    throw Error(type_of(*this) + " does not support explain");
  return observer.taps;
}

std::string ClassifierImpl::emit(GraphBuilder& /*graph*/, const std::string& /*input*/) {
  throw Error("model " + type_of(*this) + " cannot be exported: it does not describe its graph");
}

std::vector<ParameterGroup> ClassifierImpl::parameter_groups() {
  ParameterGroup all{"all", {}, 1.0};
  for (const auto& p : parameters())
    if (p.requires_grad()) all.params.push_back(p);
  return {all};
}

void ClassifierImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (!on) return;
  for (const auto& module : modules(/*include_self=*/false)) {
    auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(module.get());
    if (!bn || !bn->weight.defined()) continue;
    bool frozen = !bn->weight.requires_grad() && (!bn->bias.defined() || !bn->bias.requires_grad());
    if (frozen) bn->eval();
  }
}

int64_t count_parameters(const torch::nn::Module& module, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : module.parameters(/*recurse=*/true))
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

void convert_to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  for (auto& b : module.buffers())
    if (b.dim() == 4) b.set_data(b.contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Device device_of(const torch::nn::Module& module) {
  const auto params = module.parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

}  // namespace garbage::models
