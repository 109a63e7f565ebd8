#pragma once
// The one place where tensors read from weight files become torch::Tensor.

#include <torch/types.h>

#include "garbage/io/tensor_data.hpp"

namespace torch::nn {
class Module;
}

namespace garbage::io {

torch::ScalarType to_scalar_type(DType dtype);
DType from_scalar_type(torch::ScalarType type);

/// A contiguous CPU tensor holding a copy of the view `t` describes (bounds checked first).
torch::Tensor to_torch(const TensorData& t, const std::string& context);

/// A description of `t` (copied into its own storage), e.g. for writing safetensors.
TensorData from_torch(const torch::Tensor& t);

/// Every parameter and buffer of `module` (copied, NCHW), named as named_parameters() and
/// named_buffers() name them, in PyTorch's state_dict order: each module's own parameters, then
/// its buffers, then its children depth first.
StateDict module_state_dict(const torch::nn::Module& module);

}  // namespace garbage::io
