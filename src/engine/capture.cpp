// A GraphBuilder that records a model's emit() as an engine::Graph.

#include <torch/torch.h>

#include "garbage/engine/engine.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/graph.hpp"

namespace garbage::engine {
namespace {

namespace nn = torch::nn;
using models::ActivationKind;
using models::GraphBuilder;
using Value = GraphBuilder::Value;

std::vector<float> to_floats(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

std::array<int64_t, 2> pair_of(const torch::ExpandingArray<2>& a) {
  return {a->at(0), a->at(1)};
}

class Recorder final : public GraphBuilder {
 public:
  explicit Recorder(std::string model) { graph_.model = std::move(model); }

  Graph take(const Value& output) {
    graph_.output = id(output);
    return std::move(graph_);
  }

  Value conv(const Value& x, const nn::Conv2dImpl& conv, const nn::BatchNorm2dImpl* bn,
             const std::string& name) override {
    const auto& o = conv.options;
    const auto padding = models::explicit_zero_padding(conv);
    if (!padding)
      unsupported("Conv2d " + name + " with padding \"same\"/\"valid\" or a non-zero padding mode");
    Op op;
    op.kind = OpKind::conv;
    op.name = name;
    op.in_channels = o.in_channels();
    op.out_channels = o.out_channels();
    op.groups = o.groups();
    op.kernel = pair_of(o.kernel_size());
    op.stride = pair_of(o.stride());
    op.padding = *padding;
    op.dilation = pair_of(o.dilation());
    torch::Tensor weight = conv.weight.detach().to(torch::kFloat64);
    torch::Tensor bias = conv.bias.defined() ? conv.bias.detach().to(torch::kFloat64)
                                             : torch::zeros({op.out_channels}, torch::kFloat64);
    if (bn) {
      // w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta, in double.
      auto [scale, shift] = batchnorm_affine(*bn, name);
      weight = weight * scale.view({-1, 1, 1, 1});
      bias = bias * scale + shift;
    }
    op.weight = to_floats(weight);
    if (conv.bias.defined() || bn) op.bias = to_floats(bias);
    return add(std::move(op), {x});
  }

  /// A BatchNorm on its own is a per-channel scale and shift: a 1x1 depthwise conv, which
  /// fuse_graph turns into a post-op of the layer before it where it can.
  Value batch_norm(const Value& x, const nn::BatchNorm2dImpl& bn,
                   const std::string& name) override {
    auto [scale, shift] = batchnorm_affine(bn, name);
    Op op;
    op.kind = OpKind::conv;
    op.name = name;
    op.in_channels = op.out_channels = op.groups = scale.size(0);
    op.weight = to_floats(scale);
    op.bias = to_floats(shift);
    return add(std::move(op), {x});
  }

  Value linear(const Value& x, const nn::LinearImpl& fc, const std::string& name) override {
    Op op;
    op.kind = OpKind::linear;
    op.name = name;
    op.in_channels = fc.options.in_features();
    op.out_channels = fc.options.out_features();
    op.weight = to_floats(fc.weight);
    if (fc.bias.defined()) op.bias = to_floats(fc.bias);
    return add(std::move(op), {x});
  }

  Value activation(const Value& x, ActivationKind kind) override {
    Op op;
    op.kind = OpKind::activation;
    switch (kind) {
      case ActivationKind::identity:
        return x;
      case ActivationKind::relu:
        op.act = Act::relu;
        break;
      case ActivationKind::gelu:
        op.act = Act::gelu;
        break;
      case ActivationKind::silu:
        op.act = Act::silu;
        break;
      case ActivationKind::mish:
        op.act = Act::mish;
        break;
      case ActivationKind::hardswish:
        op.act = Act::hardswish;
        break;
      case ActivationKind::sigmoid:
        op.act = Act::sigmoid;
        break;
      case ActivationKind::hardsigmoid:
        op.act = Act::hardsigmoid;
        break;
      default:
        unsupported("activation #" + std::to_string(static_cast<int>(kind)));
    }
    op.name = to_string(op.act);
    return add(std::move(op), {x});
  }

  Value max_pool(const Value& x, int64_t kernel, int64_t stride, int64_t padding) override {
    Op op;
    op.kind = OpKind::max_pool;
    op.name = "max_pool";
    op.kernel = {kernel, kernel};
    op.stride = {stride, stride};
    op.padding = {padding, padding};
    return add(std::move(op), {x});
  }

  Value global_pool(const Value& x, Reduce kind) override {
    return add(reduction(OpKind::global_pool, kind), {x});
  }
  Value reduce_channels(const Value& x, Reduce kind) override {
    return add(reduction(OpKind::reduce_channels, kind), {x});
  }
  Value flatten(const Value& x) override { return add(simple(OpKind::flatten), {x}); }
  Value unflatten_spatial(const Value& x) override {
    return add(simple(OpKind::unflatten_spatial), {x});
  }

  Value binary(Binary kind, const Value& a, const Value& b) override {
    Op op = simple(OpKind::binary);
    op.binary = kind == Binary::add   ? BinaryKind::add
                : kind == Binary::mul ? BinaryKind::mul
                                      : BinaryKind::max;
    return add(std::move(op), {a, b});
  }

  Value concat_channels(const std::vector<Value>& xs) override {
    return add(simple(OpKind::concat_channels), xs);
  }

 private:
  [[noreturn]] void unsupported(const std::string& what) {
    throw UnsupportedOpError(graph_.model, what);
  }

  std::pair<torch::Tensor, torch::Tensor> batchnorm_affine(const nn::BatchNorm2dImpl& bn,
                                                           const std::string& name) {
    if (!bn.running_mean.defined() || !bn.running_var.defined())
      unsupported("BatchNorm2d " + name + " without running statistics");
    const int64_t c = bn.running_mean.size(0);
    auto dbl = [](const torch::Tensor& t) { return t.detach().to(torch::kFloat64); };
    auto gamma = bn.weight.defined() ? dbl(bn.weight) : torch::ones({c}, torch::kFloat64);
    auto beta = bn.bias.defined() ? dbl(bn.bias) : torch::zeros({c}, torch::kFloat64);
    auto scale = gamma / torch::sqrt(dbl(bn.running_var) + bn.options.eps());
    return {scale, beta - dbl(bn.running_mean) * scale};
  }

  static Op simple(OpKind kind) {
    Op op;
    op.kind = kind;
    op.name = to_string(kind);
    return op;
  }
  static Op reduction(OpKind kind, Reduce r) {
    Op op = simple(kind);
    op.reduce = r == Reduce::mean ? engine::Reduce::mean : engine::Reduce::max;
    return op;
  }

  int id(const Value& v) const {
    try {
      const int i = std::stoi(v);
      if (i >= 0 && i < graph_.num_values) return i;
    } catch (const std::exception&) {
    }
    throw Error(graph_.model + ": native engine: emit() passed an unknown value \"" + v + "\"");
  }

  Value add(Op op, const std::vector<Value>& inputs) {
    for (const auto& v : inputs) op.inputs.push_back(id(v));
    op.output = graph_.num_values++;
    graph_.ops.push_back(std::move(op));
    return std::to_string(graph_.ops.back().output);
  }

  Graph graph_;
};

}  // namespace

Graph capture_graph(models::ClassifierImpl& model, const std::string& model_name) {
  torch::NoGradGuard no_grad;
  Recorder recorder(model_name);
  Value output;
  try {
    output = model.emit(recorder, std::to_string(0));
  } catch (const UnsupportedOpError&) {
    throw;
  } catch (const Error& e) {
    // emit_sequential and models refuse layers they cannot describe by name ("cannot export
    // layer features.1 (torch::nn::LeakyReLUImpl)"): that layer is the unsupported op.
    throw UnsupportedOpError(model_name, std::string("a layer: ") + e.what());
  }
  return recorder.take(output);
}

}  // namespace garbage::engine
