#include "garbage/models/graph.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"

namespace garbage::models {
namespace {

namespace nn = torch::nn;

std::string child_name(const std::string& parent, size_t index) {
  return parent.empty() ? std::to_string(index) : parent + "." + std::to_string(index);
}

int64_t single(const torch::ExpandingArray<2>& a, const std::string& what,
               const std::string& name) {
  if (a->at(0) != a->at(1))
    throw Error("cannot export " + name + ": non-square " + what + " is not supported");
  return a->at(0);
}

}  // namespace

std::optional<std::array<int64_t, 2>> explicit_zero_padding(const nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!padding || !c10::get_if<torch::enumtype::kZeros>(&o.padding_mode())) return std::nullopt;
  return std::array<int64_t, 2>{(*padding)->at(0), (*padding)->at(1)};
}

GraphBuilder::Value emit_sequential(GraphBuilder& g, nn::SequentialImpl& seq,
                                    const GraphBuilder::Value& x, const std::string& name) {
  GraphBuilder::Value y = x;
  const size_t n = seq.size();
  for (size_t i = 0; i < n; ++i) {
    auto child = seq.ptr(i);
    const std::string path = child_name(name, i);
    if (auto* conv = child->as<nn::Conv2d>()) {
      const nn::BatchNorm2dImpl* bn = i + 1 < n ? seq.ptr(i + 1)->as<nn::BatchNorm2d>() : nullptr;
      y = g.conv(y, *conv, bn, path);
      if (bn) ++i;
    } else if (auto* norm = child->as<nn::BatchNorm2d>()) {
      y = g.batch_norm(y, *norm, path);
    } else if (auto* act = child->as<Activation>()) {
      y = g.activation(y, act->kind());
    } else if (auto* pool = child->as<nn::MaxPool2d>()) {
      const auto& o = pool->options;
      if (o.ceil_mode() || single(o.dilation(), "dilation", path) != 1)
        throw Error("cannot export " + path + ": MaxPool2d with ceil_mode or dilation");
      y = g.max_pool(y, single(o.kernel_size(), "kernel", path), single(o.stride(), "stride", path),
                     single(o.padding(), "padding", path));
    } else if (child->as<nn::Dropout>()) {
      continue;  // identity at inference
    } else if (child->as<nn::Flatten>()) {
      y = g.flatten(y);
    } else if (auto* fc = child->as<nn::Linear>()) {
      y = g.linear(y, *fc, path);
    } else if (auto* inner = dynamic_cast<nn::SequentialImpl*>(child.get())) {
      y = emit_sequential(g, *inner, y, path);
    } else if (auto* emitter = dynamic_cast<GraphEmitter*>(child.get())) {
      y = emitter->emit(g, y, path);
    } else {
      throw Error("cannot export layer " + path + " (" + child->name() + ")");
    }
  }
  return y;
}

}  // namespace garbage::models
