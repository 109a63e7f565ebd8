#pragma once
// Base class of every registry model, and the tracing hook the summary uses to list layers.

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

/// Collects one record per leaf layer while a traced forward runs.
class Tracer {
 public:
  void record(const std::string& name, const torch::nn::Module& module, const torch::Tensor& input,
              const torch::Tensor& output);
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

class ClassifierImpl : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  /// Same result as forward(), reporting each layer to `tracer`. The default treats the model
  /// as a single layer; models built from Sequentials report every leaf.
  virtual torch::Tensor forward_traced(torch::Tensor x, Tracer& tracer);

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

  // --- explain ---
  /// forward() that also returns the tensors explain draws. The default throws Error
  /// ("<model> does not support explain").
  virtual ExplainTaps forward_explain(torch::Tensor x);
};

/// Runs `fn(x)` and reports `module` as `prefix + name` when `tracer` is set. Names are only built
/// when tracing, so forward() can share the code path at no cost.
template <typename Fn>
torch::Tensor traced_step(Tracer* tracer, const std::string& prefix, const char* name,
                          const torch::nn::Module& module, const torch::Tensor& x, Fn&& fn) {
  torch::Tensor y = fn(x);
  if (tracer) tracer->record(prefix.empty() ? name : prefix + "." + name, module, x, y);
  return y;
}

/// Runs `seq` layer by layer, reporting each child as "<prefix>.<index>" when tracer is set.
torch::Tensor run_traced(torch::nn::Sequential& seq, torch::Tensor x, Tracer& tracer,
                         const std::string& prefix);

int64_t count_parameters(const torch::nn::Module& module, bool trainable_only);

/// Re-lays every 4-D parameter and buffer out as channels-last (NHWC), the layout oneDNN's
/// convolutions run fastest in on CPU. Values are unchanged.
void convert_to_channels_last(torch::nn::Module& module);

}  // namespace garbage::models
