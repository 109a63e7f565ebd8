#include "garbage/models/layers.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"

namespace garbage::models {

ActivationKind parse_activation(const std::string& name) {
  static const std::map<std::string, ActivationKind> kinds = {
      {"relu", ActivationKind::relu},           {"gelu", ActivationKind::gelu},
      {"silu", ActivationKind::silu},           {"mish", ActivationKind::mish},
      {"hardswish", ActivationKind::hardswish}, {"sigmoid", ActivationKind::sigmoid},
      {"identity", ActivationKind::identity},   {"hardsigmoid", ActivationKind::hardsigmoid}};
  auto it = kinds.find(name);
  if (it == kinds.end()) throw ConfigError("unknown activation \"" + name + "\"");
  return it->second;
}

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names = {"relu", "gelu", "silu", "mish"};
  return names;
}

namespace {

thread_local bool guided_backprop = false;

torch::Tensor apply(ActivationKind kind, const torch::Tensor& x) {
  switch (kind) {
    case ActivationKind::relu:
      return torch::relu(x);
    case ActivationKind::gelu:
      return torch::gelu(x);
    case ActivationKind::silu:
      return torch::silu(x);
    case ActivationKind::mish:
      return torch::mish(x);
    case ActivationKind::hardswish:
      return torch::hardswish(x);
    case ActivationKind::sigmoid:
      return torch::sigmoid(x);
    case ActivationKind::identity:
      return x;
    case ActivationKind::hardsigmoid:
      return torch::hardsigmoid(x);
  }
  return x;
}

}  // namespace

torch::Tensor activate(ActivationKind kind, const torch::Tensor& x) {
  torch::Tensor y = apply(kind, x);
  // Sigmoid gates and identities are not ReLU-like: guided backprop leaves them alone.
  if (guided_backprop && y.requires_grad() && kind != ActivationKind::sigmoid &&
      kind != ActivationKind::identity)
    y.register_hook([](torch::Tensor grad) { return grad.clamp_min(0); });
  return y;
}

GuidedBackpropGuard::GuidedBackpropGuard() : previous_(guided_backprop) {
  guided_backprop = true;
}
GuidedBackpropGuard::~GuidedBackpropGuard() {
  guided_backprop = previous_;
}

torch::Tensor ActivationImpl::forward(const torch::Tensor& x) {
  return activate(kind_, x);
}

void ActivationImpl::pretty_print(std::ostream& stream) const {
  static const char* names[] = {"ReLU",      "GELU",    "SiLU",     "Mish",
                                "Hardswish", "Sigmoid", "Identity", "Hardsigmoid"};
  stream << names[static_cast<int>(kind_)];
}

}  // namespace garbage::models
