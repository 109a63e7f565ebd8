#include "garbage/models/layers.hpp"

#include <optional>

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/kernels/fused.hpp"

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

std::optional<kernels::Act> fused_kind(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::relu:
      return kernels::Act::relu;
    case ActivationKind::gelu:
      return kernels::Act::gelu;
    case ActivationKind::silu:
      return kernels::Act::silu;
    case ActivationKind::mish:
      return kernels::Act::mish;
    case ActivationKind::hardswish:
      return kernels::Act::hardswish;
    case ActivationKind::hardsigmoid:
      return kernels::Act::hardsigmoid;
    case ActivationKind::identity:
      return kernels::Act::identity;
    case ActivationKind::sigmoid:
      break;
  }
  return std::nullopt;
}

/// Fused kernels only where they pay: training steps (gradients wanted) with the switch on.
bool fuse_activation(const torch::Tensor& x) {
  return kernels::enabled() && x.requires_grad() && torch::GradMode::is_enabled();
}

torch::Tensor apply(ActivationKind kind, const torch::Tensor& x) {
  if (fuse_activation(x))
    if (auto act = fused_kind(kind)) return kernels::activation(*act, x);
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

torch::Tensor add_rectify(const torch::Tensor& a, const torch::Tensor& b) {
  if (!guided_backprop && (fuse_activation(a) || fuse_activation(b)))
    return kernels::add_relu(a, b);
  return activate(ActivationKind::relu, a + b);
}

bool fuses_batchnorm(const torch::nn::BatchNorm2dImpl& bn) {
  // Synchronised BatchNorm exists only as a fused kernel, so it takes that path even with
  // train.fused_kernels off.
  return (kernels::enabled() || kernels::batchnorm_synced()) && !guided_backprop &&
         bn.is_training() && bn.options.affine() && torch::GradMode::is_enabled();
}

namespace {

/// The layer's tensors, counting the batch as BatchNormImplBase::forward does.
kernels::BatchNormState batchnorm_state(torch::nn::BatchNorm2dImpl& bn) {
  kernels::BatchNormState s;
  s.weight = bn.weight;
  s.bias = bn.bias;
  s.eps = bn.options.eps();
  s.momentum = 0.0;
  if (bn.options.track_running_stats()) {
    s.running_mean = bn.running_mean;
    s.running_var = bn.running_var;
    if (!kernels::updates_running_stats()) {
      // Another replica of this batch (train.micro_batches) counts it; the kernel leaves the
      // shared statistics to that replica too.
    } else if (bn.num_batches_tracked.defined()) {
      torch::NoGradGuard no_grad;
      bn.num_batches_tracked += 1;
      s.momentum = bn.options.momentum() ? *bn.options.momentum()
                                         : 1.0 / bn.num_batches_tracked.item<double>();
    } else {
      s.momentum = bn.options.momentum().value_or(0.0);
    }
  }
  return s;
}

}  // namespace

torch::Tensor batchnorm_activate(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x,
                                 ActivationKind kind) {
  if (!fuses_batchnorm(bn)) return activate(kind, bn.forward(x));
  if (auto act = fused_kind(kind))
    return kernels::batchnorm_activation(x, batchnorm_state(bn), *act);
  // SyncBatchNorm (train.sync_bn) with an activation the kernels lack: the norm alone.
  return activate(kind,
                  kernels::batchnorm_activation(x, batchnorm_state(bn), kernels::Act::identity));
}

torch::Tensor activate_batchnorm(ActivationKind kind, const torch::Tensor& x,
                                 torch::nn::BatchNorm2dImpl& bn) {
  if (!fuses_batchnorm(bn)) return bn.forward(activate(kind, x));
  if (auto act = fused_kind(kind))
    return kernels::activation_batchnorm(*act, x, batchnorm_state(bn));
  return kernels::batchnorm_activation(activate(kind, x), batchnorm_state(bn),
                                       kernels::Act::identity);
}

namespace {

/// 2x2 windows, stride 2, no padding, dilation 1, floor: what the fused max-pool covers.
bool is_plain_pool2(const torch::nn::MaxPool2dImpl& pool) {
  const auto& o = pool.options;
  const auto& s = *o.stride();
  return (*o.kernel_size())[0] == 2 && (*o.kernel_size())[1] == 2 && s[0] == 2 && s[1] == 2 &&
         (*o.padding())[0] == 0 && (*o.padding())[1] == 0 && (*o.dilation())[0] == 1 &&
         (*o.dilation())[1] == 1 && !o.ceil_mode();
}

}  // namespace

size_t run_fused_layers(torch::nn::Module& first, torch::nn::Module* next, torch::Tensor& x) {
  auto* next_act = next ? dynamic_cast<ActivationImpl*>(next) : nullptr;
  auto* next_bn = next ? dynamic_cast<torch::nn::BatchNorm2dImpl*>(next) : nullptr;
  if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(&first)) {
    if (!fuses_batchnorm(*bn) || x.dim() != 4) return 0;
    if (next_act && fused_kind(next_act->kind())) {
      x = batchnorm_activate(*bn, x, next_act->kind());
      return 2;
    }
    x = batchnorm_activate(*bn, x, ActivationKind::identity);
    return 1;
  }
  // Replicas of one batch draw their dropout masks from their own generators.
  auto* drop = dynamic_cast<torch::nn::DropoutImpl*>(&first);
  if (drop && kernels::has_replica_generator()) {
    if (!drop->is_training()) return 0;
    x = kernels::dropout(x, drop->options.p());
    return 1;
  }
  // The fused max-pool + dropout is exact but its scalar loops measured slower than libtorch's
  // pooling (SimpleCNN profile, issue 13): off until it is vectorised.
  constexpr bool kFuseMaxPool = false;
  auto* pool = kFuseMaxPool ? dynamic_cast<torch::nn::MaxPool2dImpl*>(&first) : nullptr;
  if (pool) {
    if (!is_plain_pool2(*pool) || !fuse_activation(x) || x.dim() != 4) return 0;
    auto* dropout = next ? dynamic_cast<torch::nn::DropoutImpl*>(next) : nullptr;
    if (dropout && dropout->options.inplace()) dropout = nullptr;
    const double p = dropout && dropout->is_training() ? dropout->options.p() : 0.0;
    x = kernels::maxpool2_dropout(x, p);
    return dropout ? 2 : 1;
  }
  auto* act = dynamic_cast<ActivationImpl*>(&first);
  if (act && next_bn && fuses_batchnorm(*next_bn) && x.dim() == 4 && fused_kind(act->kind())) {
    x = activate_batchnorm(act->kind(), x, *next_bn);
    return 2;
  }
  return 0;
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
