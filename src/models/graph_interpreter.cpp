#include "garbage/models/graph_interpreter.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::models {
namespace {

namespace nn = torch::nn;

std::vector<int64_t> pair_of(const torch::ExpandingArray<2>& a) {
  return {(*a)[0], (*a)[1]};
}

std::vector<int64_t> explicit_padding(const nn::Conv2dImpl& conv, const std::string& name) {
  const auto padding = explicit_zero_padding(conv);
  if (!padding) throw Error(name + ": only explicit zero conv padding is supported");
  return {(*padding)[0], (*padding)[1]};
}

torch::Tensor batch_norm_eval(const torch::Tensor& x, const nn::BatchNorm2dImpl& bn) {
  return torch::batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                           /*training=*/false, /*momentum=*/0.0, bn.options.eps(),
                           /*cudnn_enabled=*/false);
}

}  // namespace

GraphInterpreter::GraphInterpreter(const Value& input_name, torch::Tensor input) {
  values_[input_name] = std::move(input);
}

const torch::Tensor& GraphInterpreter::value(const Value& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw Error("graph interpreter: no value named " + name);
  return it->second;
}

GraphBuilder::Value GraphInterpreter::bind(torch::Tensor t) {
  Value name = "v" + std::to_string(next_++);
  values_[name] = std::move(t);
  return name;
}

GraphBuilder::Value GraphInterpreter::conv(const Value& x, const nn::Conv2dImpl& conv,
                                           const nn::BatchNorm2dImpl* bn, const std::string& name) {
  const auto& o = conv.options;
  auto y = torch::conv2d(value(x), conv.weight, conv.bias, pair_of(o.stride()),
                         explicit_padding(conv, name), pair_of(o.dilation()), o.groups());
  return bind(bn ? batch_norm_eval(y, *bn) : y);
}

GraphBuilder::Value GraphInterpreter::batch_norm(const Value& x, const nn::BatchNorm2dImpl& bn,
                                                 const std::string& /*name*/) {
  return bind(batch_norm_eval(value(x), bn));
}

GraphBuilder::Value GraphInterpreter::linear(const Value& x, const nn::LinearImpl& fc,
                                             const std::string& /*name*/) {
  return bind(torch::linear(value(x), fc.weight, fc.bias));
}

GraphBuilder::Value GraphInterpreter::activation(const Value& x, ActivationKind kind) {
  return bind(activate(kind, value(x)));
}

GraphBuilder::Value GraphInterpreter::max_pool(const Value& x, int64_t kernel, int64_t stride,
                                               int64_t padding) {
  return bind(torch::max_pool2d(value(x), kernel, stride, padding));
}

GraphBuilder::Value GraphInterpreter::global_pool(const Value& x, Reduce kind) {
  const auto& t = value(x);
  return bind(kind == Reduce::mean ? torch::adaptive_avg_pool2d(t, {1, 1})
                                   : std::get<0>(torch::adaptive_max_pool2d(t, {1, 1})));
}

GraphBuilder::Value GraphInterpreter::reduce_channels(const Value& x, Reduce kind) {
  const auto& t = value(x);
  return bind(kind == Reduce::mean ? t.mean(1, /*keepdim=*/true)
                                   : std::get<0>(t.max(1, /*keepdim=*/true)));
}

GraphBuilder::Value GraphInterpreter::flatten(const Value& x) {
  return bind(value(x).flatten(1));
}

GraphBuilder::Value GraphInterpreter::unflatten_spatial(const Value& x) {
  const auto& t = value(x);
  return bind(t.view({t.size(0), t.size(1), 1, 1}));
}

GraphBuilder::Value GraphInterpreter::binary(Binary op, const Value& a, const Value& b) {
  const auto &x = value(a), &y = value(b);
  switch (op) {
    case Binary::add:
      return bind(x + y);
    case Binary::mul:
      return bind(x * y);
    case Binary::max:
      return bind(torch::max(x, y));
  }
  throw Error("graph interpreter: unknown binary op");
}

GraphBuilder::Value GraphInterpreter::concat_channels(const std::vector<Value>& xs) {
  std::vector<torch::Tensor> ts;
  for (const auto& x : xs) ts.push_back(value(x));
  return bind(torch::cat(ts, 1));
}

torch::Tensor run_emitted_graph(ClassifierImpl& model, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  GraphInterpreter graph("input", input);
  return graph.value(model.emit(graph, "input"));
}

}  // namespace garbage::models
