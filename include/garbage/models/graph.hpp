#pragma once
// Eval-mode forward passes described op by op, for exporters. A model's emit() walks its layers
// and calls these ops on named values; the builder decides how each op is represented (ONNX:
// BatchNorm folded into the conv before it, GELU and Mish decomposed for opset 17, ...).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "garbage/models/layers.hpp"

namespace torch::nn {
class Conv2dImpl;
class BatchNorm2dImpl;
class LinearImpl;
class SequentialImpl;
}  // namespace torch::nn

namespace garbage::models {

class GraphBuilder {
 public:
  using Value = std::string;
  enum class Reduce { mean, max };
  enum class Binary { add, mul, max };

  virtual ~GraphBuilder() = default;
  /// `name` is the module's state_dict path ("features.0"): weights are named after it.
  /// When `bn` is given it is the BatchNorm directly after the conv, folded into its weights.
  virtual Value conv(const Value& x, const torch::nn::Conv2dImpl& conv,
                     const torch::nn::BatchNorm2dImpl* bn, const std::string& name) = 0;
  virtual Value batch_norm(const Value& x, const torch::nn::BatchNorm2dImpl& bn,
                           const std::string& name) = 0;
  virtual Value linear(const Value& x, const torch::nn::LinearImpl& fc,
                       const std::string& name) = 0;
  virtual Value activation(const Value& x, ActivationKind kind) = 0;
  virtual Value max_pool(const Value& x, int64_t kernel, int64_t stride, int64_t padding) = 0;
  virtual Value global_pool(const Value& x, Reduce kind) = 0;      ///< [N,C,H,W] -> [N,C,1,1]
  virtual Value reduce_channels(const Value& x, Reduce kind) = 0;  ///< [N,C,H,W] -> [N,1,H,W]
  virtual Value flatten(const Value& x) = 0;                       ///< [N,...] -> [N,-1]
  virtual Value unflatten_spatial(const Value& x) = 0;             ///< [N,C] -> [N,C,1,1]
  virtual Value binary(Binary op, const Value& a, const Value& b) = 0;
  virtual Value concat_channels(const std::vector<Value>& xs) = 0;
};

/// Implemented by composite modules that know how to describe themselves (residual blocks,
/// attention), so emit_sequential can walk containers that hold them.
class GraphEmitter {
 public:
  virtual ~GraphEmitter() = default;
  virtual GraphBuilder::Value emit(GraphBuilder& g, const GraphBuilder::Value& x,
                                   const std::string& name) = 0;
};

/// A conv's padding as (height, width) when it is explicit zero padding, the only kind graph
/// consumers translate; nullopt for "same"/"valid" or reflect/replicate/circular padding.
std::optional<std::array<int64_t, 2>> explicit_zero_padding(const torch::nn::Conv2dImpl& conv);

/// Emits a Sequential layer by layer: Conv2d (+ a directly following BatchNorm2d, folded),
/// BatchNorm2d, activations, MaxPool2d, Dropout (identity in eval), Flatten, Linear, nested
/// Sequentials and GraphEmitters. Throws Error naming the layer for anything else.
GraphBuilder::Value emit_sequential(GraphBuilder& g, torch::nn::SequentialImpl& seq,
                                    const GraphBuilder::Value& x, const std::string& name);

}  // namespace garbage::models
