#pragma once
// Base class of every registry model, and the observer mechanism (Pass) through which its one
// forward pass serves training, summary and explain.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

namespace garbage::models {

class GraphBuilder;

struct LayerRecord {
  std::string name;
  std::string type;
  std::vector<int64_t> output_shape;
  int64_t params = 0;
  int64_t macs = 0;  ///< multiply-accumulates per image
};

/// Named points of a forward pass that explain draws.
enum class Tap {
  first_layer,    ///< first conv block's output [N, C, h, w] (the first tap wins)
  last_features,  ///< the feature map Grad-CAM weights [N, C, h, w] (the last tap wins)
  attention,      ///< spatial attention in [0, 1] [N, 1, h, w] (the last tap wins)
};

/// Watches one forward pass (like timm's forward_intermediates, as a visitor): every leaf layer
/// with its output (summary) and the named taps (explain). Both default to ignoring.
class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void layer(const std::string& /*name*/, const torch::nn::Module& /*module*/,
                     const torch::Tensor& /*output*/) {}
  virtual void tap(Tap /*point*/, const torch::Tensor& /*value*/) {}
};

/// Where a forward pass is: its observer (null in plain forward()) and the dotted state_dict path
/// of the current module. Names are built only when observed, so forward() pays nothing.
class Pass {
 public:
  Pass() = default;
  explicit Pass(ForwardObserver* observer, std::string prefix = "")
      : observer_(observer), prefix_(std::move(prefix)) {}

  bool observed() const { return observer_ != nullptr; }
  Pass child(const std::string& name) const;
  Pass child(size_t index) const { return observed() ? child(std::to_string(index)) : Pass(); }

  /// Runs `fn(x)` and reports `module` as the leaf layer "<path>.<name>".
  template <typename Fn>
  torch::Tensor step(const char* name, const torch::nn::Module& module, const torch::Tensor& x,
                     Fn&& fn) const {
    torch::Tensor y = fn(x);
    if (observer_) observer_->layer(path(name), module, y);
    return y;
  }
  /// Runs `seq` child by child as "<path>.<name>.<i>": nested Sequentials recurse, modules that
  /// implement PassRunner run with their own pass, anything else is one leaf layer.
  torch::Tensor sequential(torch::nn::SequentialImpl& seq, torch::Tensor x,
                           const std::string& name) const;
  /// The same for the children of this pass's own Sequential (no extra name).
  torch::Tensor children(torch::nn::SequentialImpl& seq, torch::Tensor x) const;
  void tap(Tap point, const torch::Tensor& value) const {
    if (observer_) observer_->tap(point, value);
  }

 private:
  std::string path(const std::string& name) const {
    return prefix_.empty() ? name : prefix_ + "." + name;
  }
  ForwardObserver* observer_ = nullptr;
  std::string prefix_;
};

/// Implemented by composite modules (residual blocks) so a Pass walking a Sequential reports
/// their inner layers instead of treating them as one.
class PassRunner {
 public:
  virtual ~PassRunner() = default;
  virtual torch::Tensor run(const torch::Tensor& x, const Pass& pass) = 0;
};

/// Collects one record per leaf layer of an observed forward pass (garbage summary).
class Tracer : public ForwardObserver {
 public:
  void layer(const std::string& name, const torch::nn::Module& module,
             const torch::Tensor& output) override;
  const std::vector<LayerRecord>& layers() const { return layers_; }

 private:
  std::vector<LayerRecord> layers_;
};

/// Trainable parameters that share a learning-rate factor (relative to the configured rate).
struct ParameterGroup {
  std::string name;
  std::vector<torch::Tensor> params;
  double lr_factor = 1.0;
};

/// What `garbage explain` needs from one forward pass. All on the autograd path of `logits`.
struct ExplainTaps {
  torch::Tensor logits;         ///< [N, classes]
  torch::Tensor first_layer;    ///< first conv with its BatchNorm / activation [N, C, h, w]
  torch::Tensor last_features;  ///< last conv feature map, the one Grad-CAM weights [N, C, h, w]
  torch::Tensor attention;      ///< spatial attention in [0, 1] [N, 1, h, w]; undefined: none
};

/// Every registry model. A family writes its forward pass once, in run(); forward(), the
/// summary's layer trace and explain's taps are all that one pass with different observers.
class ClassifierImpl : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  /// The forward pass: reports leaf layers and taps to `pass` (see Pass).
  virtual torch::Tensor run(torch::Tensor x, const Pass& pass) = 0;

  torch::Tensor forward(torch::Tensor x) { return run(std::move(x), Pass()); }
  /// forward() with `observer` watching.
  torch::Tensor forward_observed(torch::Tensor x, ForwardObserver& observer) {
    return run(std::move(x), Pass(&observer));
  }

  /// Describes the eval-mode forward pass to an exporter (see graph.hpp); returns the logits
  /// value. The default refuses: a model that cannot be exported says so by name.
  virtual std::string emit(GraphBuilder& graph, const std::string& input);

  /// Trainable parameters split for the optimizer (e.g. backbone at a lower rate than the head).
  /// The default is one group of every trainable parameter at factor 1.
  virtual std::vector<ParameterGroup> parameter_groups();

  /// Dotted name of the final classification layer ("fc", "classifier.3"): its weights are the
  /// ones replaced when a pretrained file was trained for other classes. Empty: not applicable.
  virtual std::string head_name() const { return ""; }

  /// True for parameters and buffers of modules that pretrained files do not have (attention
  /// added to a torchvision architecture): they start from their initialisation.
  virtual bool is_new_parameter(const std::string& /*name*/) const { return false; }

  /// Module::train, except that BatchNorm layers whose affine parameters are all frozen stay in
  /// eval mode: their running statistics belong to the frozen (pretrained) backbone and must not
  /// drift with the new data's batch statistics.
  void train(bool on = true) override;

  /// forward() that also returns the tensors explain draws. Throws Error ("<model> does not
  /// support explain") when the model taps no first layer or last feature map.
  ExplainTaps forward_explain(torch::Tensor x);
};

int64_t count_parameters(const torch::nn::Module& module, bool trainable_only);

/// Re-lays every 4-D parameter and buffer out as channels-last (NHWC), the layout oneDNN's
/// convolutions run fastest in on CPU. Values are unchanged.
void convert_to_channels_last(torch::nn::Module& module);

/// The device of the module's parameters (the CPU for a module without any).
torch::Device device_of(const torch::nn::Module& module);

}  // namespace garbage::models
