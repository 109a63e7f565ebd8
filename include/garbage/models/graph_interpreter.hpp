#pragma once
// Runs a model's emit() graph op by op with libtorch: the reference semantics of GraphBuilder.
// Exporters and the native engine translate the same graph; comparing this interpreter with
// forward() proves, for every registered model, that emit() and forward() describe one network.

#include <map>
#include <string>

#include <torch/types.h>

#include "garbage/models/graph.hpp"

namespace garbage::models {

class ClassifierImpl;

class GraphInterpreter : public GraphBuilder {
 public:
  /// Binds `input` as the graph's input value.
  GraphInterpreter(const Value& input_name, torch::Tensor input);

  Value conv(const Value& x, const torch::nn::Conv2dImpl& conv,
             const torch::nn::BatchNorm2dImpl* bn, const std::string& name) override;
  Value batch_norm(const Value& x, const torch::nn::BatchNorm2dImpl& bn,
                   const std::string& name) override;
  Value linear(const Value& x, const torch::nn::LinearImpl& fc, const std::string& name) override;
  Value activation(const Value& x, ActivationKind kind) override;
  Value max_pool(const Value& x, int64_t kernel, int64_t stride, int64_t padding) override;
  Value global_pool(const Value& x, Reduce kind) override;
  Value reduce_channels(const Value& x, Reduce kind) override;
  Value flatten(const Value& x) override;
  Value unflatten_spatial(const Value& x) override;
  Value binary(Binary op, const Value& a, const Value& b) override;
  Value concat_channels(const std::vector<Value>& xs) override;

  const torch::Tensor& value(const Value& name) const;

 private:
  Value bind(torch::Tensor t);
  std::map<Value, torch::Tensor> values_;
  int64_t next_ = 0;
};

/// The logits `model.emit()` describes for `input` (eval mode, no autograd).
torch::Tensor run_emitted_graph(ClassifierImpl& model, const torch::Tensor& input);

}  // namespace garbage::models
