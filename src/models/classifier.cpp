#include "garbage/models/classifier.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"

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

void Tracer::record(const std::string& name, const torch::nn::Module& module,
                    const torch::Tensor& /*input*/, const torch::Tensor& output) {
  LayerRecord r;
  r.name = name;
  r.type = type_of(module);
  r.output_shape = output.sizes().vec();
  r.params = count_parameters(module, false);
  r.macs = macs_of(module, output);
  layers_.push_back(std::move(r));
}

torch::Tensor ClassifierImpl::forward_traced(torch::Tensor x, Tracer& tracer) {
  auto y = forward(x);
  tracer.record("model", *this, x, y);
  return y;
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

ExplainTaps ClassifierImpl::forward_explain(torch::Tensor /*x*/) {
  throw Error(type_of(*this) + " does not support explain");
}

torch::Tensor run_traced(torch::nn::Sequential& seq, torch::Tensor x, Tracer& tracer,
                         const std::string& prefix) {
  size_t index = 0;
  for (auto& layer : *seq) {
    torch::Tensor out = layer.forward(x);
    tracer.record(prefix + "." + std::to_string(index++), *layer.ptr(), x, out);
    x = out;
  }
  return x;
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

}  // namespace garbage::models
