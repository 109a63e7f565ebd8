#pragma once
// Small building blocks shared by models.

#include <string>

#include <torch/nn/cloneable.h>

namespace garbage::models {

enum class ActivationKind { relu, gelu, silu, mish, hardswish, sigmoid, identity, hardsigmoid };

/// "relu" | "gelu" | "silu" | "mish" (plus hardswish, sigmoid, identity for internal use).
ActivationKind parse_activation(const std::string& name);
const std::vector<std::string>& activation_names();  ///< the user-selectable ones

/// A parameter-free activation chosen at construction time.
class ActivationImpl : public torch::nn::Cloneable<ActivationImpl> {
 public:
  explicit ActivationImpl(ActivationKind kind = ActivationKind::relu) : kind_(kind) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
  ActivationKind kind() const { return kind_; }
  void pretty_print(std::ostream& stream) const override;

 private:
  ActivationKind kind_;
};
TORCH_MODULE(Activation);

}  // namespace garbage::models
