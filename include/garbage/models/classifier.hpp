#pragma once
// Base class of every registry model, and the tracing hook the summary uses to list layers.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

namespace garbage::models {

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

class ClassifierImpl : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  /// Same result as forward(), reporting each layer to `tracer`. The default treats the model
  /// as a single layer; models built from Sequentials report every leaf.
  virtual torch::Tensor forward_traced(torch::Tensor x, Tracer& tracer);
};

/// Runs `seq` layer by layer, reporting each child as "<prefix>.<index>" when tracer is set.
torch::Tensor run_traced(torch::nn::Sequential& seq, torch::Tensor x, Tracer& tracer,
                         const std::string& prefix);

int64_t count_parameters(const torch::nn::Module& module, bool trainable_only);

/// Re-lays every 4-D parameter and buffer out as channels-last (NHWC), the layout oneDNN's
/// convolutions run fastest in on CPU. Values are unchanged.
void convert_to_channels_last(torch::nn::Module& module);

}  // namespace garbage::models
