#pragma once
// Small building blocks shared by models.

#include <string>

#include <torch/nn/cloneable.h>

namespace torch::nn {
class BatchNorm2dImpl;
}

namespace garbage::models {

enum class ActivationKind { relu, gelu, silu, mish, hardswish, sigmoid, identity, hardsigmoid };

/// "relu" | "gelu" | "silu" | "mish" (plus hardswish, sigmoid, identity for internal use).
ActivationKind parse_activation(const std::string& name);
const std::vector<std::string>& activation_names();  ///< the user-selectable ones

/// Applies `kind` to `x`. Every activation in the models goes through here (ActivationImpl and
/// the direct calls in ResNet and MobileNetV3), so guided backpropagation covers them all.
torch::Tensor activate(ActivationKind kind, const torch::Tensor& x);

/// BatchNorm then `kind` (identity: BatchNorm alone). In training with train.fused_kernels on
/// (kernels::FusedScope) it is one fused kernel (kernels/fused.hpp); otherwise, and whenever
/// guided backpropagation is on, bn.forward() followed by activate(). Same state_dict either way.
torch::Tensor batchnorm_activate(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x,
                                 ActivationKind kind);
/// `kind` then BatchNorm (SimpleCNN's order), fused likewise.
torch::Tensor activate_batchnorm(ActivationKind kind, const torch::Tensor& x,
                                 torch::nn::BatchNorm2dImpl& bn);
/// activate(relu, a + b), one fused pass in training with the fused kernels on.
torch::Tensor add_rectify(const torch::Tensor& a, const torch::Tensor& b);

/// Whether batchnorm_activate / activate_batchnorm would fuse for `bn` now.
bool fuses_batchnorm(const torch::nn::BatchNorm2dImpl& bn);

/// Runs `first` (and `next`, may be null) on `x` as one fused kernel when they are
/// BatchNorm2d + Activation, Activation + BatchNorm2d or a lone BatchNorm2d (fuses_batchnorm),
/// or a 2x2 MaxPool2d with an optional Dropout after it, and fusing is on. Returns the number
/// of layers consumed: 0 leaves `x` alone.
size_t run_fused_layers(torch::nn::Module& first, torch::nn::Module* next, torch::Tensor& x);

/// While alive, ReLU-like activations (all but sigmoid and identity) run on this thread pass
/// only positive gradients backwards: guided backpropagation (Springenberg et al. 2015). The
/// clamp is a hook on each activation output registered during forward, so the forward pass
/// must run inside the guard; the backward pass may run after it.
class GuidedBackpropGuard {
 public:
  GuidedBackpropGuard();
  ~GuidedBackpropGuard();
  GuidedBackpropGuard(const GuidedBackpropGuard&) = delete;
  GuidedBackpropGuard& operator=(const GuidedBackpropGuard&) = delete;

 private:
  bool previous_;
};

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
